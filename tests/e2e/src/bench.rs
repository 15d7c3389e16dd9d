//! The benchmark harness of `cargo xtask bench` (and, at a tiny scale, of tests/bench_smoke.rs):
//! runs the workflow-controller binary on a real control plane and measures throughput, API
//! cost, scheduling latency, one huge workflow and memory at rest (issue 7), and the step
//! scheduling latency on an idle control plane (issue 4), and the hand-off as a user sees it,
//! from watches outside the controller (issue 17, `handoff`).
//!
//! Every scenario gets a fresh namespace and a fresh controller process watching only it, so
//! each figure (CPU seconds, request counts, log lines) belongs to that scenario alone.

mod handoff;
mod measured;
mod procfs;
pub mod report;
mod scenarios;
mod workloads;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use report::Report;

/// The three runs of the harness; throughput also yields the API cost, the latency under load
/// and the memory at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Issue 4: dependent pairs on an otherwise idle control plane.
    Latency,
    /// One workflow of thousands of steps in layers.
    Huge,
    /// Many small workflows submitted at once.
    Throughput,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Latency, Scenario::Huge, Scenario::Throughput];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Latency => "latency",
            Scenario::Huge => "huge",
            Scenario::Throughput => "throughput",
        }
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == s)
            .ok_or_else(|| format!("unknown benchmark {s:?}: use latency, huge or throughput"))
    }
}

/// How big each scenario is, and how long it may take before it is reported as unfinished.
#[derive(Clone, Debug)]
pub struct Scale {
    /// Throughput: workflows of 5 steps submitted at once.
    pub workflows: usize,
    /// Throughput: create requests in flight while submitting.
    pub submit_parallel: usize,
    /// Huge: steps of the one big workflow, and steps per layer.
    pub huge_steps: usize,
    pub huge_width: usize,
    /// Latency: chains run at once, and steps per chain (each chain has length - 1 pairs).
    pub chains: usize,
    pub chain_length: usize,
    /// Each scenario's time limit from its submission.
    pub limit: Duration,
}

impl Scale {
    /// Issue 7's sizes: 1,000 workflows, a 2,000-step workflow in layers of 50, 10 chains of 51.
    pub fn full() -> Scale {
        Scale {
            workflows: 1000,
            submit_parallel: 32,
            huge_steps: 2000,
            huge_width: 50,
            chains: 10,
            chain_length: 51,
            limit: Duration::from_secs(600),
        }
    }

    /// A few minutes: a tenth of the throughput and huge sizes, the latency run in full.
    pub fn quick() -> Scale {
        Scale {
            workflows: 100,
            huge_steps: 200,
            limit: Duration::from_secs(300),
            ..Scale::full()
        }
    }

    /// The test suite's smoke run: every code path, seconds of work.
    pub fn smoke() -> Scale {
        Scale {
            workflows: 10,
            submit_parallel: 8,
            huge_steps: 30,
            huge_width: 10,
            chains: 2,
            chain_length: 4,
            limit: Duration::from_secs(180),
        }
    }
}

/// Where the control plane and the binaries under measurement are.
#[derive(Clone, Debug)]
pub struct Setup {
    pub kubeconfig: PathBuf,
    /// The workflow-controller binary (the release build for real figures).
    pub controller: PathBuf,
    /// The kubectl-workflow binary, timed rendering the huge workflow's graph.
    pub plugin: PathBuf,
    /// Extra controller flags (e.g. `--qps 200`), recorded in the report.
    pub controller_args: Vec<String>,
    /// Where the controllers' logs are written.
    pub log_dir: PathBuf,
}

/// Runs the chosen scenarios (all when `only` is empty) in the order latency, huge,
/// throughput: the idle-plane latency first, the run that leaves 5,000 Jobs behind last.
pub async fn run(setup: &Setup, scale: &Scale, only: &[Scenario]) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&setup.log_dir)?;
    let client = crate::client_for(&setup.kubeconfig).await?;
    crate::install_crd(&client).await?;
    let mut report = Report::new(setup, scale);
    let started = std::time::Instant::now();
    for scenario in Scenario::ALL {
        if !only.is_empty() && !only.contains(&scenario) {
            continue;
        }
        eprintln!("bench: {} ...", scenario.name());
        let took = std::time::Instant::now();
        match scenario {
            Scenario::Latency => {
                report.latency = Some(scenarios::latency(setup, scale, &client).await?)
            }
            Scenario::Huge => report.huge = Some(scenarios::huge(setup, scale, &client).await?),
            Scenario::Throughput => {
                report.throughput = Some(scenarios::throughput(setup, scale, &client).await?)
            }
        }
        eprintln!(
            "bench: {} done in {:.0} s",
            scenario.name(),
            took.elapsed().as_secs_f64()
        );
    }
    report.total = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_by_name() {
        for scenario in Scenario::ALL {
            assert_eq!(scenario.name().parse::<Scenario>(), Ok(scenario));
        }
        let err = "memory".parse::<Scenario>().unwrap_err();
        assert!(err.contains("latency, huge or throughput"), "{err}");
    }

    #[test]
    fn the_full_scale_is_the_issues() {
        let full = Scale::full();
        assert_eq!(full.workflows * 5, 5000);
        assert_eq!(full.huge_steps / full.huge_width, 40);
        assert!(full.chains * (full.chain_length - 1) >= 500);
    }
}
