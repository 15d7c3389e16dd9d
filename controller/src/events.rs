//! Kubernetes Events about Workflows, published by a background task with a client (and so a
//! rate limit) of their own.
//!
//! A reconcile only queues its Events, so Job creates and status writes never wait behind them:
//! at scale the per-step Events are half of the controller's requests. This is what client-go's
//! event broadcaster does (asynchronous, separately limited, dropping when its queue is full).
//!
//! kube's `Recorder` is not used: it keeps every published Event for six minutes to aggregate
//! repeats into series, and scans that whole cache on each publish. This controller never
//! repeats an Event (each one records a transition that happens once), so the cache would only
//! cost memory and CPU that grow with the Events of the last six minutes.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;

use crate::config::MANAGER;
use crate::metrics::Metrics;

/// Events waiting to be published; when full, new Events are dropped (and counted), so a
/// backlog of Events can neither block reconciles nor grow the memory without bound.
pub const QUEUE_CAPACITY: usize = 8192;

/// Events being created at the same time.
const PUBLISH_CONCURRENCY: usize = 4;

/// The reasons recorded once per step on success; `--step-events=false` leaves them out.
const STEP_PROGRESS_REASONS: [&str; 2] = ["StepStarted", "StepSucceeded"];

/// One Event to publish, as the reconcile describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The Workflow.
    pub regarding: ObjectReference,
    /// The step's Job, when the Event concerns one.
    pub related: Option<ObjectReference>,
    pub reason: String,
    pub note: String,
    pub warning: bool,
}

/// The sending side: cheap to clone, never waits.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<Pending>,
    step_events: bool,
    metrics: Metrics,
}

impl Events {
    /// Starts the publishing task on the current Tokio runtime. `client` should carry its own
    /// rate limit; `identity` is the reporting instance.
    pub fn start(client: Client, identity: String, step_events: bool, metrics: Metrics) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(publish_all(client, identity, receiver, metrics.clone()));
        Self {
            queue,
            step_events,
            metrics,
        }
    }

    /// Queues an Event; drops it (counted in `kwf_events_dropped_total`) when the queue is full.
    pub fn record(&self, event: Pending) {
        if !self.step_events && is_step_progress(&event.reason) {
            return;
        }
        if let Err(err) = self.queue.try_send(event) {
            self.metrics.count_event_dropped();
            let event = err.into_inner();
            tracing::debug!(reason = %event.reason, regarding = ?event.regarding.name, "event queue full; event dropped");
        }
    }
}

/// True for the per-step success path's Events (StepStarted, StepSucceeded).
pub fn is_step_progress(reason: &str) -> bool {
    STEP_PROGRESS_REASONS.contains(&reason)
}

async fn publish_all(
    client: Client,
    identity: String,
    mut receiver: mpsc::Receiver<Pending>,
    metrics: Metrics,
) {
    // The time alone can repeat when several Events are recorded in the same nanosecond.
    let mut sequence = 0u64;
    futures::stream::poll_fn(|cx| receiver.poll_recv(cx))
        .for_each_concurrent(PUBLISH_CONCURRENCY, |pending| {
            sequence = sequence.wrapping_add(1);
            let event = to_event(&pending, &identity, sequence, jiff::Timestamp::now());
            let client = client.clone();
            let metrics = metrics.clone();
            async move {
                let namespace = pending.regarding.namespace.as_deref().unwrap_or("default");
                let api: Api<Event> = Api::namespaced(client, namespace);
                // An Event is informational: failing to record one must not fail anything else.
                if let Err(err) = api.create(&PostParams::default(), &event).await {
                    metrics.count_event_failed();
                    tracing::warn!(reason = %pending.reason, regarding = ?pending.regarding.name, error = %err, "cannot record event");
                }
            }
        })
        .await;
}

