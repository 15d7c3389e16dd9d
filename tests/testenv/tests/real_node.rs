//! The real node (containerd + runc + kubelet) inside the control plane: exit codes and logs through the real
//! kubectl, volumes (emptyDir, hostPath, ServiceAccount token, a dynamically provisioned claim shared by two
//! pods), a memory limit's OOM kill, a loopback-only DNS configuration, images the node lacks, and placement
//! across the real node and the two process nodes by nodeSelector and by nodeName.
//!
//! Each test first waits for the real node; on a machine that cannot run it the test fails with the reason.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, PersistentVolumeClaim, Pod};
use kube::api::{Api, PostParams};
use kwf_testenv::node::{BUSYBOX_IMAGE, REAL_NODE_NAME, RUNTIME_CONTAINERS, RUNTIME_LABEL};
use kwf_testenv::pods::{self, is_terminal, phase};
use kwf_testenv::{NODE_NAME, NODE_TAINT_KEY, SECOND_NODE_NAME, TestEnv};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

/// [`pods::wait_for`] with this file's [`WAIT`].
async fn wait_for(pods: &Api<Pod>, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    pods::wait_for(pods, name, what, WAIT, done).await
}

/// A pod for the real node: opts in with the runtime nodeSelector and toleration, uses the busybox image
/// built here, and is never retried.
fn real_pod(name: &str, script: &str, extra: Value) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "nodeSelector": { RUNTIME_LABEL: RUNTIME_CONTAINERS },
            "tolerations": [{ "key": RUNTIME_LABEL, "operator": "Exists", "effect": "NoSchedule" }],
            "containers": [{
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
            }],
        },
    });
    merge(&mut pod, extra);
    serde_json::from_value(pod).expect("valid pod")
}

/// Deep-merges `extra` into `base` (objects merge, anything else replaces).
fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, extra) => *base = extra,
    }
}

async fn setup(prefix: &str) -> (Api<Pod>, String) {
    let env = TestEnv::shared();
    env.real_node().await;
    let namespace = env.namespace(prefix).await;
    (Api::namespaced(env.client().await, &namespace), namespace)
}

fn terminated(pod: &Pod) -> ContainerStateTerminated {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|statuses| statuses.first())
        .and_then(|status| status.state.as_ref())
        .and_then(|state| state.terminated.clone())
        .unwrap_or_else(|| panic!("no terminated container in {:#?}", pod.status))
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

/// Runs a pod to its end and returns it.
async fn run(pods: &Api<Pod>, pod: &Pod) -> Pod {
    let name = pod.metadata.name.clone().expect("named");
    pods.create(&PostParams::default(), pod)
        .await
        .expect("pod created");
    wait_for(pods, &name, "terminal", is_terminal).await
}

fn kubectl(args: &[&str]) -> std::process::Output {
    TestEnv::shared()
        .kubectl()
        .args(args)
        .output()
        .expect("kubectl runs")
}

#[tokio::test]
async fn a_pod_s_exit_code_and_logs_reach_the_real_kubectl() {
    let (pods, namespace) = setup("real-exit").await;
    let pod = run(
        &pods,
        &real_pod(
            "exit",
            "echo to stdout; echo to stderr >&2; exit 7",
            json!({}),
        ),
    )
    .await;
    assert_eq!(node_of(&pod), REAL_NODE_NAME);
    assert_eq!(phase(&pod), "Failed");
    let state = terminated(&pod);
    assert_eq!(
        (state.exit_code, state.reason.as_deref()),
        (7, Some("Error"))
    );
    let logs = kubectl(&["logs", "exit", "-n", &namespace]);
    assert!(logs.status.success(), "{logs:?}");
    // stdout and stderr reach containerd through two pipes, so the order of
    // lines from different streams in the log is not guaranteed: compare sets.
    let text = String::from_utf8_lossy(&logs.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["to stderr", "to stdout"]);
}

