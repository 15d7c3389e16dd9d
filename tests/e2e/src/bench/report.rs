//! The figures of one run and their Markdown form (docs/benchmarks.md).

use std::fmt::Write as _;
use std::time::Duration;

use super::{Scale, Setup, procfs};
use crate::metrics::{self, Samples};

const MIB: f64 = 1024.0 * 1024.0;

/// Issue 7 and issue 4 targets.
pub const MAX_WRITES_PER_STEP: f64 = 3.0;
pub const MAX_P99_UNDER_LOAD_MS: f64 = 250.0;
pub const MAX_OBJECT_BYTES: usize = 1024 * 1024;
pub const MAX_RSS_AT_REST: u64 = 64 * 1024 * 1024;
pub const MAX_IDLE_P50_MS: f64 = 20.0;
pub const MAX_IDLE_P99_MS: f64 = 100.0;
/// Issue 17's targets.
pub const MAX_END_TO_END_P50_MS: f64 = 250.0;
pub const MAX_END_TO_END_P99_MS: f64 = 500.0;
pub const MAX_P99_UNDER_LOAD_17_MS: f64 = 150.0;
pub const MAX_WORST_UNDER_LOAD_MS: f64 = 1000.0;
pub const MAX_HUGE_FANOUT_P99_MS: f64 = 500.0;
/// Half of the 164.9 CPU s the API server spent on the 2,000-step workflow before issue 17.
pub const MAX_HUGE_APISERVER_CPU_S: f64 = 164.9 / 2.0;
pub const MAX_RSS_AT_REST_17: u64 = 40 * 1024 * 1024;

/// Everything one run measured.
#[derive(Debug)]
pub struct Report {
    pub cores: usize,
    pub memory: u64,
    pub load_at_start: f64,
    pub scale: Scale,
    pub controller_args: Vec<String>,
    pub latency: Option<LatencyRun>,
    pub huge: Option<Huge>,
    pub throughput: Option<Throughput>,
    pub total: Duration,
}

/// CPU seconds of each part during a scenario, and its wall time.
#[derive(Debug, Default, Clone)]
pub struct CpuShare {
    pub wall: Duration,
    pub controller: f64,
    pub apiserver: f64,
    pub etcd: f64,
    pub controller_manager: f64,
    /// The process kubelet's threads (when the control plane runs in the harness process).
    pub kubelet: f64,
    /// The pods' host processes, reaped by the in-process kubelet.
    pub pods: f64,
    /// The harness itself: submitting and watching workflows.
    pub harness: f64,
    /// False when the control plane is not a child of this process (its parts are then unknown).
    pub components_found: bool,
}

impl CpuShare {
    fn parts(&self) -> [(&'static str, f64); 7] {
        [
            ("workflow-controller", self.controller),
            ("kube-apiserver", self.apiserver),
            ("etcd", self.etcd),
            (
                "kube-controller-manager (Job controller)",
                self.controller_manager,
            ),
            ("process kubelet (threads)", self.kubelet),
            ("pods (`sh -c true` host processes)", self.pods),
            ("harness (submits, watches)", self.harness),
        ]
    }

    fn total(&self) -> f64 {
        self.parts().iter().map(|(_, s)| s).sum()
    }
}

/// The value at quantile `q` (0..=1) of sorted values, by nearest rank; None when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50, p99 and max of a set of latencies in milliseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    pub count: usize,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Latencies {
    /// From sorted values.
    pub fn of(sorted_ms: Vec<f64>) -> Latencies {
        Latencies {
            count: sorted_ms.len(),
            p50: quantile(&sorted_ms, 0.5),
            p99: quantile(&sorted_ms, 0.99),
            max: sorted_ms.last().copied(),
        }
    }

    fn text(&self) -> String {
        match (self.p50, self.p99, self.max) {
            (Some(p50), Some(p99), Some(max)) => format!(
                "p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {} pairs",
                self.count
            ),
            _ => "no dependent pair was scheduled".to_owned(),
        }
    }
}

