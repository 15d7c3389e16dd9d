//! What tests/helm_chart.rs and tests/helm.rs share: the chart, the release name the README uses, the
//! in-cluster values, scratch directories.

#![allow(dead_code)]

use std::path::PathBuf;

use kwf_testenv::state::workspace_dir;

/// The chart, relative to the workspace.
pub const CHART: &str = "controller/chart";
/// The release name of the README's `helm install`: it gives the kustomize base's object names.
pub const RELEASE: &str = "workflow-controller";

/// `helm_support/in-cluster-values.yaml`: the chart's values for what the in-cluster overlay patches.
pub fn in_cluster_values() -> PathBuf {
    workspace_dir().join("tests/e2e/tests/helm_support/in-cluster-values.yaml")
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("helm")
        .join(format!("{name}-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
