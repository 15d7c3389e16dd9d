//! `validate --jobs`: the objects a new Workflow's first run creates, built by the controller's
//! own code ([`kwf_api::job::build_job`], [`kwf_api::volumes::build_claim`]), so what a user sees
//! is the merge of step fields, Job templates and pod defaults exactly as it will run.

use kwf_api::Workflow;
use kwf_api::job::{Instance, JobInputs, build_job};
use kwf_api::volumes::build_claim;
use serde::Serialize;
use serde_json::Value;

use super::list::ExportError;

/// Generation of a Workflow just created: what its first Jobs are named after.
const FIRST_GENERATION: i64 = 1;

/// YAML or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    Yaml,
    Json,
}

/// What `validate --jobs` prints, and the notes about what it could not know offline.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstRun {
    pub text: String,
    /// One line per step whose Job depends on the cluster (a `jobTemplateRef`).
    pub notes: Vec<String>,
}

/// The claims and Jobs of the first run of each workflow, in order, as one kubectl `List`.
pub fn first_run(workflows: &[Workflow], format: ObjectFormat) -> Result<FirstRun, ExportError> {
    let mut items: Vec<Value> = Vec::new();
    let mut notes = Vec::new();
    for wf in workflows {
        let generation = wf.metadata.generation.unwrap_or(FIRST_GENERATION);
        for template in &wf.spec.volume_claim_templates {
            items.push(to_value(&build_claim(wf, template, generation))?);
        }
        for step in &wf.spec.containers {
            if let Some(reference) = &step.job_template_ref {
                notes.push(format!(
                    "workflow \"{}\", step \"{}\": JobTemplate \"{}\" is read from the cluster when the step starts; its Job is shown without it",
                    wf.metadata.name.as_deref().unwrap_or_default(),
                    step.step_name,
                    reference.name
                ));
            }
            if step.with_nodes.is_some() {
                notes.push(format!(
                    "workflow \"{}\", step \"{}\": withNodes takes the cluster's nodes when the step starts; one Job is shown, without a node",
                    wf.metadata.name.as_deref().unwrap_or_default(),
                    step.step_name,
                ));
            }
            match &step.with_items {
                // One Job per instance, its item substituted, as the controller creates them.
                Some(items_of_step) => {
                    for (index, item) in (0u32..).zip(items_of_step) {
                        let inputs = JobInputs {
                            instance: Some(Instance { index, item }),
                            ..JobInputs::default()
                        };
                        items.push(to_value(&build_job(wf, step, generation, 0, inputs))?);
                    }
                }
                None => {
                    let job = build_job(wf, step, generation, 0, JobInputs::default());
                    items.push(to_value(&job)?);
                }
            }
        }
    }
    let list = List {
        api_version: "v1",
        kind: "List",
        items,
    };
    let text = match format {
        ObjectFormat::Json => {
            let mut text = serde_json::to_string_pretty(&list)?;
            text.push('\n');
            text
        }
        ObjectFormat::Yaml => {
            serde_saphyr::to_string(&list).map_err(|e| ExportError::Yaml(e.to_string()))?
        }
    };
    Ok(FirstRun { text, notes })
}

fn to_value(object: &impl Serialize) -> Result<Value, ExportError> {
    Ok(serde_json::to_value(object)?)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List {
    api_version: &'static str,
    kind: &'static str,
    items: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: flow, namespace: data}
spec:
  podDefaults:
    env: [{name: FOO, value: bar}]
    labels: {team: data}
  volumeClaimTemplates:
    - name: ws
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
  containers:
    - stepName: a
      image: busybox:1
      volumeMounts: [{name: ws, mountPath: /ws}]
    - stepName: b
      dependsOn: [a]
      jobTemplateRef: {name: builder}
"#;

    #[test]
    fn the_first_run_lists_the_claims_then_one_job_per_step() {
        let workflows = kwf_api::parse_workflows(FLOW).expect("parses");
        let run = first_run(&workflows, ObjectFormat::Json).expect("renders");
        let list: Value = serde_json::from_str(&run.text).expect("JSON");
        let kinds_and_names: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["kind"].as_str().unwrap_or_default().to_owned(),
                    item["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(
            kinds_and_names,
            [
                ("PersistentVolumeClaim".to_owned(), "flow-ws-1".to_owned()),
                ("Job".to_owned(), "flow-a-1".to_owned()),
                ("Job".to_owned(), "flow-b-1".to_owned()),
            ]
        );
        let pod = &list["items"][1]["spec"]["template"];
        assert_eq!(pod["metadata"]["labels"]["team"], "data");
        assert_eq!(pod["spec"]["containers"][0]["env"][0]["name"], "FOO");
        assert_eq!(run.notes.len(), 1);
        assert!(
            run.notes[0].contains("JobTemplate \"builder\""),
            "{}",
            run.notes[0]
        );
    }

    #[test]
    fn yaml_is_the_same_list() {
        let workflows = kwf_api::parse_workflows(FLOW).expect("parses");
        let yaml = first_run(&workflows, ObjectFormat::Yaml)
            .expect("renders")
            .text;
        let json = first_run(&workflows, ObjectFormat::Json)
            .expect("renders")
            .text;
        let from_yaml: Value = serde_saphyr::from_str(&yaml).expect("YAML");
        let from_json: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(from_yaml, from_json);
    }

    #[test]
    fn a_fan_out_lists_one_job_per_item_with_its_item() {
        let yaml = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: fan}
spec:
  containers:
    - {stepName: build, image: busybox, command: [make, "{{item}}"], withItems: [app, lib]}
    - {stepName: agent, image: busybox, withNodes: {exclude: [n1]}}
"#;
        let workflows = kwf_api::parse_workflows(yaml).expect("parses");
        let run = first_run(&workflows, ObjectFormat::Json).expect("renders");
        let list: Value = serde_json::from_str(&run.text).expect("JSON");
        let items = list["items"].as_array().unwrap();
        let names: Vec<&str> = items
            .iter()
            .map(|item| item["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(names, ["fan-build-1-i0", "fan-build-1-i1", "fan-agent-1"]);
        let container = &items[1]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["command"][1], "lib");
        assert_eq!(run.notes.len(), 1);
        assert!(run.notes[0].contains("withNodes"), "{}", run.notes[0]);
    }
}
