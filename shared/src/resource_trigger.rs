//! Resource triggers of a WorkflowTemplate (`spec.resourceTriggers`): a run of the template
//! each time an object of a chosen kind is created, updated or deleted (KubeCI's `triggers`).
//!
//! This module holds the types, the labels and annotations of triggered runs, the fingerprint
//! that says whether an update counts, and the offline checks [`trigger_problems`] that
//! `validate_template` runs. What counts and what is created is decided in the controller
//! (`core::resource_trigger`).
//!
//! **What counts as an update.** An object whose kind has a `metadata.generation` (Deployments,
//! most custom resources) counts when its generation changed; one without (ConfigMap, Secret)
//! when its content changed: a hash of the object without `metadata` and `status`. So a write
//! of labels, annotations or status alone never counts, nor does a re-list that shows the
//! object as it was ([`fingerprint`]).

use std::collections::BTreeMap;
use std::hash::Hasher;

use fnv::FnvHasher;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::params::{self, MAX_PARAMS};
use crate::workflow_template::Parameter;

/// Most resource triggers a template may have (also the CRD's `maxItems`).
pub const MAX_TRIGGERS: usize = 8;
/// Longest trigger name: it is part of the names of its runs.
pub const MAX_TRIGGER_NAME_LEN: usize = 20;
/// Longest debounce.
pub const MAX_DEBOUNCE_SECONDS: u32 = 3600;
/// Most objects one trigger keeps a record of in the template's status (uid, name and
/// fingerprint each, about 100 bytes): eight full triggers stay far below etcd's object limit.
pub const MAX_TRACKED_OBJECTS: usize = 200;

/// [`crate::workflow_template::LABEL_TRIGGER`]'s value on runs a resource trigger created.
pub const TRIGGER_RESOURCE: &str = "resource";
/// Label on a run a resource trigger created: the trigger's name.
pub const LABEL_TRIGGER_NAME: &str = "kwf.dev/trigger-name";
/// Annotation on such a run: the event that caused it (`Create`, `Update` or `Delete`).
pub const ANNOTATION_TRIGGER_EVENT: &str = "kwf.dev/trigger-event";
/// Annotation on such a run: the object that caused it, as `apiVersion/kind namespace/name`
/// (without `namespace/` for a cluster-scoped kind).
pub const ANNOTATION_TRIGGER_OBJECT: &str = "kwf.dev/trigger-object";
/// Annotation on such a run: the uid of that object.
pub const ANNOTATION_TRIGGER_UID: &str = "kwf.dev/trigger-object-uid";

/// One resource trigger: which objects, which events, which fields become parameters.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!(has(self.objectName) && has(self.selector))")
        .message("a resource trigger names one object (objectName) or selects by labels (selector), not both: remove one")
        .reason(kube::core::Reason::FieldValueForbidden)
)]
pub struct ResourceTrigger {
    /// The trigger's name: a DNS-1123 label of at most 20 characters, unique in the template;
    /// part of its runs' names and their `kwf.dev/trigger-name` label.
    #[schemars(length(min = 1, max = MAX_TRIGGER_NAME_LEN), regex(pattern = crate::names::DNS1123_LABEL_PATTERN))]
    pub name: String,
    /// The API version of the watched kind: `v1`, `apps/v1`, `example.com/v1beta1`.
    #[schemars(length(min = 1, max = 253), regex(pattern = API_VERSION_PATTERN))]
    pub api_version: String,
    /// The watched kind, as in an object's `kind` (`ConfigMap`).
    #[schemars(length(min = 1, max = 63), regex(pattern = KIND_PATTERN))]
    pub kind: String,
    /// The namespace watched (default: the template's); ignored for a cluster-scoped kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = crate::names::DNS1123_LABEL_PATTERN))]
    pub namespace: Option<String>,
    /// Only the object of this name (else every object, or those `selector` selects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub object_name: Option<String>,
    /// Only the objects whose labels this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The events that create a run (default: all three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 3))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Set)]
    pub events: Option<Vec<TriggerEvent>>,
    /// Template parameter -> JSON Pointer (RFC 6901) into the object: the run's value of the
    /// parameter. A string is passed as it is, anything else as JSON; a pointer that finds
    /// nothing (or an object deleted while no controller watched) leaves the parameter's default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_PARAMS))]
    pub params: BTreeMap<String, String>,
    /// An object's change counts only once the object has been unchanged this long (0..=3600,
    /// default 0): a burst of writes makes one run, of the last state.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = MAX_DEBOUNCE_SECONDS))]
    pub debounce_seconds: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `v1`, or `group/version` with a Kubernetes version (`v1`, `v2beta1`).
pub const API_VERSION_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$";
/// A kind: a letter, then letters and digits.
pub const KIND_PATTERN: &str = "^[A-Za-z][A-Za-z0-9]*$";

/// A change of a watched object.
#[derive(
    JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum TriggerEvent {
    /// An object appeared.
    Create,
    /// An object's generation (or, without one, its content) changed.
    Update,
    /// An object went away.
    Delete,
}

impl TriggerEvent {
    pub const ALL: [TriggerEvent; 3] = [
        TriggerEvent::Create,
        TriggerEvent::Update,
        TriggerEvent::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerEvent::Create => "Create",
            TriggerEvent::Update => "Update",
            TriggerEvent::Delete => "Delete",
        }
    }
}

