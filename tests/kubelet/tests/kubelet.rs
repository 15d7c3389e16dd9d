//! The process kubelet inside the real control plane of `kwf-testenv`: pods run, report status, restart,
//! die on deletion or deadline, and their logs reach `kubectl logs` through the API server.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::await_condition;
use kwf_testenv::TestEnv;
use kwf_testenv::pods::{self, container_statuses, is_terminal, phase};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// [`pods::wait_for`] with this file's [`WAIT`].
async fn wait_for(pods: &Api<Pod>, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    pods::wait_for(pods, name, what, WAIT, done).await
}

fn pod(name: &str, restart_policy: &str, containers: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "restartPolicy": restart_policy, "containers": containers },
    }))
    .expect("valid pod")
}

fn shell(name: &str, script: &str) -> serde_json::Value {
    json!({ "name": name, "image": "busybox", "command": ["sh", "-c", script] })
}

async fn setup(prefix: &str) -> (Api<Pod>, String) {
    let env = TestEnv::shared();
    let namespace = env.namespace(prefix).await;
    (Api::namespaced(env.client().await, &namespace), namespace)
}

async fn create(pods: &Api<Pod>, pod: &Pod) {
    pods.create(&PostParams::default(), pod)
        .await
        .expect("pod created");
}

fn terminated(status: &ContainerStatus) -> ContainerStateTerminated {
    status
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .unwrap_or_else(|| {
            panic!(
                "container {} is not terminated: {:?}",
                status.name, status.state
            )
        })
}

