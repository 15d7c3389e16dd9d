//! The controller running inside the cluster from its own image: `cargo xtask image`'s archive imported
//! into the real node's containerd, the README's deployment (controller/deploy, through the overlay
//! tests/e2e/overlays/in-cluster) applied with the real kubectl, its pods reaching the API server through
//! in-cluster config with their mounted ServiceAccount token, passing their probes under the restricted
//! security context, electing one leader, running workflows, and handing over when the leader's pod dies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use kwf_api::WorkflowPhase;
use kwf_e2e::in_cluster::{apiserver_port, free_port, image_archive, import_into_node};
use kwf_e2e::{Scene, fixtures, run_ok};
use kwf_testenv::TestEnv;
use kwf_testenv::state::workspace_dir;

const SYSTEM_NAMESPACE: &str = "kwf-system";
const DEPLOYMENT: &str = "workflow-controller";
/// The second replica: host-network pods on one node cannot share the metrics port, so the standby is a
/// copy of the deployed Deployment with a port of its own (same image, ServiceAccount, securityContext).
const STANDBY: &str = "workflow-controller-standby";
const APP_SELECTOR: &str = "app.kubernetes.io/name=workflow-controller";
const REPLICA_LABEL: &str = "kwf.dev/replica";
const READY_WITHIN: Duration = Duration::from_secs(120);
const RUN: Duration = Duration::from_secs(120);
/// The image's user (xtask/src/image.rs, the Deployment's runAsUser).
const NON_ROOT_UID: u32 = 65532;
/// The annotation naming the controller replica that created a Job.
const CREATED_BY: &str = "kwf.dev/created-by";

/// `to` relative to the directory `from` (kustomize takes only relative resource paths).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &to[common..] {
        relative.push(component);
    }
    relative
}

/// A kustomization in `dir` over the in-cluster overlay that adds what only this plane knows: the API
/// server's port and the metrics port (on loopback: the pod shares the host's network).
fn plane_layer(dir: &Path, apiserver_port: u16, metrics_port: u16) -> PathBuf {
    let layer = dir.join("in-cluster-plane");
    std::fs::create_dir_all(&layer).expect("layer dir");
    let overlay = relative_path(
        &layer.canonicalize().expect("layer dir"),
        &workspace_dir().join("tests/e2e/overlays/in-cluster"),
    );
    let text = format!(
        r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {overlay}
patches:
  - target:
      kind: Deployment
      name: {DEPLOYMENT}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {{name: KUBERNETES_SERVICE_PORT, value: "{apiserver_port}"}}
      - op: replace
        path: /spec/template/spec/containers/0/args/2
        value: --metrics-addr=127.0.0.1:{metrics_port}
      - op: replace
        path: /spec/template/spec/containers/0/ports/0/containerPort
        value: {metrics_port}
"#,
        overlay = overlay.display()
    );
    std::fs::write(layer.join("kustomization.yaml"), text).expect("write the layer");
    layer
}