impl ResourceTrigger {
    /// Whether `event` creates a run (every event when `events` is unset).
    pub fn watches(&self, event: TriggerEvent) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&event))
    }

    /// The API group and version of `apiVersion` (`""` is the core group).
    pub fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        }
    }

    /// The label selector as the API's query text, or what is wrong with it.
    pub fn label_selector(&self) -> Result<Option<String>, String> {
        let Some(selector) = &self.selector else {
            return Ok(None);
        };
        let parsed = kube::core::Selector::try_from(selector.clone())
            .map_err(|e| format!("resourceTriggers {:?}: selector: {e}", self.name))?;
        Ok((!parsed.selects_all()).then(|| parsed.to_string()))
    }

    /// What the trigger watches, as a short stable hash of apiVersion, kind, namespace, name
    /// and selector: the record of objects in the status is of this source, and is taken afresh
    /// when it changes (the objects of another source are no deletions).
    pub fn source(&self, namespace: &str) -> String {
        let selector = self.label_selector().ok().flatten().unwrap_or_default();
        hash_hex(
            &format!(
                "{}\n{}\n{}\n{}\n{}",
                self.api_version,
                self.kind,
                self.namespace.as_deref().unwrap_or(namespace),
                self.object_name.as_deref().unwrap_or_default(),
                selector
            ),
            8,
        )
    }
}

/// What the controller knows of one trigger, in the template's status.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTriggerStatus {
    /// The trigger's name.
    pub name: String,
    /// Why the trigger watches nothing (the kind is not served, the template's service account
    /// may not watch it, too many objects): one line, with what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What `objects` are a record of (a hash of the trigger's apiVersion, kind, namespace,
    /// objectName and selector); unset until the first list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Every watched object as last counted (by uid): what lets a restart or a re-list tell
    /// a change, a new object or a deletion from what was seen before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<CountedObject>,
    /// The run this trigger created last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
}

/// One object as a trigger last counted it.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CountedObject {
    pub uid: String,
    pub name: String,
    /// `g<generation>`, or `c<hash of the content>` for a kind without generation.
    pub fingerprint: String,
    /// Updates counted since it was created: part of a run's cause, so that content changed
    /// back to an earlier state (A, B, A) is a new update, not the first one again.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub updates: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// The fingerprint of an object (as JSON, with `metadata`): `g<generation>` when it has a
/// generation, else `c<16 hex>` of a hash of everything but `apiVersion`, `kind`, `metadata`
/// and `status`, keys sorted, so equal content always gives equal fingerprints.
pub fn fingerprint(object: &Value) -> String {
    if let Some(generation) = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
    {
        return format!("g{generation}");
    }
    let mut hasher = FnvHasher::default();
    if let Value::Object(map) = object {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
            .collect();
        keys.sort();
        for key in keys {
            write_canonical(&mut hasher, &Value::String(key.clone()));
            write_canonical(&mut hasher, &map[key]);
        }
    }
    format!("c{:016x}", hasher.finish())
}

