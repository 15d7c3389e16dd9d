//! Fan-out of one step over items (`withItems`): one instance of the step per item, each a Job
//! of its own, with `{{item}}` and `{{item.FIELD}}` replaced in the step's `command`, `args` and
//! `env` values, and `KWF_ITEM` set in every container. Pure text work, shared by the controller
//! (which builds the instances' Jobs) and `validate()` (which rejects what cannot be replaced).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::retries::FailedAttempt;
use crate::{Step, StepPhase};

/// Most items one step may fan out over.
pub const MAX_ITEMS: usize = 1000;
/// The variable every container of an instance gets: its item as text.
pub const ENV_ITEM: &str = "KWF_ITEM";
/// The variable every container of an instance gets: its index, from 0.
pub const ENV_INSTANCE: &str = "KWF_INSTANCE";

/// Fan-out over nodes (`withNodes`): one instance per eligible node, pinned to it. A node is
/// eligible when it has the `selector` labels, is not in `exclude`, is not cordoned, has the
/// labels of the pod's own `nodeSelector` and every NoSchedule/NoExecute taint it has is
/// tolerated by the pod. The nodes are taken when the step starts; an eligible node that still
/// cannot run the pod (full, or ruled out by affinity) shows as an instance that does not start
/// in time, never as a node silently left out. `{{item}}` and `KWF_ITEM` are the node's name.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeFanOut {
    /// Only nodes with all of these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Nodes left out, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub exclude: Vec<String>,
}

/// The state of a fanned-out step's instances, kept small: instances start in index order,
/// so those at or after `started` wait; of those before it, only the ones that have not
/// succeeded are listed. A 2,000-step workflow of 20-instance fan-outs stays far below 1 MiB.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstancesStatus {
    /// Instances in all (the number of items).
    pub total: u32,
    /// Instances that have started: `0..started`.
    #[serde(default)]
    pub started: u32,
    /// Instances that succeeded (they are not listed in `active`).
    #[serde(default)]
    pub succeeded: u32,
    /// Instances that failed for good.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u32,
    /// The run (restart counter) whose Jobs these instances are: a succeeded instance's Job
    /// belongs to the step through it, since the instance is no longer listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: u32,
    /// Every started instance that has not succeeded: running, waiting to retry, or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<InstanceStatus>,
    /// A fan-out over nodes: the eligible nodes when the step started, by instance index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One listed instance of a fanned-out step: the fields of a step's status, by index.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Its index in `withItems`, from 0.
    pub index: u32,
    /// Running, Succeeded (only in memory: succeeded instances are counted, not listed) or Failed.
    pub phase: StepPhase,
    /// Its current (or last) attempt's Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// When its current attempt's Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Exit code of its container, where the pod showed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The failed attempts before the current one, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<FailedAttempt>,
    /// When its next attempt starts, while it waits to retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<Time>,
}

/// Schema of `withItems`: 1 to [`MAX_ITEMS`] items of any JSON shape. That each is a string or
/// an object is checked by `validate()` and when the step starts, not by a CEL rule: one over
/// 1,000 items of each of 2,000 steps would exceed the API server's cost budget.
pub(crate) fn items_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ITEMS,
        "items": {"x-kubernetes-preserve-unknown-fields": true}
    })
}

