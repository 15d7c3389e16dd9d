//! One attempt after another: what the current Job of a step (or of one instance of a
//! fanned-out step) did, and whether a failure runs again. A [`Unit`] is the part of a step's
//! or an instance's status that attempts change; both kinds are tracked by the same code.
//!
//! A failure that retries records the attempt in `retries` and sets `nextRetryAt` (now +
//! backoff); the step stays Running, holding no place against `parallelism` while it waits.
//! The next attempt's Job is created by the start pass once that time has come (or adopted
//! when a lost status write hid that it was). No backoff follows the last attempt: the step
//! fails at once (argo-workflows#7588).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::StepPhase;
use kwf_api::fan_out::InstanceStatus;
use kwf_api::retries::{AttemptFailure, FailedAttempt, RetryPolicy};
use kwf_api::{StepStatus, Workflow};

use super::decide::Plan;
use super::observed::{JobState, ObservedJob};
use super::{messages, timeouts};

/// What tracking an attempt needs besides the unit and its Job.
pub(super) struct AttemptInputs<'a> {
    pub wf: &'a Workflow,
    pub now: jiff::Timestamp,
    pub stamp: jiff::Timestamp,
    pub max_step_timeout: i64,
    /// A stop is being acted on: a Job that vanished is the stop's doing, not a failure.
    pub stopping: bool,
}

/// The fields of a step's or an instance's status that attempts change.
pub(super) struct Unit<'a> {
    /// How messages name it: `build`, or `build[3]` for instance 3.
    pub label: String,
    pub phase: &'a mut StepPhase,
    pub job_name: &'a mut Option<String>,
    pub started_at: &'a mut Option<Time>,
    pub finished_at: &'a mut Option<Time>,
    pub exit_code: &'a mut Option<i32>,
    pub message: &'a mut Option<String>,
    pub retries: &'a mut Vec<FailedAttempt>,
    pub next_retry_at: &'a mut Option<Time>,
    /// Where its pod ran, for a step that records it (instances do not).
    pub node: Option<&'a mut Option<String>>,
}

