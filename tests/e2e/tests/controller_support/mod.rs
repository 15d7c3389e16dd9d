//! Helpers of the controller end-to-end tests (tests/controller.rs, tests/controller_faults.rs):
//! the controller binary as a child process, workflows, and a Job event recorder.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kwf_api::{StepPhase, Workflow, WorkflowPhase};
use kwf_testenv::{TestEnv, workspace_bin};
use serde_json::{Value, json};

/// A namespace with the CRD installed and a client, for one test.
pub struct Scene {
    pub env: &'static TestEnv,
    pub client: Client,
    pub ns: String,
}

impl Scene {
    pub async fn new(prefix: &str) -> Scene {
        let env = TestEnv::shared();
        let client = env.client().await;
        kwf_e2e::install_crd(&client)
            .await
            .expect("install the Workflow CRD");
        let ns = env.namespace(prefix).await;
        Scene { env, client, ns }
    }

    pub fn workflows(&self) -> Api<Workflow> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Starts `workflow-controller --namespace <ns> --leader-elect=false --metrics-addr 127.0.0.1:0`.
    pub fn controller(&self) -> ControllerProcess {
        self.controller_with(&["--leader-elect=false"], "main")
    }

    /// Starts the controller on this namespace with extra flags; `tag` names its log file.
    pub fn controller_with(&self, args: &[&str], tag: &str) -> ControllerProcess {
        ControllerProcess::start(self.env, &self.ns, args, tag)
    }

    /// Creates a Workflow from its JSON form.
    pub async fn create(&self, wf: Value) -> Workflow {
        let wf: Workflow = serde_json::from_value(wf).expect("a Workflow");
        self.workflows()
            .create(&PostParams::default(), &wf)
            .await
            .expect("create the Workflow")
    }

    /// Waits until the Workflow reaches `phase`; panics with its status and the logs otherwise.
    pub async fn wait_phase(
        &self,
        name: &str,
        phase: WorkflowPhase,
        within: Duration,
        logs: &[&ControllerProcess],
    ) -> Workflow {
        self.wait_for(name, within, logs, &format!("phase {phase:?}"), |wf| {
            wf.status.as_ref().and_then(|s| s.phase) == Some(phase)
        })
        .await
    }

