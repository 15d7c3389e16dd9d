//! `graph -o json|yaml`: one documented, stable object for scripts. Every key is always
//! present (null when unknown), steps are in spec order, times are RFC 3339 in UTC.

use jiff::Timestamp;
use kwf_api::{StepPhase, Workflow, WorkflowPhase};
use serde::Serialize;

use super::fan_out::{self, Counts};
use super::time;
use super::workflow_view::WorkflowView;

/// The state of a Workflow as `graph -o json|yaml` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphDocument {
    pub name: String,
    pub namespace: Option<String>,
    /// Created (also when the controller has not written a status yet), Started, Completed
    /// or Failed.
    pub phase: WorkflowPhase,
    pub message: Option<String>,
    /// Succeeded steps over all steps, such as `3/5`.
    pub progress: String,
    pub created: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub steps: Vec<StepDocument>,
}

/// One step of a [`GraphDocument`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepDocument {
    pub name: String,
    /// Pending, Running, Succeeded, Failed or Skipped.
    pub phase: StepPhase,
    /// The steps it waits for, as in the spec.
    pub depends_on: Vec<String>,
    /// The Job that runs or ran it.
    pub job: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// Seconds it ran: until `finished`, or until now while Running; null before it started.
    pub duration_seconds: Option<i64>,
    pub exit_code: Option<i32>,
    /// Why it failed, timed out or was skipped.
    pub message: Option<String>,
    /// The attempt it is at or ended with, from 1; null before it started and for a fan-out
    /// (whose instances have attempts of their own).
    pub attempt: Option<usize>,
    /// Attempts it may have in all: its retries' limit plus one.
    pub max_attempts: usize,
    /// When its next attempt starts, while it waits to retry.
    pub next_retry_at: Option<String>,
    /// A fanned-out step's instances by phase; null for a step that does not fan out.
    pub instances: Option<InstanceCounts>,
}

/// The instances of a fanned-out step by phase; those not started yet are `waiting`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCounts {
    pub total: u32,
    pub succeeded: u32,
    /// Running, or waiting to retry.
    pub running: u32,
    pub failed: u32,
    pub stopped: u32,
    pub waiting: u32,
}

impl From<Counts> for InstanceCounts {
    fn from(c: Counts) -> InstanceCounts {
        InstanceCounts {
            total: c.total,
            succeeded: c.succeeded,
            running: c.running,
            failed: c.failed,
            stopped: c.stopped,
            waiting: c.waiting,
        }
    }
}

impl GraphDocument {
    pub fn new(wf: &Workflow, now: Timestamp) -> GraphDocument {
        let view = WorkflowView::new(wf, now);
        let status = view.status;
        let steps = (0..view.len())
            .map(|step| {
                let s = view.step_status(step);
                StepDocument {
                    name: view.step_name(step).to_owned(),
                    phase: view.step_phase(step),
                    depends_on: view.depends_on(step).to_vec(),
                    job: s.and_then(|s| s.job_name.clone()),
                    started: s.and_then(|s| s.started_at.as_ref()).map(time::timestamp),
                    finished: s.and_then(|s| s.finished_at.as_ref()).map(time::timestamp),
                    duration_seconds: view.step_seconds(step),
                    exit_code: s.and_then(|s| s.exit_code),
                    message: s.and_then(|s| s.message.clone()),
                    attempt: s
                        .filter(|s| s.instances.is_none() && s.job_name.is_some())
                        .map(|s| s.retries.len() + 1),
                    max_attempts: fan_out::max_attempts(fan_out::policy(wf, step)),
                    next_retry_at: s
                        .and_then(|s| s.next_retry_at.as_ref())
                        .map(time::timestamp),
                    instances: view.instance_counts(step).map(InstanceCounts::from),
                }
            })
            .collect();
        GraphDocument {
            name: view.name().to_owned(),
            namespace: view.namespace().map(str::to_owned),
            phase: view.phase,
            message: status.and_then(|s| s.message.clone()),
            progress: view.progress_text(),
            created: wf.metadata.creation_timestamp.as_ref().map(time::timestamp),
            started: status
                .and_then(|s| s.started_at.as_ref())
                .map(time::timestamp),
            finished: status
                .and_then(|s| s.finished_at.as_ref())
                .map(time::timestamp),
            steps,
        }
    }
}

pub(crate) fn json(wf: &Workflow, now: Timestamp) -> String {
    let doc = GraphDocument::new(wf, now);
    // Plain strings, numbers and enums: serializing cannot fail.
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

pub(crate) fn yaml(wf: &Workflow, now: Timestamp) -> String {
    serde_saphyr::to_string(&GraphDocument::new(wf, now)).unwrap_or_default()
}
