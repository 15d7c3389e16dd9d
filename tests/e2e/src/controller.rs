//! The workflow-controller binary as a child process: the one runner of the end-to-end tests, the
//! benchmark and the demo. [`ControllerCommand`] says how to start it (which build, kubeconfig,
//! namespace, leader election, extra flags, log file); [`Controller`] is the running process, with
//! its log, its metrics address, and kill, stop and restart.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::metrics::{self, Samples};

/// The log filter of every test controller: info, and everything the controller says at debug.
pub const DEBUG_LOG: &str = "info,workflow_controller=debug";

/// How long a controller may take to log its metrics address, and then to serve /readyz.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Controller::stop`] waits after SIGTERM before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The Lease a replica competes for when leader election is on.
#[derive(Clone, Debug)]
pub struct Lease {
    pub name: String,
    pub namespace: String,
    /// This replica's identity, written into the Lease and into its Jobs' `kwf.dev/created-by`.
    pub identity: String,
}

/// How to start a workflow-controller: `BINARY --kubeconfig K [--namespace NS] --metrics-addr
/// 127.0.0.1:0 --leader-elect=... [lease flags] [extra flags]`, stdout and stderr appended to one
/// log file, `RUST_LOG` set to the log filter, no `KUBECONFIG` from this process's environment.
#[derive(Clone, Debug)]
pub struct ControllerCommand {
    binary: PathBuf,
    kubeconfig: PathBuf,
    log: PathBuf,
    namespace: Option<String>,
    lease: Option<Lease>,
    args: Vec<String>,
    log_filter: String,
}

impl ControllerCommand {
    /// The controller at `binary` (a debug or release build), connecting with `kubeconfig` (the
    /// admin's, or a ServiceAccount token's), logging to `log`; by default it watches every
    /// namespace, without leader election, with the [`DEBUG_LOG`] filter.
    pub fn new(
        binary: impl Into<PathBuf>,
        kubeconfig: impl Into<PathBuf>,
        log: impl Into<PathBuf>,
    ) -> ControllerCommand {
        ControllerCommand {
            binary: binary.into(),
            kubeconfig: kubeconfig.into(),
            log: log.into(),
            namespace: None,
            lease: None,
            args: Vec::new(),
            log_filter: DEBUG_LOG.to_owned(),
        }
    }

    /// Watches only `namespace`.
    pub fn namespace(mut self, namespace: &str) -> ControllerCommand {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Connects with this kubeconfig instead.
    pub fn kubeconfig(mut self, kubeconfig: impl Into<PathBuf>) -> ControllerCommand {
        self.kubeconfig = kubeconfig.into();
        self
    }

    /// Leader election on, competing for `lease`.
    pub fn leader_election(mut self, lease: Lease) -> ControllerCommand {
        self.lease = Some(lease);
        self
    }

    /// Extra flags, after the ones this command sets.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> ControllerCommand {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// `RUST_LOG` for the controller.
    pub fn log_filter(mut self, filter: &str) -> ControllerCommand {
        self.log_filter = filter.to_owned();
        self
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Every flag the controller is started with.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = vec![
            "--kubeconfig".to_owned(),
            self.kubeconfig.display().to_string(),
        ];
        if let Some(namespace) = &self.namespace {
            flags.extend(["--namespace".to_owned(), namespace.clone()]);
        }
        flags.extend(["--metrics-addr".to_owned(), "127.0.0.1:0".to_owned()]);
        match &self.lease {
            None => flags.push("--leader-elect=false".to_owned()),
            Some(lease) => flags.extend([
                "--leader-elect=true".to_owned(),
                format!("--lease-name={}", lease.name),
                format!("--lease-namespace={}", lease.namespace),
                format!("--identity={}", lease.identity),
            ]),
        }
        flags.extend(self.args.iter().cloned());
        flags
    }

    /// Starts the process and returns at once (it may not serve yet: see [`Controller::wait_ready`]).
    pub fn spawn(self) -> anyhow::Result<Controller> {
        let mut controller = Controller {
            command: self,
            child: None,
            life_starts_at: 0,
            metrics_addr: None,
        };
        controller.spawn_life(false)?;
        Ok(controller)
    }

    /// Starts the process and waits until it serves /readyz (its Job cache is filled).
    pub async fn start(self) -> anyhow::Result<Controller> {
        let mut controller = self.spawn()?;
        controller.wait_ready().await?;
        Ok(controller)
    }
}

/// A running workflow-controller; killed (SIGKILL) when dropped.
pub struct Controller {
    command: ControllerCommand,
    child: Option<Child>,
    /// Where in the log the current process's output begins (a restart appends to the same file).
    life_starts_at: u64,
    metrics_addr: Option<String>,
}

impl Controller {
    pub fn command(&self) -> &ControllerCommand {
        &self.command
    }

    /// The log file: every process this controller ran, in order.
    pub fn log(&self) -> &Path {
        &self.command.log
    }

    /// The process id, while a process runs or is not yet reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The address of its /metrics server, once [`Controller::wait_ready`] has seen it.
    pub fn metrics_addr(&self) -> Option<&str> {
        self.metrics_addr.as_deref()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.metrics_addr = None;
    }

    /// SIGTERM, so it shuts down cleanly; SIGKILL if it has not stopped within 10 s.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // SAFETY: kill(2) on our own child, which is not reaped yet, so the pid is still its.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill();
    }

