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
//! - `triggers[]` -> `resourceTriggers[]`: `apiVersion`, `kind`, `namespace`, `name` ->
//!   `objectName`, a non-empty `selector`; `onAddOrUpdate` -> events Create and Update,
//!   `onDelete` -> Delete. Each is named after its kind (`configmap`, `configmap-2`, ...: a
//!   DNS-1123 label of at most 20 characters). `resource` (the plural) is not needed: kwf finds
//!   it from apiVersion and kind. A trigger with neither event, and a selector next to a name
//!   (kwf watches one object by name or selects by labels, not both), are reported.

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kwf_api::resource_trigger::{MAX_TRIGGER_NAME_LEN, ResourceTrigger, TriggerEvent};
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
    /// The plural (`configmaps`): kwf finds it from apiVersion and kind.
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
    let containers = doc.spec.steps.into_iter().map(step).collect();
    let resource_triggers = triggers(&doc.spec.triggers, &mut lossy);
    let spec = WorkflowTemplateSpec {
        workflow_spec: WorkflowSpec {
            max_step_timeout: -1,
            containers,
            volume_claim_templates: vec![shared_claim()],
            volume_claim_policy: Some(VolumeClaimPolicy::DeleteOnFinish),
            ..WorkflowSpec::default()
        },
        resource_triggers,
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

/// The resource triggers of KubeCI's triggers, and a lossy line for what does not map.
fn triggers(source: &[KubeCiTrigger], lossy: &mut Vec<Lossy>) -> Vec<ResourceTrigger> {
    let mut out: Vec<ResourceTrigger> = Vec::new();
    for (index, trigger) in source.iter().enumerate() {
        let field = format!("spec.triggers[{index}]");
        let mut events = Vec::new();
        if trigger.on_add_or_update {
            events.extend([TriggerEvent::Create, TriggerEvent::Update]);
        }
        if trigger.on_delete {
            events.push(TriggerEvent::Delete);
        }
        if events.is_empty() {
            lossy.push(Lossy::new(
                field,
                "the trigger watches no event (onAddOrUpdate and onDelete are both false), so it never ran: remove it, or set one of them",
            ));
            continue;
        }
        let selector = trigger.selector.clone().filter(|s| {
            s.match_labels.as_ref().is_some_and(|l| !l.is_empty())
                || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
        });
        let selector = match (&trigger.name, selector) {
            (Some(name), Some(_)) => {
                lossy.push(Lossy::new(
                    format!("{field}.selector"),
                    format!(
                        "a kwf trigger watches one object by name or selects by labels, not both: it watches {name:?} only; add a second template with the selector if you need both"
                    ),
                ));
                None
            }
            (_, selector) => selector,
        };
        let name = trigger_name(&trigger.kind, &out);
        out.push(ResourceTrigger {
            name,
            api_version: trigger.api_version.clone(),
            kind: trigger.kind.clone(),
            namespace: trigger.namespace.clone(),
            object_name: trigger.name.clone(),
            selector,
            events: Some(events),
            ..ResourceTrigger::default()
        });
    }
    out
}

/// `configmap`, then `configmap-2`, ...: the kind as a DNS-1123 label, unique among `taken`.
fn trigger_name(kind: &str, taken: &[ResourceTrigger]) -> String {
    let mut base: String = kind
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert(0, 't');
    }
    base.truncate(MAX_TRIGGER_NAME_LEN - 3);
    let free = |name: &str| !taken.iter().any(|t| t.name == name);
    if free(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| free(name))
        .unwrap_or(base)
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
    fn the_configmap_trigger_becomes_a_resource_trigger_on_all_three_events() {
        let converted = convert_yaml(EXAMPLE);
        assert_eq!(converted.lossy, []);
        let t = template(&converted);
        let [trigger] = t.spec.resource_triggers.as_slice() else {
            panic!("one trigger: {:?}", t.spec.resource_triggers)
        };
        assert_eq!(trigger.name, "configmap");
        assert_eq!(
            (trigger.api_version.as_str(), trigger.kind.as_str()),
            ("v1", "ConfigMap")
        );
        assert_eq!(trigger.namespace.as_deref(), Some("default"));
        assert_eq!(trigger.object_name.as_deref(), Some("my-config"));
        assert_eq!(
            trigger.selector, None,
            "an empty selector selects nothing more"
        );
        assert_eq!(
            trigger.events.as_deref(),
            Some(
                &[
                    TriggerEvent::Create,
                    TriggerEvent::Update,
                    TriggerEvent::Delete
                ][..]
            )
        );
    }

    #[test]
    fn events_names_and_selectors_map_or_are_reported() {
        let yaml = EXAMPLE.replace("    onDelete: true\n", "    onDelete: false\n").replace(
            "    selector: {}\n",
            "    selector: {}\n  - {apiVersion: v1, kind: ConfigMap, onDelete: true, selector: {matchLabels: {ci: x}}}\n  - {apiVersion: v1, kind: Secret, name: s, selector: {matchLabels: {a: b}}, onAddOrUpdate: true}\n  - {apiVersion: v1, kind: Secret}\n",
        );
        let converted = convert_yaml(&yaml);
        let t = template(&converted);
        let triggers: Vec<(&str, Option<&str>, Vec<TriggerEvent>, bool)> = t
            .spec
            .resource_triggers
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.object_name.as_deref(),
                    r.events.clone().unwrap_or_default(),
                    r.selector.is_some(),
                )
            })
            .collect();
        use TriggerEvent::*;
        assert_eq!(
            triggers,
            [
                ("configmap", Some("my-config"), vec![Create, Update], false),
                ("configmap-2", None, vec![Delete], true),
                ("secret", Some("s"), vec![Create, Update], false),
            ]
        );
        let fields: Vec<&str> = converted.lossy.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(fields, ["spec.triggers[2].selector", "spec.triggers[3]"]);
        kwf_api::validate_template(t).expect("valid");
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
        assert_eq!(fields, ["spec.steps[0].timeout"]);
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
