//! Rendered Kubernetes manifests compared object by object: what `helm template` makes of the chart
//! (`controller/chart`) against what `kubectl kustomize` makes of the base (`controller/deploy`). Pure:
//! text in, differences out; `tests/helm_chart.rs` runs the two real tools.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// The labels the chart puts on every object for Helm (the chart, the release, the version, the tool):
/// with [`HELM_ANNOTATIONS`], the only thing [`without_helm_metadata`] removes before comparing.
pub const RELEASE_LABELS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
];

/// The annotations that tell Helm itself what to do (`helm.sh/resource-policy: keep` on the namespace).
pub const HELM_ANNOTATIONS: [&str; 1] = ["helm.sh/resource-policy"];

/// What names an object in a cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    /// None for cluster-scoped objects (and namespaced ones that name no namespace).
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    /// `Deployment kwf-system/workflow-controller`, `ClusterRole kwf-workflow-view`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The objects of a multi-document YAML stream by their keys; empty documents (a template that rendered
/// nothing) are skipped. An object without apiVersion, kind or name, or one named twice, is an error.
pub fn parse(text: &str) -> Result<BTreeMap<ObjectKey, Value>, String> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("not YAML: {e}"))?;
    let mut objects = BTreeMap::new();
    for (index, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(&document, |value, key| value.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let missing = |what: &str| format!("document {} has no {what}", index + 1);
        let key = ObjectKey {
            api_version: field(&["apiVersion"]).ok_or_else(|| missing("apiVersion"))?,
            kind: field(&["kind"]).ok_or_else(|| missing("kind"))?,
            namespace: field(&["metadata", "namespace"]),
            name: field(&["metadata", "name"]).ok_or_else(|| missing("metadata.name"))?,
        };
        if objects.contains_key(&key) {
            return Err(format!("{key} is there twice"));
        }
        objects.insert(key, document);
    }
    Ok(objects)
}

/// The object without [`RELEASE_LABELS`] in `metadata.labels` and [`HELM_ANNOTATIONS`] in
/// `metadata.annotations` (each map removed too if nothing else was in it). Labels anywhere else (a pod
/// template's, a selector) are left alone: the chart must render those exactly as the base does.
pub fn without_helm_metadata(mut object: Value) -> Value {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return object;
    };
    for (field, keys) in [
        ("labels", RELEASE_LABELS.as_slice()),
        ("annotations", HELM_ANNOTATIONS.as_slice()),
    ] {
        if let Some(map) = metadata.get_mut(field).and_then(Value::as_object_mut) {
            for key in keys {
                map.remove(*key);
            }
            if map.is_empty() {
                metadata.remove(field);
            }
        }
    }
    object
}

/// One field (or element, or whole object) that differs between the two renderings.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub object: ObjectKey,
    /// A jq-like path into the object: `.spec.template.spec.containers[0].args[2]`; empty for the object
    /// itself.
    pub path: String,
    /// None where the expected rendering lacks it.
    pub expected: Option<Value>,
    /// None where the actual rendering lacks it.
    pub actual: Option<Value>,
}

impl Difference {
    /// One line naming the object and the field, with both values, as `expected_name` and `actual_name`
    /// rendered them.
    pub fn describe(&self, expected_name: &str, actual_name: &str) -> String {
        let whole = self.path.is_empty();
        let shown = |value: &Option<Value>| match value {
            // An object only one side has is named, not printed (a CRD is thousands of lines).
            Some(_) if whole => "has it".to_owned(),
            Some(value) => cut(serde_json::to_string(value).unwrap_or_default()),
            None => "(absent)".to_owned(),
        };
        let path = if whole {
            "the whole object"
        } else {
            &self.path
        };
        format!(
            "{}: {path}: {expected_name} {}, {actual_name} {}",
            self.object,
            shown(&self.expected),
            shown(&self.actual)
        )
    }
}

/// At most [`SHOWN_CHARS`] characters of a value, `…` marking the cut.
fn cut(text: String) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// How much of a differing value a line shows: enough to see the difference, not a whole schema.
const SHOWN_CHARS: usize = 300;