/// Feeds `value` to `hasher` with object keys sorted (whatever the map's own order) and every
/// value delimited, so that distinct values feed distinct bytes.
fn write_canonical(hasher: &mut FnvHasher, value: &Value) {
    match value {
        Value::Object(map) => {
            hasher.write(b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                write_canonical(hasher, &Value::String(key.clone()));
                write_canonical(hasher, &map[key]);
            }
            hasher.write(b"}");
        }
        Value::Array(items) => {
            hasher.write(b"[");
            for item in items {
                write_canonical(hasher, item);
            }
            hasher.write(b"]");
        }
        // Strings, numbers, booleans and null as JSON text: quoted and escaped, so delimited.
        scalar => {
            hasher.write(scalar.to_string().as_bytes());
            hasher.write(b",");
        }
    }
}

/// The values `params` picks from `object`: a string as it is, anything else as JSON text;
/// a pointer that finds nothing gives no value (the parameter's default applies).
pub fn picked_params(
    params: &BTreeMap<String, String>,
    object: &Value,
) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(name, pointer)| {
            let value = object.pointer(pointer)?;
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name.clone(), text))
        })
        .collect()
}

/// The first `len` (at most 16) hex digits of the 64-bit FNV-1a hash of `s`: stable across
/// builds and platforms.
pub fn hash_hex(s: &str, len: usize) -> String {
    let mut hasher = FnvHasher::default();
    hasher.write(s.as_bytes());
    let mut hex = format!("{:016x}", hasher.finish());
    hex.truncate(len);
    hex
}

/// Whether `pointer` is a JSON Pointer (RFC 6901): empty, or `/`-separated tokens in which `~`
/// is only followed by `0` or `1`.
pub fn is_json_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    pointer.starts_with('/') && {
        let bytes = pointer.as_bytes();
        bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
    }
}

/// Every problem of `triggers` that shows without a cluster: count, names (valid, unique),
/// apiVersion and kind syntax, objectName with selector, the selector itself, duplicate
/// events, parameters that are not declared, pointers that are not JSON Pointers, debounce.
pub fn trigger_problems(triggers: &[ResourceTrigger], declared: &[Parameter]) -> Vec<String> {
    let mut problems = Vec::new();
    if triggers.len() > MAX_TRIGGERS {
        problems.push(format!(
            "resourceTriggers: {} triggers, at most {MAX_TRIGGERS}: remove some",
            triggers.len()
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for t in triggers {
        let at = format!("resourceTriggers {:?}", t.name);
        if !crate::names::is_dns1123_label(&t.name) || t.name.len() > MAX_TRIGGER_NAME_LEN {
            problems.push(format!(
                "{at}: invalid name: use at most {MAX_TRIGGER_NAME_LEN} lowercase letters, digits or '-', starting and ending with a letter or digit"
            ));
        }
        if seen.contains(&t.name.as_str()) {
            problems.push(format!("{at}: the name is used twice: rename one"));
        }
        seen.push(&t.name);
        if !is_api_version(&t.api_version) {
            problems.push(format!(
                "{at}: apiVersion {:?} is not an API version: write v1, apps/v1 or GROUP/VERSION",
                t.api_version
            ));
        }
        if !is_kind(&t.kind) {
            problems.push(format!(
                "{at}: kind {:?} is not a kind: write it as in an object's kind (ConfigMap)",
                t.kind
            ));
        }
        if let Some(ns) = &t.namespace
            && !crate::names::is_dns1123_label(ns)
        {
            problems.push(format!("{at}: namespace {ns:?} is not a namespace name"));
        }
        if t.object_name.is_some() && t.selector.is_some() {
            problems.push(format!(
                "{at}: a resource trigger names one object (objectName) or selects by labels (selector), not both: remove one"
            ));
        }
        if let Err(e) = t.label_selector() {
            problems.push(e);
        }
        if let Some(events) = &t.events {
            if events.is_empty() {
                problems.push(format!(
                    "{at}: events is empty: list some of Create, Update, Delete, or remove it for all three"
                ));
            }
            for (i, e) in events.iter().enumerate() {
                if events[..i].contains(e) {
                    problems.push(format!("{at}: event {} is listed twice", e.as_str()));
                }
            }
        }
        for (param, pointer) in &t.params {
            if !declared.iter().any(|p| &p.name == param) {
                problems.push(format!(
                    "{at}: params: parameter {param:?} is not declared: declare it in spec.parameters or remove it"
                ));
            } else if !params::is_param_name(param) {
                problems.push(format!("{at}: params: {param:?} is not a parameter name"));
            }
            if !is_json_pointer(pointer) {
                problems.push(format!(
                    "{at}: params {param}: {pointer:?} is not a JSON Pointer: write it as /data/key (~1 for '/', ~0 for '~' in a key)"
                ));
            }
        }
        if t.debounce_seconds > MAX_DEBOUNCE_SECONDS {
            problems.push(format!(
                "{at}: debounceSeconds {} is more than {MAX_DEBOUNCE_SECONDS}",
                t.debounce_seconds
            ));
        }
    }
    problems
}

fn is_api_version(s: &str) -> bool {
    let (group, version) = match s.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, s),
    };
    let group_ok = group.is_none_or(|g| {
        !g.is_empty() && g.len() <= 253 && g.split('.').all(crate::names::is_dns1123_label)
    });
    let version_ok = version.strip_prefix('v').is_some_and(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        let tail_ok = tail.is_empty()
            || ["alpha", "beta"].iter().any(|stage| {
                tail.strip_prefix(stage)
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            });
        !number.is_empty() && tail_ok
    });
    group_ok && version_ok
}