fn kubectl_logs(namespace: &str, args: &[&str]) -> String {
    let output = TestEnv::shared()
        .kubectl()
        .args(["logs", "-n", namespace])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl logs {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn pod_succeeds_with_env_and_kubectl_logs_shows_its_output() {
    let (pods, namespace) = setup("kubelet-ok").await;
    let mut container = shell("main", "echo hi; echo pod=$POD_NAME greeting=$(GREETING)");
    container["env"] = json!([
        { "name": "GREETING", "value": "hello" },
        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
    ]);
    create(&pods, &pod("echo", "Never", json!([container]))).await;
    let done = wait_for(&pods, "echo", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Succeeded");
    let status = done.status.as_ref().expect("status");
    assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    assert_eq!(
        done.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("kwf-node")
    );
    let main = terminated(&container_statuses(&done)[0]);
    assert_eq!(main.exit_code, 0);
    assert_eq!(main.reason.as_deref(), Some("Completed"));
    assert!(main.started_at.is_some() && main.finished_at.is_some());

    let logs = kubectl_logs(&namespace, &["echo"]);
    assert_eq!(logs, "hi\npod=echo greeting=hello\n");
    assert_eq!(
        kubectl_logs(&namespace, &["echo", "--tail=1"]),
        "pod=echo greeting=hello\n"
    );
}

#[tokio::test]
async fn failing_container_fails_the_pod_with_its_exit_code() {
    let (pods, _) = setup("kubelet-fail").await;
    create(
        &pods,
        &pod("three", "Never", json!([shell("main", "exit 3")])),
    )
    .await;
    let done = wait_for(&pods, "three", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Failed");
    let main = terminated(&container_statuses(&done)[0]);
    assert_eq!(main.exit_code, 3);
    assert_eq!(main.reason.as_deref(), Some("Error"));
}

#[tokio::test]
async fn container_without_command_fails_with_no_command() {
    let (pods, _) = setup("kubelet-nocmd").await;
    let container = json!({ "name": "main", "image": "busybox" });
    create(&pods, &pod("nocmd", "Never", json!([container]))).await;
    let done = wait_for(&pods, "nocmd", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Failed");
    let main = terminated(&container_statuses(&done)[0]);
    assert_eq!(main.reason.as_deref(), Some("NoCommand"));
    assert!(main.message.unwrap_or_default().contains("command"));
}

#[tokio::test]
async fn on_failure_restarts_until_the_container_succeeds() {
    let (pods, _) = setup("kubelet-restart").await;
    let marker = tempfile::tempdir().expect("tempdir");
    let script = format!(
        "if [ -f {m} ]; then echo second; exit 0; else touch {m}; echo first; exit 1; fi",
        m = marker.path().join("ran").display()
    );
    create(
        &pods,
        &pod("retry", "OnFailure", json!([shell("main", &script)])),
    )
    .await;
    let done = wait_for(&pods, "retry", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Succeeded");
    let main = &container_statuses(&done)[0];
    assert_eq!(main.restart_count, 1);
    let last = main
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("last state");
    assert_eq!(last.exit_code, 1);
}

#[tokio::test]
async fn init_containers_run_first() {
    let (pods, namespace) = setup("kubelet-init").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("order");
    let mut spec = pod(
        "ordered",
        "Never",
        json!([shell(
            "main",
            &format!("echo main >> {}; cat {}", file.display(), file.display())
        )]),
    );
    let init = vec![
        serde_json::from_value(shell("setup", &format!("echo init > {}", file.display())))
            .expect("container"),
    ];
    spec.spec.as_mut().expect("spec").init_containers = Some(init);
    create(&pods, &spec).await;
    let done = wait_for(&pods, "ordered", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Succeeded");
    let init_status = done
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .expect("init statuses");
    assert_eq!(terminated(&init_status[0]).exit_code, 0);
    assert_eq!(
        kubectl_logs(&namespace, &["ordered", "-c", "main"]),
        "init\nmain\n"
    );
}

#[tokio::test]
async fn deleting_a_running_pod_stops_it_and_removes_it() {
    let (pods, _) = setup("kubelet-delete").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    // `$$$$` is the shell's `$$`: Kubernetes' `$(VAR)` expansion turns `$$` into `$`.
    let script = format!("echo $$$$ > {}; exec sleep 300", pid_file.display());
    create(
        &pods,
        &pod("sleeper", "Always", json!([shell("main", &script)])),
    )
    .await;
    wait_for(&pods, "sleeper", "Running", |p| phase(p) == "Running").await;
    let pid: i32 = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the container wrote its pid");

    let params = DeleteParams {
        grace_period_seconds: Some(20),
        ..DeleteParams::default()
    };
    pods.delete("sleeper", &params)
        .await
        .expect("delete accepted");
    // `sleep` dies of SIGTERM at once: the pod must be gone long before its 20 s grace period ends.
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        while pods.get_opt("sleeper").await.expect("get").is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "pod sleeper still exists 15 s after deletion");
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    });
    assert!(!alive, "the container process {pid} survived pod deletion");
}

#[tokio::test]
async fn active_deadline_fails_the_pod() {
    let (pods, _) = setup("kubelet-deadline").await;
    let mut spec = pod("slow", "Never", json!([shell("main", "exec sleep 300")]));
    spec.spec.as_mut().expect("spec").active_deadline_seconds = Some(1);
    create(&pods, &spec).await;
    let done = wait_for(&pods, "slow", "terminal", is_terminal).await;
    assert_eq!(phase(&done), "Failed");
    assert_eq!(
        done.status.as_ref().and_then(|s| s.reason.as_deref()),
        Some("DeadlineExceeded")
    );
    assert_eq!(terminated(&container_statuses(&done)[0]).exit_code, 143);
}

#[tokio::test]
async fn kubectl_logs_follow_streams_until_the_container_exits() {
    let (pods, namespace) = setup("kubelet-follow").await;
    create(
        &pods,
        &pod(
            "ticker",
            "Never",
            json!([shell(
                "main",
                "for i in 1 2 3; do echo tick $i; sleep 0.5; done"
            )]),
        ),
    )
    .await;
    wait_for(&pods, "ticker", "Running", |p| phase(p) != "Pending").await;
    let logs =
        tokio::task::spawn_blocking(move || kubectl_logs(&namespace, &["ticker", "--follow"]))
            .await
            .expect("kubectl joined");
    assert_eq!(logs, "tick 1\ntick 2\ntick 3\n");
}

async fn wait_until_gone<K>(api: &Api<K>, name: &str, what: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + k8s_openapi::serde::de::DeserializeOwned,
{
    let gone = tokio::time::timeout(WAIT, async {
        while api.get_opt(name).await.expect("get").is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "{what} {name} still exists after {WAIT:?}");
}

fn job(name: &str, script: &str) -> k8s_openapi::api::batch::v1::Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": 0,
            "template": { "spec": { "restartPolicy": "Never", "containers": [shell("main", script)] } },
        },
    }))
    .expect("valid job")
}

fn job_condition(job: &k8s_openapi::api::batch::v1::Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

#[tokio::test]
async fn jobs_complete_or_fail_and_deleting_a_job_removes_its_pods() {
    use k8s_openapi::api::batch::v1::Job;
    let (pods, namespace) = setup("kubelet-job").await;
    let jobs: Api<Job> = Api::namespaced(TestEnv::shared().client().await, &namespace);
    jobs.create(&PostParams::default(), &job("ok", "echo done"))
        .await
        .expect("job created");
    jobs.create(&PostParams::default(), &job("bad", "exit 3"))
        .await
        .expect("job created");
    for (name, wanted) in [("ok", "Complete"), ("bad", "Failed")] {
        let condition = move |job: Option<&Job>| job.is_some_and(|j| job_condition(j, wanted));
        let finished =
            tokio::time::timeout(WAIT, await_condition(jobs.clone(), name, condition)).await;
        assert!(
            matches!(finished, Ok(Ok(Some(_)))),
            "job {name} never became {wanted}"
        );
    }
    let listed = pods.list(&Default::default()).await.expect("pods listed");
    assert_eq!(listed.items.len(), 2, "one pod per job");

    let background = DeleteParams::background();
    jobs.delete("ok", &background).await.expect("job deleted");
    let selector = kube::api::ListParams::default().labels("job-name=ok");
    let emptied = tokio::time::timeout(WAIT, async {
        while !pods
            .list(&selector)
            .await
            .expect("pods listed")
            .items
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        emptied.is_ok(),
        "the garbage collector never removed job ok's pod"
    );
}

#[tokio::test]
async fn deleting_a_namespace_with_a_running_pod_finishes() {
    use k8s_openapi::api::core::v1::Namespace;
    let (pods, namespace) = setup("kubelet-ns").await;
    create(
        &pods,
        &pod(
            "forever",
            "Always",
            json!([shell("main", "exec sleep 300")]),
        ),
    )
    .await;
    wait_for(&pods, "forever", "Running", |p| phase(p) == "Running").await;
    let namespaces: Api<Namespace> = Api::all(TestEnv::shared().client().await);
    namespaces
        .delete(&namespace, &DeleteParams::default())
        .await
        .expect("namespace deleted");
    wait_until_gone(&namespaces, &namespace, "namespace").await;
}
