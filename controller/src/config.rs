//! Command-line flags and their `WORKFLOW_CONTROLLER_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Name under which the controller writes (field manager) and reports Events.
pub const MANAGER: &str = "workflow-controller";

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Runs each Workflow's DAG of steps as Kubernetes Jobs.
#[derive(Clone, Debug, Parser)]
#[command(name = "workflow-controller", version, about)]
pub struct Config {
    /// Kubeconfig file to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster service account.
    #[arg(long, env = "WORKFLOW_CONTROLLER_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use instead of the current one.
    #[arg(long, env = "WORKFLOW_CONTROLLER_CONTEXT")]
    pub context: Option<String>,

    /// Only handle Workflows in this namespace (default: all namespaces).
    #[arg(long, short = 'n', env = "WORKFLOW_CONTROLLER_NAMESPACE")]
    pub namespace: Option<String>,

    /// Only handle Workflows matching this label selector, so several controllers can split the work.
    #[arg(long, short = 'l', env = "WORKFLOW_CONTROLLER_SELECTOR")]
    pub selector: Option<String>,

    /// Workflows reconciled at the same time.
    #[arg(long, default_value_t = 16, env = "WORKFLOW_CONTROLLER_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Sustained requests per second to the API server (the server's own priority and fairness
    /// protects it; this limit stops a runaway loop). 0 means unlimited.
    #[arg(long, default_value_t = 200.0, env = "WORKFLOW_CONTROLLER_QPS")]
    pub qps: f64,

    /// Requests allowed in a burst above --qps: enough for a thousand workflows submitted at once
    /// to start without waiting.
    #[arg(long, default_value_t = 1000, env = "WORKFLOW_CONTROLLER_BURST",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Sustained Events per second, on a client and budget of their own: Events are published
    /// in the background and never delay Job creates or status writes.
    #[arg(long, default_value_t = 50.0, env = "WORKFLOW_CONTROLLER_EVENT_QPS")]
    pub event_qps: f64,

    /// Events allowed in a burst above --event-qps.
    #[arg(long, default_value_t = 100, env = "WORKFLOW_CONTROLLER_EVENT_BURST",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_burst: u32,

    /// Record StepStarted and StepSucceeded Events, two per step. Failed and timed-out steps and
    /// the workflow's end are always recorded; false halves the API writes of large runs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", env = "WORKFLOW_CONTROLLER_STEP_EVENTS")]
    pub step_events: bool,

    /// Log format; the level is set with RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "WORKFLOW_CONTROLLER_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Address of the HTTP server for /metrics, /healthz and /readyz (port 0 picks a free port).
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        env = "WORKFLOW_CONTROLLER_METRICS_ADDR"
    )]
    pub metrics_addr: SocketAddr,

    /// Elect a leader on a Lease so that only one replica acts.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", env = "WORKFLOW_CONTROLLER_LEADER_ELECT")]
    pub leader_elect: bool,

    /// Name of the Lease used for leader election.
    #[arg(
        long,
        default_value = "workflow-controller",
        env = "WORKFLOW_CONTROLLER_LEASE_NAME"
    )]
    pub lease_name: String,

    /// Namespace of the Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "WORKFLOW_CONTROLLER_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Seconds a leader's Lease stays valid without renewal; a standby takes over after that.
    #[arg(long, default_value_t = 15, env = "WORKFLOW_CONTROLLER_LEASE_DURATION",
          value_parser = clap::value_parser!(u64).range(2..))]
    pub lease_duration: u64,

    /// This replica's identity in the Lease and on the Jobs it creates (default: $POD_NAME, else hostname-pid).
    #[arg(long, env = "WORKFLOW_CONTROLLER_IDENTITY")]
    pub identity: Option<String>,
}

impl Config {
    /// The identity of this process: the flag, the pod name, or `hostname-pid`.
    pub fn identity(&self) -> String {
        if let Some(identity) = self.identity.as_deref().filter(|s| !s.is_empty()) {
            return identity.to_owned();
        }
        if let Ok(pod) = std::env::var("POD_NAME")
            && !pod.is_empty()
        {
            return pod;
        }
        format!("{}-{}", hostname(), std::process::id())
    }

    /// Namespace of the Lease: the flag, the pod's namespace, or `default`.
    pub fn lease_namespace(&self) -> String {
        if let Some(ns) = self.lease_namespace.as_deref().filter(|s| !s.is_empty()) {
            return ns.to_owned();
        }
        if let Ok(ns) = std::env::var("POD_NAMESPACE")
            && !ns.is_empty()
        {
            return ns;
        }
        // The service account mount names the pod's namespace when running in a cluster.
        std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }

    /// Seconds before expiry at which the leader renews its Lease.
    pub fn lease_grace(&self) -> u64 {
        (self.lease_duration / 3).max(1)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "workflow-controller".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("workflow-controller").chain(args.iter().copied()))
            .expect("flags parse")
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = parse(&[]);
        assert_eq!(config.namespace, None);
        assert_eq!(config.concurrency, 16);
        assert_eq!(config.qps, 200.0);
        assert_eq!(config.burst, 1000);
        assert_eq!(config.event_qps, 50.0);
        assert_eq!(config.event_burst, 100);
        assert!(config.step_events);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.metrics_addr, "0.0.0.0:8080".parse().unwrap());
        assert!(config.leader_elect);
        assert_eq!(config.lease_name, "workflow-controller");
        assert_eq!(config.lease_duration, 15);
    }

    #[test]
    fn leader_election_can_be_switched_off_with_a_value() {
        assert!(!parse(&["--leader-elect=false"]).leader_elect);
        assert!(parse(&["--leader-elect"]).leader_elect);
    }

    #[test]
    fn step_events_can_be_switched_off() {
        assert!(!parse(&["--step-events=false"]).step_events);
        assert!(parse(&["--step-events"]).step_events);
    }

    #[test]
    fn flags_override_defaults() {
        let config = parse(&[
            "--namespace",
            "team-a",
            "--selector",
            "shard=1",
            "--concurrency",
            "4",
            "--log-format",
            "json",
            "--metrics-addr",
            "127.0.0.1:0",
        ]);
        assert_eq!(config.namespace.as_deref(), Some("team-a"));
        assert_eq!(config.selector.as_deref(), Some("shard=1"));
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.metrics_addr.port(), 0);
    }

    #[test]
    fn zero_concurrency_is_rejected() {
        let err =
            Config::try_parse_from(["workflow-controller", "--concurrency", "0"]).unwrap_err();
        assert!(err.to_string().contains("concurrency"), "{err}");
    }

    #[test]
    fn grace_is_shorter_than_the_lease() {
        for duration in 2..60 {
            let config = Config {
                lease_duration: duration,
                ..parse(&[])
            };
            assert!(config.lease_grace() >= 1 && config.lease_grace() < duration);
        }
    }

    #[test]
    fn explicit_identity_wins() {
        let config = Config {
            identity: Some("replica-a".into()),
            ..parse(&[])
        };
        assert_eq!(config.identity(), "replica-a");
    }
}