/// The hand-off from outside the controller (see `bench::handoff`).
#[derive(Debug, Default, Clone)]
pub struct Handoff {
    /// The last dependency's Job seen Complete -> the dependent's Job first seen.
    pub outside: Latencies,
    /// The last dependency's container seen exited -> the dependent's container seen started.
    pub end_to_end: Latencies,
    /// The end-to-end gap cut into its stages.
    pub stages: Stages,
}

/// Where an end-to-end hand-off goes, stage by stage, as seen from outside.
#[derive(Debug, Default, Clone)]
pub struct Stages {
    /// The last dependency's container seen exited -> the dependent's Job first seen.
    pub controller: Latencies,
    /// The dependent's Job first seen -> its pod first seen.
    pub job_controller: Latencies,
    /// The pod first seen -> first seen on a node.
    pub binding: Latencies,
    /// The pod first seen on a node -> its container seen started.
    pub kubelet: Latencies,
}

impl Stages {
    /// One table row per stage.
    fn rows(&self) -> String {
        [
            (
                "kwf's controller: dependency's container exited -> dependent Job",
                &self.controller,
            ),
            ("Job controller: Job -> its pod", &self.job_controller),
            ("Binding: pod -> pod on a node", &self.binding),
            ("Kubelet: pod on a node -> container started", &self.kubelet),
        ]
        .iter()
        .map(|(stage, figures)| {
            format!(
                "| Stage of the hand-off: {stage} | {} | - | - |",
                figures.text()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
    }
}

impl Handoff {
    fn text(&self) -> String {
        format!(
            "end to end (container exit -> dependent's container start): {}; \
             outside (Job seen Complete -> dependent Job seen): {}",
            self.end_to_end.text(),
            self.outside.text()
        )
    }
}

#[derive(Debug)]
pub struct LatencyRun {
    pub chains: usize,
    pub chain_length: usize,
    pub completed: usize,
    pub failures: Vec<String>,
    pub wall: Duration,
    pub latencies: Latencies,
    pub handoff: Handoff,
    pub cpu: CpuShare,
}

#[derive(Debug)]
pub struct Render {
    pub median: Duration,
    pub lines: usize,
}

#[derive(Debug)]
pub struct Huge {
    pub steps: usize,
    pub width: usize,
    pub completed: bool,
    pub failure: Option<String>,
    pub wall: Duration,
    pub object_bytes: usize,
    pub reconciles: f64,
    pub mean_reconcile: Duration,
    pub cpu_per_reconcile: Duration,
    pub latencies: Latencies,
    pub render: Render,
    pub cpu: CpuShare,
}

/// Requests of the controller by verb and resource, per step.
#[derive(Debug, Default)]
pub struct ApiCost {
    /// (verb, resource, count); resource is `*` when the controller does not label it.
    pub requests: Vec<(String, String, f64)>,
    pub steps: f64,
    /// Events the controller dropped because its event queue was full.
    pub events_dropped: f64,
}

impl ApiCost {
    pub fn from_metrics(delta: &Samples, steps: f64) -> ApiCost {
        let requests = delta
            .labelled("kwf_api_requests_total")
            .into_iter()
            .filter(|(_, count)| *count > 0.0)
            .map(|(labels, count)| {
                let verb = metrics::label(&labels, "verb").unwrap_or("?").to_owned();
                let resource = metrics::label(&labels, "resource")
                    .unwrap_or("*")
                    .to_owned();
                (verb, resource, count)
            })
            .collect();
        ApiCost {
            requests,
            steps,
            events_dropped: delta.value("kwf_events_dropped_total"),
        }
    }

    fn is_write(verb: &str) -> bool {
        matches!(verb, "create" | "patch" | "update" | "delete")
    }

    /// Writes per step, all of them.
    pub fn writes_per_step(&self) -> f64 {
        self.per_step(|verb, _| Self::is_write(verb))
    }

    /// Events created per step.
    pub fn events_per_step(&self) -> f64 {
        self.per_step(|verb, resource| Self::is_write(verb) && resource == "events")
    }

    /// The figure the target is about: the writes that do the work (Job creates and status
    /// writes, the "create the Job, and status writes amortised"); Events are
    /// best-effort and published on a budget of their own, reported beside it.
    pub fn judged_writes_per_step(&self) -> f64 {
        self.object_writes_per_step()
            .unwrap_or_else(|| self.writes_per_step())
    }

    /// Writes per step other than Events (Job creates, status and label patches, deletes);
    /// None when the controller's metrics do not name resources.
    pub fn object_writes_per_step(&self) -> Option<f64> {
        if self.requests.iter().any(|(_, resource, _)| resource == "*") {
            return None;
        }
        Some(self.per_step(|verb, resource| Self::is_write(verb) && resource != "events"))
    }

    fn per_step(&self, counted: impl Fn(&str, &str) -> bool) -> f64 {
        let total: f64 = self
            .requests
            .iter()
            .filter(|(verb, resource, _)| counted(verb, resource))
            .map(|(_, _, count)| count)
            .sum();
        total / self.steps.max(1.0)
    }
}

#[derive(Debug)]
pub struct Rest {
    pub rss: u64,
    pub workflows: usize,
    pub jobs: usize,
    pub pods: usize,
    /// The controller's heap at rest (its `kwf_heap_*_bytes` metrics; 0 where not reported).
    pub heap_in_use: f64,
    pub heap_free: f64,
}

#[derive(Debug)]
pub struct Throughput {
    pub workflows: usize,
    pub submitted_in: Duration,
    pub completed: usize,
    pub failures: Vec<String>,
    pub timed_out: bool,
    pub wall: Duration,
    pub steps: f64,
    pub peak_rss: u64,
    pub api: ApiCost,
    pub latencies: Latencies,
    pub handoff: Handoff,
    pub rest: Rest,
    pub cpu: CpuShare,
}

impl Throughput {
    pub fn per_minute(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64().max(1e-9) * 60.0
    }

    pub fn cpu_per_1000_steps(&self) -> f64 {
        self.cpu.controller / self.steps.max(1.0) * 1000.0
    }
}

impl Report {
    pub fn new(setup: &Setup, scale: &Scale) -> Report {
        let (cores, memory) = procfs::machine();
        Report {
            cores,
            memory,
            load_at_start: procfs::load_average(),
            scale: scale.clone(),
            controller_args: setup.controller_args.clone(),
            latency: None,
            huge: None,
            throughput: None,
            total: Duration::ZERO,
        }
    }

    /// True when every measured figure meets its target.
    pub fn targets_met(&self) -> bool {
        self.verdicts().iter().all(|(_, met)| *met)
    }

    /// Each target measured in this run, and whether it was met.
    pub fn verdicts(&self) -> Vec<(String, bool)> {
        let mut verdicts = Vec::new();
        if let Some(t) = &self.throughput {
            verdicts.push((
                format!("API writes per step (Jobs and status) <= {MAX_WRITES_PER_STEP}"),
                t.api.judged_writes_per_step() <= MAX_WRITES_PER_STEP,
            ));
            verdicts.push((
                format!("scheduling latency under load p99 < {MAX_P99_UNDER_LOAD_MS} ms"),
                t.latencies.p99.is_some_and(|p| p < MAX_P99_UNDER_LOAD_MS),
            ));
            verdicts.push((
                "memory at rest < 64 MiB".to_owned(),
                t.rest.rss < MAX_RSS_AT_REST,
            ));
            verdicts.push((
                format!(
                    "issue 17: scheduling latency under load p99 < {MAX_P99_UNDER_LOAD_17_MS} ms"
                ),
                t.latencies
                    .p99
                    .is_some_and(|p| p < MAX_P99_UNDER_LOAD_17_MS),
            ));
            verdicts.push((
                format!("issue 17: worst pair under load < {MAX_WORST_UNDER_LOAD_MS} ms"),
                t.latencies.max.is_some_and(|p| p < MAX_WORST_UNDER_LOAD_MS),
            ));
            verdicts.push((
                "issue 17: memory at rest < 40 MiB".to_owned(),
                t.rest.rss < MAX_RSS_AT_REST_17,
            ));
        }
        if let Some(h) = &self.huge {
            verdicts.push((
                "huge workflow object < 1 MiB".to_owned(),
                h.object_bytes < MAX_OBJECT_BYTES,
            ));
            verdicts.push((
                format!("issue 17: huge fan-out latency p99 < {MAX_HUGE_FANOUT_P99_MS} ms"),
                h.latencies.p99.is_some_and(|p| p < MAX_HUGE_FANOUT_P99_MS),
            ));
            verdicts.push((
                format!("issue 17: huge API server CPU <= {MAX_HUGE_APISERVER_CPU_S:.1} s"),
                h.cpu.apiserver <= MAX_HUGE_APISERVER_CPU_S,
            ));
        }
        if let Some(l) = &self.latency {
            verdicts.push((
                format!("idle latency p50 < {MAX_IDLE_P50_MS} ms"),
                l.latencies.p50.is_some_and(|p| p < MAX_IDLE_P50_MS),
            ));
            verdicts.push((
                format!("idle latency p99 < {MAX_IDLE_P99_MS} ms"),
                l.latencies.p99.is_some_and(|p| p < MAX_IDLE_P99_MS),
            ));
            verdicts.push((
                format!(
                    "issue 17: idle end-to-end hand-off p50 < {MAX_END_TO_END_P50_MS} ms, p99 < {MAX_END_TO_END_P99_MS} ms"
                ),
                end_to_end_met(&l.handoff),
            ));
        }
        verdicts
    }

    /// The report as Markdown: `command` reproduces it, `date` is when it ran.
    pub fn markdown(&self, command: &str, date: &str) -> String {
        let mut md = String::new();
        let flags = if self.controller_args.is_empty() {
            "its default flags".to_owned()
        } else {
            format!("`{}` (defaults otherwise)", self.controller_args.join(" "))
        };
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Produced by `{command}` on {date}, in {:.0} s, on a machine with {} logical CPUs and {:.1} GiB of \
             memory (1-minute load average {:.2} at the start: other work on the machine counts against every \
             figure). The release build of `workflow-controller` ran as a process with {flags}, against the \
             control plane of `tests/testenv` (etcd, kube-apiserver and kube-controller-manager 1.35, and the \
             process kubelet, which runs every pod as a host process), started by the harness for this run. \
             The harness lives in `tests/e2e/src/bench.rs`; `tests/e2e/tests/bench_smoke.rs` runs it at a tiny \
             scale in the test suite.\n",
            self.total.as_secs_f64(),
            self.cores,
            self.memory as f64 / MIB / 1024.0,
            self.load_at_start,
        );
        self.summary(&mut md);
        if let Some(t) = &self.throughput {
            self.throughput_section(&mut md, t);
        }
        if let Some(h) = &self.huge {
            huge_section(&mut md, h);
        }
        if let Some(l) = &self.latency {
            latency_section(&mut md, l, command);
        }
        self.where_time_goes(&mut md);
        md
    }

    fn summary(&self, md: &mut String) {
        self.summary_17(md);
        let _ = writeln!(md, "## Summary\n");
        let _ = writeln!(
            md,
            "| Measurement | Figure | Target | Met |\n|---|---|---|---|"
        );
        let yes = |met: bool| if met { "yes" } else { "**no**" };
        if let Some(t) = &self.throughput {
            let _ = writeln!(
                md,
                "| 1. Throughput ({} workflows x 5 steps) | {:.0} workflows/min ({} completed in {:.0} s) | - | - |",
                t.workflows,
                t.per_minute(),
                t.completed,
                t.wall.as_secs_f64()
            );
            let _ = writeln!(
                md,
                "| 1. Controller CPU per 1,000 steps | {:.2} CPU s | - | - |\n\
                 | 1. Controller peak RSS | {:.1} MiB | - | - |",
                t.cpu_per_1000_steps(),
                t.peak_rss as f64 / MIB
            );
            let judged = t.api.judged_writes_per_step();
            let _ = writeln!(
                md,
                "| 2. API writes per step: Job creates and status writes | {judged:.2} | <= {MAX_WRITES_PER_STEP} | {} |\n\
                 | 2. API writes per step: Events (best-effort, own budget) | {:.2} ({:.2} in all) | - | - |",
                yes(judged <= MAX_WRITES_PER_STEP),
                t.api.events_per_step(),
                t.api.writes_per_step(),
            );
            let _ = writeln!(
                md,
                "| 3. Scheduling latency under load | {} | p99 < {MAX_P99_UNDER_LOAD_MS} ms | {} |",
                t.latencies.text(),
                yes(t.latencies.p99.is_some_and(|p| p < MAX_P99_UNDER_LOAD_MS))
            );
        }
        if let Some(h) = &self.huge {
            let _ = writeln!(
                md,
                "| 4. Huge workflow ({} steps) object size | {:.0} KiB | < 1 MiB | {} |\n\
                 | 4. Controller CPU per reconcile | {:.2} ms ({:.0} reconciles) | - | - |\n\
                 | 4. Plugin graph render (whole command) | {:.0} ms | - | - |",
                h.steps,
                h.object_bytes as f64 / 1024.0,
                yes(h.object_bytes < MAX_OBJECT_BYTES),
                h.cpu_per_reconcile.as_secs_f64() * 1000.0,
                h.reconciles,
                h.render.median.as_secs_f64() * 1000.0
            );
        }
        if let Some(t) = &self.throughput {
            let _ = writeln!(
                md,
                "| 5. Memory at rest ({} workflows, {} Jobs) | {:.1} MiB RSS | < 64 MiB | {} |",
                t.rest.workflows,
                t.rest.jobs,
                t.rest.rss as f64 / MIB,
                yes(t.rest.rss < MAX_RSS_AT_REST)
            );
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(
                md,
                "| Issue 4: idle scheduling latency | {} | p50 < {MAX_IDLE_P50_MS} ms, p99 < {MAX_IDLE_P99_MS} ms | {} |",
                l.latencies.text(),
                yes(l.latencies.p50.is_some_and(|p| p < MAX_IDLE_P50_MS)
                    && l.latencies.p99.is_some_and(|p| p < MAX_IDLE_P99_MS))
            );
        }
        md.push('\n');
    }

    fn throughput_section(&self, md: &mut String, t: &Throughput) {
        let _ = writeln!(
            md,
            "## 1-3, 5. Throughput, API cost, latency under load, memory at rest\n"
        );
        let _ = writeln!(
            md,
            "{} workflows of 5 steps (a diamond a -> b, c -> d plus a tail d -> e; every step `sh -c true`) \
             were created at once ({} create requests in flight; all created in {:.1} s). {} completed{} \
             {:.0} s after the first create: **{:.0} workflows per minute** ({:.0} steps per minute).{}\n",
            t.workflows,
            self.scale.submit_parallel,
            t.submitted_in.as_secs_f64(),
            t.completed,
            if t.failures.is_empty() {
                String::new()
            } else {
                format!(", {} failed (first: {})", t.failures.len(), t.failures[0])
            },
            t.wall.as_secs_f64(),
            t.per_minute(),
            t.per_minute() * 5.0,
            if t.timed_out {
                format!(
                    " **Not all workflows ended within the {} s limit.**",
                    self.scale.limit.as_secs()
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            md,
            "The controller's own share: {:.1} CPU seconds for {:.0} steps, **{:.2} CPU s per 1,000 steps**, \
             peak RSS (VmHWM) **{:.1} MiB**.\n",
            t.cpu.controller,
            t.steps,
            t.cpu_per_1000_steps(),
            t.peak_rss as f64 / MIB
        );
        let _ = writeln!(
            md,
            "**API cost** (the controller's `kwf_api_requests_total` counter, during the run):\n\n\
             | Verb | Resource | Requests | Per step |\n|---|---|---|---|"
        );
        for (verb, resource, count) in &t.api.requests {
            let _ = writeln!(
                md,
                "| {verb} | {resource} | {count:.0} | {:.2} |",
                count / t.steps.max(1.0)
            );
        }
        let sent: f64 = t.api.requests.iter().map(|(_, _, count)| count).sum();
        let _ = writeln!(
            md,
            "\nThe controller sent {sent:.0} requests in {:.0} s: {:.1} per second on average (its client-side \
             limits: `--qps` 200 with `--burst` 1000 for Jobs and status, `--event-qps` 50 with `--event-burst` 100 \
             for Events, unless the command above set others). Events dropped because the event queue was full: {:.0}.",
            t.wall.as_secs_f64(),
            sent / t.wall.as_secs_f64().max(1e-9),
            t.api.events_dropped
        );
        let _ = writeln!(
            md,
            "\nWrites (create, patch, update, delete) per step: **{:.2}** Job creates and status writes \
             (target <= {MAX_WRITES_PER_STEP}), plus {:.2} Events: {:.2} in all.\n",
            t.api.judged_writes_per_step(),
            t.api.events_per_step(),
            t.api.writes_per_step(),
        );
        let _ = writeln!(
            md,
            "**Scheduling latency under load** (per dependent pair, from the controller's `step scheduled \
             latency_ms=` debug lines: the last dependency's Job seen finished by the watch -> the dependent \
             Job's create returned): {}.\n",
            t.latencies.text()
        );
        let _ = writeln!(
            md,
            "**Memory at rest** (10 s after the last workflow ended, with {} Workflows, {} Jobs and {} Pods in \
             the namespace): RSS **{:.1} MiB**, of which heap in live allocations {:.1} MiB and heap malloc \
             keeps free {:.1} MiB (the controller's `kwf_heap_in_use_bytes` and `kwf_heap_free_bytes`); the rest \
             is the binary's code and data, thread stacks and malloc's bookkeeping.\n",
            t.rest.workflows,
            t.rest.jobs,
            t.rest.pods,
            t.rest.rss as f64 / MIB,
            t.rest.heap_in_use / MIB,
            t.rest.heap_free / MIB,
        );
    }

    fn where_time_goes(&self, md: &mut String) {
        let runs: Vec<(&str, &CpuShare)> = [
            self.throughput.as_ref().map(|t| ("throughput", &t.cpu)),
            self.huge.as_ref().map(|h| ("huge", &h.cpu)),
            self.latency.as_ref().map(|l| ("latency", &l.cpu)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if runs.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Where the time goes\n");
        let _ = writeln!(
            md,
            "CPU seconds of each process during each run (utime + stime from /proc/<pid>/stat, after minus \
             before; the process kubelet runs on threads of the harness process, its pods' host processes are \
             counted when reaped). Percentages are of all the CPU these parts used.\n"
        );
        let mut header = "| Part |".to_owned();
        let mut rule = "|---|".to_owned();
        for (name, cpu) in &runs {
            let _ = write!(header, " {name} ({:.0} s wall) |", cpu.wall.as_secs_f64());
            rule.push_str("---|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for index in 0..7 {
            let label = runs[0].1.parts()[index].0;
            let mut row = format!("| {label} |");
            for (_, cpu) in &runs {
                let seconds = cpu.parts()[index].1;
                let share = seconds / cpu.total().max(1e-9) * 100.0;
                let _ = write!(row, " {seconds:.1} s ({share:.0}%) |");
            }
            let _ = writeln!(md, "{row}");
        }
        let mut row = "| machine capacity (wall x CPUs) |".to_owned();
        for (_, cpu) in &runs {
            let _ = write!(
                row,
                " {:.0} s |",
                cpu.wall.as_secs_f64() * self.cores as f64
            );
        }
        let _ = writeln!(md, "{row}\n");
        if runs.iter().any(|(_, cpu)| !cpu.components_found) {
            let _ = writeln!(
                md,
                "(The control plane was not started by this process, so its parts could not be measured.)\n"
            );
        }
        for (name, cpu) in &runs {
            let mut parts = cpu.parts().to_vec();
            parts.sort_by(|a, b| b.1.total_cmp(&a.1));
            let busy = cpu.total() / (cpu.wall.as_secs_f64() * self.cores as f64).max(1e-9) * 100.0;
            let _ = writeln!(
                md,
                "- {name}: the parts kept the machine {busy:.0}% busy; the largest consumers were {} ({:.0}%) and \
                 {} ({:.0}%); the controller used {:.1}% of the total.",
                parts[0].0,
                parts[0].1 / cpu.total().max(1e-9) * 100.0,
                parts[1].0,
                parts[1].1 / cpu.total().max(1e-9) * 100.0,
                cpu.controller / cpu.total().max(1e-9) * 100.0
            );
        }
        md.push('\n');
    }
}

fn end_to_end_met(handoff: &Handoff) -> bool {
    handoff
        .end_to_end
        .p50
        .is_some_and(|p| p < MAX_END_TO_END_P50_MS)
        && handoff
            .end_to_end
            .p99
            .is_some_and(|p| p < MAX_END_TO_END_P99_MS)
}

impl Report {
    /// Issue 17's figures first, each with its target.
    fn summary_17(&self, md: &mut String) {
        let yes = |met: bool| if met { "yes" } else { "**no**" };
        let _ = writeln!(
            md,
            "## Issue 17: the hand-off as a user sees it
"
        );
        let _ = writeln!(
            md,
            "| Measurement | Figure | Target | Met |\n|---|---|---|---|"
        );
        if let Some(l) = &self.latency {
            let _ = writeln!(
                md,
                "| End-to-end hand-off, idle plane (dependency's container seen exited -> dependent's container seen started, outside watch) | {} | p50 < {MAX_END_TO_END_P50_MS} ms, p99 < {MAX_END_TO_END_P99_MS} ms | {} |\n\
                 | Hand-off from outside, idle plane (dependency's Job seen Complete -> dependent Job seen; negative: started from the pod first) | {} | - | - |",
                l.handoff.end_to_end.text(),
                yes(end_to_end_met(&l.handoff)),
                l.handoff.outside.text(),
            );
            let _ = writeln!(md, "{}", l.handoff.stages.rows());
        }
        if let Some(h) = &self.huge {
            let _ = writeln!(
                md,
                "| Huge workflow ({} steps): API server CPU | {:.1} s | <= {MAX_HUGE_APISERVER_CPU_S:.1} s | {} |\n\
                 | Huge workflow: fan-out scheduling latency | {} | p99 < {MAX_HUGE_FANOUT_P99_MS} ms | {} |",
                h.steps,
                h.cpu.apiserver,
                yes(h.cpu.apiserver <= MAX_HUGE_APISERVER_CPU_S),
                h.latencies.text(),
                yes(h.latencies.p99.is_some_and(|p| p < MAX_HUGE_FANOUT_P99_MS)),
            );
        }
        if let Some(t) = &self.throughput {
            let _ = writeln!(
                md,
                "| Under the {}-workflow load: scheduling latency | {} | p99 < {MAX_P99_UNDER_LOAD_17_MS} ms, worst < {MAX_WORST_UNDER_LOAD_MS} ms | {} |\n\
                 | Under load: {} | - | - |\n\
                 | Memory at rest ({} workflows, {} Jobs) | {:.1} MiB RSS | < 40 MiB | {} |",
                t.workflows,
                t.latencies.text(),
                yes(t
                    .latencies
                    .p99
                    .is_some_and(|p| p < MAX_P99_UNDER_LOAD_17_MS)
                    && t.latencies.max.is_some_and(|p| p < MAX_WORST_UNDER_LOAD_MS)),
                t.handoff.text(),
                t.rest.workflows,
                t.rest.jobs,
                t.rest.rss as f64 / MIB,
                yes(t.rest.rss < MAX_RSS_AT_REST_17),
            );
        }
        md.push('\n');
    }
}

fn huge_section(md: &mut String, h: &Huge) {
    let _ = writeln!(md, "## 4. One huge workflow\n");
    let _ = writeln!(
        md,
        "{} steps in layers of {} (each step after the first layer depends on two steps of the layer before), \
         every step `sh -c true`: {} in {:.0} s.{}\n\n\
         - Object size: the final Workflow as the API server serves it (JSON, managed fields included) is \
         **{:.0} KiB** (limit 1 MiB).\n\
         - Controller: {:.0} reconciles, {:.2} ms each on average (wall), **{:.2} ms of CPU per reconcile** \
         ({:.1} CPU s in all).\n\
         - Scheduling latency on this fan-out: {}.\n\
         - Plugin: `kubectl-workflow graph` of the finished workflow (release build, whole command: start, \
         connect, GET, render {} lines) takes **{:.0} ms** (median of 5).\n",
        h.steps,
        h.width,
        if h.completed {
            "completed"
        } else {
            "did NOT complete"
        },
        h.wall.as_secs_f64(),
        h.failure
            .as_ref()
            .map(|f| format!(" Failure: {f}"))
            .unwrap_or_default(),
        h.object_bytes as f64 / 1024.0,
        h.reconciles,
        h.mean_reconcile.as_secs_f64() * 1000.0,
        h.cpu_per_reconcile.as_secs_f64() * 1000.0,
        h.cpu.controller,
        h.latencies.text(),
        h.render.lines,
        h.render.median.as_secs_f64() * 1000.0
    );
}

fn latency_section(md: &mut String, l: &LatencyRun, command: &str) {
    let only = if command.contains("--only") {
        command.to_owned()
    } else {
        "cargo xtask bench --only latency".to_owned()
    };
    let _ = writeln!(
        md,
        "## Issue 4: step scheduling latency on an idle control plane\n"
    );
    let _ = writeln!(
        md,
        "Command: `{only}`. {} chains of {} steps (`sh -c true`, each step depending on the one before) run \
         at once on an otherwise idle control plane: {} dependent pairs, {} of {} chains completed in {:.0} s.{}\n\n\
         Latency per pair, from the controller's `step scheduled latency_ms=` debug lines (the dependency's \
         Job seen finished by the controller's watch -> the dependent Job's create call returned): \
         **{}** (target p50 < {MAX_IDLE_P50_MS} ms, p99 < {MAX_IDLE_P99_MS} ms).\n\n\
         The time between dependent steps that a user sees is longer: it adds the Job controller (creating the \
         pod, then marking the Job finished) and the kubelet (starting and reporting the pod): {:.2} s per step \
         on average here ({:.0} s / {} steps per chain). Measured from watches in the harness (outside the \
         controller): {}.\n",
        l.chains,
        l.chain_length,
        l.chains * l.chain_length.saturating_sub(1),
        l.completed,
        l.chains,
        l.wall.as_secs_f64(),
        if l.failures.is_empty() {
            String::new()
        } else {
            format!(" Failures: {}", l.failures.join("; "))
        },
        l.latencies.text(),
        l.wall.as_secs_f64() / l.chain_length.max(1) as f64,
        l.wall.as_secs_f64(),
        l.chain_length,
        l.handoff.text()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_per_step_count_every_write_verb() {
        let delta = Samples::parse(
            "kwf_api_requests_total{resource=\"jobs\",verb=\"create\"} 10\n\
             kwf_api_requests_total{resource=\"workflows/status\",verb=\"patch\"} 12\n\
             kwf_api_requests_total{resource=\"events\",verb=\"create\"} 20\n\
             kwf_api_requests_total{resource=\"jobs\",verb=\"watch\"} 3\n",
        );
        let cost = ApiCost::from_metrics(&delta, 10.0);
        assert_eq!(cost.writes_per_step(), 4.2);
        assert_eq!(cost.object_writes_per_step(), Some(2.2));
        assert_eq!(cost.judged_writes_per_step(), 2.2);
        assert_eq!(cost.events_per_step(), 2.0);
    }

    #[test]
    fn without_resource_labels_only_the_total_is_known() {
        let delta = Samples::parse("kwf_api_requests_total{verb=\"create\"} 30\n");
        let cost = ApiCost::from_metrics(&delta, 10.0);
        assert_eq!(cost.writes_per_step(), 3.0);
        assert_eq!(cost.object_writes_per_step(), None);
        assert_eq!(
            cost.judged_writes_per_step(),
            3.0,
            "then the total is judged"
        );
    }

    #[test]
    fn latencies_summarise_sorted_values() {
        let latencies = Latencies::of((1..=200).map(f64::from).collect());
        assert_eq!(latencies.count, 200);
        assert_eq!(latencies.p50, Some(100.0));
        assert_eq!(latencies.p99, Some(198.0));
        assert_eq!(latencies.max, Some(200.0));
        assert!(
            Latencies::of(Vec::new())
                .text()
                .contains("no dependent pair")
        );
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), Some(50.0));
        assert_eq!(quantile(&values, 0.99), Some(99.0));
        assert_eq!(quantile(&values, 1.0), Some(100.0));
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
