//! The workflow controller with steps on the real node (containerd + runc + kubelet of tests/testenv): two
//! steps of one Workflow share a PersistentVolumeClaim through their `jobTemplate` (the second reads the file
//! the first wrote), and a step over its memory limit is OOM-killed with exit code 137.
//!
//! Each test first waits for the real node; on a machine that cannot run it the test fails with the reason.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, PostParams};
use kwf_api::{StepPhase, Workflow, WorkflowPhase};
use kwf_testenv::node::{BUSYBOX_IMAGE, REAL_NODE_NAME, RUNTIME_CONTAINERS, RUNTIME_LABEL};
use kwf_testenv::{TestEnv, workspace_bin};
use serde_json::{Value, json};

const RUN: Duration = Duration::from_secs(120);

/// The controller binary watching one namespace, killed when dropped.
struct Controller(Child);

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh namespace with the CRD installed and a controller watching it.
async fn setup(prefix: &str) -> (kube::Client, String, Controller) {
    let env = TestEnv::shared();
    env.real_node().await;
    let client = env.client().await;
    kwf_e2e::install_crd(&client).await.expect("CRD installed");
    let namespace = env.namespace(prefix).await;
    let log = std::fs::File::create(
        env.dir()
            .join("logs")
            .join(format!("controller-{namespace}.log")),
    )
    .expect("controller log");
    let child = Command::new(workspace_bin("workflow-controller"))
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args([
            "--namespace",
            &namespace,
            "--leader-elect=false",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("controller started");
    (client, namespace, Controller(child))
}

async fn wait_phase(workflows: &Api<Workflow>, name: &str, phase: WorkflowPhase) -> Workflow {
    let deadline = Instant::now() + RUN;
    loop {
        let wf = workflows.get_opt(name).await.ok().flatten();
        let current = wf
            .as_ref()
            .and_then(|wf| wf.status.as_ref())
            .and_then(|s| s.phase);
        if current == Some(phase) {
            return wf.expect("present");
        }
        assert!(
            Instant::now() < deadline,
            "workflow {name} never {phase:?}: {:#?}",
            wf.map(|wf| wf.status)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A step whose Job runs `script` on the real node, with `volumes` mounted as `mounts`.
fn real_step(
    name: &str,
    deps: &[&str],
    script: &str,
    volumes: Value,
    mounts: Value,
    resources: Value,
) -> Value {
    json!({
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
    })
}

fn workflow(name: &str, steps: Vec<Value>) -> Workflow {
    serde_json::from_value(json!({
        "apiVersion": "kwf.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": { "name": name },
        "spec": { "maxStepTimeout": 120, "containers": steps },
    }))
    .expect("valid workflow")
}

/// The pods of one step's Jobs.
async fn pods_of_step(
    client: &kube::Client,
    namespace: &str,
    workflow: &str,
    step: &str,
) -> Vec<Pod> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let selector = format!("kwf.dev/workflow={workflow},kwf.dev/step={step}");
    let listed = jobs
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("jobs listed");
    let mut pods = Vec::new();
    for job in listed.items {
        let name = job.metadata.name.clone().unwrap_or_default();
        let selector = format!("batch.kubernetes.io/job-name={name}");
        let listed = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("pods listed");
        pods.extend(listed.items);
    }
    pods
}

#[tokio::test]
async fn two_steps_share_a_claim_and_the_second_reads_what_the_first_wrote() {
    let (client, namespace, _controller) = setup("real-claim").await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), &namespace);
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
    workflows
        .create(
            &PostParams::default(),
            &workflow(
                "shared-claim",
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
            ),
        )
        .await
        .expect("workflow created");
    let wf = wait_phase(&workflows, "shared-claim", WorkflowPhase::Completed).await;
    let status = wf.status.clone().expect("status");
    assert_eq!(status.progress.as_deref(), Some("2/2"));
    for step in ["write", "read"] {
        let pods = pods_of_step(&client, &namespace, "shared-claim", step).await;
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
    let (client, namespace, _controller) = setup("real-oom").await;
    let workflows: Api<Workflow> = Api::namespaced(client.clone(), &namespace);
    let script = "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done";
    workflows
        .create(
            &PostParams::default(),
            &workflow(
                "oom",
                vec![real_step(
                    "hog",
                    &[],
                    script,
                    json!([]),
                    json!([]),
                    json!({ "limits": { "memory": "16Mi" } }),
                )],
            ),
        )
        .await
        .expect("workflow created");
    let wf = wait_phase(&workflows, "oom", WorkflowPhase::Failed).await;
    let step = wf
        .status
        .clone()
        .and_then(|s| s.step("hog").cloned())
        .expect("step status");
    assert_eq!(step.phase, StepPhase::Failed);
    assert_eq!(step.exit_code, Some(137), "{step:?}");
    let reasons: Vec<String> = pods_of_step(&client, &namespace, "oom", "hog")
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
