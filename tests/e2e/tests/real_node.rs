//! The workflow controller with steps on the real node (containerd + runc + kubelet of tests/testenv): two
//! steps of one Workflow share a PersistentVolumeClaim through their `jobTemplate` (the second reads the file
//! the first wrote), and a step over its memory limit is OOM-killed with exit code 137.
//!
//! Each test first waits for the real node; on a machine that cannot run it the test fails with the reason.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kwf_api::{LABEL_STEP, Step, StepPhase, WorkflowPhase};
use kwf_e2e::fixtures::workflow;
use kwf_e2e::{Controller, Scene};
use kwf_testenv::TestEnv;
use kwf_testenv::node::{BUSYBOX_IMAGE, REAL_NODE_NAME, RUNTIME_CONTAINERS, RUNTIME_LABEL};
use serde_json::{Value, json};

const RUN: Duration = Duration::from_secs(120);

/// Once the real node is ready: a fresh scene and a controller watching its namespace.
async fn setup(prefix: &str) -> (Scene, Controller) {
    TestEnv::shared().real_node().await;
    let scene = Scene::new(prefix).await;
    let controller = scene.controller().await;
    (scene, controller)
}

/// A step whose Job runs `script` on the real node, with `volumes` mounted as `mounts`.
fn real_step(
    name: &str,
    deps: &[&str],
    script: &str,
    volumes: Value,
    mounts: Value,
    resources: Value,
) -> Step {
    serde_json::from_value(json!({
        "stepName": name,
        "dependsOn": deps,
        "jobTemplate": { "spec": {
            "backoffLimit": 0,
            "template": { "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "nodeSelector": { RUNTIME_LABEL: RUNTIME_CONTAINERS },
                "tolerations": [{ "key": RUNTIME_LABEL, "operator": "Exists", "effect": "NoSchedule" }],
                "volumes": volumes,
                "containers": [{
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script],
                    "volumeMounts": mounts,
                    "resources": resources,
                }],
            }},
        }},
    }))
    .expect("a valid step")
}

/// The pods of one step's Jobs.
async fn pods_of_step(scene: &Scene, workflow: &str, step: &str) -> Vec<Pod> {
    let jobs = scene.jobs_of(workflow).await;
    let mut pods = Vec::new();
    for job in jobs
        .into_iter()
        .filter(|job| job.labels().get(LABEL_STEP).map(String::as_str) == Some(step))
    {
        let name = job.metadata.name.clone().unwrap_or_default();
        let selector = format!("batch.kubernetes.io/job-name={name}");
        let listed = scene
            .api::<Pod>()
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("pods listed");
        pods.extend(listed.items);
    }
    pods
}

#[tokio::test]
async fn two_steps_share_a_claim_and_the_second_reads_what_the_first_wrote() {
    let (scene, _controller) = setup("real-claim").await;
    let claims: Api<PersistentVolumeClaim> = scene.api();
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": "shared" },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Mi" } } },
    }))
    .expect("valid claim");
    claims
        .create(&PostParams::default(), &claim)
        .await
        .expect("claim created");
    let volumes = json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "shared" } }]);
    let mounts = json!([{ "name": "data", "mountPath": "/data" }]);
    scene
        .create(&workflow(
            "shared-claim",
            120,
            vec![
                real_step(
                    "write",
                    &[],
                    "echo written by step write > /data/result",
                    volumes.clone(),
                    mounts.clone(),
                    json!({}),
                ),
                real_step(
                    "read",
                    &["write"],
                    "test \"$(cat /data/result)\" = 'written by step write'",
                    volumes,
                    mounts,
                    json!({}),
                ),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("shared-claim", WorkflowPhase::Completed, RUN)
        .await;
    let status = wf.status.clone().expect("status");
    assert_eq!(status.progress.as_deref(), Some("2/2"));
    for step in ["write", "read"] {
        let pods = pods_of_step(&scene, "shared-claim", step).await;
        assert!(!pods.is_empty(), "step {step} has a pod");
        for pod in pods {
            assert_eq!(
                pod.spec.and_then(|s| s.node_name).as_deref(),
                Some(REAL_NODE_NAME),
                "step {step}"
            );
        }
    }
}

#[tokio::test]
async fn a_step_over_its_memory_limit_is_oom_killed_with_137() {
    let (scene, _controller) = setup("real-oom").await;
    let script = "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done";
    scene
        .create(&workflow(
            "oom",
            120,
            vec![real_step(
                "hog",
                &[],
                script,
                json!([]),
                json!([]),
                json!({ "limits": { "memory": "16Mi" } }),
            )],
        ))
        .await;
    let wf = scene.wait_phase("oom", WorkflowPhase::Failed, RUN).await;
    let step = wf
        .status
        .clone()
        .and_then(|s| s.step("hog").cloned())
        .expect("step status");
    assert_eq!(step.phase, StepPhase::Failed);
    assert_eq!(step.exit_code, Some(137), "{step:?}");
    let reasons: Vec<String> = pods_of_step(&scene, "oom", "hog")
        .await
        .into_iter()
        .filter_map(|pod| {
            pod.status?
                .container_statuses?
                .first()?
                .state
                .clone()?
                .terminated?
                .reason
        })
        .collect();
    assert_eq!(reasons, ["OOMKilled"]);
}
