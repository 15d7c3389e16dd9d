//! The Helm chart `controller/chart` against what it must equal, with the real tools and no cluster:
//! `helm template` with default values renders the objects of `kubectl kustomize controller/deploy`, with the
//! in-cluster values those of the test overlay, with `triggerRead.rules` the base with the `trigger-read` component, object by object and field by field (only the labels and the
//! annotation Helm adds are removed first); its CRDs are the generated ones, byte for byte; its version is the workspace's;
//! and `helm lint --strict` passes. The install and the upgrade are in `helm.rs`.

mod helm_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kwf_e2e::manifests::{self, ObjectKey, RELEASE_LABELS};
use kwf_e2e::run_ok;
use kwf_testenv::state::workspace_dir;
use serde_json::Value;

use helm_support::{CHART, RELEASE, in_cluster_values, scratch};

/// The namespace of the kustomize base.
const SYSTEM_NAMESPACE: &str = "kwf-system";

/// `helm template RELEASE controller/chart --namespace kwf-system --include-crds <extra>`: the objects.
fn helm_template(extra: &[&str]) -> BTreeMap<ObjectKey, Value> {
    helm_template_of(CHART, extra)
}

/// [`helm_template`] of another chart (a directory or a packaged `.tgz`).
fn helm_template_of(chart: &str, extra: &[&str]) -> BTreeMap<ObjectKey, Value> {
    let home = scratch("helm-home");
    let mut command = kwf_testenv::helm::command(&home);
    command
        .args(["template", RELEASE, chart, "--namespace", SYSTEM_NAMESPACE])
        .arg("--include-crds")
        .args(extra)
        .current_dir(workspace_dir());
    let what = format!("helm template {RELEASE} {chart} {}", extra.join(" "));
    let output = run_ok(&mut command, &what);
    manifests::parse(&String::from_utf8_lossy(&output.stdout))
        .unwrap_or_else(|e| panic!("{what} printed objects that cannot be read: {e}"))
}

/// `kubectl kustomize DIR` with the kubectl built with the control plane: the objects.
fn kustomize(dir: &str) -> BTreeMap<ObjectKey, Value> {
    let bin = kwf_testenv::ensure_binaries().unwrap_or_else(|e| panic!("kwf-testenv: {e}"));
    let what = format!("kubectl kustomize {dir}");
    let output = run_ok(
        Command::new(bin.join("kubectl"))
            .args(["kustomize", dir])
            .current_dir(workspace_dir()),
        &what,
    );
    manifests::parse(&String::from_utf8_lossy(&output.stdout))
        .unwrap_or_else(|e| panic!("{what} printed objects that cannot be read: {e}"))
}

/// Fails with every difference, one line each, unless the chart's objects (less the release labels) are
/// the kustomization's.
fn assert_same_objects(
    kustomized: &BTreeMap<ObjectKey, Value>,
    rendered: &BTreeMap<ObjectKey, Value>,
    what: &str,
) {
    let rendered: BTreeMap<ObjectKey, Value> = rendered
        .iter()
        .map(|(key, object)| {
            (
                key.clone(),
                manifests::without_helm_metadata(object.clone()),
            )
        })
        .collect();
    let found = manifests::differences(kustomized, &rendered);
    let lines: Vec<String> = found
        .iter()
        .map(|d| d.describe("kustomize", "helm"))
        .collect();
    assert!(
        lines.is_empty(),
        "{what}: {} difference(s) (fix the chart in {CHART}, or the base, so they agree):\n{}",
        lines.len(),
        lines.join("\n")
    );
}

fn is_crd(key: &ObjectKey) -> bool {
    key.kind == "CustomResourceDefinition"
}

#[test]
fn with_default_values_the_chart_renders_the_kustomize_base() {
    let kustomized = kustomize("controller/deploy");
    let rendered = helm_template(&[]);
    assert_same_objects(
        &kustomized,
        &rendered,
        "helm template workflow-controller controller/chart vs kubectl kustomize controller/deploy",
    );
    // What was removed is what the chart adds for Helm, with the values it must have: every templated
    // object carries all four (the CRDs of crds/ are not templates).
    let version = env!("CARGO_PKG_VERSION");
    for (key, object) in rendered.iter().filter(|(key, _)| !is_crd(key)) {
        let labels = &object["metadata"]["labels"];
        let release_labels: Vec<(&str, &str)> = RELEASE_LABELS
            .iter()
            .map(|label| (*label, labels[label].as_str().unwrap_or("(absent)")))
            .collect();
        let chart = format!("workflow-controller-{version}");
        assert_eq!(
            release_labels,
            [
                ("helm.sh/chart", chart.as_str()),
                ("app.kubernetes.io/instance", RELEASE),
                ("app.kubernetes.io/version", version),
                ("app.kubernetes.io/managed-by", "Helm"),
            ],
            "the release labels of {key}"
        );
    }
}

