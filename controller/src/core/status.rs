//! The Workflow-level part of the status: phase, message, progress, run timestamps and the
//! Ready/Failed conditions, derived from the steps. Times change only on transitions, so a
//! second decision over the same state writes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kwf_api::{StepPhase, Workflow, WorkflowPhase, WorkflowStatus};

use super::decide::Plan;
use super::messages;
use super::run_control::{self, RunControl};

/// Condition messages are bounded so a long validation report cannot bloat the object.
const MAX_CONDITION_MESSAGE_BYTES: usize = 4096;

/// Why the workflow is where it is, beyond its steps.
pub(super) enum Verdict {
    /// The spec failed validation with this message; nothing runs.
    Invalid(String),
    /// The spec is valid: the steps decide.
    Valid,
}

/// Derives phase, message, progress, timestamps and conditions of `status` (whose steps are
/// already up to date), compared with `before`; records workflow Events on transitions.
pub(super) fn conclude(
    status: &mut WorkflowStatus,
    before: &WorkflowStatus,
    verdict: Verdict,
    wf: &Workflow,
    control: &RunControl,
    stamp: jiff::Timestamp,
    plan: &mut Plan,
) {
    let generation = wf.metadata.generation.unwrap_or(0);
    let total_steps = wf.spec.containers.len();
    let succeeded = status
        .steps
        .iter()
        .filter(|s| s.phase == StepPhase::Succeeded)
        .count();
    status.progress = Some(format!("{succeeded}/{total_steps}"));

    let invalid = matches!(verdict, Verdict::Invalid(_));
    let mut stopped = false;
    let (phase, message) = match verdict {
        Verdict::Invalid(message) => (WorkflowPhase::Failed, Some(message)),
        Verdict::Valid => match first_failure(status).or_else(|| {
            let message = run_control::stopped_message(wf, status);
            stopped = message.is_some();
            message
        }) {
            Some(failure) => {
                // Keep the message of the failure that failed the workflow, not a later one.
                let keep = before.phase == Some(WorkflowPhase::Failed) && status.message.is_some();
                let message = if keep {
                    status.message.take()
                } else {
                    Some(failure)
                };
                (WorkflowPhase::Failed, message)
            }
            None if succeeded == total_steps => (
                WorkflowPhase::Completed,
                Some(messages::completed(total_steps)),
            ),
            None => (
                WorkflowPhase::Started,
                run_control::started_message(control, wf),
            ),
        },
    };
    status.message = message;

    let changed = before.phase != Some(phase);
    status.phase = Some(phase);
    if changed {
        status.last_transition_time = Some(Time(stamp));
        let message = status.message.as_deref().unwrap_or_default();
        match phase {
            WorkflowPhase::Completed => {
                status.finished_at = Some(Time(stamp));
                plan.events.push(messages::workflow_completed(message));
            }
            WorkflowPhase::Failed => {
                status.finished_at = Some(Time(stamp));
                plan.events.push(messages::workflow_failed(message));
            }
            WorkflowPhase::Started | WorkflowPhase::Created => status.finished_at = None,
        }
    }
    let failed_reason = if invalid {
        "InvalidSpec"
    } else if stopped {
        "Stopped"
    } else {
        "StepFailed"
    };
    set_conditions(status, phase, failed_reason, generation, stamp);
    run_control::set_suspended_condition(control, status, generation, stamp, plan);
}

/// The message of the step that failed first (by finish time, then by when it started).
fn first_failure(status: &WorkflowStatus) -> Option<String> {
    status
        .steps
        .iter()
        .filter(|s| s.phase == StepPhase::Failed)
        .min_by_key(|s| (s.finished_at.is_none(), s.finished_at.clone()))
        .map(|s| {
            s.message
                .clone()
                .unwrap_or_else(|| format!("step \"{}\" failed", s.name))
        })
}

fn set_conditions(
    status: &mut WorkflowStatus,
    phase: WorkflowPhase,
    failed_reason: &'static str,
    generation: i64,
    stamp: jiff::Timestamp,
) {
    let message = messages::truncate(
        status.message.clone().unwrap_or_default(),
        MAX_CONDITION_MESSAGE_BYTES,
    );
    let (ready, ready_reason) = match phase {
        WorkflowPhase::Completed => (true, "Completed"),
        WorkflowPhase::Failed => (false, "Failed"),
        WorkflowPhase::Started | WorkflowPhase::Created => (false, "Running"),
    };
    let (failed, failed_reason) = match phase {
        WorkflowPhase::Failed => (true, failed_reason),
        WorkflowPhase::Completed => (false, "Completed"),
        WorkflowPhase::Started | WorkflowPhase::Created => (false, "Running"),
    };
    let conditions = &mut status.conditions;
    set_condition(
        conditions,
        "Ready",
        ready,
        ready_reason,
        &message,
        generation,
        stamp,
    );
    set_condition(
        conditions,
        "Failed",
        failed,
        failed_reason,
        &message,
        generation,
        stamp,
    );
}

/// Sets one condition, keeping its lastTransitionTime unless its status flips; conditions of
/// other types are left alone.
pub(super) fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    holds: bool,
    reason: &str,
    message: &str,
    generation: i64,
    stamp: jiff::Timestamp,
) {
    let status = if holds { "True" } else { "False" };
    let wanted = |last_transition_time| Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: Some(generation),
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(current) if current.status == status => {
            let since = current.last_transition_time.clone();
            *current = wanted(since);
        }
        Some(current) => *current = wanted(Time(stamp)),
        None => conditions.push(wanted(Time(stamp))),
    }
}