/// An item as text: a string as it is, anything else as compact JSON.
pub fn item_text(item: &Value) -> String {
    match item {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A reference found in a text: `{{item}}` (field None) or `{{item.FIELD}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// Byte range of the whole `{{ ... }}` in the text.
    pub span: std::ops::Range<usize>,
    pub field: Option<&'a str>,
}

/// Every `{{item}}` and `{{item.FIELD}}` of `text` (spaces inside the braces allowed), in order.
/// Other `{{...}}` are left alone: they may be a later kind of parameter or the program's own.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| from + i) {
        let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let inner = text[open + 2..close].trim();
        let field = match inner.strip_prefix("item") {
            Some("") => Some(None),
            Some(rest) => rest.strip_prefix('.').map(Some),
            None => None,
        };
        if let Some(field) = field {
            found.push(Placeholder {
                span: open..close + 2,
                field,
            });
        }
        from = close + 2;
    }
    found
}

/// Why a placeholder cannot be replaced with an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstitutionError {
    #[error(
        "{{{{item.{field}}}}} needs object items, but item {index} is {item}: use {{{{item}}}}, or give the items as objects"
    )]
    NotAnObject {
        field: String,
        index: usize,
        item: String,
    },
    #[error(
        "{{{{item.{field}}}}}: item {index} ({item}) has no field {field:?}: add it to every item, or use another field"
    )]
    MissingField {
        field: String,
        index: usize,
        item: String,
    },
}

/// `text` with every item placeholder replaced by `item` (the `index`th item).
pub fn substitute(text: &str, item: &Value, index: usize) -> Result<String, SubstitutionError> {
    let found = placeholders(text);
    if found.is_empty() {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for placeholder in found {
        out.push_str(&text[last..placeholder.span.start]);
        out.push_str(&replacement(placeholder.field, item, index)?);
        last = placeholder.span.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn replacement(
    field: Option<&str>,
    item: &Value,
    index: usize,
) -> Result<String, SubstitutionError> {
    let Some(field) = field else {
        return Ok(item_text(item));
    };
    let Value::Object(fields) = item else {
        return Err(SubstitutionError::NotAnObject {
            field: field.to_owned(),
            index,
            item: item_text(item),
        });
    };
    fields
        .get(field)
        .map(item_text)
        .ok_or_else(|| SubstitutionError::MissingField {
            field: field.to_owned(),
            index,
            item: item_text(item),
        })
}

/// The texts of a step that take item placeholders: `command`, `args` and `env` values.
pub(crate) fn texts(step: &Step) -> impl Iterator<Item = &str> {
    let command = step.command.iter().flatten().map(String::as_str);
    let args = step.args.iter().flatten().map(String::as_str);
    let env = step
        .env
        .iter()
        .flatten()
        .filter_map(|var| var.value.as_deref());
    command.chain(args).chain(env)
}

/// The first placeholder of `step` that some of its items cannot fill.
pub fn check(step: &Step) -> Result<(), SubstitutionError> {
    let Some(items) = &step.with_items else {
        return Ok(());
    };
    for text in texts(step) {
        for (index, item) in items.iter().enumerate() {
            substitute(text, item, index)?;
        }
    }
    Ok(())
}

/// The step as instance `index` with `item` runs it: placeholders replaced (a text that cannot
/// be filled, which `validate()` refuses, is kept as it is).
pub fn instantiate(step: &Step, item: &Value, index: usize) -> Step {
    let fill = |text: &String| substitute(text, item, index).unwrap_or_else(|_| text.clone());
    let mut instance = step.clone();
    instance.command = step.command.as_ref().map(|c| c.iter().map(fill).collect());
    instance.args = step.args.as_ref().map(|a| a.iter().map(fill).collect());
    instance.env = step.env.as_ref().map(|env| {
        env.iter()
            .map(|var| EnvVar {
                value: var.value.as_ref().map(fill),
                ..var.clone()
            })
            .collect()
    });
    instance
}

/// The variables every container of instance `index` gets.
pub fn instance_env(item: &Value, index: usize) -> [EnvVar; 2] {
    [
        EnvVar {
            name: ENV_ITEM.to_owned(),
            value: Some(item_text(item)),
            value_from: None,
        },
        EnvVar {
            name: ENV_INSTANCE.to_owned(),
            value: Some(index.to_string()),
            value_from: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_item_placeholders_only() {
        let text = "a {{item}} b {{ item.name }} c {{params.x}} d {{itemx}} {{item.}}";
        let fields: Vec<Option<&str>> = placeholders(text).iter().map(|p| p.field).collect();
        assert_eq!(fields, vec![None, Some("name"), Some("")]);
        assert!(placeholders("no braces").is_empty());
        assert!(placeholders("{{item").is_empty(), "unclosed");
    }

    #[test]
    fn substitutes_strings_objects_and_fields() {
        assert_eq!(
            substitute("echo {{item}}!", &json!("a b"), 0).unwrap(),
            "echo a b!"
        );
        let item = json!({"name": "x", "port": 8080, "tags": ["t"]});
        assert_eq!(
            substitute("{{item.name}}:{{ item.port }} {{item.tags}}", &item, 0).unwrap(),
            "x:8080 [\"t\"]"
        );
        assert_eq!(
            substitute("{{item}}", &json!({"a": 1}), 0).unwrap(),
            "{\"a\":1}"
        );
    }

    #[test]
    fn a_field_of_a_string_or_a_missing_field_is_a_clear_error() {
        let err = substitute("{{item.x}}", &json!("plain"), 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "{{item.x}} needs object items, but item 2 is plain: use {{item}}, or give the items as objects"
        );
        let err = substitute("{{item.x}}", &json!({"y": 1}), 0).unwrap_err();
        assert!(err.to_string().contains("has no field \"x\""), "{err}");
    }

    #[test]
    fn instantiate_replaces_command_args_and_env_values() {
        let step = Step {
            step_name: "s".into(),
            command: Some(vec!["sh".into(), "-c".into(), "echo {{item.n}}".into()]),
            args: Some(vec!["{{item}}".into()]),
            env: Some(vec![EnvVar {
                name: "N".into(),
                value: Some("n={{item.n}}".into()),
                value_from: None,
            }]),
            with_items: Some(vec![json!({"n": 1})]),
            ..Step::default()
        };
        check(&step).expect("fillable");
        let instance = instantiate(&step, &json!({"n": 7}), 0);
        assert_eq!(instance.command.unwrap()[2], "echo 7");
        assert_eq!(instance.args.unwrap()[0], "{\"n\":7}");
        assert_eq!(instance.env.unwrap()[0].value.as_deref(), Some("n=7"));
        let bad = Step {
            with_items: Some(vec![json!({"n": 1}), json!("s")]),
            ..step
        };
        assert!(check(&bad).is_err());
    }
}
