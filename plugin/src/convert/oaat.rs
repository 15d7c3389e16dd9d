//! oaat-operator's `kawaja.net/v1` OaatType and OaatGroup -> one kwf WorkflowTemplate per group.
//!
//! An OaatType says how to run one item (a pod of one container); an OaatGroup names its type
//! (`oaatType`) and lists the items, run one at a time about every `frequency`, a failed item
//! resting `failureCoolOff`. The group becomes a template of the group's name with:
//!
//! - one parameter `item`, and one step named after the type's container: `image`, `command`,
//!   `args`, `env`, `resources`, `imagePullPolicy`, `volumeMounts` as the container has them,
//!   `%%oaat_item%%` and `{{oaat_item}}` replaced by `{{params.item}}` in `command`, `args` and
//!   `env` values, and `OAAT_ITEM={{params.item}}` in its env (oaat's variable);
//! - the type's pod fields kwf takes for every step (`nodeName`, `nodeSelector`, `tolerations`,
//!   `affinity`, `serviceAccountName`, `imagePullSecrets`, `securityContext`,
//!   `priorityClassName`) -> `podDefaults`, its `volumes` -> `volumes`;
//! - `maxStepTimeout: -1` (oaat pods have no time limit);
//! - `oaatItems`, `frequency`, `failureCoolOff` -> `itemGroup.items`, `frequency`,
//!   `failureCoolOff`, with `parameter: item` and `concurrency: 1` (one at a time, oaat's rule).
//!   kwf chooses among the due items in a stated order (never succeeded, oldest success, oldest
//!   failure, then list order) where oaat chose at random among ties.
//!
//! The type is found among the documents of the same file (same name and namespace): convert a
//! group together with its type.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, LocalObjectReference, PodSecurityContext, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kwf_api::item_group::ItemGroup;
use kwf_api::workflow_template::{Parameter, WorkflowTemplateSpec};
use kwf_api::{PodDefaults, Step, WorkflowSpec, WorkflowTemplate};
use serde::Deserialize;
use serde_json::Value;

use super::{Converted, KwfObject, Lossy, Source, keep_metadata, read, unknown_fields};

/// oaat-operator's API group and version.
pub const API_VERSION: &str = "kawaja.net/v1";
/// The template parameter that receives the item.
pub const ITEM_PARAMETER: &str = "item";
/// The item as oaat substitutes it, and as kwf does.
const OAAT_PLACEHOLDERS: [&str; 2] = ["%%oaat_item%%", "{{oaat_item}}"];
const KWF_PLACEHOLDER: &str = "{{params.item}}";
/// oaat's environment variable of the item.
pub const ITEM_ENV: &str = "OAAT_ITEM";

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OaatTypeSpec {
    /// What runs an item: oaat knows only `pod`.
    #[serde(rename = "type")]
    pub kind: String,
    pub podspec: OaatPodSpec,
}

/// oaat's pod spec: one `container`, and the pod fields kwf can give every step.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OaatPodSpec {
    pub container: Container,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    #[serde(default)]
    pub affinity: Option<Affinity>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(default)]
    pub security_context: Option<PodSecurityContext>,
    #[serde(default)]
    pub priority_class_name: Option<String>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OaatGroupSpec {
    pub oaat_type: String,
    pub oaat_items: Vec<String>,
    pub frequency: String,
    #[serde(default)]
    pub failure_cool_off: Option<String>,
}

/// The container fields a kwf step takes as they are (`name` names the step).
const STEP_FIELDS: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "env",
    "resources",
    "imagePullPolicy",
    "volumeMounts",
];

/// A type as the groups use it: the step, the pod defaults and volumes, and its own lossy fields.
#[derive(Debug, Clone)]
struct TypeParts {
    step: Step,
    pod_defaults: Option<PodDefaults>,
    volumes: Vec<Volume>,
    lossy: Vec<Lossy>,
}

/// The OaatTypes of a file, by namespace and name, as read (or why not), and the groups that
/// name them.
#[derive(Debug, Default)]
pub struct Types {
    types: BTreeMap<(Option<String>, String), Result<TypeParts, String>>,
    used: Vec<(Option<String>, String)>,
}

