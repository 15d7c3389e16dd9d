//! Prometheus metrics of the controller, served on /metrics.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::runtime::reflector::Store;
use kwf_api::{Workflow, WorkflowPhase};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
}

/// Every metric the controller exports, cheap to clone (all fields are shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    workflows: Family<PhaseLabels, Gauge>,
    reconcile_duration: Histogram,
    scheduling_latency: Histogram,
    reconcile_errors: Family<KindLabels, Counter>,
    api_requests: Family<RequestLabels, Counter>,
    jobs_created: Counter,
    events_dropped: Counter,
    events_failed: Counter,
    status_writes_held: Counter,
    steps_settled_from_pod: Counter,
    heap_in_use: Gauge,
    heap_free: Gauge,
    /// The Workflow cache of the running Controller, counted at scrape time (so deleted
    /// Workflows never linger in the gauge); None while this replica is not the leader.
    workflow_store: Arc<RwLock<Option<Store<Workflow>>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kwf");
        let workflows = Family::<PhaseLabels, Gauge>::default();
        registry.register("workflows", "Workflows by phase", workflows.clone());
        // 1 ms .. ~33 s
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile of a Workflow",
            reconcile_duration.clone(),
        );
        // 1 ms .. ~33 s: from a dependency's Job seen complete to the dependent Job created.
        let scheduling_latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "step_scheduling_latency_seconds",
            "Time from the last dependency's Job seen complete to the dependent step's Job created",
            scheduling_latency.clone(),
        );
        let reconcile_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles by kind of error",
            reconcile_errors.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "Requests to the Kubernetes API server by verb and resource",
            api_requests.clone(),
        );
        let jobs_created = Counter::default();
        registry.register(
            "jobs_created",
            "Jobs created for steps",
            jobs_created.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "Events not recorded because the event queue was full",
            events_dropped.clone(),
        );
        let events_failed = Counter::default();
        registry.register(
            "events_failed",
            "Events the API server refused or did not answer",
            events_failed.clone(),
        );
        let status_writes_held = Counter::default();
        registry.register(
            "status_writes_held",
            "Status writes of big Workflows held back to space them out (decided again later)",
            status_writes_held.clone(),
        );
        let steps_settled_from_pod = Counter::default();
        registry.register(
            "steps_settled_from_pod",
            "Jobs a reconcile took as succeeded from their one pod before the Job controller marked them (once per reconcile)",
            steps_settled_from_pod.clone(),
        );
        let heap_in_use = Gauge::default();
        registry.register(
            "heap_in_use_bytes",
            "Heap bytes in live allocations (glibc malloc; read at scrape time)",
            heap_in_use.clone(),
        );
        let heap_free = Gauge::default();
        registry.register(
            "heap_free_bytes",
            "Heap bytes malloc holds free, not given back to the OS (read at scrape time)",
            heap_free.clone(),
        );
        Self {
            registry: Arc::new(registry),
            workflows,
            reconcile_duration,
            scheduling_latency,
            reconcile_errors,
            api_requests,
            jobs_created,
            events_dropped,
            events_failed,
            status_writes_held,
            steps_settled_from_pod,
            heap_in_use,
            heap_free,
            workflow_store: Arc::default(),
        }
    }

    /// Counts a status write held back (see `status_writes::hold_for`).
    pub fn count_status_write_held(&self) {
        self.status_writes_held.inc();
    }

    /// Counts Jobs a reconcile took as succeeded from their pod.
    pub fn count_settled_from_pod(&self, jobs: usize) {
        self.steps_settled_from_pod
            .inc_by(u64::try_from(jobs).unwrap_or(u64::MAX));
    }

    /// Records how long one reconcile took.
    pub fn record_reconcile_duration(&self, took: Duration) {
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Records the scheduling latency of one dependent step.
    pub fn record_scheduling_latency(&self, latency: Duration) {
        self.scheduling_latency.observe(latency.as_secs_f64());
    }

    /// Counts a failed reconcile.
    pub fn count_error(&self, kind: &str) {
        self.reconcile_errors
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts a request to the API server: its verb (`get`, `watch`, `create`, ...) and resource
    /// (`jobs`, `workflows/status`, `events`, ...).
    pub fn count_request(&self, verb: &str, resource: &str) {
        self.api_requests
            .get_or_create(&RequestLabels {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
            })
            .inc();
    }

    /// Counts a Job this process created.
    pub fn count_job_created(&self) {
        self.jobs_created.inc();
    }

    /// Counts an Event dropped because the event queue was full.
    pub fn count_event_dropped(&self) {
        self.events_dropped.inc();
    }

    /// Counts an Event whose create failed.
    pub fn count_event_failed(&self) {
        self.events_failed.inc();
    }

    /// Events dropped so far.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.get()
    }

    /// Points the by-phase gauge at the running Controller's Workflow cache (None when standing by).
    pub fn set_workflow_store(&self, store: Option<Store<Workflow>>) {
        if let Ok(mut slot) = self.workflow_store.write() {
            *slot = store;
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        self.refresh_workflow_gauge();
        if let Some(heap) = crate::memory::heap() {
            self.heap_in_use
                .set(i64::try_from(heap.in_use).unwrap_or(i64::MAX));
            self.heap_free
                .set(i64::try_from(heap.free).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn refresh_workflow_gauge(&self) {
        let Ok(slot) = self.workflow_store.read() else {
            return;
        };
        let mut counts = [0i64; 4];
        if let Some(store) = slot.as_ref() {
            for wf in store.state() {
                let phase = wf.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
                counts[phase_index(phase)] += 1;
            }
        }
        for phase in [
            WorkflowPhase::Created,
            WorkflowPhase::Started,
            WorkflowPhase::Completed,
            WorkflowPhase::Failed,
        ] {
            self.workflows
                .get_or_create(&PhaseLabels {
                    phase: format!("{phase:?}"),
                })
                .set(counts[phase_index(phase)]);
        }
    }
}

fn phase_index(phase: WorkflowPhase) -> usize {
    match phase {
        WorkflowPhase::Created => 0,
        WorkflowPhase::Started => 1,
        WorkflowPhase::Completed => 2,
        WorkflowPhase::Failed => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family_with_the_kwf_prefix() {
        let metrics = Metrics::new();
        metrics.record_reconcile_duration(Duration::from_millis(3));
        metrics.record_scheduling_latency(Duration::from_millis(7));
        metrics.count_error("create_job");
        metrics.count_request("create", "jobs");
        metrics.count_job_created();
        metrics.count_event_dropped();
        metrics.count_event_failed();
        let text = metrics.encode();
        for needle in [
            "kwf_workflows{phase=\"Started\"} 0",
            "kwf_reconcile_duration_seconds_count 1",
            "kwf_step_scheduling_latency_seconds_count 1",
            "kwf_reconcile_errors_total{kind=\"create_job\"} 1",
            "kwf_api_requests_total{verb=\"create\",resource=\"jobs\"} 1",
            "kwf_jobs_created_total 1",
            "kwf_events_dropped_total 1",
            "kwf_events_failed_total 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
