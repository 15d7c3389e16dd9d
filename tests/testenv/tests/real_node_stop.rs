//! Stopping a control plane with its real node leaves the host as it was: no containerd, kubelet, shim or
//! pod process, no mount below the folder, no `kubepods` cgroup it made, the kubelet's sysctls restored, no
//! file it wrote outside the folder.
//!
//! It needs the host's one real node for itself, so it is ignored in ordinary runs (where the shared plane
//! owns the real node) and says so; run it with no other control plane up:
//! `cargo xtask testenv down; cargo test -p kwf-testenv --test real_node_stop -- --ignored`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kwf_testenv::ControlPlane;
use kwf_testenv::node::{
    BUSYBOX_IMAGE, HostBefore, NodeLayout, RUNTIME_CONTAINERS, RUNTIME_LABEL, mounts_below,
    pod_processes,
};

#[test]
#[ignore = "needs the host's real node for itself: run with no other control plane up (see the file's docs)"]
fn a_stopped_plane_leaves_no_process_mount_cgroup_or_sysctl_behind() {
    let before = HostBefore::record();
    let dir = tempfile::tempdir().expect("temp dir");
    let plane = ControlPlane::start(dir.path()).expect("control plane");
    let layout = NodeLayout::new(plane.dir());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            match kwf_testenv::node::availability(plane.dir()) {
                Some(Ok(_)) => break,
                Some(Err(reason)) => panic!("the real node is not running: {reason}"),
                None if std::time::Instant::now() > deadline => {
                    panic!("the real node never got Ready")
                }
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        let kubeconfig =
            kube::config::Kubeconfig::read_from(plane.kubeconfig()).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let pods: Api<Pod> = Api::namespaced(client, "default");
        // A pod still running at the stop: its container, sandbox and shim must all go.
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": "sleeper" },
            "spec": {
                "nodeSelector": { RUNTIME_LABEL: RUNTIME_CONTAINERS },
                "tolerations": [{ "key": RUNTIME_LABEL, "operator": "Exists" }],
                "volumes": [{ "name": "scratch", "emptyDir": { "medium": "Memory" } }],
                "containers": [{
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                    "volumeMounts": [{ "name": "scratch", "mountPath": "/scratch" }],
                }],
            },
        }))
        .expect("valid pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("created");
        let running = |pod: Option<&Pod>| {
            pod.and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Running")
        };
        tokio::time::timeout(
            Duration::from_secs(120),
            await_condition(pods, "sleeper", running),
        )
        .await
        .expect("the pod runs in time")
        .expect("watch");
    });
    assert!(
        !pod_processes().is_empty(),
        "the pod runs in a kubepods cgroup"
    );
    assert!(
        !mounts_below(&layout.dir).is_empty(),
        "the node mounts below its folder"
    );
    let socket = layout.containerd_socket();
    assert!(
        !kwf_testenv::node::shim_processes(&socket).is_empty(),
        "a shim serves the pod"
    );

    plane.stop().expect("stopped cleanly");

    assert_eq!(pod_processes(), Vec::<u32>::new(), "pod processes left");
    assert_eq!(
        kwf_testenv::node::shim_processes(&socket),
        Vec::<u32>::new(),
        "shims left"
    );
    assert_eq!(
        mounts_below(dir.path()),
        Vec::<std::path::PathBuf>::new(),
        "mounts left"
    );
    assert_eq!(before.changed_sysctls(), Vec::new(), "sysctls changed");
    for path in &before.absent_paths {
        assert!(!path.exists(), "{} was left behind", path.display());
    }
    for kubepods in &before.absent_kubepods {
        assert!(
            !kubepods.exists(),
            "cgroup {} was left behind",
            kubepods.display()
        );
    }
    let processes = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let text = String::from_utf8_lossy(cmdline);
            text.contains(&*dir.path().to_string_lossy())
        })
        .count();
    assert_eq!(processes, 0, "a process still names the plane's folder");
}