impl Types {
    /// Every OaatType among `values`, and which of them an OaatGroup among them names.
    pub fn collect<'a>(values: impl Iterator<Item = &'a Value>) -> Types {
        let mut found = Types::default();
        for value in values {
            let kind = value.get("kind").and_then(Value::as_str);
            let api_version = value.get("apiVersion").and_then(Value::as_str);
            if api_version != Some(API_VERSION) {
                continue;
            }
            let meta: ObjectMeta = value
                .get("metadata")
                .and_then(|m| serde_json::from_value(m.clone()).ok())
                .unwrap_or_default();
            let namespace = meta.namespace.clone();
            match kind {
                Some("OaatType") => {
                    let key = (namespace, meta.name.clone().unwrap_or_default());
                    let parts = read::<Source<OaatTypeSpec>>(value)
                        .and_then(|(doc, ignored)| type_parts(doc, ignored));
                    found.types.insert(key, parts);
                }
                Some("OaatGroup") => {
                    if let Some(name) = value.pointer("/spec/oaatType").and_then(Value::as_str) {
                        found.used.push((namespace, name.to_owned()));
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// What the document of an OaatType reports: its own lossy fields, or why it is of no use.
    pub fn outcome_of_type(&self, value: &Value) -> Result<Converted, String> {
        let (doc, _) = read::<Source<Value>>(value)?;
        let key = (
            doc.metadata.namespace.clone(),
            doc.metadata.name.clone().unwrap_or_default(),
        );
        let parts = self.types.get(&key).cloned().unwrap_or_else(|| {
            Err("the OaatType was not read: fix the document and retry".into())
        })?;
        if !self.used.contains(&key) {
            return Err(format!(
                "no OaatGroup in the file names this OaatType (oaatType: {}): convert the type together with its groups; alone it runs nothing",
                key.1
            ));
        }
        Ok(Converted {
            objects: Vec::new(),
            lossy: parts.lossy,
        })
    }

    /// The WorkflowTemplate of an OaatGroup, with its type found in the file.
    pub fn convert_group(
        &self,
        doc: Source<OaatGroupSpec>,
        ignored: Vec<String>,
    ) -> Result<Converted, String> {
        let key = (doc.metadata.namespace.clone(), doc.spec.oaat_type.clone());
        let parts = match self.types.get(&key) {
            Some(Ok(parts)) => parts,
            Some(Err(_)) => {
                return Err(format!(
                    "its OaatType {:?} cannot be read: fix that document first",
                    key.1
                ));
            }
            None => {
                return Err(format!(
                    "spec.oaatType: no OaatType {:?}{} in the file: convert the group together with its type",
                    key.1,
                    key.0
                        .as_deref()
                        .map(|ns| format!(" in namespace {ns:?}"))
                        .unwrap_or_default()
                ));
            }
        };
        Ok(convert_group(doc, ignored, parts))
    }
}

/// The step, pod defaults and volumes of an OaatType, and what it has that kwf does not take.
fn type_parts(doc: Source<OaatTypeSpec>, ignored: Vec<String>) -> Result<TypeParts, String> {
    if doc.spec.kind != "pod" {
        return Err(format!(
            "spec.type: {:?}: oaat runs items only as pods, and so does kwf: set type: pod",
            doc.spec.kind
        ));
    }
    let mut lossy = unknown_fields(
        ignored,
        "an OaatType pod spec (kwf takes nodeName, nodeSelector, tolerations, affinity, serviceAccountName, imagePullSecrets, securityContext, priorityClassName and volumes)",
        &[],
    );
    let mut ignored_meta = Vec::new();
    keep_metadata(&doc.metadata, &mut ignored_meta);
    lossy.extend(ignored_meta);
    let pod = doc.spec.podspec;
    let container = pod.container;
    if let Ok(Value::Object(fields)) = serde_json::to_value(&container) {
        for field in fields.keys().filter(|f| !STEP_FIELDS.contains(&f.as_str())) {
            lossy.push(Lossy::new(
                format!("spec.podspec.container.{field}"),
                "a kwf step takes image, command, args, env, resources, imagePullPolicy and volumeMounts of a container: move the rest into a JobTemplate and name it in the step's jobTemplateRef",
            ));
        }
    }
    let substitute = |s: String| {
        OAAT_PLACEHOLDERS
            .iter()
            .fold(s, |s, placeholder| s.replace(placeholder, KWF_PLACEHOLDER))
    };
    let mut env: Vec<EnvVar> = container
        .env
        .unwrap_or_default()
        .into_iter()
        .map(|mut var| {
            var.value = var.value.map(substitute);
            var
        })
        .collect();
    if !env.iter().any(|var| var.name == ITEM_ENV) {
        env.push(EnvVar {
            name: ITEM_ENV.to_owned(),
            value: Some(KWF_PLACEHOLDER.to_owned()),
            value_from: None,
        });
    }
    let step = Step {
        step_name: container.name,
        image: container.image,
        command: container
            .command
            .map(|c| c.into_iter().map(substitute).collect()),
        args: container
            .args
            .map(|a| a.into_iter().map(substitute).collect()),
        env: Some(env),
        resources: container.resources,
        image_pull_policy: container.image_pull_policy,
        volume_mounts: container.volume_mounts.unwrap_or_default(),
        ..Step::default()
    };
    let defaults = PodDefaults {
        node_name: pod.node_name,
        node_selector: pod.node_selector,
        tolerations: pod.tolerations,
        affinity: pod.affinity,
        service_account_name: pod.service_account_name,
        image_pull_secrets: pod.image_pull_secrets,
        security_context: pod.security_context,
        priority_class_name: pod.priority_class_name,
        ..PodDefaults::default()
    };
    Ok(TypeParts {
        step,
        pod_defaults: (defaults != PodDefaults::default()).then_some(defaults),
        volumes: pod.volumes,
        lossy,
    })
}

fn convert_group(doc: Source<OaatGroupSpec>, ignored: Vec<String>, parts: &TypeParts) -> Converted {
    let mut lossy = unknown_fields(ignored, "an OaatGroup", &[]);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let template_name = metadata.name.clone().unwrap_or_default();
    let group = doc.spec;
    let spec = WorkflowTemplateSpec {
        parameters: vec![Parameter {
            name: ITEM_PARAMETER.to_owned(),
            default: None,
            description: Some(format!(
                "the item of OaatGroup {template_name} (OaatType {})",
                group.oaat_type
            )),
        }],
        workflow_spec: WorkflowSpec {
            max_step_timeout: -1,
            containers: vec![parts.step.clone()],
            pod_defaults: parts.pod_defaults.clone(),
            volumes: parts.volumes.clone(),
            ..WorkflowSpec::default()
        },
        item_group: Some(ItemGroup {
            items: group.oaat_items,
            parameter: ITEM_PARAMETER.to_owned(),
            frequency: group.frequency,
            failure_cool_off: group.failure_cool_off,
            // oaat: one at a time.
            concurrency: 1,
            suspend: false,
        }),
        ..WorkflowTemplateSpec::default()
    };
    let mut template = WorkflowTemplate::new("", spec);
    template.metadata = metadata;
    Converted {
        objects: vec![KwfObject::WorkflowTemplate(Box::new(template))],
        lossy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{Document, convert_file};

    /// The seed's OaatType, verbatim.
    pub const OAAT_TYPE: &str = include_str!("../../../examples/convert/oaat-type.yaml");

    /// The seed's OaatGroup, verbatim.
    pub const OAAT_GROUP: &str = include_str!("../../../examples/convert/oaat-group.yaml");

    fn documents(yamls: &[&str]) -> Vec<Document> {
        yamls
            .iter()
            .map(|y| Document {
                value: serde_saphyr::from_str(y).expect("YAML"),
            })
            .collect()
    }

    #[test]
    fn the_type_and_group_become_one_template_with_an_item_parameter() {
        let outcomes = convert_file("o.yaml", documents(&[OAAT_TYPE, OAAT_GROUP]));
        let type_outcome = outcomes[0].result.as_ref().expect("the type reads");
        assert_eq!(type_outcome.objects, []);
        assert_eq!(type_outcome.lossy, []);
        let group = outcomes[1].result.as_ref().expect("the group converts");
        let [KwfObject::WorkflowTemplate(t)] = group.objects.as_slice() else {
            panic!("one template: {group:?}")
        };
        assert_eq!(t.metadata.name.as_deref(), Some("testsimple-oaat"));
        assert_eq!(t.spec.parameters.len(), 1);
        assert_eq!(t.spec.parameters[0].name, "item");
        assert_eq!(t.spec.parameters[0].default, None);
        let [step] = t.spec.workflow_spec.containers.as_slice() else {
            panic!("one step")
        };
        assert_eq!(step.step_name, "test");
        assert_eq!(step.image.as_deref(), Some("busybox"));
        assert_eq!(step.command.as_deref().unwrap(), ["sh", "-x", "-c"]);
        let script = &step.args.as_deref().unwrap()[0];
        assert!(
            script.starts_with("echo \"OAAT_ITEM={{params.item}}\"\n"),
            "{script}"
        );
        let env = step.env.as_deref().unwrap();
        assert_eq!(env[0].name, "OAAT_ITEM");
        assert_eq!(env[0].value.as_deref(), Some("{{params.item}}"));
        assert_eq!(t.spec.workflow_spec.max_step_timeout, -1);
        kwf_api::validate_template(t).expect("valid");

        let run = kwf_api::instantiate(t, &[("item".to_owned(), "item2".to_owned())].into())
            .expect("a run");
        assert!(run.spec.containers[0].args.as_ref().unwrap()[0].contains("OAAT_ITEM=item2"));
        assert_eq!(
            run.spec.containers[0].env.as_ref().unwrap()[0]
                .value
                .as_deref(),
            Some("item2")
        );
    }

    #[test]
    fn the_group_becomes_the_templates_item_group() {
        let outcomes = convert_file("o.yaml", documents(&[OAAT_TYPE, OAAT_GROUP]));
        let group = outcomes[1].result.as_ref().unwrap();
        assert_eq!(group.lossy, []);
        let KwfObject::WorkflowTemplate(t) = &group.objects[0] else {
            panic!("a template")
        };
        let items = t.spec.item_group.as_ref().expect("an item group");
        assert_eq!(items.items, ["item1", "item2"]);
        assert_eq!(items.parameter, "item");
        assert_eq!(items.frequency, "5m");
        assert_eq!(items.failure_cool_off, None);
        assert_eq!(items.concurrency, 1);
        let with_cool_off = OAAT_GROUP.replace(
            "  frequency: 5m\n",
            "  frequency: 5m\n  failureCoolOff: 1m\n",
        );
        let outcomes = convert_file("o.yaml", documents(&[OAAT_TYPE, &with_cool_off]));
        let KwfObject::WorkflowTemplate(t) = &outcomes[1].result.as_ref().unwrap().objects[0]
        else {
            panic!("a template")
        };
        let cool_off = t
            .spec
            .item_group
            .as_ref()
            .unwrap()
            .failure_cool_off
            .as_deref();
        assert_eq!(cool_off, Some("1m"));
        kwf_api::validate_template(t).expect("valid");
    }

    #[test]
    fn both_placeholders_are_replaced_in_command_args_and_env() {
        let yaml = OAAT_TYPE.replace(
            "      command: [\"sh\", \"-x\", \"-c\"]\n",
            "      command: [\"sh\", \"-c\", \"echo %%oaat_item%%\"]\n      env: [{name: WHAT, value: \"x-{{oaat_item}}\"}, {name: OAAT_ITEM, value: \"%%oaat_item%%\"}]\n",
        );
        let outcomes = convert_file("o.yaml", documents(&[&yaml, OAAT_GROUP]));
        let group = outcomes[1].result.as_ref().unwrap();
        let KwfObject::WorkflowTemplate(t) = &group.objects[0] else {
            panic!("a template")
        };
        let step = &t.spec.workflow_spec.containers[0];
        assert_eq!(step.command.as_deref().unwrap()[2], "echo {{params.item}}");
        let env: Vec<(&str, Option<&str>)> = step
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            env,
            [
                ("WHAT", Some("x-{{params.item}}")),
                ("OAAT_ITEM", Some("{{params.item}}"))
            ],
            "OAAT_ITEM is not added twice"
        );
    }

    #[test]
    fn a_group_without_its_type_and_a_type_without_a_group_are_errors() {
        let outcomes = convert_file("o.yaml", documents(&[OAAT_GROUP]));
        let err = outcomes[0].result.as_ref().unwrap_err();
        assert!(
            err.starts_with("spec.oaatType: no OaatType \"oaattest\" in the file"),
            "{err}"
        );
        let outcomes = convert_file("o.yaml", documents(&[OAAT_TYPE]));
        let err = outcomes[0].result.as_ref().unwrap_err();
        assert!(
            err.starts_with("no OaatGroup in the file names this OaatType"),
            "{err}"
        );
    }

    #[test]
    fn container_fields_a_step_lacks_are_reported_on_the_type() {
        let yaml = OAAT_TYPE.replace(
            "      name: test\n",
            "      name: test\n      workingDir: /tmp\n",
        );
        let outcomes = convert_file("o.yaml", documents(&[&yaml, OAAT_GROUP]));
        let lossy = &outcomes[0].result.as_ref().unwrap().lossy;
        assert_eq!(lossy.len(), 1, "{lossy:?}");
        assert_eq!(lossy[0].field, "spec.podspec.container.workingDir");
    }

    #[test]
    fn a_wrong_type_of_field_names_its_path() {
        let yaml = OAAT_GROUP.replace(
            "  oaatItems:\n    - item1\n    - item2\n",
            "  oaatItems: item1\n",
        );
        let outcomes = convert_file("o.yaml", documents(&[OAAT_TYPE, &yaml]));
        let err = outcomes[1].result.as_ref().unwrap_err();
        assert!(
            err.starts_with("spec.oaatItems: invalid type: string \"item1\""),
            "{err}"
        );
    }
}
