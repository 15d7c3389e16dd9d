//! The JobFlow operator's `api.practice.com/v1alpha1` kinds -> kwf:
//!
//! - **JobFlow** -> a Workflow of the same name: `globalParams` (`nodeName`, `env`, `labels`,
//!   `annotations`: every job's pod) -> `podDefaults`; each of `flows[]` -> a step: `name` ->
//!   `stepName`, `dependencies` -> `dependsOn`, `jobTemplate` (a batch/v1 JobSpec) -> the step's
//!   `jobTemplate.spec`, `jobTemplateRef` (a JobTemplate's name) -> `jobTemplateRef.name`.
//! - **DaemonJob** -> a Workflow with one step `job` that fans out over nodes: `template` (a pod
//!   template) -> `jobTemplate.spec.template`, `excludeNodeList` (names separated by commas) ->
//!   `withNodes.exclude`, `globalParams` -> `podDefaults`.
//! - **JobTemplate** -> a kwf JobTemplate of the same name, its `spec` (a JobSpec) ->
//!   `spec.spec`, for the steps that name it.
//!
//! JobFlow's jobs have no time limit (`maxStepTimeout: -1`), and JobFlow forces
//! `restartPolicy: Never` on every pod as kwf does, so a template's `restartPolicy` changes
//! nothing (kwf's controller sets Never). kwf names a step's Job `<workflow>-<step>-<generation>`
//! where JobFlow named it `<jobflow>-<flow>` (and a DaemonJob's `<daemonjob>-<node>`).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec};
use kwf_api::fan_out::NodeFanOut;
use kwf_api::{
    JobTemplate, JobTemplateBody, JobTemplateRef, PodDefaults, Step, Workflow, WorkflowSpec,
};
use serde::Deserialize;

use super::{Converted, KwfObject, Source, keep_metadata, unknown_fields};

/// The JobFlow operator's API group and version.
pub const API_VERSION: &str = "api.practice.com/v1alpha1";
/// The step of a converted DaemonJob.
pub const DAEMON_STEP: &str = "job";

