//! [`TestEnv`]: the one control plane a test run shares, and helpers tests need around it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::ControlPlane;
use crate::state::{self, State};

/// The control plane of this test run, seen from a test.
pub struct TestEnv {
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    /// Set when this process started the control plane itself (no `cargo xtask testenv up` was running).
    /// Statics are never dropped, so [`stop_owned_at_exit`] stops it when the test process exits.
    owned: Mutex<Option<ControlPlane>>,
}

static SHARED: OnceLock<TestEnv> = OnceLock::new();

/// How long [`TestEnv::real_node`] waits: containerd, image import and kubelet registration take ~25 s.
const REAL_NODE_WAIT: Duration = Duration::from_secs(180);

impl TestEnv {
    /// The control plane for this test run: the one in `$KWF_TESTENV_DIR` or in the default state dir
    /// (`<workspace>/target/kwf-testenv`, written by `cargo xtask testenv up`) if it is alive; otherwise one
    /// started for this test process (all its children die with the process).
    ///
    /// # Panics
    /// With a one-line reason if no control plane can be started.
    pub fn shared() -> &'static TestEnv {
        SHARED.get_or_init(|| match TestEnv::connect_or_start() {
            Ok(env) => env,
            Err(error) => panic!("kwf-testenv: {error}"),
        })
    }

    fn connect_or_start() -> Result<TestEnv, crate::Error> {
        let dir = state::default_dir();
        if let Some(state) = State::running(&dir) {
            return Ok(TestEnv {
                kubeconfig: state.kubeconfig,
                bin_dir: state.bin_dir,
                owned: Mutex::new(None),
            });
        }
        if std::env::var_os(state::DIR_ENV).is_some() {
            eprintln!(
                "kwf-testenv: no control plane runs in {} (${}); starting one for this test process",
                dir.display(),
                state::DIR_ENV
            );
        }
        let own_dir = own_dirs().join(std::process::id().to_string());
        remove_dirs_of_ended_processes();
        let plane = ControlPlane::start(&own_dir)?;
        // SAFETY: registering a plain `extern "C" fn` with atexit has no preconditions.
        unsafe {
            libc::atexit(stop_owned_at_exit);
        }
        eprintln!(
            "kwf-testenv: started a control plane for this test process in {:.1} s (logs: {}); \
             `cargo xtask testenv up` keeps one running for every test run",
            plane.ready_in().as_secs_f64(),
            plane.log_dir().display()
        );
        Ok(TestEnv {
            kubeconfig: plane.kubeconfig().to_path_buf(),
            bin_dir: plane.bin_dir().to_path_buf(),
            owned: Mutex::new(Some(plane)),
        })
    }

    /// The control plane's folder (kubeconfig, certificates, `logs/`, `node/`).
    pub fn dir(&self) -> &Path {
        self.kubeconfig.parent().unwrap_or(Path::new("."))
    }

    /// Waits until the real node (containerd + kubelet, [`crate::node::REAL_NODE_NAME`]) is Ready and returns
    /// its name. Tests that need real containers call this first.
    ///
    /// # Panics
    /// With the one-line reason when this machine cannot run the real node (so such a test fails, saying
    /// why, instead of passing without checking anything).
    pub async fn real_node(&self) -> &'static str {
        let deadline = Instant::now() + REAL_NODE_WAIT;
        loop {
            match crate::node::availability(self.dir()) {
                Some(Ok(_)) => return crate::node::REAL_NODE_NAME,
                Some(Err(reason)) => panic!("kwf-testenv: the real node is not running: {reason}"),
                None if Instant::now() >= deadline => panic!(
                    "kwf-testenv: the real node of the control plane in {} was not Ready within {} s (log: {}); a plane started by an older kwf has none: restart it with `cargo xtask testenv down && cargo xtask testenv up`",
                    self.dir().display(),
                    REAL_NODE_WAIT.as_secs(),
                    self.dir().join("logs/kubelet.log").display()
                ),
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The admin (`system:masters`) kubeconfig file.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The directory holding kubectl, kube-apiserver, kube-controller-manager and etcd.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// `kubectl --kubeconfig <kubeconfig>`, with the kubectl built alongside the control plane.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.bin_dir.join("kubectl"));
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// `helm --kubeconfig <kubeconfig>` with the helm built by `tests/testenv/helm/build.sh`, its own
    /// configuration and cache in this plane's folder (`helm/`).
    ///
    /// # Panics
    /// With the one-line reason if helm cannot be built.
    pub fn helm(&self) -> Command {
        let mut command = crate::helm::command(&self.dir().join("helm"));
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// A new client for the calling tokio runtime (each `#[tokio::test]` has its own runtime, and a client
    /// must not outlive the runtime it was made in, so clients are never shared between tests).
    ///
    /// # Panics
    /// If the kubeconfig cannot be read.
    pub async fn client(&self) -> Client {
        match client_for(&self.kubeconfig).await {
            Ok(client) => client,
            Err(error) => panic!("kwf-testenv: {error}"),
        }
    }

    /// Creates a fresh namespace `{prefix}-{random5}`, waits until pods can be created in it (its `default`
    /// ServiceAccount exists) and returns its name.
    ///
    /// # Panics
    /// If the namespace cannot be created or is not usable within 30 s.
    pub async fn namespace(&self, prefix: &str) -> String {
        let client = self.client().await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let name = loop {
            let name = format!("{prefix}-{}", random_suffix());
            let namespace = Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(
                        [("kwf.dev/test-namespace".to_string(), "true".to_string())].into(),
                    ),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            };
            match namespaces.create(&PostParams::default(), &namespace).await {
                Ok(_) => break name,
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(error) => panic!("kwf-testenv: cannot create namespace {name}: {error}"),
            }
        };
        // The ServiceAccount admission plugin rejects pods until the serviceaccount controller has made the
        // namespace's `default` ServiceAccount.
        let accounts: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(accounts.get_opt("default").await, Ok(Some(_))) {
            assert!(
                Instant::now() < deadline,
                "kwf-testenv: namespace {name} got no default ServiceAccount within 30 s (is kube-controller-manager running?)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        name
    }
}

/// Stops the control plane this process started, when the process exits (after the last test): the kubelet
/// kills the process groups of the pods still running (PR_SET_PDEATHSIG alone would reach only their first
/// process), and the components stop cleanly and remove their data.
extern "C" fn stop_owned_at_exit() {
    let plane = SHARED
        .get()
        .and_then(|env| env.owned.lock().ok())
        .and_then(|mut owned| owned.take());
    drop(plane);
}

/// Path of a binary of this workspace (e.g. `workflow-controller`, `kubectl-workflow`), found beside the
/// running test executable (`target/debug`), where `cargo xtask test` builds every member's binaries first.
///
/// # Panics
/// If the binary is absent, saying how to build it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("kwf-testenv: cannot locate the test executable: {e}"));
    // Test executables live in target/<profile>/deps, binaries in target/<profile>.
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "kwf-testenv: {} does not exist: build it with `cargo build --bin {name}` (or run the tests with `cargo xtask test`, which builds every binary first)",
        path.display()
    );
    path
}

/// A client from a kubeconfig file, or a one-line reason.
pub(crate) async fn client_for(kubeconfig: &Path) -> Result<Client, String> {
    let file = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("cannot read kubeconfig {}: {e}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("invalid kubeconfig {}: {e}", kubeconfig.display()))?;
    Client::try_from(config)
        .map_err(|e| format!("cannot make a client from {}: {e}", kubeconfig.display()))
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// Where test processes that found no running control plane start their own, one directory per pid.
fn own_dirs() -> PathBuf {
    state::workspace_dir()
        .join("target")
        .join("kwf-testenv-runs")
}

/// Removes the state directories of test processes that ended (their control planes died with them); the
/// directories of the last runs stay until the next start, for their logs.
fn remove_dirs_of_ended_processes() {
    let Ok(entries) = fs::read_dir(own_dirs()) else {
        return;
    };
    for entry in entries.flatten() {
        let ended = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .is_some_and(|pid| !state::process_is_alive(pid));
        if ended {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_suffixes_are_five_lowercase_alphanumerics() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(random_suffix(), random_suffix() + "x");
    }

    #[test]
    #[should_panic(expected = "does not exist: build it with `cargo build --bin no-such-binary`")]
    fn a_missing_workspace_binary_says_how_to_build_it() {
        workspace_bin("no-such-binary");
    }
}
