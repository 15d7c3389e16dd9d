//! The workflow-controller binary under measurement: a child process on one namespace, its log
//! (the source of the exact per-pair scheduling latencies) and its /metrics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::procfs;
use super::scrape::{self, Samples};

/// The controller's log filter: info, plus the reconciler's debug line per scheduled step
/// (`step scheduled ... latency_ms=`), which the latency figures are read from.
const LOG_FILTER: &str = "info,workflow_controller::reconcile=debug";

/// A running controller; killed when dropped.
pub struct Controller {
    child: Child,
    pub log: PathBuf,
    pub metrics_addr: String,
}

impl Controller {
    /// Starts `binary --namespace <ns> --leader-elect=false --metrics-addr 127.0.0.1:0 <extra>`
    /// and waits until it serves /readyz (its Job cache is filled).
    pub async fn start(
        binary: &Path,
        kubeconfig: &Path,
        namespace: &str,
        extra_args: &[String],
        log: PathBuf,
    ) -> anyhow::Result<Controller> {
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(binary)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", LOG_FILTER)
            .args(["--namespace", namespace, "--leader-elect=false"])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut controller = Controller {
            child,
            log,
            metrics_addr: String::new(),
        };
        controller.metrics_addr = controller.wait_for_metrics_addr().await?;
        controller.wait_ready().await?;
        Ok(controller)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(self.pid()).unwrap_or(0.0)
    }

    pub fn memory(&self) -> procfs::Memory {
        procfs::memory(self.pid()).unwrap_or_default()
    }

    pub async fn metrics(&self) -> anyhow::Result<Samples> {
        Samples::scrape(&self.metrics_addr).await
    }

    /// Every `step scheduled` latency the controller logged, in milliseconds, sorted.
    pub fn logged_latencies_ms(&self) -> Vec<f64> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut latencies = parse_latencies(&text);
        latencies.sort_by(f64::total_cmp);
        latencies
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 5 s.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn wait_for_metrics_addr(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(addr) = crate::metrics_addr_in(&text) {
                return Ok(addr.to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "workflow-controller exited ({status}) before serving metrics: {}",
                    last_line(&text)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "workflow-controller logged no metrics address within 30 s (log: {})",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = scrape::get_status(&self.metrics_addr, "/readyz").await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "workflow-controller was not ready within 60 s (log: {})",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `latency_ms=` values of the `step scheduled` lines of a controller log.
pub fn parse_latencies(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|line| line.contains("step scheduled"))
        .filter_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("latency_ms="))?
                .parse()
                .ok()
        })
        .collect()
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_come_from_step_scheduled_lines_only() {
        let log = "2026-03-01T10:00:00.1Z DEBUG workflow_controller::reconcile: created Job workflow=w job=w-a-1-0\n\
2026-03-01T10:00:00.2Z DEBUG workflow_controller::reconcile: step scheduled workflow=w step=b latency_ms=12.5\n\
2026-03-01T10:00:00.3Z DEBUG workflow_controller::reconcile: step scheduled workflow=w step=c latency_ms=3\n";
        assert_eq!(parse_latencies(log), vec![12.5, 3.0]);
    }
}
