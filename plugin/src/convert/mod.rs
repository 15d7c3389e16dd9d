//! Documents written for the systems kwf grows from, made into kwf objects: one pure mapping per
//! source system (`kopf`, `kubeci`, `jobflow`, `oaat`), chosen here by `apiVersion` and `kind`.
//!
//! A document is read into its source system's own types, every key those types do not know is
//! remembered (`serde_ignored`) and a field of the wrong type is reported with its path
//! (`serde_path_to_error`). A mapping returns the kwf objects and one [`Lossy`] line per field
//! that has no kwf equivalent: nothing is dropped without saying so, and the caller refuses the
//! conversion unless it was told to allow that (`--allow-lossy`).
//!
//! kwf's own documents (`kwf.dev/v1alpha1` Workflow, WorkflowTemplate, JobTemplate) pass
//! through unchanged, and a kubectl `List` is read item by item, so the output of
//! `kubectl workflow convert -o json` reads back in.

pub mod jobflow;
pub mod kopf;
pub mod kubeci;
pub mod oaat;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kwf_api::{API_VERSION, JobTemplate, Workflow, WorkflowTemplate};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A kwf object: read as it is, or converted.
#[derive(Debug, Clone, PartialEq)]
pub enum KwfObject {
    Workflow(Box<Workflow>),
    WorkflowTemplate(Box<WorkflowTemplate>),
    JobTemplate(Box<JobTemplate>),
}

impl KwfObject {
    /// `Workflow`, `WorkflowTemplate` or `JobTemplate`.
    pub fn kind(&self) -> &'static str {
        match self {
            KwfObject::Workflow(_) => "Workflow",
            KwfObject::WorkflowTemplate(_) => "WorkflowTemplate",
            KwfObject::JobTemplate(_) => "JobTemplate",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            KwfObject::Workflow(o) => &o.metadata,
            KwfObject::WorkflowTemplate(o) => &o.metadata,
            KwfObject::JobTemplate(o) => &o.metadata,
        }
    }

    /// `name`, or `generateName*` for objects the API server names.
    pub fn display_name(&self) -> String {
        let meta = self.metadata();
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) => name.clone(),
            (None, Some(prefix)) => format!("{prefix}*"),
            (None, None) => "(unnamed)".to_string(),
        }
    }

    /// `workflow.kwf.dev/NAME`, as kubectl names objects.
    pub fn reference(&self, name: &str) -> String {
        format!("{}.kwf.dev/{name}", self.kind().to_lowercase())
    }
}

/// The object as its own type writes it: `apiVersion`, `kind`, `metadata`, `spec` in order.
impl Serialize for KwfObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            KwfObject::Workflow(o) => o.serialize(serializer),
            KwfObject::WorkflowTemplate(o) => o.serialize(serializer),
            KwfObject::JobTemplate(o) => o.serialize(serializer),
        }
    }
}

/// A field of a source document that has no kwf equivalent (yet): left out of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lossy {
    /// Its path in the document, such as `spec.triggers[0]`.
    pub field: String,
    /// What is missing and what to do about it.
    pub advice: String,
}

impl Lossy {
    pub fn new(field: impl Into<String>, advice: impl Into<String>) -> Lossy {
        Lossy {
            field: field.into(),
            advice: advice.into(),
        }
    }
}

/// What one source document became.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Converted {
    pub objects: Vec<KwfObject>,
    pub lossy: Vec<Lossy>,
}

/// One YAML document of a file, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
}

/// What one document of a file became, ready to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `file.yaml`, `file.yaml (document 2)`, `file.yaml (document 2, item 1)`.
    pub source: String,
    /// The source object as people name it, such as `JobFlow jobflow-example
    /// (api.practice.com/v1alpha1)`; `None` for a kwf document, which is not converted.
    pub converted_from: Option<String>,
    /// The objects and lossy fields, or why the document cannot be read (one line).
    pub result: Result<Converted, String>,
}

/// The systems whose documents kwf reads, by `apiVersion` and `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Workflow,
    WorkflowTemplate,
    JobTemplate,
    List,
    Kopf,
    KubeCi,
    JobFlow,
    DaemonJob,
    JobFlowJobTemplate,
    OaatType,
    OaatGroup,
}

