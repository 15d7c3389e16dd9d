//! The committed CRD is exactly what the types generate.

use kube::CustomResourceExt;
use kwf_api::Workflow;

const COMMITTED: &str = include_str!("../../crd/workflow.yaml");

#[test]
fn committed_crds_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crd");
    for (file, crd) in kwf_api::crd::crds() {
        let generated = kwf_api::crd::to_yaml(&crd).expect("the CRD renders as YAML");
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            generated == committed,
            "crd/{file} is out of date with the types in shared/src: run `{}` and commit the result",
            kwf_api::crd::REGENERATE
        );
    }
}

#[test]
fn the_kustomization_lists_every_crd() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crd");
    let kustomization =
        std::fs::read_to_string(dir.join("kustomization.yaml")).expect("crd/kustomization.yaml");
    for (file, _) in kwf_api::crd::crds() {
        assert!(
            kustomization.contains(&format!("- {file}")),
            "crd/kustomization.yaml does not list {file}: add it to its resources"
        );
    }
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

#[test]
fn the_workflow_template_crd_has_its_short_name_columns_and_status() {
    let crd = kwf_api::WorkflowTemplate::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("workflowtemplates.kwf.dev")
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["kwft".to_owned()]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Schedule", "Last Run", "Next", "Age", "Message"]);
}

#[test]
fn a_workflow_needs_steps_unless_it_names_a_template() {
    let schema = serde_json::to_value(Workflow::crd()).expect("the CRD serializes");
    let spec = &schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let rules: Vec<&str> = spec["x-kubernetes-validations"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(rules.contains(&"has(self.containers) || has(self.workflowTemplateRef)"));
    assert!(
        spec.get("required").is_none(),
        "containers is optional in the schema"
    );
}