/// A copy of the applied Deployment under another name and metrics port, with a label of its own so the
/// two select disjoint pods.
fn standby_of(deployed: &Deployment, metrics_port: u16) -> Deployment {
    let mut standby = Deployment {
        metadata: kube::api::ObjectMeta {
            name: Some(STANDBY.to_owned()),
            namespace: Some(SYSTEM_NAMESPACE.to_owned()),
            labels: deployed.metadata.labels.clone(),
            ..Default::default()
        },
        spec: deployed.spec.clone(),
        status: None,
    };
    let spec = standby.spec.as_mut().expect("a Deployment spec");
    spec.selector
        .match_labels
        .get_or_insert_default()
        .insert(REPLICA_LABEL.into(), "standby".into());
    let template_meta = spec.template.metadata.get_or_insert_default();
    template_meta
        .labels
        .get_or_insert_default()
        .insert(REPLICA_LABEL.into(), "standby".into());
    let pod = spec.template.spec.as_mut().expect("a pod spec");
    let container = &mut pod.containers[0];
    for arg in container.args.iter_mut().flatten() {
        if arg.starts_with("--metrics-addr=") {
            *arg = format!("--metrics-addr=127.0.0.1:{metrics_port}");
        }
    }
    for port in container.ports.iter_mut().flatten() {
        port.container_port = i32::from(metrics_port);
    }
    standby
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// Waits for `count` controller pods, all Running and Ready on `node`, and returns them.
async fn wait_ready_pods(pods: &Api<Pod>, count: usize, node: &str) -> Vec<Pod> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let listed = pods
            .list(&ListParams::default().labels(APP_SELECTOR))
            .await
            .expect("list the controller pods")
            .items;
        let live: Vec<Pod> = listed
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        if live.len() == count && live.iter().all(is_ready) {
            for pod in &live {
                let placed = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
                assert_eq!(
                    placed,
                    Some(node),
                    "{} runs on the real node",
                    pod.name_any()
                );
            }
            return live;
        }
        if Instant::now() > deadline {
            let states: Vec<String> = listed
                .iter()
                .map(|pod| {
                    format!(
                        "{}: {}",
                        pod.name_any(),
                        serde_json::to_string(&pod.status).unwrap_or_default()
                    )
                })
                .collect();
            let hint = if listed.is_empty() {
                " (no pods at all: a plane whose kube-controller-manager predates the deployment and replicaset controllers makes none; restart it with `cargo xtask testenv down && cargo xtask testenv up`)"
            } else {
                ""
            };
            panic!(
                "{count} controller pods were not Ready within {READY_WITHIN:?}{hint}:\n{}",
                states.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The host process of the controller container of `pod` (found by the pod's uid in its cgroup).
fn host_process_of(pod: &Pod) -> u32 {
    let uid = pod.metadata.uid.clone().expect("a pod uid");
    // cgroupfs paths name the pod as `pod<uid>`; the systemd driver as `pod<uid with _>`.
    let marks = [format!("pod{uid}"), format!("pod{}", uid.replace('-', "_"))];
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !cmdline.starts_with(b"/workflow-controller\0") {
            continue;
        }
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if marks.iter().any(|mark| cgroup.contains(mark.as_str())) {
            return pid;
        }
    }
    panic!(
        "no /workflow-controller process of pod {} ({uid}) on this host",
        pod.name_any()
    );
}

/// The real (not only the requested) user of the process and whether its `/` is mounted read-only.
fn enforced_context(pid: u32) -> (u32, bool) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .expect("a Uid line");
    let mountinfo =
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("process mountinfo");
    // Fields: id parent major:minor root mount-point options ...
    let root_read_only = mountinfo.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(4) == Some(&"/")
            && fields
                .get(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro"))
    });
    (uid, root_read_only)
}

async fn lease_holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(DEPLOYMENT)
        .await
        .expect("get the Lease")
        .and_then(|lease| lease.spec?.holder_identity)
}