impl<'a> Unit<'a> {
    pub fn of_step(entry: &'a mut StepStatus) -> Unit<'a> {
        Unit {
            label: entry.name.clone(),
            phase: &mut entry.phase,
            job_name: &mut entry.job_name,
            started_at: &mut entry.started_at,
            finished_at: &mut entry.finished_at,
            exit_code: &mut entry.exit_code,
            message: &mut entry.message,
            retries: &mut entry.retries,
            next_retry_at: &mut entry.next_retry_at,
            node: Some(&mut entry.node),
        }
    }

    pub fn of_instance(step: &str, instance: &'a mut InstanceStatus) -> Unit<'a> {
        Unit {
            label: instance_label(step, instance.index),
            phase: &mut instance.phase,
            job_name: &mut instance.job_name,
            started_at: &mut instance.started_at,
            finished_at: &mut instance.finished_at,
            exit_code: &mut instance.exit_code,
            message: &mut instance.message,
            retries: &mut instance.retries,
            next_retry_at: &mut instance.next_retry_at,
            node: None,
        }
    }
}

/// `build[3]`: instance 3 of step `build`, as messages name it.
pub(super) fn instance_label(step: &str, index: u32) -> String {
    format!("{step}[{index}]")
}

/// The attempt a unit's next Job is: one more than the failed attempts so far.
pub(super) fn next_attempt(retries: &[FailedAttempt]) -> u32 {
    u32::try_from(retries.len()).unwrap_or(u32::MAX)
}

/// Whether a Running unit has a Job at work (not waiting to retry): what holds a place.
pub(super) fn holds_place(phase: StepPhase, next_retry_at: Option<&Time>) -> bool {
    phase == StepPhase::Running && next_retry_at.is_none()
}

/// Starts attempt `job_name` now (a new Job, or one adopted from an earlier decision).
pub(super) fn begin(unit: &mut Unit, job_name: String, started: jiff::Timestamp) {
    *unit.phase = StepPhase::Running;
    *unit.job_name = Some(job_name);
    *unit.started_at = Some(Time(started));
    *unit.next_retry_at = None;
    *unit.finished_at = None;
    *unit.exit_code = None;
    *unit.message = None;
}

/// Takes over the Jobs of a unit that its status does not show (a lost status write): the
/// earlier attempts become its failed attempts, the last one its current Job.
pub(super) fn adopt(
    inputs: &AttemptInputs,
    unit: &mut Unit,
    jobs: &[&ObservedJob],
    policy: Option<&RetryPolicy>,
    plan: &mut Plan,
) {
    let Some((current, earlier)) = jobs.split_last() else {
        return;
    };
    for job in earlier {
        if next_attempt(unit.retries) <= job.attempt {
            unit.retries.push(failed_attempt(inputs, job));
        }
    }
    begin(
        unit,
        current.name.clone(),
        current.created.unwrap_or(inputs.stamp),
    );
    plan.events
        .push(messages::step_started(&unit.label, &current.name));
    track(inputs, unit, Some(current), policy, plan);
}

/// The record of a failed attempt read back from its Job.
fn failed_attempt(inputs: &AttemptInputs, job: &ObservedJob) -> FailedAttempt {
    let finished = match &job.state {
        JobState::Failed { finished, .. } | JobState::Succeeded { finished } => *finished,
        JobState::Active => None,
    };
    FailedAttempt {
        job_name: job.name.clone(),
        exit_code: job.exit.as_ref().map(|exit| exit.code),
        reason: attempt_reason(job, inputs.max_step_timeout),
        started_at: job.created.map(Time),
        finished_at: finished.map(Time),
    }
}

/// How a failed Job failed, in a few words.
fn attempt_reason(job: &ObservedJob, max_step_timeout: i64) -> String {
    if let JobState::Failed { reason, .. } = &job.state
        && reason == "DeadlineExceeded"
    {
        return format!("timed out after {max_step_timeout}s");
    }
    match &job.exit {
        Some(exit) => match exit.telling_reason() {
            Some(reason) => format!("{reason} (exit code {})", exit.code),
            None => format!("exit code {}", exit.code),
        },
        None => "failed".to_owned(),
    }
}

/// Updates a Running unit from its current Job (None: the Job is gone). A unit waiting to
/// retry is left to [`wait_or_due`].
pub(super) fn track(
    inputs: &AttemptInputs,
    unit: &mut Unit,
    job: Option<&ObservedJob>,
    policy: Option<&RetryPolicy>,
    plan: &mut Plan,
) {
    let job_name = unit.job_name.clone().unwrap_or_default();
    if let Some(node) = unit.node.as_deref_mut()
        && node.is_none()
        && let Some(seen) = job.and_then(|job| job.node.clone())
    {
        *node = Some(seen);
    }
    let Some(job) = job.filter(|job| job.state.is_finished() || !job.deleting) else {
        // Deleted by hand (or its deletion is under way) before it finished: the shell passes
        // every Job it created, so absence is never a Job not yet seen. A deletion is the
        // user's word: it does not retry. Unless a stop is being acted on: the stop records it.
        if inputs.stopping {
            return;
        }
        let message = messages::deleted(
            &unit.label,
            &job_name,
            inputs.wf.metadata.name.as_deref().unwrap_or_default(),
            inputs.wf.metadata.namespace.as_deref(),
        );
        fail(unit, inputs.stamp, message.clone(), None);
        plan.events.push(messages::step_failed(&job_name, &message));
        return;
    };
    let exit = job.exit.as_ref().map(|exit| exit.code);
    match &job.state {
        JobState::Succeeded { finished } => {
            *unit.phase = StepPhase::Succeeded;
            *unit.finished_at = Some(Time(finished.unwrap_or(inputs.stamp)));
            *unit.message = None;
            plan.events
                .push(messages::step_succeeded(&unit.label, &job_name));
        }
        JobState::Failed {
            finished,
            reason,
            message,
        } => {
            let finished = finished.unwrap_or(inputs.stamp);
            let (failure, message) = if reason == "DeadlineExceeded" && inputs.max_step_timeout > 0
            {
                let text = messages::timed_out(&unit.label, inputs.max_step_timeout);
                (AttemptFailure::TimedOut, text)
            } else {
                let text =
                    messages::failed(&unit.label, &job_name, reason, message, job.exit.as_ref());
                (AttemptFailure::Exited(exit), text)
            };
            let record = failed_attempt(inputs, job);
            fail_or_retry(unit, policy, failure, record, finished, message, plan);
        }
        JobState::Active => {
            let started = unit.started_at.as_ref().map(|time| time.0);
            let deadline =
                timeouts::deadline(job.created, started, inputs.now, inputs.max_step_timeout);
            let Some(deadline) = deadline else {
                return;
            };
            match timeouts::remaining(deadline, inputs.now) {
                Some(left) => plan.requeue_after = timeouts::earliest(plan.requeue_after, left),
                None => {
                    let message = messages::timed_out(&unit.label, inputs.max_step_timeout);
                    let record = FailedAttempt {
                        reason: format!("timed out after {}s", inputs.max_step_timeout),
                        exit_code: None,
                        finished_at: Some(Time(inputs.stamp)),
                        ..failed_attempt(inputs, job)
                    };
                    plan.deletes.push(job.name.clone());
                    fail_or_retry(
                        unit,
                        policy,
                        AttemptFailure::TimedOut,
                        record,
                        inputs.stamp,
                        message,
                        plan,
                    );
                }
            }
        }
    }
}

/// A failed attempt: retried after the backoff when the policy says so, else the unit fails.
fn fail_or_retry(
    unit: &mut Unit,
    policy: Option<&RetryPolicy>,
    failure: AttemptFailure,
    record: FailedAttempt,
    finished: jiff::Timestamp,
    message: String,
    plan: &mut Plan,
) {
    let job_name = unit.job_name.clone().unwrap_or_default();
    let failed_attempts = next_attempt(unit.retries) + 1;
    let timed_out = failure == AttemptFailure::TimedOut;
    match policy.filter(|policy| policy.retries(failure, failed_attempts)) {
        Some(policy) => {
            let delay = policy.delay_seconds(failed_attempts);
            let at = jiff::Timestamp::from_second(finished.as_second().saturating_add(delay))
                .unwrap_or(finished);
            let limit = u32::try_from(policy.limit).unwrap_or(0);
            let retrying = messages::retrying(&message, failed_attempts + 1, limit + 1, at);
            unit.retries.push(record);
            *unit.exit_code = None;
            *unit.message = Some(retrying.clone());
            *unit.next_retry_at = Some(Time(at));
            // The start pass wakes the controller at `at` (unless the workflow fails first).
            plan.events
                .push(messages::step_retrying(&job_name, &retrying));
        }
        None => {
            let attempts = failed_attempts;
            let message = messages::after_attempts(message, attempts);
            fail(unit, finished, message.clone(), record.exit_code);
            plan.events.push(if timed_out {
                messages::step_timed_out(&job_name, &message)
            } else {
                messages::step_failed(&job_name, &message)
            });
        }
    }
}

pub(super) fn fail(unit: &mut Unit, finished: jiff::Timestamp, message: String, exit: Option<i32>) {
    *unit.phase = StepPhase::Failed;
    *unit.finished_at = Some(Time(finished));
    *unit.message = Some(message);
    *unit.exit_code = exit;
    *unit.next_retry_at = None;
}