#[test]
fn with_the_in_cluster_values_the_chart_renders_the_in_cluster_overlay() {
    let kustomized = kustomize("tests/e2e/overlays/in-cluster");
    let values = in_cluster_values();
    let rendered = helm_template(&["--values", &values.to_string_lossy()]);
    assert_same_objects(
        &kustomized,
        &rendered,
        "helm template with tests/e2e/tests/helm_support/in-cluster-values.yaml vs kubectl kustomize tests/e2e/overlays/in-cluster",
    );
}

#[test]
fn with_trigger_read_rules_the_chart_renders_the_trigger_read_component() {
    let kustomized = kustomize("tests/e2e/overlays/trigger-read");
    let rules = r#"triggerRead.rules=[{"apiGroups":[""],"resources":["configmaps"],"verbs":["list","watch"]}]"#;
    let rendered = helm_template(&["--set-json", rules]);
    assert_same_objects(
        &kustomized,
        &rendered,
        "helm template --set-json triggerRead.rules=... vs kubectl kustomize tests/e2e/overlays/trigger-read",
    );
}

#[test]
fn values_leave_out_the_namespace_and_the_user_roles_and_rename_the_release_objects() {
    let rendered = helm_template(&[
        "--set",
        "namespace.create=false,userRoles.create=false,fullnameOverride=wfc",
    ]);
    let names: Vec<String> = rendered
        .keys()
        .filter(|key| !is_crd(key))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        [
            "Deployment kwf-system/wfc",
            "ClusterRole kwf-wfc",
            "ClusterRoleBinding kwf-wfc",
            "Role kwf-system/kwf-wfc-leader-election",
            "RoleBinding kwf-system/kwf-wfc-leader-election",
            "ServiceAccount kwf-system/wfc",
        ]
    );
    let deployment = rendered
        .iter()
        .find(|(key, _)| key.kind == "Deployment")
        .map(|(_, object)| object)
        .expect("a Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "wfc"
    );
}

/// The `*.yaml` files of a directory but its kustomization, by name.
fn yaml_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter_map(|path| Some((path.file_name()?.to_str()?.to_owned(), path)))
        .filter(|(name, _)| name != "kustomization.yaml")
        .collect()
}

#[test]
fn the_charts_crds_are_the_generated_ones() {
    let generated = yaml_files(&workspace_dir().join("crd"));
    let in_chart = yaml_files(&workspace_dir().join(CHART).join("crds"));
    assert!(!generated.is_empty(), "crd/ has no CRD");
    // Helm reads no file outside the chart: crds/ holds copies, which must be the generated files.
    let stale: Vec<String> = generated
        .iter()
        .filter(|(name, path)| {
            in_chart
                .get(*name)
                .is_none_or(|copy| std::fs::read(copy).ok() != std::fs::read(path).ok())
        })
        .map(|(name, _)| format!("crd/{name}"))
        .collect();
    assert!(
        stale.is_empty(),
        "{CHART}/crds/ lacks the generated {} or has an old copy: run `cargo run -p kwf-api --bin crdgen -- {CHART}/crds`",
        stale.join(", ")
    );
    let extra: Vec<String> = in_chart
        .keys()
        .filter(|name| !generated.contains_key(*name))
        .map(|name| format!("{CHART}/crds/{name}"))
        .collect();
    assert!(
        extra.is_empty(),
        "{} not generated in crd/: run `rm {}`",
        extra.join(", "),
        extra.join(" ")
    );
}

#[test]
fn the_chart_has_the_workspace_version() {
    let text = std::fs::read_to_string(workspace_dir().join(CHART).join("Chart.yaml"))
        .expect("read Chart.yaml");
    let chart: Value = serde_saphyr::from_str(&text).expect("Chart.yaml is YAML");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["name"], "workflow-controller");
    assert_eq!(
        (chart["version"].as_str(), chart["appVersion"].as_str()),
        (Some(version), Some(version)),
        "{CHART}/Chart.yaml: version and appVersion must be the workspace version"
    );
}

#[test]
fn helm_lint_passes_strictly() {
    let home = scratch("helm-lint");
    run_ok(
        kwf_testenv::helm::command(&home)
            .args(["lint", "--strict", CHART])
            .current_dir(workspace_dir()),
        &format!("helm lint --strict {CHART}"),
    );
}

#[test]
fn xtask_dist_packages_the_chart_as_it_is() {
    let dir = scratch("dist");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_ok(
        Command::new(cargo)
            .args(["xtask", "dist", "--chart", "--out"])
            .arg(&dir)
            .arg("--manifest")
            .arg(dir.join("workflow.yaml"))
            .arg("--binary")
            .arg(kwf_testenv::workspace_bin("kubectl-workflow"))
            .current_dir(workspace_dir()),
        "cargo xtask dist --chart",
    );
    let packaged = dir.join(format!(
        "workflow-controller-{}.tgz",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(packaged.is_file(), "no {}", packaged.display());
    let from_package = helm_template_of(&packaged.to_string_lossy(), &[]);
    let found = manifests::differences(&helm_template(&[]), &from_package);
    let lines: Vec<String> = found
        .iter()
        .map(|d| d.describe("controller/chart", "the packaged chart"))
        .collect();
    assert!(
        lines.is_empty(),
        "the packaged chart renders otherwise than {CHART}:\n{}",
        lines.join("\n")
    );
}