/// Waits until the Lease names a live controller pod other than `not` and returns it.
async fn wait_leader(
    leases: &Api<Lease>,
    pods: &Api<Pod>,
    not: Option<&str>,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let live: Vec<String> = pods
            .list(&ListParams::default().labels(APP_SELECTOR))
            .await
            .expect("list the controller pods")
            .items
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .map(ResourceExt::name_any)
            .collect();
        let holder = lease_holder(leases).await;
        if let Some(holder) = &holder
            && live.contains(holder)
            && Some(holder.as_str()) != not
        {
            return holder.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no live controller pod but {not:?} held the Lease within {within:?} (holder: {holder:?}, live: {live:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes both Deployments and waits until their pods are gone (the shared plane's kwf-system is used by
/// other tests too), and the Lease.
async fn remove_controllers(client: &Client) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let leases: Api<Lease> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    for name in [DEPLOYMENT, STANDBY] {
        let _ = deployments.delete(name, &DeleteParams::foreground()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let left = pods
            .list(&ListParams::default().labels(APP_SELECTOR))
            .await
            .map(|list| list.items.len())
            .unwrap_or(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = leases.delete(DEPLOYMENT, &DeleteParams::default()).await;
    // kwf-system as the base deploys it: `restricted` enforced (the overlay relaxed it for host networking).
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let restricted = serde_json::json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": null,
        "pod-security.kubernetes.io/audit": null,
    }}});
    let _ = namespaces
        .patch(
            SYSTEM_NAMESPACE,
            &PatchParams::default(),
            &Patch::Merge(&restricted),
        )
        .await;
}

#[tokio::test]
async fn the_controller_runs_in_the_cluster_from_its_image_restricted_and_hands_over() {
    let env = TestEnv::shared();
    let node = env.real_node().await;
    let archive = image_archive();
    import_into_node(env, &archive);

    let scene = Scene::new("in-cluster").await;
    remove_controllers(&scene.client).await;

    // The README's deployment with the overlay, applied as the README does.
    let layer = plane_layer(&scene.dir, apiserver_port(env), free_port());
    let applied_at = Instant::now();
    run_ok(
        env.kubectl()
            .args(["apply", "--server-side", "--force-conflicts", "-k"])
            .arg(&layer),
        "kubectl apply --server-side -k <in-cluster overlay>",
    );
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), SYSTEM_NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(scene.client.clone(), SYSTEM_NAMESPACE);
    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), SYSTEM_NAMESPACE);
    let first = wait_ready_pods(&pods, 1, node).await;
    eprintln!(
        "in-cluster: the controller pod Ready {:.1} s after kubectl apply",
        applied_at.elapsed().as_secs_f64()
    );

    // The standby replica: the deployed object itself, under another name and port.
    let deployed = deployments.get(DEPLOYMENT).await.expect("the Deployment");
    deployments
        .create(&PostParams::default(), &standby_of(&deployed, free_port()))
        .await
        .expect("create the standby Deployment");
    let both = wait_ready_pods(&pods, 2, node).await;
    let names: Vec<String> = both.iter().map(ResourceExt::name_any).collect();
    assert!(names.contains(&first[0].name_any()));

    // The restricted security context, as requested and as enforced by the runtime.
    for pod in &both {
        let spec = pod.spec.as_ref().expect("pod spec");
        let image = spec.containers[0].image.clone().unwrap_or_default();
        assert_eq!(
            image,
            format!(
                "ghcr.io/kwf-dev/workflow-controller:v{}",
                env!("CARGO_PKG_VERSION")
            )
        );
        let pod_context = spec.security_context.as_ref().expect("pod securityContext");
        assert_eq!(pod_context.run_as_non_root, Some(true));
        let context = spec.containers[0]
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(context.read_only_root_filesystem, Some(true));
        assert_eq!(context.allow_privilege_escalation, Some(false));
        assert_eq!(
            context.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_owned()])
        );
        let (uid, root_read_only) = enforced_context(host_process_of(pod));
        assert_eq!(
            uid,
            NON_ROOT_UID,
            "{} runs as the image's non-root user",
            pod.name_any()
        );
        assert!(
            root_read_only,
            "{}'s root filesystem is mounted read-only",
            pod.name_any()
        );
    }
    // No shell in the image: nothing to exec into.
    let exec = env
        .kubectl()
        .args([
            "exec",
            "-n",
            SYSTEM_NAMESPACE,
            &names[0],
            "--",
            "sh",
            "-c",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl exec");
    assert!(!exec.status.success(), "the image has a shell");

    // One leader between the two, and a workflow run by it.
    let leader = wait_leader(&leases, &pods, None, Duration::from_secs(60)).await;
    let before = fixtures::chain("before-handover", 3, 60, "echo step");
    scene.create(&before).await;
    scene
        .wait_phase("before-handover", WorkflowPhase::Completed, RUN)
        .await;
    assert_eq!(
        lease_holder(&leases).await.as_ref(),
        Some(&leader),
        "one leader throughout"
    );

    // The leader's pod dies without releasing the Lease; when it expires, another live pod takes it (the
    // standby, or the replacement the leader's Deployment starts at once: both wait for the expiry) and runs
    // the next workflow.
    let killed_at = Instant::now();
    pods.delete(&leader, &DeleteParams::default().grace_period(0))
        .await
        .expect("delete the leader's pod");
    let successor = wait_leader(&leases, &pods, Some(&leader), Duration::from_secs(90)).await;
    eprintln!(
        "in-cluster: {successor} took the Lease {:.1} s after {leader} was deleted",
        killed_at.elapsed().as_secs_f64()
    );
    let after = fixtures::chain("after-handover", 3, 60, "echo step");
    scene.create(&after).await;
    scene
        .wait_phase("after-handover", WorkflowPhase::Completed, RUN)
        .await;

    assert_made_by(&scene, "after-handover", &successor).await;

    remove_controllers(&scene.client).await;
}

/// Every Job of the workflow was created by `identity` (the controller writes its identity, the pod name,
/// on each Job): only the leader acts.
async fn assert_made_by(scene: &Scene, workflow: &str, identity: &str) {
    let jobs = scene.jobs_of(workflow).await;
    assert!(!jobs.is_empty(), "Workflow {workflow} has Jobs");
    for job in &jobs {
        assert_eq!(
            job.annotations().get(CREATED_BY).map(String::as_str),
            Some(identity),
            "Job {} of {workflow} was created by the leader",
            job.name_any()
        );
    }
}
