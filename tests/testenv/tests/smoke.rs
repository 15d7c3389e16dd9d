//! Smoke tests of the whole control plane: the job, garbage-collector and namespace controllers, the process
//! kubelet (runs commands, reports exit codes, honours deletion) and `kubectl logs` through the apiserver.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use kwf_testenv::TestEnv;
use serde_json::json;

/// Generous: a loaded 2-core machine runs several test binaries and compilers at once.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A Job with one container running `sh -c <script>`, never retried.
fn shell_job(name: &str, script: &str) -> anyhow::Result<Job> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": 0,
            "template": { "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 2,
                "containers": [{ "name": "main", "image": "busybox", "command": ["sh", "-c", script] }],
            }},
        },
    }))?)
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .with_context(|| format!("{what}: not within {} s", TIMEOUT.as_secs()))
}

fn job_failed(job: Option<&Job>) -> bool {
    job.and_then(|job| job.status.as_ref())
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Failed" && c.status == "True")
        })
}

async fn pods_of(client: &Client, namespace: &str, job: &str) -> anyhow::Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("batch.kubernetes.io/job-name={job}");
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

#[tokio::test]
async fn a_job_completes_and_kubectl_logs_shows_its_output() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let client = env.client().await;
    let namespace = env.namespace("smoke-echo").await;
    let jobs: Api<Job> = Api::namespaced(client, &namespace);
    jobs.create(&PostParams::default(), &shell_job("echo", "echo hi")?)
        .await?;

    within(
        "Job echo completes",
        await_condition(jobs, "echo", conditions::is_job_completed()),
    )
    .await??;

    let mut kubectl = env.kubectl();
    kubectl.args(["logs", "job/echo", "--namespace", &namespace]);
    let output = tokio::task::spawn_blocking(move || kubectl.output()).await??;
    ensure!(
        output.status.success(),
        "kubectl logs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");
    Ok(())
}

#[tokio::test]
async fn a_failing_job_fails_and_its_pod_shows_the_exit_code() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let client = env.client().await;
    let namespace = env.namespace("smoke-exit").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    jobs.create(&PostParams::default(), &shell_job("exit3", "exit 3")?)
        .await?;

    within(
        "Job exit3 fails",
        await_condition(jobs, "exit3", job_failed),
    )
    .await??;

    let pods = pods_of(&client, &namespace, "exit3").await?;
    let [pod] = pods.as_slice() else {
        bail!("expected one pod of Job exit3, found {}", pods.len());
    };
    let status = pod.status.as_ref().context("pod has no status")?;
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let terminated = status
        .container_statuses
        .as_ref()
        .and_then(|statuses| statuses.first())
        .and_then(|container| container.state.as_ref())
        .and_then(|state| state.terminated.as_ref())
        .context("the container has no terminated state")?;
    assert_eq!(terminated.exit_code, 3);
    Ok(())
}

#[tokio::test]
async fn deleting_a_job_removes_its_pods_through_the_garbage_collector() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let client = env.client().await;
    let namespace = env.namespace("smoke-gc").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    jobs.create(&PostParams::default(), &shell_job("sleeper", "sleep 300")?)
        .await?;

    // Wait until the kubelet runs the pod, so that its deletion also has to stop a live process.
    let pod = within("the pod of Job sleeper is created", async {
        loop {
            if let Some(pod) = pods_of(&client, &namespace, "sleeper").await?.pop() {
                return anyhow::Ok(pod);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await??;
    let pod_name = pod.name_any();
    let running = await_condition(pods.clone(), &pod_name, conditions::is_pod_running());
    within("the pod of Job sleeper runs", running).await??;

    let background = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let job_uid = jobs.get("sleeper").await?.uid().context("Job has no uid")?;
    jobs.delete("sleeper", &background).await?;
    within(
        "Job sleeper is deleted",
        await_condition(jobs, "sleeper", conditions::is_deleted(&job_uid)),
    )
    .await??;
    let pod_uid = pod.uid().context("pod has no uid")?;
    within(
        "the garbage collector deletes the pod of Job sleeper",
        await_condition(pods, &pod_name, conditions::is_deleted(&pod_uid)),
    )
    .await??;
    Ok(())
}

#[tokio::test]
async fn deleting_a_namespace_finishes() -> anyhow::Result<()> {
    let env = TestEnv::shared();
    let client = env.client().await;
    let name = env.namespace("smoke-ns").await;
    // Something for the namespace controller to clean up: a Job with a running pod.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &name);
    jobs.create(&PostParams::default(), &shell_job("sleeper", "sleep 300")?)
        .await?;
    within("the pod of Job sleeper is created", async {
        while pods_of(&client, &name, "sleeper").await?.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok(())
    })
    .await??;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let uid = namespaces
        .get(&name)
        .await?
        .uid()
        .context("namespace has no uid")?;
    namespaces.delete(&name, &DeleteParams::default()).await?;
    within(
        "the namespace is deleted",
        await_condition(namespaces, &name, conditions::is_deleted(&uid)),
    )
    .await??;
    Ok(())
}