#[tokio::test]
async fn pods_and_the_node_name_only_a_loopback_resolver() {
    let (pods, namespace) = setup("real-dns").await;
    let pod = run(&pods, &real_pod("dns", "cat /etc/resolv.conf", json!({}))).await;
    assert_eq!(phase(&pod), "Succeeded");
    let logs = kubectl(&["logs", "dns", "-n", &namespace]);
    assert!(logs.status.success(), "{logs:?}");
    let resolv = String::from_utf8_lossy(&logs.stdout).into_owned();
    assert_only_loopback_nameservers("the pod's resolv.conf", &resolv);
    // The node's: the `resolvConf` of the configuration the kubelet runs with (the apiserver refuses to proxy
    // `configz` to a loopback address, so it is read from the plane's folder).
    let layout = kwf_testenv::node::NodeLayout::new(TestEnv::shared().dir());
    let config = std::fs::read_to_string(layout.kubelet_config()).expect("the kubelet's config");
    let path = config
        .lines()
        .find_map(|line| line.strip_prefix("resolvConf:"))
        .map(str::trim)
        .expect("resolvConf set");
    let node_resolv = std::fs::read_to_string(path).expect("the node's resolv.conf");
    assert_only_loopback_nameservers("the node's resolv.conf", &node_resolv);
}

fn assert_only_loopback_nameservers(what: &str, resolv: &str) {
    let nameservers: Vec<&str> = resolv
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    assert!(
        !nameservers.is_empty(),
        "{what} names no nameserver: {resolv}"
    );
    for nameserver in nameservers {
        let address: std::net::IpAddr = nameserver.parse().expect("an IP nameserver");
        assert!(address.is_loopback(), "{what} names {nameserver}: {resolv}");
    }
}

#[tokio::test]
async fn empty_dir_host_path_and_the_service_account_token_are_mounted() {
    let (pods, namespace) = setup("real-volumes").await;
    let host_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(host_dir.path().join("from-host"), "host data\n").expect("written");
    let script = "cat /host/from-host && echo from-pod > /host/from-pod \
        && echo scratch > /scratch/x && cat /scratch/x \
        && test -s /var/run/secrets/kubernetes.io/serviceaccount/token \
        && cat /var/run/secrets/kubernetes.io/serviceaccount/namespace";
    let pod = run(
        &pods,
        &real_pod(
            "volumes",
            script,
            json!({ "spec": {
                "volumes": [
                    { "name": "host", "hostPath": { "path": host_dir.path(), "type": "Directory" } },
                    { "name": "scratch", "emptyDir": {} },
                ],
                "containers": [{
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script],
                    "volumeMounts": [
                        { "name": "host", "mountPath": "/host" },
                        { "name": "scratch", "mountPath": "/scratch" },
                    ],
                }],
            }}),
        ),
    )
    .await;
    let logs = kubectl(&["logs", "volumes", "-n", &namespace]);
    assert_eq!(phase(&pod), "Succeeded", "{logs:?}");
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        format!("host data\nscratch\n{namespace}")
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.path().join("from-pod")).expect("the pod wrote it"),
        "from-pod\n"
    );
}

#[tokio::test]
async fn a_memory_limit_kills_the_pod_with_137_and_oom_killed() {
    let (pods, _) = setup("real-oom").await;
    // A shell variable that doubles until it no longer fits in 16 MiB.
    let script = "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done";
    let pod = run(
        &pods,
        &real_pod(
            "oom",
            script,
            json!({ "spec": { "containers": [{
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "resources": { "limits": { "memory": "16Mi" } },
            }]}}),
        ),
    )
    .await;
    let state = terminated(&pod);
    assert_eq!(
        (state.exit_code, state.reason.as_deref()),
        (137, Some("OOMKilled"))
    );
}