    /// Waits until `check` holds for the Workflow.
    pub async fn wait_for(
        &self,
        name: &str,
        within: Duration,
        logs: &[&ControllerProcess],
        what: &str,
        check: impl Fn(&Workflow) -> bool,
    ) -> Workflow {
        let api = self.workflows();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let wf = api.get(name).await.expect("get the Workflow");
            if check(&wf) {
                return wf;
            }
            if tokio::time::Instant::now() > deadline {
                let logs: Vec<String> = logs.iter().map(|c| c.log_tail(40)).collect();
                panic!(
                    "Workflow {name} did not reach {what} within {within:?}; status: {}\ncontroller logs:\n{}",
                    serde_json::to_string_pretty(&wf.status).unwrap_or_default(),
                    logs.join("\n---\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The Jobs of a Workflow (by the kwf.dev/workflow label).
    pub async fn jobs_of(&self, name: &str) -> Vec<Job> {
        let params = ListParams::default().labels(&format!("kwf.dev/workflow={name}"));
        self.jobs().list(&params).await.expect("list Jobs").items
    }

    /// Records every event of the Workflow's Jobs from now on (returns once the watch is live).
    pub async fn record_jobs(&self, name: &str) -> JobRecorder {
        JobRecorder::start(self.jobs(), name).await
    }
}

/// The controller binary running as a child process; killed (SIGKILL) when dropped.
pub struct ControllerProcess {
    child: Option<Child>,
    pub log: PathBuf,
}

impl ControllerProcess {
    fn start(env: &TestEnv, ns: &str, args: &[&str], tag: &str) -> ControllerProcess {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("controller-logs");
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("{ns}-{tag}-{}.log", unique()));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(workspace_bin("workflow-controller"))
            .env("KUBECONFIG", env.kubeconfig())
            .env("RUST_LOG", "info,workflow_controller=debug")
            .args(["--namespace", ns, "--metrics-addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start workflow-controller");
        ControllerProcess {
            child: Some(child),
            log,
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        format!(
            "[{}]\n{}",
            self.log.display(),
            all[all.len().saturating_sub(lines)..].join("\n")
        )
    }

    /// The address of its /metrics server, from its start-up log line.
    pub async fn metrics_addr(&self) -> String {
        for _ in 0..100 {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(addr) = kwf_e2e::metrics_addr_in(&text) {
                return addr.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no metrics address in the log:\n{}", self.log_tail(20));
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// A cheap pseudo-random number in `0..n` (tests need variety, not cryptography).
pub fn random_below(n: u64) -> u64 {
    let mut x = unique() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % n.max(1)
}

/// A step in the JSON form of a Workflow: runs `sh -c script` (the process kubelet ignores the image).
pub fn step(name: &str, deps: &[&str], script: &str) -> Value {
    let mut step = json!({
        "stepName": name,
        "image": "busybox",
        "command": ["sh", "-c", script],
    });
    if !deps.is_empty() {
        step["dependsOn"] = json!(deps);
    }
    step
}

/// A Workflow in JSON form.
pub fn workflow(name: &str, max_step_timeout: i64, steps: Vec<Value>) -> Value {
    json!({
        "apiVersion": "kwf.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": { "name": name },
        "spec": { "maxStepTimeout": max_step_timeout, "containers": steps },
    })
}

/// Phase of every step, by name.
pub fn step_phases(wf: &Workflow) -> BTreeMap<String, StepPhase> {
    let status = wf.status.clone().unwrap_or_default();
    wf.spec
        .containers
        .iter()
        .map(|s| (s.step_name.clone(), status.step_phase(&s.step_name)))
        .collect()
}

/// What the Job watch showed, in order.
#[derive(Clone, Debug)]
pub enum Seen {
    /// The Job appeared.
    Added {
        job: String,
        step: String,
        created_by: Option<String>,
    },
    /// The Job was first seen succeeded (SuccessCriteriaMet/Complete or a succeeded pod).
    Succeeded {
        job: String,
        step: String,
    },
    Deleted {
        job: String,
        step: String,
    },
}

/// Records the watch events of one Workflow's Jobs, in the API server's order.
pub struct JobRecorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl JobRecorder {
    async fn start(api: Api<Job>, workflow: &str) -> JobRecorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let config = watcher::Config::default().labels(&format!("kwf.dev/workflow={workflow}"));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut known: HashMap<String, bool> = HashMap::new();
            let mut events = std::pin::pin!(watcher(api, config));
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                match event {
                    watcher::Event::InitDone => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    watcher::Event::Apply(job) | watcher::Event::InitApply(job) => {
                        let name = job.name_any();
                        let step = job
                            .labels()
                            .get("kwf.dev/step")
                            .cloned()
                            .unwrap_or_default();
                        let mut seen = record.lock().unwrap();
                        let succeeded = known.entry(name.clone()).or_insert_with(|| {
                            seen.push(Seen::Added {
                                job: name.clone(),
                                step: step.clone(),
                                created_by: job.annotations().get("kwf.dev/created-by").cloned(),
                            });
                            false
                        });
                        if !*succeeded && job_succeeded(&job) {
                            *succeeded = true;
                            seen.push(Seen::Succeeded { job: name, step });
                        }
                    }
                    watcher::Event::Delete(job) => {
                        let step = job
                            .labels()
                            .get("kwf.dev/step")
                            .cloned()
                            .unwrap_or_default();
                        record.lock().unwrap().push(Seen::Deleted {
                            job: job.name_any(),
                            step,
                        });
                    }
                    watcher::Event::Init => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .expect("the Job watch starts")
            .expect("the Job watch starts");
        JobRecorder { seen, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Asserts that no Job of a step appeared before every dependency's Job had succeeded, and
    /// that each step got exactly one Job.
    pub fn assert_dependency_order(&self, wf: &Workflow) {
        let seen = self.seen();
        let mut succeeded_at: HashMap<String, usize> = HashMap::new();
        let mut added: HashMap<String, usize> = HashMap::new();
        for (at, event) in seen.iter().enumerate() {
            match event {
                Seen::Succeeded { step, .. } => {
                    succeeded_at.entry(step.clone()).or_insert(at);
                }
                Seen::Added { step, job, .. } => {
                    assert!(
                        added.insert(step.clone(), at).is_none(),
                        "step {step} got a second Job {job}: {seen:#?}"
                    );
                }
                Seen::Deleted { .. } => {}
            }
        }
        for step in &wf.spec.containers {
            let created = *added
                .get(&step.step_name)
                .unwrap_or_else(|| panic!("step {} got no Job: {seen:#?}", step.step_name));
            for dep in &step.depends_on {
                let done = succeeded_at
                    .get(dep)
                    .unwrap_or_else(|| panic!("dependency {dep} never succeeded: {seen:#?}"));
                assert!(
                    *done < created,
                    "step {} got its Job (event {created}) before dependency {dep} succeeded (event {done}): {seen:#?}",
                    step.step_name
                );
            }
        }
    }
}

impl Drop for JobRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Job has succeeded: a success condition, or a succeeded pod.
pub fn job_succeeded(job: &Job) -> bool {
    let Some(status) = job.status.as_ref() else {
        return false;
    };
    status.succeeded.unwrap_or(0) > 0
        || status.conditions.iter().flatten().any(|c| {
            (c.type_ == "Complete" || c.type_ == "SuccessCriteriaMet") && c.status == "True"
        })
}
