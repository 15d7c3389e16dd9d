//! Run control, asked for through annotations on the Workflow (never spec fields: a spec edit
//! bumps `metadata.generation`, which reruns everything from scratch):
//!
//! - **stop** (`kwf.dev/stop`, any new value): the running steps' Jobs are deleted (Background
//!   propagation, so their pods get their grace period), the running and pending steps are
//!   recorded `Stopped`, and the workflow ends `Failed` with a message naming the request. The
//!   value acted on is kept in `status.observedStop`, so a value stops one run only: a
//!   restart afterwards runs to its end even if the annotation stays.
//! - **suspend** (`kwf.dev/suspend: "true"`): no new step starts; running steps finish. The
//!   phase stays `Started` (the seed's phases are a contract); a `Suspended` condition and
//!   the message say so. A workflow created with the annotation starts suspended.
//!
//! Stopping is recorded in the status before the Jobs are deleted (the effect order), so a Job
//! deleted by a stop is never taken for one deleted by hand.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::{
    ANNOTATION_STOP, ANNOTATION_SUSPEND, CONDITION_SUSPENDED, Dag, SUSPEND_TRUE, StepPhase,
    StepStatus, Workflow, WorkflowPhase, WorkflowStatus,
};

use super::decide::Plan;
use super::observed::ObservedJob;
use super::{messages, status};

/// What the annotations ask of this decision.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct RunControl {
    /// A `kwf.dev/stop` value not acted on yet: stop the current run.
    pub stop: Option<String>,
    /// `kwf.dev/suspend: "true"`: no new step starts.
    pub suspended: bool,
}

impl RunControl {
    /// Whether steps whose dependencies succeeded must wait instead of starting.
    pub fn holds_new_steps(&self) -> bool {
        self.stop.is_some() || self.suspended
    }
}

/// Reads the annotations of `wf` against `status` (already reset for a new generation or
/// restart: a stop value present when a generation starts is part of it, not a request).
pub(super) fn read(wf: &Workflow, status: &WorkflowStatus) -> RunControl {
    let annotations = wf.metadata.annotations.as_ref();
    let stop = annotations
        .and_then(|a| a.get(ANNOTATION_STOP))
        .filter(|value| status.observed_stop.as_ref() != Some(*value))
        .cloned();
    let suspended = annotations
        .and_then(|a| a.get(ANNOTATION_SUSPEND))
        .is_some_and(|value| value == SUSPEND_TRUE);
    RunControl { stop, suspended }
}

/// Acts on a stop request: records the value, and every Running or Pending step of `dag` as
/// Stopped, deleting the Jobs of the running ones. `steps` are already up to date, so a Job
/// that finished before the stop keeps its result.
pub(super) fn stop(
    control: &RunControl,
    dag: &Dag,
    wf: &Workflow,
    jobs: &HashMap<&str, &ObservedJob>,
    status: &mut WorkflowStatus,
    stamp: jiff::Timestamp,
    plan: &mut Plan,
) {
    let Some(request) = &control.stop else {
        return;
    };
    status.observed_stop = Some(request.clone());
    let mut listed = vec![false; dag.len()];
    let mut stopped = 0usize;
    for entry in &mut status.steps {
        if let Some(k) = dag.index_of(&entry.name) {
            listed[k] = true;
        }
        match entry.phase {
            StepPhase::Running => {
                let job = entry.job_name.clone().unwrap_or_default();
                entry.phase = StepPhase::Stopped;
                entry.finished_at = Some(Time(stamp));
                entry.next_retry_at = None;
                entry.message = Some(messages::step_stopped_running(&entry.name, &job, request));
                plan.events.push(messages::step_stopped(&job, &entry.name));
                let mut at_work: Vec<&str> = vec![job.as_str()];
                if let Some(instances) = entry.instances.as_mut() {
                    for instance in &mut instances.active {
                        if instance.phase == StepPhase::Running {
                            instance.phase = StepPhase::Stopped;
                            instance.next_retry_at = None;
                        }
                    }
                    at_work = instances
                        .active
                        .iter()
                        .filter_map(|i| i.job_name.as_deref())
                        .collect();
                }
                // Only Jobs still at work: a failed attempt's Job keeps its logs.
                for name in at_work {
                    if jobs
                        .get(name)
                        .is_some_and(|j| !j.deleting && !j.state.is_finished())
                    {
                        plan.deletes.push(name.to_owned());
                    }
                }
                stopped += 1;
            }
            StepPhase::Pending => {
                entry.phase = StepPhase::Stopped;
                entry.message = Some(messages::step_stopped_pending(request));
                stopped += 1;
            }
            StepPhase::Succeeded | StepPhase::Failed | StepPhase::Skipped | StepPhase::Stopped => {}
        }
    }
    for (k, _) in listed.iter().enumerate().filter(|(_, listed)| !**listed) {
        status.steps.push(StepStatus {
            name: dag.name(k).to_owned(),
            phase: StepPhase::Stopped,
            message: Some(messages::step_stopped_pending(request)),
            ..StepStatus::default()
        });
        stopped += 1;
    }
    // No step runs any more: no step deadline to wake up for.
    plan.requeue_after = None;
    if stopped > 0 {
        let name = wf.metadata.name.as_deref().unwrap_or_default();
        plan.events
            .push(messages::workflow_stopped(name, stopped, request));
    }
}

/// The message of a run that was stopped (some step Stopped), naming the request.
pub(super) fn stopped_message(wf: &Workflow, status: &WorkflowStatus) -> Option<String> {
    if !status.steps.iter().any(|s| s.phase == StepPhase::Stopped) {
        return None;
    }
    let request = status.observed_stop.as_deref().unwrap_or_default();
    Some(messages::workflow_stopped_message(
        wf.metadata.name.as_deref().unwrap_or_default(),
        wf.metadata.namespace.as_deref(),
        request,
    ))
}

/// The message of a running workflow: why nothing new starts while it is suspended.
pub(super) fn started_message(control: &RunControl, wf: &Workflow) -> Option<String> {
    control.suspended.then(|| {
        messages::suspended(
            wf.metadata.name.as_deref().unwrap_or_default(),
            wf.metadata.namespace.as_deref(),
        )
    })
}

/// The `Suspended` condition: True while a suspended workflow runs; once it was set, False
/// after a resume (`Resumed`) or when the run ended (`Finished`). A workflow never suspended
/// gets no such condition. Events mark suspension and resumption.
pub(super) fn set_suspended_condition(
    control: &RunControl,
    status: &mut WorkflowStatus,
    generation: i64,
    stamp: jiff::Timestamp,
    plan: &mut Plan,
) {
    let running = status.phase == Some(WorkflowPhase::Started);
    let was = status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_SUSPENDED)
        .map(|c| c.status == "True");
    let (holds, reason) = match (control.suspended, running) {
        (true, true) => (true, "Suspended"),
        (false, true) => (false, "Resumed"),
        (_, false) => (false, "Finished"),
    };
    if was.is_none() && !holds {
        return;
    }
    let message = if holds {
        status.message.clone().unwrap_or_default()
    } else {
        String::new()
    };
    status::set_condition(
        &mut status.conditions,
        CONDITION_SUSPENDED,
        holds,
        reason,
        &message,
        generation,
        stamp,
    );
    match (was, holds) {
        (Some(true), true) | (Some(false) | None, false) => {}
        (Some(false) | None, true) => plan.events.push(messages::workflow_suspended()),
        (Some(true), false) if reason == "Resumed" => {
            plan.events.push(messages::workflow_resumed())
        }
        (Some(true), false) => {}
    }
}