/// Which of [`Kind`] a document is; `None` for every other apiVersion and kind.
pub fn classify(api_version: &str, kind: &str) -> Option<Kind> {
    Some(match (api_version, kind) {
        (API_VERSION, "Workflow") => Kind::Workflow,
        (API_VERSION, "WorkflowTemplate") => Kind::WorkflowTemplate,
        (API_VERSION, "JobTemplate") => Kind::JobTemplate,
        ("v1", "List") => Kind::List,
        // The kopf operator's own manifests say WorkFlow; its README says Workflow.
        (kopf::API_VERSION, "WorkFlow" | "Workflow") => Kind::Kopf,
        (kubeci::API_VERSION | kubeci::ENGINE_API_VERSION, "Workflow") => Kind::KubeCi,
        (jobflow::API_VERSION, "JobFlow") => Kind::JobFlow,
        (jobflow::API_VERSION, "DaemonJob") => Kind::DaemonJob,
        (jobflow::API_VERSION, "JobTemplate") => Kind::JobFlowJobTemplate,
        (oaat::API_VERSION, "OaatType") => Kind::OaatType,
        (oaat::API_VERSION, "OaatGroup") => Kind::OaatGroup,
        _ => return None,
    })
}

/// The kinds [`classify`] knows, for the message about one it does not.
const KNOWN: &str = "kwf reads kwf.dev/v1alpha1 Workflow, WorkflowTemplate and JobTemplate and converts \
    workflow.crd.com/v1 WorkFlow (kopf), kube.ci/v1alpha1 and engine.kube.ci/v1alpha1 Workflow (KubeCI), \
    api.practice.com/v1alpha1 JobFlow, DaemonJob and JobTemplate, kawaja.net/v1 OaatType and OaatGroup";

/// A document's `apiVersion` and `kind`, or what to call their absence.
fn header(value: &Value) -> (String, String) {
    let field = |key: &str, missing: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(missing)
            .to_owned()
    };
    (
        field("apiVersion", "(no apiVersion)"),
        field("kind", "(no kind)"),
    )
}

/// Whether every document is a kwf Workflow: such a file is read as before, with line numbers.
pub fn all_workflows(documents: &[Document]) -> bool {
    documents.iter().all(|d| {
        let (api_version, kind) = header(&d.value);
        classify(&api_version, &kind) == Some(Kind::Workflow)
    })
}

/// A source object the way its system writes it: the fields every Kubernetes object has and
/// its own `spec`. `status` is the old operator's record of its runs: kwf writes its own, so it
/// is not carried over (as `kubectl create` ignores it).
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Source<S> {
    /// Dispatched on before reading; declared so that they are not reported as unknown.
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: S,
    #[serde(default)]
    pub status: Option<Value>,
}

/// `value` read as `T`: the paths of the keys `T` does not know, or the first field of the wrong
/// type, with its path (`spec.flows[1].dependencies: invalid type: ...`).
pub fn read<T: DeserializeOwned>(value: &Value) -> Result<(T, Vec<String>), String> {
    let mut track = serde_path_to_error::Track::new();
    let mut ignored = Vec::new();
    let deserializer = serde_path_to_error::Deserializer::new(value.clone(), &mut track);
    let result = serde_ignored::deserialize(deserializer, |path| ignored.push(path_text(&path)));
    match result {
        Ok(t) => Ok((t, ignored)),
        Err(err) => {
            let path = track.path().to_string();
            let message = crate::errors::one_line(&err.to_string());
            if path == "." || path.is_empty() {
                Err(format!("{message}: fix the document and retry"))
            } else {
                Err(format!("{path}: {message}: fix the field and retry"))
            }
        }
    }
}

/// A `serde_ignored` path written as `spec.flows[0].name`.
fn path_text(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", path_text(parent)),
        Path::Map { parent, key } => {
            let parent = path_text(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => path_text(parent),
    }
}

/// The metadata kwf keeps from a source object: name, generateName, namespace, labels and
/// annotations. What the API server wrote (uid, resourceVersion, generation, timestamps,
/// managedFields) belongs to the old object and is not carried over; owner references and
/// finalizers are another controller's business and are reported.
pub fn keep_metadata(meta: &ObjectMeta, lossy: &mut Vec<Lossy>) -> ObjectMeta {
    if meta
        .owner_references
        .as_ref()
        .is_some_and(|o| !o.is_empty())
    {
        lossy.push(Lossy::new(
            "metadata.ownerReferences",
            "not carried over (they name objects of the old system): add them to the kwf object if they still apply",
        ));
    }
    if meta.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
        lossy.push(Lossy::new(
            "metadata.finalizers",
            "not carried over (the old operator's finalizers would never be removed): add them back if another controller owns them",
        ));
    }
    ObjectMeta {
        name: meta.name.clone(),
        generate_name: meta.generate_name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone().filter(|l| !l.is_empty()),
        annotations: meta.annotations.clone().filter(|a| !a.is_empty()),
        ..ObjectMeta::default()
    }
}

