//! The committed CRD is exactly what the types generate.

use kube::CustomResourceExt;
use kwf_api::Workflow;

const COMMITTED: &str = include_str!("../../crd/workflow.yaml");

#[test]
fn committed_crd_matches_the_types() {
    let generated = kwf_api::crd_yaml().expect("the CRD renders as YAML");
    assert!(
        generated == COMMITTED,
        "crd/workflow.yaml is out of date with shared/src/types.rs: run `cargo run -p kwf-api --bin crdgen > crd/workflow.yaml` and commit the result"
    );
}

#[test]
fn committed_crd_reads_back_as_the_generated_object() {
    let read: serde_json::Value =
        serde_saphyr::from_str(COMMITTED).expect("crd/workflow.yaml is valid YAML");
    let generated = serde_json::to_value(Workflow::crd()).expect("the CRD serializes");
    assert_eq!(read, generated);
}

#[test]
fn crd_has_the_names_columns_and_subresource_of_the_issue() {
    let crd = Workflow::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("workflows.kwf.dev"));
    assert_eq!(crd.spec.names.short_names, Some(vec!["kwf".to_owned()]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<(&str, Option<i32>)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.priority))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("Phase", None),
            ("Progress", None),
            ("Age", None),
            ("Message", Some(1))
        ]
    );
}
