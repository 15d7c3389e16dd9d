//! KubeCI's Workflow (`kube.ci/v1alpha1` in its design, `engine.kube.ci/v1alpha1` later) -> a
//! kwf WorkflowTemplate.
//!
//! A KubeCI Workflow does not run when it is created: each trigger event makes a Workplan, one
//! run. So it becomes a template (same name), whose runs are kwf Workflows:
//!
//! - `steps[]` -> `workflowSpec.containers[]`: `name` -> `stepName`, `image`, `commands` ->
//!   `command`, `args`, `dependency` (renamed `requires` later; both read) -> `dependsOn`;
//! - the shared directory every step mounts at `/kubeci` (a hostPath on one node, cleaned up
//!   when the Workplan ends) -> one claim template `kubeci` (ReadWriteOnce, so kwf runs every
//!   step on one node, as KubeCI did), mounted at `/kubeci` in every step, deleted when the run
//!   ends (`volumeClaimPolicy: DeleteOnFinish`);
//! - KubeCI steps have no time limit -> `maxStepTimeout: -1`;
//! - `triggers[]` -> resource triggers: not in this kwf yet, so each is reported, and the
//!   template is run with `kubectl workflow submit` meanwhile.

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kwf_api::workflow_template::WorkflowTemplateSpec;
use kwf_api::{Step, VolumeClaimPolicy, VolumeClaimTemplate, WorkflowSpec, WorkflowTemplate};
use serde::Deserialize;

use super::{Converted, KwfObject, Lossy, Source, keep_metadata, unknown_fields};

/// KubeCI's design-document API group and version.
pub const API_VERSION: &str = "kube.ci/v1alpha1";
/// The later KubeCI engine's.
pub const ENGINE_API_VERSION: &str = "engine.kube.ci/v1alpha1";
/// The claim template of the shared directory, and its mount path (KubeCI's).
pub const SHARED_CLAIM: &str = "kubeci";
pub const SHARED_MOUNT_PATH: &str = "/kubeci";
/// Size of that claim: KubeCI's hostPath had none; outputs are meant to be published elsewhere.
pub const SHARED_CLAIM_SIZE: &str = "1Gi";

/// A KubeCI Workflow's spec.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct KubeCiSpec {
    pub steps: Vec<KubeCiStep>,
    #[serde(default)]
    pub triggers: Vec<KubeCiTrigger>,
}

/// One step: a container, and the steps it waits for.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct KubeCiStep {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub commands: Option<Vec<String>>,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// The design's name of the dependencies.
    #[serde(default)]
    pub dependency: Option<Vec<String>>,
    /// The engine's name of the dependencies.
    #[serde(default)]
    pub requires: Option<Vec<String>>,
}

/// One trigger: objects of a kind, filtered, and the events that start a Workplan.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct KubeCiTrigger {
    pub api_version: String,
    pub kind: String,
    /// The plural (`configmaps`): the kwf trigger names the kind; kept for the message only.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub on_add_or_update: bool,
    #[serde(default)]
    pub on_delete: bool,
}

/// The kwf WorkflowTemplate of a KubeCI Workflow; `ignored` are the keys its reading did not know.
pub fn convert(doc: Source<KubeCiSpec>, ignored: Vec<String>) -> Converted {
    let mut lossy = unknown_fields(ignored, "a KubeCI Workflow", &[]);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let name = metadata
        .name
        .clone()
        .or_else(|| metadata.generate_name.clone())
        .unwrap_or_default();
    let containers = doc.spec.steps.into_iter().map(step).collect();
    for (index, trigger) in doc.spec.triggers.iter().enumerate() {
        lossy.push(trigger_lossy(index, trigger, &name));
    }
    let spec = WorkflowTemplateSpec {
        workflow_spec: WorkflowSpec {
            max_step_timeout: -1,
            containers,
            volume_claim_templates: vec![shared_claim()],
            volume_claim_policy: Some(VolumeClaimPolicy::DeleteOnFinish),
            ..WorkflowSpec::default()
        },
        ..WorkflowTemplateSpec::default()
    };
    let mut template = WorkflowTemplate::new("", spec);
    template.metadata = metadata;
    Converted {
        objects: vec![KwfObject::WorkflowTemplate(Box::new(template))],
        lossy,
    }
}

fn step(source: KubeCiStep) -> Step {
    let mut depends_on = source.dependency.unwrap_or_default();
    for required in source.requires.unwrap_or_default() {
        if !depends_on.contains(&required) {
            depends_on.push(required);
        }
    }
    Step {
        step_name: source.name,
        image: source.image,
        command: source.commands,
        args: source.args,
        depends_on,
        volume_mounts: vec![VolumeMount {
            name: SHARED_CLAIM.to_owned(),
            mount_path: SHARED_MOUNT_PATH.to_owned(),
            ..VolumeMount::default()
        }],
        ..Step::default()
    }
}