/// One [`Lossy`] per unknown key: the advice for the keys a source system has that kwf does
/// not map (`known`, by path with `[]` for any index), a generic one for the others.
pub fn unknown_fields(ignored: Vec<String>, system: &str, known: &[(&str, &str)]) -> Vec<Lossy> {
    ignored
        .into_iter()
        .map(|path| {
            let generic = strip_indices(&path);
            let advice = known
                .iter()
                .find(|(field, _)| *field == generic)
                .map(|(_, advice)| (*advice).to_owned())
                .unwrap_or_else(|| {
                    format!(
                        "not a field kwf knows of {system}: remove it, or write it into the kwf object by hand"
                    )
                });
            Lossy::new(path, advice)
        })
        .collect()
}

/// `spec.flows[3].x` as `spec.flows[].x`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// `Kind name (apiVersion)`, the way the outcome names a source object.
fn describe(value: &Value) -> String {
    let (api_version, kind) = header(value);
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| {
            value
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
        })
        .unwrap_or("(unnamed)");
    format!("{kind} {name} ({api_version})")
}

/// Every document of a file, in order, read or converted. OaatGroups find their OaatType
/// among the file's documents (same name and namespace), so convert them together.
pub fn convert_file(file: &str, documents: Vec<Document>) -> Vec<Outcome> {
    // A List's items are documents of their own, named by document and item.
    let several = documents.len() > 1;
    let mut flat: Vec<(String, Value)> = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        let source = if several {
            format!("{file} (document {})", index + 1)
        } else {
            file.to_owned()
        };
        let (api_version, kind) = header(&document.value);
        if classify(&api_version, &kind) == Some(Kind::List) {
            let items = document
                .value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (item, value) in items.into_iter().enumerate() {
                let source = if several {
                    format!("{file} (document {}, item {})", index + 1, item + 1)
                } else {
                    format!("{file} (item {})", item + 1)
                };
                flat.push((source, value));
            }
        } else {
            flat.push((source, document.value));
        }
    }
    let types = oaat::Types::collect(flat.iter().map(|(_, v)| v));
    flat.into_iter()
        .map(|(source, value)| one_document(source, &value, &types))
        .collect()
}

fn one_document(source: String, value: &Value, types: &oaat::Types) -> Outcome {
    let (api_version, kind) = header(value);
    let Some(which) = classify(&api_version, &kind) else {
        return Outcome {
            source,
            converted_from: None,
            result: Err(format!(
                "is {api_version} {kind}, which kwf neither runs nor converts ({KNOWN}): remove it, or apply it with kubectl"
            )),
        };
    };
    let native = |result: Result<KwfObject, String>| Outcome {
        source: source.clone(),
        converted_from: None,
        result: result.map(|object| Converted {
            objects: vec![object],
            lossy: Vec::new(),
        }),
    };
    // kwf's own documents: read as the API server would, unknown keys ignored as before.
    match which {
        Kind::Workflow => {
            return native(read::<Workflow>(value).map(|(o, _)| KwfObject::Workflow(Box::new(o))));
        }
        Kind::WorkflowTemplate => {
            return native(
                read::<WorkflowTemplate>(value)
                    .map(|(o, _)| KwfObject::WorkflowTemplate(Box::new(o))),
            );
        }
        Kind::JobTemplate => {
            return native(
                read::<JobTemplate>(value).map(|(o, _)| KwfObject::JobTemplate(Box::new(o))),
            );
        }
        Kind::List => {
            return native(Err(
                "a List inside a List: put its items in the outer List".to_owned()
            ));
        }
        _ => {}
    }
    let result = match which {
        Kind::Kopf => read(value).map(|(doc, ignored)| kopf::convert(doc, ignored)),
        Kind::KubeCi => read(value).map(|(doc, ignored)| kubeci::convert(doc, ignored)),
        Kind::JobFlow => read(value).map(|(doc, ignored)| jobflow::convert_jobflow(doc, ignored)),
        Kind::DaemonJob => {
            read(value).map(|(doc, ignored)| jobflow::convert_daemonjob(doc, ignored))
        }
        Kind::JobFlowJobTemplate => {
            read(value).map(|(doc, ignored)| jobflow::convert_jobtemplate(doc, ignored))
        }
        Kind::OaatType => types.outcome_of_type(value),
        Kind::OaatGroup => read(value).and_then(|(doc, ignored)| types.convert_group(doc, ignored)),
        Kind::Workflow | Kind::WorkflowTemplate | Kind::JobTemplate | Kind::List => {
            unreachable!("returned above")
        }
    };
    Outcome {
        source,
        converted_from: Some(describe(value)),
        result,
    }
}

