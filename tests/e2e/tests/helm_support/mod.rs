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

/// The controller's image archive from `cargo xtask image` (cached by its sources: seconds when nothing
/// changed). The same steps as tests/in_cluster.rs: the image reaches the real node without a registry.
pub fn image_archive() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["xtask", "image"])
        .current_dir(workspace_dir())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `cargo xtask image` ({e}): run it yourself, then rerun this test")
        });
    assert!(
        output.status.success(),
        "`cargo xtask image` failed ({}): run `cargo xtask image` and fix what it says, then rerun this test",
        output.status
    );
    let archive = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        archive.is_file(),
        "no image archive at {}: run `cargo xtask image`",
        archive.display()
    );
    archive
}

/// Imports the archive into the real node's containerd (a plane started before the image was built has
/// an older image or none).
pub fn import_into_node(env: &kwf_testenv::TestEnv, archive: &std::path::Path) {
    let socket = kwf_testenv::node::NodeLayout::new(env.dir()).containerd_socket();
    kwf_e2e::run_ok(
        std::process::Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(archive),
        &format!("ctr images import {}", archive.display()),
    );
}

/// The API server's port, from the admin kubeconfig (the controller shares the host's network and is
/// told the address: no kube-proxy routes the `kubernetes` Service on this plane).
pub fn apiserver_port(env: &kwf_testenv::TestEnv) -> u16 {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(env.kubeconfig()).expect("admin kubeconfig");
    let server = kubeconfig
        .clusters
        .iter()
        .find_map(|named| named.cluster.as_ref()?.server.clone())
        .expect("the kubeconfig names a server");
    server
        .rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {server}"))
}

/// A loopback port free right now (for the controller's metrics on the host's network).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
