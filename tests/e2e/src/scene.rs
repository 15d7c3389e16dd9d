//! [`Scene`]: what every end-to-end test starts from. A fresh namespace on the shared control plane
//! with the CRD installed, a client, a scratch directory, controllers started on the namespace, and
//! the clean-up afterwards.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use kwf_api::{LABEL_WORKFLOW, Workflow, WorkflowPhase, label_value};
use kwf_testenv::{TestEnv, workspace_bin};

use crate::controller::{Controller, ControllerCommand};

/// A namespace for one test and everything around it. Dropped at the end of a passing test, it
/// deletes the namespace (its pods stop) and the scratch directory; after a failure both stay
/// for a look, and their names are printed.
pub struct Scene {
    pub env: &'static TestEnv,
    pub client: Client,
    pub ns: String,
    /// A scratch directory of this test: controller logs, manifests, files steps share (steps run
    /// as host processes, so they see it).
    pub dir: PathBuf,
    /// The logs of the controllers started here, shown when a wait fails.
    logs: Mutex<Vec<PathBuf>>,
}

impl Scene {
    /// A fresh namespace `<prefix>-<random>` with the Workflow CRD installed.
    ///
    /// # Panics
    /// If the control plane cannot be reached or the namespace not made.
    pub async fn new(prefix: &str) -> Scene {
        let env = TestEnv::shared();
        let client = env.client().await;
        crate::install_crd(&client)
            .await
            .expect("install the Workflow CRD");
        let ns = crate::namespace::fresh(&client, prefix)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = scratch_root().join(&ns);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scene {
            env,
            client,
            ns,
            dir,
            logs: Mutex::default(),
        }
    }

    /// Any namespaced API in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn workflows(&self) -> Api<Workflow> {
        self.api()
    }

    pub fn jobs(&self) -> Api<Job> {
        self.api()
    }

    /// The debug build's workflow-controller on this namespace, as the admin, without leader
    /// election, logging to `<dir>/controller-<tag>.log`; change it before starting it.
    pub fn controller_command(&self, tag: &str) -> ControllerCommand {
        let log = self.dir.join(format!("controller-{tag}.log"));
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(log.clone());
        ControllerCommand::new(
            workspace_bin("workflow-controller"),
            self.env.kubeconfig(),
            log,
        )
        .namespace(&self.ns)
    }

    /// Starts [`Scene::controller_command`]`("main")` and waits until it is ready.
    pub async fn controller(&self) -> Controller {
        self.start(self.controller_command("main")).await
    }

    /// Starts `command` and waits until it is ready.
    ///
    /// # Panics
    /// If it does not start or exits first, with its log.
    pub async fn start(&self, command: ControllerCommand) -> Controller {
        let log = command.log().to_path_buf();
        command.start().await.unwrap_or_else(|e| {
            panic!("{e:#}\n{}", crate::controller::tail(&log, 20));
        })
    }

    /// Starts `command` and returns at once.
    pub fn spawn(&self, command: ControllerCommand) -> Controller {
        command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start workflow-controller: {e:#}"))
    }

    /// Creates the Workflow in this namespace.
    pub async fn create(&self, wf: &Workflow) -> Workflow {
        self.workflows()
            .create(&PostParams::default(), wf)
            .await
            .unwrap_or_else(|e| panic!("cannot create Workflow {}: {e}", wf.name_any()))
    }

    /// The Workflow `name`.
    pub async fn workflow(&self, name: &str) -> Workflow {
        self.workflows()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("cannot get Workflow {name}: {e}"))
    }

    /// Waits until the Workflow reaches `phase`; panics with its status and the logs otherwise.
    pub async fn wait_phase(&self, name: &str, phase: WorkflowPhase, within: Duration) -> Workflow {
        self.wait_for(name, within, &format!("phase {phase:?}"), |wf| {
            wf.status.as_ref().and_then(|s| s.phase) == Some(phase)
        })
        .await
    }

    /// Waits until `check` holds for the Workflow; panics with its status and the tails of the
    /// logs of every controller of this scene otherwise.
    pub async fn wait_for(
        &self,
        name: &str,
        within: Duration,
        what: &str,
        check: impl Fn(&Workflow) -> bool,
    ) -> Workflow {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let wf = self.workflow(name).await;
            if check(&wf) {
                return wf;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "Workflow {name} did not reach {what} within {within:?}; status: {}\ncontroller logs:\n{}",
                    serde_json::to_string_pretty(&wf.status).unwrap_or_default(),
                    self.controller_logs(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of the log of every controller started here.
    pub fn controller_logs(&self, lines: usize) -> String {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.iter()
            .map(|log| crate::controller::tail(log, lines))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// The Jobs of a Workflow (by the kwf.dev/workflow label).
    pub async fn jobs_of(&self, name: &str) -> Vec<Job> {
        let params =
            ListParams::default().labels(&format!("{LABEL_WORKFLOW}={}", label_value(name)));
        self.jobs()
            .list(&params)
            .await
            .unwrap_or_else(|e| panic!("cannot list the Jobs of {name}: {e}"))
            .items
    }

    /// Writes `contents` to `<dir>/<file>` and returns the path.
    pub fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(file);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "kwf-e2e: kept namespace {} and {} for a look",
                self.ns,
                self.dir.display()
            );
            return;
        }
        // Drop cannot await, and this test's runtime is ending: a kubectl that does not wait.
        let _ = self
            .env
            .kubectl()
            .args([
                "delete",
                "namespace",
                &self.ns,
                "--wait=false",
                "--ignore-not-found",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `<target>/tmp/kwf-e2e`, beside the test executable's `target/<profile>/deps`.
fn scratch_root() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    // target/<profile> -> target
    dir.pop();
    dir.join("tmp").join("kwf-e2e")
}