/// Lines of the report for an outcome's lossy fields: `SOURCE: FROM: FIELD: ADVICE`.
pub fn lossy_lines(outcome: &Outcome) -> Vec<String> {
    let Ok(converted) = &outcome.result else {
        return Vec::new();
    };
    let from = outcome.converted_from.as_deref().unwrap_or("");
    converted
        .lossy
        .iter()
        .map(|l| format!("{}: {from}: {}: {}", outcome.source, l.field, l.advice))
        .collect()
}

/// The note that says what a document became: `SOURCE: converted FROM to Workflow x`.
pub fn converted_note(outcome: &Outcome) -> Option<String> {
    let from = outcome.converted_from.as_deref()?;
    let converted = outcome.result.as_ref().ok()?;
    let to: Vec<String> = converted
        .objects
        .iter()
        .map(|o| format!("{} {}", o.kind(), o.display_name()))
        .collect();
    Some(if to.is_empty() {
        format!(
            "{}: read {from} (it is converted with the OaatGroups that name it)",
            outcome.source
        )
    } else {
        format!("{}: converted {from} to {}", outcome.source, to.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatch_is_by_api_version_and_kind() {
        assert_eq!(
            classify("workflow.crd.com/v1", "WorkFlow"),
            Some(Kind::Kopf)
        );
        assert_eq!(classify("kube.ci/v1alpha1", "Workflow"), Some(Kind::KubeCi));
        assert_eq!(
            classify("engine.kube.ci/v1alpha1", "Workflow"),
            Some(Kind::KubeCi)
        );
        assert_eq!(
            classify("api.practice.com/v1alpha1", "DaemonJob"),
            Some(Kind::DaemonJob)
        );
        assert_eq!(
            classify("kawaja.net/v1", "OaatGroup"),
            Some(Kind::OaatGroup)
        );
        assert_eq!(
            classify("kwf.dev/v1alpha1", "Workflow"),
            Some(Kind::Workflow)
        );
        assert_eq!(classify("kwf.dev/v1alpha1", "WorkFlow"), None);
        assert_eq!(classify("v1", "ConfigMap"), None);
    }

    #[test]
    fn an_unknown_kind_is_one_line_naming_what_is_known() {
        let outcomes = convert_file(
            "x.yaml",
            vec![Document {
                value: json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
            }],
        );
        let err = outcomes[0].result.as_ref().unwrap_err();
        assert!(
            err.starts_with("is example.com/v1 Widget, which kwf neither runs nor converts"),
            "{err}"
        );
        assert!(err.contains("api.practice.com/v1alpha1 JobFlow"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn read_names_the_path_of_a_field_of_the_wrong_type() {
        #[derive(Deserialize, Debug)]
        struct Flow {
            #[allow(dead_code)]
            dependencies: Vec<String>,
        }
        #[derive(Deserialize, Debug)]
        struct Spec {
            #[allow(dead_code)]
            flows: Vec<Flow>,
        }
        let err = read::<Spec>(&json!({"flows": [{"dependencies": []}, {"dependencies": "job1"}]}))
            .unwrap_err();
        assert_eq!(
            err,
            "flows[1].dependencies: invalid type: string \"job1\", expected a sequence: fix the field and retry"
        );
        let (_, ignored) =
            read::<Spec>(&json!({"flows": [{"dependencies": [], "extra": 1}], "more": {}}))
                .unwrap();
        assert_eq!(ignored, ["flows[0].extra", "more"]);
    }

    #[test]
    fn metadata_keeps_names_namespaces_labels_and_annotations_only() {
        let meta: ObjectMeta = serde_json::from_value(json!({
            "name": "a", "namespace": "ns", "labels": {"x": "1"}, "annotations": {"y": "2"},
            "uid": "u", "resourceVersion": "5", "generation": 3,
            "finalizers": ["old.operator/finalizer"]
        }))
        .unwrap();
        let mut lossy = Vec::new();
        let kept = keep_metadata(&meta, &mut lossy);
        assert_eq!(kept.name.as_deref(), Some("a"));
        assert_eq!(kept.namespace.as_deref(), Some("ns"));
        assert_eq!(kept.labels.unwrap()["x"], "1");
        assert_eq!(kept.annotations.unwrap()["y"], "2");
        assert_eq!((kept.uid, kept.generation), (None, None));
        assert_eq!(lossy.len(), 1);
        assert_eq!(lossy[0].field, "metadata.finalizers");
    }

    #[test]
    fn a_list_is_read_item_by_item() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "kwf.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "a"},
             "spec": {"containers": [{"stepName": "s", "image": "busybox"}]}},
            {"apiVersion": "example.com/v1", "kind": "Widget"}
        ]});
        let outcomes = convert_file("l.json", vec![Document { value: list }]);
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].source, "l.json (item 1)");
        assert!(outcomes[0].result.is_ok());
        assert!(outcomes[1].result.is_err());
    }
}