fn is_kind(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use proptest::prelude::*;
    use serde_json::json;

    fn trigger(name: &str) -> ResourceTrigger {
        ResourceTrigger {
            name: name.to_owned(),
            api_version: "v1".to_owned(),
            kind: "ConfigMap".to_owned(),
            ..Default::default()
        }
    }

    fn declared(names: &[&str]) -> Vec<Parameter> {
        names
            .iter()
            .map(|n| Parameter {
                name: (*n).to_owned(),
                default: None,
                description: None,
            })
            .collect()
    }

    #[test]
    fn a_metadata_or_status_write_keeps_the_content_fingerprint() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "1"}, "resourceVersion": "5"},
            "data": {"k": "v", "j": "w"}});
        let relabelled = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "2"}, "resourceVersion": "6"},
            "data": {"j": "w", "k": "v"}, "status": {"x": 1}});
        assert_eq!(fingerprint(&cm), fingerprint(&relabelled));
        let changed = json!({"metadata": {"name": "c"}, "data": {"k": "v2", "j": "w"}});
        assert_ne!(fingerprint(&cm), fingerprint(&changed));
        assert!(fingerprint(&cm).starts_with('c'));
    }

    #[test]
    fn a_kind_with_generation_is_fingerprinted_by_it() {
        let d = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1}, "status": {"a": 1}});
        assert_eq!(fingerprint(&d), "g3");
        let scaled = json!({"metadata": {"generation": 3}, "spec": {"replicas": 9}});
        assert_eq!(
            fingerprint(&scaled),
            "g3",
            "the generation says; content is not looked at"
        );
    }

    #[test]
    fn values_that_print_alike_fingerprint_apart() {
        // Delimiting matters: {"a": "b,c"} and {"a": "b", ",c"...} must not collide.
        let a = json!({"data": {"k": "ab", "l": ""}});
        let b = json!({"data": {"k": "a", "l": "b"}});
        let c = json!({"data": ["1", 1]});
        let d = json!({"data": [1, "1"]});
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&c), fingerprint(&d));
    }

    proptest! {
        #[test]
        fn the_content_fingerprint_ignores_key_order_metadata_and_status(
            data in prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,6}", 0..6),
            label in "[a-z]{0,5}",
            status in "[a-z]{0,5}",
        ) {
            let forward: serde_json::Map<String, Value> =
                data.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let mut reversed = serde_json::Map::new();
            for (k, v) in data.iter().rev() {
                reversed.insert(k.clone(), json!(v));
            }
            let one = json!({"metadata": {"name": "x"}, "data": forward});
            let two = json!({"metadata": {"name": "x", "labels": {"l": label}},
                "status": {"s": status}, "data": reversed});
            prop_assert_eq!(fingerprint(&one), fingerprint(&two));
        }
    }

    #[test]
    fn params_pick_strings_as_they_are_and_the_rest_as_json() {
        let object = json!({"metadata": {"name": "c", "labels": {"app/x": "y"}},
            "data": {"config.yaml": "a: 1\n"}, "spec": {"replicas": 3}});
        let params: BTreeMap<String, String> = [
            ("config", "/data/config.yaml"),
            ("replicas", "/spec/replicas"),
            ("label", "/metadata/labels/app~1x"),
            ("missing", "/data/none"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let picked = picked_params(&params, &object);
        assert_eq!(picked["config"], "a: 1\n");
        assert_eq!(picked["replicas"], "3");
        assert_eq!(picked["label"], "y");
        assert!(!picked.contains_key("missing"), "the default applies");
    }

    #[test]
    fn a_valid_trigger_has_no_problems() {
        let mut t = trigger("config");
        t.namespace = Some("other".into());
        t.object_name = Some("my-config".into());
        t.events = Some(vec![TriggerEvent::Create, TriggerEvent::Update]);
        t.params = [("config".to_owned(), "/data/config.yaml".to_owned())].into();
        t.debounce_seconds = 5;
        assert_eq!(
            trigger_problems(&[t.clone()], &declared(&["config"])),
            Vec::<String>::new()
        );
        assert!(t.watches(TriggerEvent::Update) && !t.watches(TriggerEvent::Delete));
        assert!(trigger("x").watches(TriggerEvent::Delete), "default: all");
        for good in ["v1", "apps/v1", "example.com/v1beta2", "a.b.c/v10alpha1"] {
            assert!(is_api_version(good), "{good}");
        }
    }

    #[test]
    fn every_offline_problem_is_one_line_naming_the_trigger() {
        let mut bad = trigger("Bad_Name");
        bad.api_version = "apps/1".into();
        bad.kind = "Config-Map".into();
        bad.object_name = Some("x".into());
        bad.selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: None,
            }]),
            match_labels: None,
        });
        bad.events = Some(vec![TriggerEvent::Create, TriggerEvent::Create]);
        bad.params = [("nope".to_owned(), "data/x".to_owned())].into();
        bad.debounce_seconds = 3601;
        let dup = trigger("dup");
        let problems = trigger_problems(&[bad, dup.clone(), dup], &declared(&[]));
        let starts: Vec<&str> = problems
            .iter()
            .map(|p| p.split(": ").nth(1).unwrap_or(p))
            .collect();
        assert_eq!(
            starts,
            [
                "invalid name",
                "apiVersion \"apps/1\" is not an API version",
                "kind \"Config-Map\" is not a kind",
                "a resource trigger names one object (objectName) or selects by labels (selector), not both",
                "selector",
                "event Create is listed twice",
                "params",
                "params nope",
                "debounceSeconds 3601 is more than 3600",
                "the name is used twice",
            ],
            "{problems:#?}"
        );
        assert!(problems.iter().all(|p| !p.contains('\n')));
        let nine: Vec<ResourceTrigger> = (0..9).map(|i| trigger(&format!("t{i}"))).collect();
        assert_eq!(
            trigger_problems(&nine, &[]),
            ["resourceTriggers: 9 triggers, at most 8: remove some"]
        );
    }

    #[test]
    fn json_pointers() {
        for good in ["", "/", "/data/a~1b", "/a~0", "/0"] {
            assert!(is_json_pointer(good), "{good}");
        }
        for bad in ["data", "/a~", "/a~2"] {
            assert!(!is_json_pointer(bad), "{bad}");
        }
    }

    #[test]
    fn the_source_changes_with_what_is_watched_only() {
        let t = trigger("config");
        let mut events = t.clone();
        events.events = Some(vec![TriggerEvent::Delete]);
        events.debounce_seconds = 9;
        assert_eq!(t.source("ns"), events.source("ns"));
        let mut named = t.clone();
        named.object_name = Some("c".into());
        assert_ne!(t.source("ns"), named.source("ns"));
        assert_ne!(t.source("ns"), t.source("other"));
        let mut explicit = t.clone();
        explicit.namespace = Some("ns".into());
        assert_eq!(t.source("ns"), explicit.source("ns"));
    }

    #[test]
    fn selectors_become_query_text() {
        let mut t = trigger("s");
        t.selector = Some(LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: None,
        });
        assert_eq!(t.label_selector(), Ok(Some("app=web".to_owned())));
        t.selector = Some(LabelSelector::default());
        assert_eq!(
            t.label_selector(),
            Ok(None),
            "an empty selector selects all"
        );
    }
}
