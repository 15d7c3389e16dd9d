//! The workflow-controller under measurement: started by the one runner ([`crate::controller`]) on
//! one namespace; its CPU and memory (procfs) and the exact per-pair scheduling latencies of its log.

use crate::controller::{Controller, ControllerCommand};

use super::{Setup, procfs};

/// The controller's log filter: info, plus the reconciler's debug line per scheduled step
/// (`step scheduled ... latency_ms=`), which the latency figures are read from; no more debug
/// lines than that, so logging costs little of the CPU measured.
const LOG_FILTER: &str = "info,workflow_controller::reconcile=debug";

/// Starts `setup`'s controller binary on `namespace` with `setup`'s extra flags, logging to
/// `<log_dir>/controller-<tag>.log`, and waits until it is ready.
pub async fn start(setup: &Setup, namespace: &str, tag: &str) -> anyhow::Result<Controller> {
    ControllerCommand::new(
        &setup.controller,
        &setup.kubeconfig,
        setup.log_dir.join(format!("controller-{tag}.log")),
    )
    .namespace(namespace)
    .log_filter(LOG_FILTER)
    .args(&setup.controller_args)
    .start()
    .await
}

/// CPU seconds it used so far.
pub fn cpu_seconds(controller: &Controller) -> f64 {
    controller
        .pid()
        .and_then(procfs::cpu_seconds)
        .unwrap_or(0.0)
}

pub fn memory(controller: &Controller) -> procfs::Memory {
    controller
        .pid()
        .and_then(procfs::memory)
        .unwrap_or_default()
}

/// Every `step scheduled` latency the controller logged, in milliseconds, sorted.
pub fn logged_latencies_ms(controller: &Controller) -> Vec<f64> {
    let mut latencies = parse_latencies(&controller.log_text());
    latencies.sort_by(f64::total_cmp);
    latencies
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