#[tokio::test]
async fn a_claim_binds_and_the_second_pod_reads_what_the_first_wrote() {
    let (pods, namespace) = setup("real-claim").await;
    let claims: Api<PersistentVolumeClaim> =
        Api::namespaced(TestEnv::shared().client().await, &namespace);
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": "shared" },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": "1Mi" } },
        },
    }))
    .expect("valid claim");
    claims
        .create(&PostParams::default(), &claim)
        .await
        .expect("claim created");
    let with_claim = |script: &str| {
        json!({ "spec": {
            "volumes": [{ "name": "data", "persistentVolumeClaim": { "claimName": "shared" } }],
            "containers": [{
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sh", "-c", script],
                "volumeMounts": [{ "name": "data", "mountPath": "/data" }],
            }],
        }})
    };
    let write = "echo written by the first step > /data/result";
    let first = run(&pods, &real_pod("first", write, with_claim(write))).await;
    assert_eq!(phase(&first), "Succeeded");
    let read = "cat /data/result";
    let second = run(&pods, &real_pod("second", read, with_claim(read))).await;
    assert_eq!(phase(&second), "Succeeded");
    let logs = kubectl(&["logs", "second", "-n", &namespace]);
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        "written by the first step\n"
    );
    let bound = claims.get("shared").await.expect("claim");
    assert_eq!(bound.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
}

#[tokio::test]
async fn an_image_the_node_lacks_fails_with_the_images_it_has() {
    let (pods, _) = setup("real-image").await;
    let mut pod = real_pod("missing", "true", json!({}));
    if let Some(container) = pod.spec.as_mut().map(|s| &mut s.containers[0]) {
        container.image = Some("docker.io/library/busybox:1.36".into());
        container.image_pull_policy = Some("IfNotPresent".into());
    }
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    let waiting = |pod: &Pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|statuses| statuses.first())
            .and_then(|status| status.state.as_ref())
            .and_then(|state| state.waiting.clone())
    };
    let pod = wait_for(&pods, "missing", "refused its image", |pod| {
        waiting(pod).is_some_and(|w| {
            matches!(
                w.reason.as_deref(),
                Some("ErrImagePull" | "ImagePullBackOff")
            ) && w.message.is_some()
        })
    })
    .await;
    let message = waiting(&pod).and_then(|w| w.message).unwrap_or_default();
    assert!(
        message.contains(BUSYBOX_IMAGE) && message.contains("no registry"),
        "{message}"
    );
}

#[tokio::test]
async fn pods_are_placed_by_node_selector_and_node_name_across_three_nodes() {
    let (pods, _) = setup("placement").await;
    let process_pod = |name: &str, spec: Value| -> Pod {
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "main", "image": "busybox", "command": ["true"] }],
            },
        });
        merge(&mut pod, json!({ "spec": spec }));
        serde_json::from_value(pod).expect("valid pod")
    };
    let second_toleration =
        json!([{ "key": NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule" }]);
    let cases = [
        // kube-scheduler: the runtime label and toleration pick the real node.
        (real_pod("selector-real", "true", json!({})), REAL_NODE_NAME),
        // kube-scheduler: the hostname label of the tainted second process node, with its toleration.
        (
            process_pod(
                "selector-second",
                json!({
                    "nodeSelector": { "kubernetes.io/hostname": SECOND_NODE_NAME },
                    "tolerations": second_toleration,
                }),
            ),
            SECOND_NODE_NAME,
        ),
        // nodeName: no scheduler involved.
        (
            process_pod("name-second", json!({ "nodeName": SECOND_NODE_NAME })),
            SECOND_NODE_NAME,
        ),
        (
            real_pod(
                "name-real",
                "true",
                json!({ "spec": { "nodeName": REAL_NODE_NAME, "nodeSelector": null, "tolerations": null } }),
            ),
            REAL_NODE_NAME,
        ),
        // No placement asked: the first process node binds it at once.
        (process_pod("ordinary", json!({})), NODE_NAME),
    ];
    for (pod, _) in &cases {
        pods.create(&PostParams::default(), pod)
            .await
            .expect("pod created");
    }
    for (pod, node) in &cases {
        let name = pod.metadata.name.clone().expect("named");
        let done = wait_for(&pods, &name, "terminal", is_terminal).await;
        assert_eq!(node_of(&done), *node, "pod {name}");
        assert_eq!(phase(&done), "Succeeded", "pod {name}: {:#?}", done.status);
    }
}
