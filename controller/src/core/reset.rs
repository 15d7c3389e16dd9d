//! Starting over: a new spec (generation) runs from scratch as run 0; a restart request (a new
//! `kwf.dev/restartedAt` value) starts the next run, rerunning every step or, with
//! `kwf.dev/restart-mode: failed`, only the failed and skipped ones. Resetting a step forgets its
//! Job; the Jobs no step refers to any more are deleted afterwards (see `cleanup`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::{
    ANNOTATION_RESTART_MODE, ANNOTATION_RESTARTED_AT, ANNOTATION_STOP, RESTART_MODE_FAILED,
    StepPhase, Workflow, WorkflowStatus,
};

use super::decide::Plan;
use super::messages;

/// Resets `status` for a new generation or a restart request, if there is one.
pub(super) fn apply(
    wf: &Workflow,
    generation: i64,
    status: &mut WorkflowStatus,
    stamp: jiff::Timestamp,
    plan: &mut Plan,
) {
    let annotations = wf.metadata.annotations.as_ref();
    let restarted_at = annotations.and_then(|a| a.get(ANNOTATION_RESTARTED_AT));

    if status.observed_generation != Some(generation) {
        // A new Workflow or a new spec. A restart annotation present now is part of what this
        // run starts from, not a request to restart it.
        status.observed_generation = Some(generation);
        status.observed_restart = restarted_at.cloned();
        // Likewise a stop value: it stopped an older spec's run, or came with the manifest.
        status.observed_stop = annotations.and_then(|a| a.get(ANNOTATION_STOP)).cloned();
        status.run = 0;
        status.steps.clear();
        start_run(status, stamp);
        return;
    }

    let Some(restarted_at) = restarted_at else {
        return;
    };
    if status.observed_restart.as_ref() == Some(restarted_at) {
        return;
    }
    let only_failed = annotations
        .and_then(|a| a.get(ANNOTATION_RESTART_MODE))
        .is_some_and(|mode| mode == RESTART_MODE_FAILED);
    status.observed_restart = Some(restarted_at.clone());
    status.run = status.run.saturating_add(1);
    if only_failed {
        // Succeeded steps keep their result and Jobs; running ones keep running.
        status
            .steps
            .retain(|step| matches!(step.phase, StepPhase::Succeeded | StepPhase::Running));
    } else {
        status.steps.clear();
    }
    start_run(status, stamp);
    plan.events
        .push(messages::workflow_restarted(status.run, only_failed));
}

fn start_run(status: &mut WorkflowStatus, stamp: jiff::Timestamp) {
    status.started_at = Some(Time(stamp));
    status.finished_at = None;
    status.message = None;
}