/// Parameters of every job and pod of a JobFlow or DaemonJob.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GlobalParams {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl GlobalParams {
    fn pod_defaults(self) -> Option<PodDefaults> {
        let defaults = PodDefaults {
            env: self.env,
            labels: self.labels,
            annotations: self.annotations,
            node_name: self.node_name,
            ..PodDefaults::default()
        };
        (defaults != PodDefaults::default()).then_some(defaults)
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct JobFlowSpec {
    #[serde(default)]
    pub global_params: GlobalParams,
    pub flows: Vec<Flow>,
}

/// One flow: a Job, and the flows it waits for.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    pub name: String,
    #[serde(default)]
    pub dependencies: Option<Vec<String>>,
    #[serde(default)]
    pub job_template: Option<JobSpec>,
    #[serde(default)]
    pub job_template_ref: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct DaemonJobSpec {
    #[serde(default)]
    pub global_params: GlobalParams,
    #[serde(default)]
    pub exclude_node_list: Option<String>,
    pub template: PodTemplateSpec,
}

/// What kwf does not map of JobFlow (by path, any index), and what to do instead.
const JOBFLOW_UNMAPPED: &[(&str, &str)] = &[
    (
        "spec.flows[].shareVolumes",
        "shared volumes are the Workflow's own in kwf: declare them in spec.volumes (or spec.volumeClaimTemplates) of the converted Workflow",
    ),
    (
        "spec.flows[].shareVolumeMounts",
        "mount the Workflow's volumes per step: set the step's volumeMounts in the converted Workflow",
    ),
    (
        "spec.shareVolumes",
        "declare them in spec.volumes (or spec.volumeClaimTemplates) of the converted Workflow",
    ),
    (
        "spec.shareVolumeMounts",
        "set each step's volumeMounts in the converted Workflow",
    ),
];

/// The Workflow of a JobFlow; `ignored` are the keys its reading did not know.
pub fn convert_jobflow(doc: Source<JobFlowSpec>, ignored: Vec<String>) -> Converted {
    let mut lossy = unknown_fields(ignored, "a JobFlow", JOBFLOW_UNMAPPED);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let containers = doc
        .spec
        .flows
        .into_iter()
        .map(|flow| Step {
            step_name: flow.name,
            depends_on: flow.dependencies.unwrap_or_default(),
            job_template: flow.job_template.map(|spec| JobTemplateSpec {
                metadata: None,
                spec: Some(spec),
            }),
            job_template_ref: flow.job_template_ref.map(|name| JobTemplateRef { name }),
            ..Step::default()
        })
        .collect();
    let spec = WorkflowSpec {
        max_step_timeout: -1,
        containers,
        pod_defaults: doc.spec.global_params.pod_defaults(),
        ..WorkflowSpec::default()
    };
    let mut workflow = Workflow::new("", spec);
    workflow.metadata = metadata;
    Converted {
        objects: vec![KwfObject::Workflow(Box::new(workflow))],
        lossy,
    }
}

/// The Workflow of a DaemonJob: one step on every node but the excluded ones.
pub fn convert_daemonjob(doc: Source<DaemonJobSpec>, ignored: Vec<String>) -> Converted {
    let mut lossy = unknown_fields(ignored, "a DaemonJob", &[]);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let exclude = doc
        .spec
        .exclude_node_list
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    let step = Step {
        step_name: DAEMON_STEP.to_owned(),
        job_template: Some(JobTemplateSpec {
            metadata: None,
            spec: Some(JobSpec {
                template: doc.spec.template,
                ..JobSpec::default()
            }),
        }),
        with_nodes: Some(NodeFanOut {
            selector: BTreeMap::new(),
            exclude,
        }),
        ..Step::default()
    };
    let spec = WorkflowSpec {
        max_step_timeout: -1,
        containers: vec![step],
        pod_defaults: doc.spec.global_params.pod_defaults(),
        ..WorkflowSpec::default()
    };
    let mut workflow = Workflow::new("", spec);
    workflow.metadata = metadata;
    Converted {
        objects: vec![KwfObject::Workflow(Box::new(workflow))],
        lossy,
    }
}

/// The kwf JobTemplate of a JobFlow JobTemplate (its spec a JobSpec, as the JobFlow README says:
/// "supports all fields of k8s native job spec").
pub fn convert_jobtemplate(doc: Source<JobSpec>, ignored: Vec<String>) -> Converted {
    let mut lossy = unknown_fields(ignored, "a JobFlow JobTemplate", &[]);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let mut template = JobTemplate::new(
        "",
        JobTemplateBody(JobTemplateSpec {
            metadata: None,
            spec: Some(doc.spec),
        }),
    );
    template.metadata = metadata;
    Converted {
        objects: vec![KwfObject::JobTemplate(Box::new(template))],
        lossy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::read;

    /// The seed's JobFlow, verbatim.
    pub const JOBFLOW: &str = include_str!("../../../examples/convert/jobflow.yaml");

    /// The seed's DaemonJob, verbatim.
    pub const DAEMONJOB: &str = include_str!("../../../examples/convert/daemonjob.yaml");

    fn converted(yaml: &str) -> Converted {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
        match value["kind"].as_str() {
            Some("JobFlow") => {
                let (doc, ignored) = read(&value).expect("reads");
                convert_jobflow(doc, ignored)
            }
            Some("DaemonJob") => {
                let (doc, ignored) = read(&value).expect("reads");
                convert_daemonjob(doc, ignored)
            }
            _ => {
                let (doc, ignored) = read(&value).expect("reads");
                convert_jobtemplate(doc, ignored)
            }
        }
    }

    fn workflow(converted: &Converted) -> &Workflow {
        match converted.objects.as_slice() {
            [KwfObject::Workflow(wf)] => wf,
            other => panic!("one Workflow: {other:?}"),
        }
    }

    #[test]
    fn the_five_flows_become_five_steps_with_their_dependencies() {
        let converted = converted(JOBFLOW);
        assert_eq!(converted.lossy, []);
        let wf = workflow(&converted);
        assert_eq!(wf.metadata.name.as_deref(), Some("jobflow-example"));
        let steps: Vec<(&str, Vec<&str>)> = wf
            .spec
            .containers
            .iter()
            .map(|s| {
                (
                    s.step_name.as_str(),
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("job1", vec![]),
                ("job2", vec!["job1"]),
                ("job3", vec!["job1", "job2"]),
                ("job4", vec![]),
                ("job5", vec!["job4", "job2"]),
            ]
        );
        let job2 = wf.spec.containers[1].job_template.as_ref().unwrap();
        let pod = job2.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.containers[0].image.as_deref(), Some("busybox:1.28"));
        assert_eq!(
            pod.containers[0].command.as_deref().unwrap(),
            ["sh", "-c", "sleep 100s"]
        );
        assert_eq!(wf.spec.max_step_timeout, -1);
        kwf_api::validate(&wf.spec).expect("valid");
    }

    #[test]
    fn global_params_become_pod_defaults() {
        let converted = converted(JOBFLOW);
        let defaults = workflow(&converted).spec.pod_defaults.clone().unwrap();
        assert_eq!(defaults.node_name.as_deref(), Some("minikube"));
        let env: Vec<(&str, Option<&str>)> = defaults
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(env, [("FOO", Some("bar")), ("QUE", Some("pasa"))]);
        assert_eq!(defaults.labels["key1"], "value1");
        assert_eq!(defaults.annotations["key2"], "value2");
    }

    #[test]
    fn a_job_template_ref_names_a_kwf_job_template() {
        let yaml = JOBFLOW.replacen(
            "    - name: job4\n      jobTemplate:\n        template:\n          spec:\n            containers:\n              - image: busybox:1.28\n                command:\n                  - sh\n                  - -c\n                  - sleep 10s\n                imagePullPolicy: IfNotPresent\n                name: nginx\n",
            "    - name: job4\n      jobTemplateRef: sleeper\n",
            1,
        );
        let converted = converted(&yaml);
        let wf = workflow(&converted);
        assert_eq!(
            wf.spec.containers[3].job_template_ref,
            Some(JobTemplateRef {
                name: "sleeper".into()
            })
        );
        assert!(wf.spec.containers[3].job_template.is_none());
        kwf_api::validate(&wf.spec).expect("valid");

        let template = "apiVersion: api.practice.com/v1alpha1\nkind: JobTemplate\nmetadata: {name: sleeper, namespace: ns}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox, command: [sleep, '1']}]\n";
        let converted = super::tests::converted(template);
        let [KwfObject::JobTemplate(t)] = converted.objects.as_slice() else {
            panic!("a JobTemplate: {converted:?}")
        };
        assert_eq!(t.metadata.name.as_deref(), Some("sleeper"));
        let job = t.spec.0.spec.as_ref().unwrap();
        assert_eq!(
            job.template.spec.as_ref().unwrap().containers[0]
                .image
                .as_deref(),
            Some("busybox")
        );
    }

    #[test]
    fn the_daemonjob_fans_out_over_every_node_but_the_excluded() {
        let converted = converted(DAEMONJOB);
        assert_eq!(converted.lossy, []);
        let wf = workflow(&converted);
        assert_eq!(wf.metadata.name.as_deref(), Some("daemonjob-example"));
        let [step] = wf.spec.containers.as_slice() else {
            panic!("one step")
        };
        assert_eq!(step.step_name, DAEMON_STEP);
        assert_eq!(
            step.with_nodes.as_ref().unwrap().exclude,
            ["node1", "node2"]
        );
        let pod = step.job_template.as_ref().unwrap().spec.as_ref().unwrap();
        let pod = pod.template.spec.as_ref().unwrap();
        assert_eq!(
            pod.containers[0].command.as_deref().unwrap()[2],
            "sleep 100s"
        );
        let defaults = wf.spec.pod_defaults.as_ref().unwrap();
        assert_eq!(defaults.env.len(), 2);
        assert_eq!(defaults.node_name, None);
        kwf_api::validate(&wf.spec).expect("valid");
    }

    #[test]
    fn unmapped_fields_say_what_to_do_and_wrong_types_name_the_path() {
        let yaml = JOBFLOW.replacen(
            "    - name: job1\n",
            "    - name: job1\n      shareVolumeMounts: [{name: data, mountPath: /data}]\n",
            1,
        );
        let converted = converted(&yaml);
        assert_eq!(converted.lossy.len(), 1, "{:?}", converted.lossy);
        assert_eq!(converted.lossy[0].field, "spec.flows[0].shareVolumeMounts");
        assert!(converted.lossy[0].advice.contains("volumeMounts"));

        let yaml = DAEMONJOB.replace("excludeNodeList: node1, node2", "excludeNodeList: [node1]");
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
        let err = read::<Source<DaemonJobSpec>>(&value).unwrap_err();
        assert!(
            err.starts_with("spec.excludeNodeList: invalid type: sequence"),
            "{err}"
        );
    }
}