    /// Kills the process (SIGKILL, as a crash would) and starts a new one with the same command,
    /// its output appended to the same log; returns at once, like [`ControllerCommand::spawn`].
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn_life(true)
    }

    /// Waits until the current process has logged its metrics address and serves /readyz;
    /// returns the address. Fails if the process exits first.
    pub async fn wait_ready(&mut self) -> anyhow::Result<String> {
        let addr = self.wait_for_metrics_addr().await?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok((200, _)) = metrics::get_status(&addr, "/readyz").await {
                return Ok(addr);
            }
            self.fail_if_exited("before it was ready")?;
            if Instant::now() > deadline {
                bail!(
                    "workflow-controller was not ready within {READY_TIMEOUT:?} (log: {})",
                    self.log().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One scrape of its /metrics (after [`Controller::wait_ready`]).
    pub async fn metrics(&self) -> anyhow::Result<Samples> {
        let Some(addr) = self.metrics_addr() else {
            bail!("the controller's metrics address is not known yet: wait until it is ready");
        };
        Samples::scrape(addr).await
    }

    /// Everything it logged, over all its processes.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// The log's name and its last `lines` lines.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(self.log(), lines)
    }

    /// Starts a process; the first one's log starts empty, a restarted one's is appended to it
    /// (so figures read from a log never mix in an earlier run's).
    fn spawn_life(&mut self, restarted: bool) -> anyhow::Result<()> {
        let log = &self.command.log;
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut out = OpenOptions::new()
            .create(true)
            .write(true)
            .append(restarted)
            .truncate(!restarted)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        if restarted {
            writeln!(
                out,
                "----- kwf-e2e: the controller was killed and restarted -----"
            )?;
        }
        let starts_at = out.metadata().map_or(0, |m| m.len());
        let child = Command::new(&self.command.binary)
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", &self.command.log_filter)
            .args(self.command.flags())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", self.command.binary.display()))?;
        self.child = Some(child);
        self.life_starts_at = starts_at;
        self.metrics_addr = None;
        Ok(())
    }

    /// The current process's part of the log.
    fn life_log(&self) -> String {
        let text = self.log_text();
        let start = usize::try_from(self.life_starts_at).unwrap_or(0);
        text.get(start..).unwrap_or_default().to_owned()
    }

    async fn wait_for_metrics_addr(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + ADDRESS_TIMEOUT;
        loop {
            if let Some(addr) = metrics_addr_in(&self.life_log()) {
                self.metrics_addr = Some(addr.to_owned());
                return Ok(addr.to_owned());
            }
            self.fail_if_exited("before serving metrics")?;
            if Instant::now() > deadline {
                bail!(
                    "workflow-controller logged no metrics address within {ADDRESS_TIMEOUT:?} (log: {})",
                    self.log().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn fail_if_exited(&mut self, when: &str) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("workflow-controller was killed {when}");
        };
        if let Some(status) = child.try_wait()? {
            let log = self.life_log();
            bail!(
                "workflow-controller exited ({status}) {when}: {} (log: {})",
                last_line(&log),
                self.log().display()
            );
        }
        Ok(())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The address of the controller's /metrics server, from its start-up log line
/// (`serving /metrics, /healthz and /readyz address=...`); None until that line is written.
pub fn metrics_addr_in(log: &str) -> Option<&str> {
    log.lines()
        .find(|line| line.contains("serving /metrics"))
        .and_then(|line| line.split("address=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
}

/// The name of the file and its last `lines` lines, for a failure message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    format!(
        "[{}]\n{}",
        path.display(),
        all[all.len().saturating_sub(lines)..].join("\n")
    )
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("(no output)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_is_read_from_the_start_up_line() {
        let log = "2026-11-21T10:00:00Z  INFO workflow_controller::run: serving /metrics, /healthz and /readyz address=127.0.0.1:40123\n\
                   2026-11-21T10:00:00Z  INFO workflow_controller::run: workflow-controller started";
        assert_eq!(metrics_addr_in(log), Some("127.0.0.1:40123"));
        assert_eq!(metrics_addr_in("starting"), None);
    }

    #[test]
    fn flags_name_the_kubeconfig_namespace_and_election() {
        let plain = ControllerCommand::new("wc", "/k", "/log");
        assert_eq!(
            plain.flags(),
            [
                "--kubeconfig",
                "/k",
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-elect=false"
            ]
        );
        let elected = ControllerCommand::new("wc", "/k", "/log")
            .namespace("ns")
            .leader_election(Lease {
                name: "l".into(),
                namespace: "kwf-system".into(),
                identity: "me".into(),
            })
            .args(["--lease-duration=4"]);
        assert_eq!(
            elected.flags(),
            [
                "--kubeconfig",
                "/k",
                "--namespace",
                "ns",
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-elect=true",
                "--lease-name=l",
                "--lease-namespace=kwf-system",
                "--identity=me",
                "--lease-duration=4"
            ]
        );
    }

    #[tokio::test]
    async fn a_restart_appends_and_reads_the_new_address_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        // A stand-in binary that logs an address and exits: `sh -c` gets the flags as $0 $1 ...
        let script = dir.path().join("fake-controller");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"INFO serving /metrics, /healthz and /readyz address=127.0.0.1:$$\"\nsleep 30\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut controller = ControllerCommand::new(&script, "/k", &log).spawn().unwrap();
        let first = controller.wait_for_metrics_addr().await.unwrap();
        assert_eq!(first, format!("127.0.0.1:{}", controller.pid().unwrap()));
        controller.restart().unwrap();
        let second = controller.wait_for_metrics_addr().await.unwrap();
        assert_eq!(second, format!("127.0.0.1:{}", controller.pid().unwrap()));
        assert_ne!(first, second);
        let text = controller.log_text();
        assert!(
            text.contains(&first) && text.contains("killed and restarted"),
            "{text}"
        );
        controller.kill();
        assert!(!controller.is_running());
    }
}