/// The claim every step shares: KubeCI's `/kubeci` directory on one node.
fn shared_claim() -> VolumeClaimTemplate {
    VolumeClaimTemplate {
        name: SHARED_CLAIM.to_owned(),
        spec: PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(
                    [("storage".to_owned(), Quantity(SHARED_CLAIM_SIZE.to_owned()))].into(),
                ),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        },
        ..VolumeClaimTemplate::default()
    }
}

/// What kwf cannot do yet with a trigger, and what to do meanwhile.
fn trigger_lossy(index: usize, trigger: &KubeCiTrigger, template: &str) -> Lossy {
    let what = match &trigger.name {
        Some(name) => format!("{} {} {name}", trigger.api_version, trigger.kind),
        None => format!("{} {}", trigger.api_version, trigger.kind),
    };
    Lossy::new(
        format!("spec.triggers[{index}]"),
        format!(
            "resource triggers ({what}) are not in this kwf yet: run the template with `kubectl workflow submit --from template/{template}` when the object changes"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::read;

    /// The seed's Workflow, verbatim.
    pub const EXAMPLE: &str = include_str!("../../../examples/convert/kubeci-workflow.yaml");

    fn convert_yaml(yaml: &str) -> Converted {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
        let (doc, ignored) = read(&value).expect("reads");
        convert(doc, ignored)
    }

    fn template(converted: &Converted) -> &WorkflowTemplate {
        match converted.objects.as_slice() {
            [KwfObject::WorkflowTemplate(t)] => t,
            other => panic!("one WorkflowTemplate: {other:?}"),
        }
    }

    #[test]
    fn the_five_steps_become_a_template_sharing_one_claim() {
        let converted = convert_yaml(EXAMPLE);
        let t = template(&converted);
        assert_eq!(t.metadata.name.as_deref(), Some("my-workflow"));
        assert_eq!(t.metadata.namespace.as_deref(), Some("default"));
        let spec = &t.spec.workflow_spec;
        assert_eq!(spec.max_step_timeout, -1);
        let steps: Vec<(&str, Vec<&str>)> = spec
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
                ("step-1", vec![]),
                ("step-2", vec!["step-1"]),
                ("step-3", vec!["step-1"]),
                ("step-4", vec!["step-2", "step-3"]),
                ("step-5", vec!["step-1", "step-4"]),
            ]
        );
        let five = &spec.containers[4];
        assert_eq!(five.image.as_deref(), Some("alpine"));
        assert_eq!(five.command.as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(
            five.args.as_deref().unwrap(),
            ["-c", "echo step-5; ls /kubeci"]
        );
        for s in &spec.containers {
            assert_eq!(s.volume_mounts.len(), 1);
            assert_eq!(s.volume_mounts[0].name, SHARED_CLAIM);
            assert_eq!(s.volume_mounts[0].mount_path, "/kubeci");
        }
        assert_eq!(spec.volume_claim_templates.len(), 1);
        assert!(spec.volume_claim_templates[0].single_node());
        assert_eq!(
            spec.volume_claim_policy,
            Some(VolumeClaimPolicy::DeleteOnFinish)
        );
        kwf_api::validate_template(t).expect("valid");
    }

    #[test]
    fn the_trigger_is_reported_until_kwf_has_resource_triggers() {
        let converted = convert_yaml(EXAMPLE);
        assert_eq!(converted.lossy.len(), 1, "{:?}", converted.lossy);
        assert_eq!(converted.lossy[0].field, "spec.triggers[0]");
        assert!(
            converted.lossy[0]
                .advice
                .contains("kubectl workflow submit --from template/my-workflow"),
            "{:?}",
            converted.lossy
        );
    }

    #[test]
    fn the_engines_requires_is_read_like_dependency() {
        let yaml = EXAMPLE
            .replace("kube.ci/v1alpha1", "engine.kube.ci/v1alpha1")
            .replace("dependency:", "requires:");
        let converted = convert_yaml(&yaml);
        let t = template(&converted);
        assert_eq!(
            t.spec.workflow_spec.containers[3].depends_on,
            ["step-2", "step-3"]
        );
    }

    #[test]
    fn a_step_field_kubeci_lacks_is_reported() {
        let yaml = EXAMPLE.replace("    name: step-1\n", "    name: step-1\n    timeout: 5m\n");
        let converted = convert_yaml(&yaml);
        let fields: Vec<&str> = converted.lossy.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(fields, ["spec.steps[0].timeout", "spec.triggers[0]"]);
    }

    #[test]
    fn a_field_of_the_wrong_type_names_its_path() {
        let yaml = EXAMPLE.replacen(
            "    dependency:\n    - step-1\n",
            "    dependency: step-1\n",
            1,
        );
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
        let err = read::<Source<KubeCiSpec>>(&value).unwrap_err();
        assert!(
            err.starts_with("spec.steps[1].dependency: invalid type: string \"step-1\""),
            "{err}"
        );
    }
}
