//! The controller inside the test plane's cluster from its own image (tests/in_cluster.rs and
//! tests/helm.rs): the image archive, its import into the real node, and the addresses the
//! host-network controller pod is told.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kwf_testenv::TestEnv;
use kwf_testenv::node::NodeLayout;
use kwf_testenv::state::workspace_dir;

/// The controller's image archive from `cargo xtask image` (cached by its sources: seconds when nothing
/// changed, a static release build otherwise).
pub fn image_archive() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["xtask", "image"])
        .current_dir(workspace_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
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

/// Imports the archive into the real node's containerd (the node imports archives at its start; a plane
/// started before this build has an older image or none).
pub fn import_into_node(env: &TestEnv, archive: &Path) {
    let socket = NodeLayout::new(env.dir()).containerd_socket();
    crate::run_ok(
        Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(archive),
        &format!("ctr images import {}", archive.display()),
    );
}

/// The API server's port, from the admin kubeconfig (the controller shares the host's network and is
/// told the address: no kube-proxy routes the `kubernetes` Service on this plane).
pub fn apiserver_port(env: &TestEnv) -> u16 {
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
