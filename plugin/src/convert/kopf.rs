//! The kopf workflow operator's `workflow.crd.com/v1` WorkFlow -> a kwf Workflow.
//!
//! kwf's Workflow spec is the kopf schema field for field (`maxStepTimeout` with its default of
//! 60 and -1 for no limit; per container `stepName`, `image`, `command` (nullable) and
//! `dependsOn`), so the spec is read as kwf's own and kept; only `apiVersion` and `kind` change.
//! The kopf status (`workflow-status`, `status-changed`, `message`) is the old operator's record
//! and is not carried over: kwf's controller writes its own (`phase`, `lastTransitionTime`,
//! `message`). A key neither schema knows is reported (kopf's API server would have pruned it).

use kwf_api::{Workflow, WorkflowSpec};

use super::{Converted, KwfObject, Source, keep_metadata, unknown_fields};

/// The kopf operator's API group and version.
pub const API_VERSION: &str = "workflow.crd.com/v1";

/// The kwf Workflow of a kopf WorkFlow; `ignored` are the keys its reading did not know.
pub fn convert(doc: Source<WorkflowSpec>, ignored: Vec<String>) -> Converted {
    let mut lossy = unknown_fields(ignored, "the kopf WorkFlow (nor of a kwf Workflow)", &[]);
    let metadata = keep_metadata(&doc.metadata, &mut lossy);
    let mut workflow = Workflow::new("", doc.spec);
    workflow.metadata = metadata;
    Converted {
        objects: vec![KwfObject::Workflow(Box::new(workflow))],
        lossy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::read;

    /// The seed's CRD schema written as a manifest (the seed shows the schema, not a file):
    /// every field it declares and `maxStepTimeout: -1`.
    pub const EXAMPLE: &str = include_str!("../../../examples/convert/kopf-workflow.yaml");

    fn convert_yaml(yaml: &str) -> Converted {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
        let (doc, ignored) = read(&value).expect("reads");
        convert(doc, ignored)
    }

    #[test]
    fn the_example_keeps_its_spec_and_metadata() {
        // The schema's nullable command, as kopf reads it.
        let example = EXAMPLE.replace(
            "command: [\"sh\", \"-c\", \"echo second\"]",
            "command: null",
        );
        assert_ne!(example, EXAMPLE);
        let converted = convert_yaml(&example);
        assert_eq!(converted.lossy, []);
        let [KwfObject::Workflow(wf)] = converted.objects.as_slice() else {
            panic!("one Workflow: {converted:?}")
        };
        assert_eq!(wf.metadata.name.as_deref(), Some("kopf-example"));
        assert_eq!(wf.metadata.namespace, None);
        assert_eq!(wf.metadata.labels.as_ref().unwrap()["team"], "data");
        assert_eq!(
            wf.metadata.annotations.as_ref().unwrap()["owner"],
            "data-eng"
        );
        assert_eq!(wf.spec.max_step_timeout, -1);
        let names: Vec<&str> = wf
            .spec
            .containers
            .iter()
            .map(|s| s.step_name.as_str())
            .collect();
        assert_eq!(names, ["first", "second", "third"]);
        assert_eq!(wf.spec.containers[1].command, None);
        assert_eq!(wf.spec.containers[2].depends_on, ["first", "second"]);
        assert!(wf.status.is_none(), "the kopf status is not carried over");
        kwf_api::validate(&wf.spec).expect("valid");
        let json = serde_json::to_value(wf.as_ref()).unwrap();
        assert_eq!(json["apiVersion"], "kwf.dev/v1alpha1");
        assert_eq!(json["kind"], "Workflow");
    }

    #[test]
    fn the_default_timeout_is_the_seeds() {
        let yaml = "apiVersion: workflow.crd.com/v1\nkind: WorkFlow\nmetadata: {name: d}\nspec:\n  containers:\n    - {stepName: a, image: busybox}\n";
        let converted = convert_yaml(yaml);
        let KwfObject::Workflow(wf) = &converted.objects[0] else {
            panic!("a Workflow")
        };
        assert_eq!(wf.spec.max_step_timeout, 60);
    }

    #[test]
    fn an_unknown_field_is_one_lossy_line() {
        let yaml = EXAMPLE.replace(
            "      dependsOn: [\"first\"]\n",
            "      dependsOn: [\"first\"]\n      retryCount: 3\n",
        );
        let converted = convert_yaml(&yaml);
        assert_eq!(converted.lossy.len(), 1, "{:?}", converted.lossy);
        assert_eq!(converted.lossy[0].field, "spec.containers[1].retryCount");
    }

    #[test]
    fn a_field_of_the_wrong_type_names_its_path() {
        let yaml = EXAMPLE.replace("maxStepTimeout: -1", "maxStepTimeout: soon");
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
        let err = read::<Source<WorkflowSpec>>(&value).unwrap_err();
        assert!(
            err.starts_with("spec.maxStepTimeout: invalid type: string \"soon\""),
            "{err}"
        );
    }
}