/// The events.k8s.io/v1 Event for `pending`, as kube's Recorder would write it (without series),
/// named after the regarding object, the time and a sequence number, in hex.
fn to_event(pending: &Pending, identity: &str, sequence: u64, now: jiff::Timestamp) -> Event {
    let regarding_name = pending.regarding.name.as_deref().unwrap_or(MANAGER);
    Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{regarding_name}.{:x}.{sequence:x}",
                now.as_nanosecond()
            )),
            namespace: pending.regarding.namespace.clone(),
            ..ObjectMeta::default()
        },
        action: Some(pending.reason.clone()),
        reason: Some(pending.reason.clone()),
        note: Some(pending.note.clone()),
        type_: Some(if pending.warning { "Warning" } else { "Normal" }.to_owned()),
        event_time: Some(MicroTime(now)),
        regarding: Some(pending.regarding.clone()),
        related: pending.related.clone(),
        reporting_controller: Some(MANAGER.to_owned()),
        reporting_instance: Some(identity.to_owned()),
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(reason: &str, warning: bool) -> Pending {
        Pending {
            regarding: ObjectReference {
                api_version: Some("kwf.dev/v1alpha1".into()),
                kind: Some("Workflow".into()),
                name: Some("wf".into()),
                namespace: Some("team-a".into()),
                ..ObjectReference::default()
            },
            related: Some(ObjectReference {
                kind: Some("Job".into()),
                name: Some("wf-a-1".into()),
                ..ObjectReference::default()
            }),
            reason: reason.into(),
            note: "step \"a\" failed".into(),
            warning,
        }
    }

    #[test]
    fn the_event_names_the_workflow_job_reason_and_reporter() {
        let now: jiff::Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
        let event = to_event(&pending("StepFailed", true), "replica-a", 7, now);
        assert_eq!(event.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            event.metadata.name,
            Some(format!("wf.{:x}.7", now.as_nanosecond()))
        );
        assert_eq!(event.reason.as_deref(), Some("StepFailed"));
        assert_eq!(event.action.as_deref(), Some("StepFailed"));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.note.as_deref(), Some("step \"a\" failed"));
        assert_eq!(event.regarding.unwrap().name.as_deref(), Some("wf"));
        assert_eq!(event.related.unwrap().name.as_deref(), Some("wf-a-1"));
        assert_eq!(event.reporting_controller.as_deref(), Some(MANAGER));
        assert_eq!(event.reporting_instance.as_deref(), Some("replica-a"));
        assert_eq!(event.event_time, Some(MicroTime(now)));
        assert!(event.series.is_none());
    }

    #[test]
    fn normal_events_are_typed_normal() {
        let event = to_event(
            &pending("StepStarted", false),
            "r",
            0,
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(event.type_.as_deref(), Some("Normal"));
    }

    #[test]
    fn names_differ_within_one_nanosecond() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let a = to_event(&pending("StepStarted", false), "r", 1, now);
        let b = to_event(&pending("StepStarted", false), "r", 2, now);
        assert_ne!(a.metadata.name, b.metadata.name);
    }

    #[test]
    fn only_the_success_path_counts_as_step_progress() {
        assert!(is_step_progress("StepStarted"));
        assert!(is_step_progress("StepSucceeded"));
        for reason in [
            "StepFailed",
            "StepTimedOut",
            "WorkflowCompleted",
            "WorkflowFailed",
            "WorkflowRestarted",
        ] {
            assert!(!is_step_progress(reason), "{reason}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let metrics = Metrics::new();
        // A queue nobody drains: the publishing task is not started.
        let (queue, _receiver) = mpsc::channel(1);
        let events = Events {
            queue,
            step_events: true,
            metrics: metrics.clone(),
        };
        events.record(pending("StepFailed", true));
        events.record(pending("StepFailed", true));
        assert_eq!(metrics.events_dropped(), 1);
    }

    #[tokio::test]
    async fn step_progress_is_left_out_when_switched_off() {
        let metrics = Metrics::new();
        let (queue, mut receiver) = mpsc::channel(8);
        let events = Events {
            queue,
            step_events: false,
            metrics: metrics.clone(),
        };
        events.record(pending("StepStarted", false));
        events.record(pending("StepSucceeded", false));
        events.record(pending("StepFailed", true));
        drop(events);
        let mut reasons = Vec::new();
        while let Some(event) = receiver.recv().await {
            reasons.push(event.reason);
        }
        assert_eq!(reasons, ["StepFailed"]);
        assert_eq!(metrics.events_dropped(), 0);
    }
}
