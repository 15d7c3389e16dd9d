//! The lifecycle of a [`ControlPlane`] of its own (not the shared one): it starts in a given directory,
//! serves the real kubectl, keeps one log per component and leaves nothing behind when stopped.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kwf_testenv::ControlPlane;

fn accepts_connections(url: &str) -> bool {
    let address: SocketAddr = url
        .trim_start_matches("https://")
        .parse()
        .expect("apiserver URL is https://127.0.0.1:<port>");
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

#[test]
fn starts_in_its_directory_and_stops_without_leftovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = ControlPlane::start(dir.path()).unwrap_or_else(|error| panic!("{error}"));
    eprintln!(
        "control plane ready in {:.1} s",
        plane.ready_in().as_secs_f64()
    );

    let output = std::process::Command::new(plane.bin_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(plane.kubeconfig())
        .args([
            "get",
            "node",
            kwf_testenv::NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "True");

    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kwf-kubelet",
    ] {
        let log = plane.log_dir().join(format!("{component}.log"));
        assert!(
            log.metadata().is_ok_and(|meta| meta.len() > 0),
            "{} is empty or missing",
            log.display()
        );
    }

    let url = plane.apiserver_url().to_string();
    let etcd_data = plane.dir().join("etcd");
    assert!(accepts_connections(&url));
    plane.stop().unwrap_or_else(|error| panic!("{error}"));
    assert!(
        !accepts_connections(&url),
        "kube-apiserver still serves after stop"
    );
    assert!(
        !etcd_data.exists(),
        "etcd data left behind in {}",
        etcd_data.display()
    );
}