/// Every difference between two sets of objects: objects only in one of them (reported whole), and for
/// objects in both every field that differs, down to the leaves (list elements by position).
pub fn differences(
    expected: &BTreeMap<ObjectKey, Value>,
    actual: &BTreeMap<ObjectKey, Value>,
) -> Vec<Difference> {
    let mut found = Vec::new();
    for (key, expected_object) in expected {
        match actual.get(key) {
            Some(actual_object) => {
                compare(
                    key,
                    String::new(),
                    expected_object,
                    actual_object,
                    &mut found,
                );
            }
            None => found.push(Difference {
                object: key.clone(),
                path: String::new(),
                expected: Some(expected_object.clone()),
                actual: None,
            }),
        }
    }
    for (key, actual_object) in actual {
        if !expected.contains_key(key) {
            found.push(Difference {
                object: key.clone(),
                path: String::new(),
                expected: None,
                actual: Some(actual_object.clone()),
            });
        }
    }
    found
}

fn compare(
    key: &ObjectKey,
    path: String,
    expected: &Value,
    actual: &Value,
    found: &mut Vec<Difference>,
) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            let mut fields: Vec<&String> = expected.keys().chain(actual.keys()).collect();
            fields.sort();
            fields.dedup();
            for field in fields {
                let path = format!("{path}.{field}");
                match (expected.get(field), actual.get(field)) {
                    (Some(e), Some(a)) => compare(key, path, e, a, found),
                    (e, a) => found.push(Difference {
                        object: key.clone(),
                        path,
                        expected: e.cloned(),
                        actual: a.cloned(),
                    }),
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) => {
            for index in 0..expected.len().max(actual.len()) {
                let path = format!("{path}[{index}]");
                match (expected.get(index), actual.get(index)) {
                    (Some(e), Some(a)) => compare(key, path, e, a, found),
                    (e, a) => found.push(Difference {
                        object: key.clone(),
                        path,
                        expected: e.cloned(),
                        actual: a.cloned(),
                    }),
                }
            }
        }
        // One number however YAML spells it (`0` and `0.0`: the generated CRD writes floats with a
        // fraction, kustomize prints them without); a string is never the number it spells.
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (expected, actual) if expected == actual => {}
        (expected, actual) => found.push(Difference {
            object: key.clone(),
            path,
            expected: Some(expected.clone()),
            actual: Some(actual.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: workflow-controller
  namespace: kwf-system
  labels:
    app.kubernetes.io/name: workflow-controller
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kwf-workflow-view
rules:
  - apiGroups: [kwf.dev]
    verbs: [get, list]
";

    fn key(kind: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
        let api_version = if kind == "ClusterRole" {
            "rbac.authorization.k8s.io/v1"
        } else {
            "v1"
        };
        ObjectKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    fn parsed(text: &str) -> BTreeMap<ObjectKey, Value> {
        parse(text).unwrap()
    }

    #[test]
    fn objects_are_keyed_by_kind_namespace_and_name_and_empty_documents_are_skipped() {
        let text = format!("---\n# Source: chart/templates/empty.yaml\n---\n{BASE}---\n");
        let objects = parsed(&text);
        let keys: Vec<String> = objects.keys().map(ToString::to_string).collect();
        assert_eq!(
            keys,
            [
                "ClusterRole kwf-workflow-view",
                "ServiceAccount kwf-system/workflow-controller"
            ]
        );
    }

    #[test]
    fn an_object_twice_or_without_a_name_is_an_error() {
        let twice = format!("{BASE}---\n{BASE}");
        assert_eq!(
            parse(&twice).unwrap_err(),
            "ServiceAccount kwf-system/workflow-controller is there twice"
        );
        assert_eq!(
            parse("apiVersion: v1\nkind: Namespace\nmetadata: {}\n").unwrap_err(),
            "document 1 has no metadata.name"
        );
        assert_eq!(
            parse("kind: Namespace\n").unwrap_err(),
            "document 1 has no apiVersion"
        );
        assert!(parse("a: [").unwrap_err().starts_with("not YAML"));
    }

    #[test]
    fn the_same_objects_in_another_order_and_layout_do_not_differ() {
        let reordered = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kwf-workflow-view}
rules: [{verbs: [get, list], apiGroups: [\"kwf.dev\"]}]
---
kind: ServiceAccount
apiVersion: v1
metadata:
  labels: {app.kubernetes.io/name: workflow-controller}
  namespace: kwf-system
  name: workflow-controller
";
        assert_eq!(differences(&parsed(BASE), &parsed(reordered)), []);
    }

    #[test]
    fn a_changed_field_is_named_by_object_and_path_with_both_values() {
        let changed = BASE.replace("verbs: [get, list]", "verbs: [get, watch]");
        let found = differences(&parsed(BASE), &parsed(&changed));
        assert_eq!(
            found,
            [Difference {
                object: key("ClusterRole", None, "kwf-workflow-view"),
                path: ".rules[0].verbs[1]".into(),
                expected: Some(json!("list")),
                actual: Some(json!("watch")),
            }]
        );
        assert_eq!(
            found[0].describe("kustomize", "helm"),
            "ClusterRole kwf-workflow-view: .rules[0].verbs[1]: kustomize \"list\", helm \"watch\""
        );
    }

    #[test]
    fn a_long_value_is_cut() {
        let long = "x".repeat(SHOWN_CHARS + 10);
        let difference = Difference {
            object: key("ServiceAccount", Some("ns"), "a"),
            path: ".description".into(),
            expected: Some(json!(long)),
            actual: None,
        };
        let line = difference.describe("kustomize", "helm");
        let shown = format!("\"{}…", "x".repeat(SHOWN_CHARS - 1));
        assert_eq!(
            line,
            format!("ServiceAccount ns/a: .description: kustomize {shown}, helm (absent)")
        );
    }

    #[test]
    fn a_number_is_compared_by_its_value_however_it_is_spelled() {
        let float = "apiVersion: v1\nkind: X\nmetadata: {name: a}\nminimum: 0.0\nmaximum: 2\n";
        let integer = "apiVersion: v1\nkind: X\nmetadata: {name: a}\nminimum: 0\nmaximum: 2.5\n";
        let found = differences(&parsed(float), &parsed(integer));
        let paths: Vec<&str> = found.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, [".maximum"]);
    }

    #[test]
    fn a_string_is_not_the_number_it_spells() {
        let quoted = "apiVersion: v1\nkind: X\nmetadata: {name: a}\ncpu: \"1\"\n";
        let number = "apiVersion: v1\nkind: X\nmetadata: {name: a}\ncpu: 1\n";
        let found = differences(&parsed(quoted), &parsed(number));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, ".cpu");
    }

    #[test]
    fn missing_and_extra_fields_elements_and_objects_are_differences() {
        let other = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: workflow-controller
  namespace: kwf-system
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kwf-workflow-view
rules:
  - apiGroups: [kwf.dev]
    verbs: [get, list]
  - apiGroups: [batch]
    verbs: [get]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: workflow-controller
  namespace: elsewhere
";
        let found = differences(&parsed(BASE), &parsed(other));
        let described: Vec<String> = found
            .iter()
            .map(|d| d.describe("kustomize", "helm"))
            .collect();
        assert_eq!(
            described,
            [
                "ClusterRole kwf-workflow-view: .rules[1]: kustomize (absent), helm {\"apiGroups\":[\"batch\"],\"verbs\":[\"get\"]}",
                "ServiceAccount kwf-system/workflow-controller: .automountServiceAccountToken: kustomize (absent), helm false",
                "ServiceAccount kwf-system/workflow-controller: .metadata.labels: kustomize {\"app.kubernetes.io/name\":\"workflow-controller\"}, helm (absent)",
                "ServiceAccount elsewhere/workflow-controller: the whole object: kustomize (absent), helm has it",
            ]
        );
    }

    #[test]
    fn only_the_release_labels_and_helm_annotations_of_the_object_itself_are_removed() {
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "annotations": {"helm.sh/resource-policy": "keep", "a": "b"}, "labels": {
                "app.kubernetes.io/name": "workflow-controller",
                "helm.sh/chart": "workflow-controller-0.1.0",
                "app.kubernetes.io/instance": "r",
                "app.kubernetes.io/version": "0.1.0",
                "app.kubernetes.io/managed-by": "Helm",
            }},
            "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/instance": "r"}}}},
        });
        assert_eq!(
            without_helm_metadata(object),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "d", "annotations": {"a": "b"}, "labels": {"app.kubernetes.io/name": "workflow-controller"}},
                "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/instance": "r"}}}},
            })
        );
    }

    #[test]
    fn maps_that_held_only_helms_keys_go_away_and_other_objects_are_untouched() {
        let only_release = json!({"metadata": {
            "name": "n",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"helm.sh/resource-policy": "keep"},
        }});
        assert_eq!(
            without_helm_metadata(only_release),
            json!({"metadata": {"name": "n"}})
        );
        let no_metadata = json!({"kind": "X"});
        assert_eq!(without_helm_metadata(no_metadata.clone()), no_metadata);
    }
}
