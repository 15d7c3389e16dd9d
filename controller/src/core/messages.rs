//! The words a person reads: step and workflow messages, and the Events recorded on the
//! Workflow. Each says what happened and, where there is something to do, what.

use kwf_api::ValidationErrors;

use super::effect::{OwnedRef, WorkflowEvent};
use super::observed::ContainerExit;

/// The Job controller's reason once a Job's pods failed more often than backoffLimit allows:
/// always so for our Jobs (backoffLimit 0), so it tells nothing.
const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
/// The Job controller's reason when the Job ran past its activeDeadlineSeconds.
const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";

/// Kubernetes caps an Event's note at 1 KiB.
const MAX_NOTE_BYTES: usize = 1024;

/// A step whose `jobTemplateRef` names no JobTemplate.
pub(super) fn missing_template(step: &str, template: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.unwrap_or("default");
    format!(
        "step \"{step}\": jobTemplateRef names JobTemplate \"{template}\", which does not exist in namespace {namespace}: create it (kubectl get jobtemplates -n {namespace}) and rerun with kubectl workflow restart --failed"
    )
}

pub(super) fn timed_out(step: &str, seconds: i64) -> String {
    format!("step \"{step}\" timed out after {seconds}s (maxStepTimeout)")
}

/// A failed Job: how its container ended (exit code, and the kubelet's reason when it tells
/// more, e.g. OOMKilled), and the Job; the Job controller's reason only when it is not the
/// BackoffLimitExceeded every failed Job of ours carries.
pub(super) fn failed(
    step: &str,
    job: &str,
    reason: &str,
    detail: &str,
    exit: Option<&ContainerExit>,
) -> String {
    let job_reason = match (reason, detail) {
        ("" | BACKOFF_LIMIT_EXCEEDED, _) => String::new(),
        (reason, "") => format!(": {reason}"),
        (reason, detail) => format!(": {reason}: {detail}"),
    };
    if reason == DEADLINE_EXCEEDED {
        return format!("step \"{step}\" timed out (Job {job}{job_reason})");
    }
    match exit {
        Some(exit) => match exit.telling_reason() {
            Some("OOMKilled") => format!(
                "step \"{step}\" was OOMKilled (exit code {}, Job {job}{job_reason})",
                exit.code
            ),
            Some(why) => format!(
                "step \"{step}\" failed: {why} (exit code {}, Job {job}{job_reason})",
                exit.code
            ),
            None => format!(
                "step \"{step}\" failed with exit code {} (Job {job}{job_reason})",
                exit.code
            ),
        },
        None => format!("step \"{step}\" failed (Job {job}{job_reason})"),
    }
}

pub(super) fn deleted(step: &str, job: &str, workflow: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|namespace| format!(" -n {namespace}"))
        .unwrap_or_default();
    format!(
        "step \"{step}\": Job {job} was deleted before it finished; rerun with \
         `kubectl workflow restart {workflow} --failed{namespace}`"
    )
}

pub(super) fn skipped_after(failed_step: &str) -> String {
    format!("skipped because step \"{failed_step}\" failed")
}

pub(super) fn skipped_workflow_failed() -> String {
    "skipped because the workflow failed before this step could start".to_owned()
}

pub(super) fn invalid(errors: &ValidationErrors) -> String {
    format!("invalid workflow: {errors}")
}

pub(super) fn completed(steps: usize) -> String {
    match steps {
        1 => "the step succeeded".to_owned(),
        n => format!("all {n} steps succeeded"),
    }
}

pub(super) fn step_started(step: &str, job: &str) -> WorkflowEvent {
    event(
        "StepStarted",
        format!("step \"{step}\" started: Job {job}"),
        false,
        Some(job),
    )
}

pub(super) fn step_succeeded(step: &str, job: &str) -> WorkflowEvent {
    event(
        "StepSucceeded",
        format!("step \"{step}\" succeeded: Job {job}"),
        false,
        Some(job),
    )
}

pub(super) fn step_failed(job: &str, message: &str) -> WorkflowEvent {
    event("StepFailed", message.to_owned(), true, Some(job))
}

/// A step that failed before it had a Job (its JobTemplate is missing).
pub(super) fn step_not_started(message: &str) -> WorkflowEvent {
    event("StepFailed", message.to_owned(), true, None)
}

pub(super) fn step_timed_out(job: &str, message: &str) -> WorkflowEvent {
    event("StepTimedOut", message.to_owned(), true, Some(job))
}

pub(super) fn workflow_completed(message: &str) -> WorkflowEvent {
    event("WorkflowCompleted", message.to_owned(), false, None)
}

pub(super) fn workflow_failed(message: &str) -> WorkflowEvent {
    event("WorkflowFailed", message.to_owned(), true, None)
}

pub(super) fn workflow_restarted(run: u32, only_failed: bool) -> WorkflowEvent {
    let what = if only_failed {
        "rerunning failed and skipped steps"
    } else {
        "rerunning every step"
    };
    event(
        "WorkflowRestarted",
        format!("restart requested: {what} (run {run})"),
        false,
        None,
    )
}

/// Most bytes of a `kwf.dev/stop` value quoted in a message: it is user text.
const MAX_REQUEST_BYTES: usize = 256;

fn request(value: &str) -> String {
    truncate(value.trim().to_owned(), MAX_REQUEST_BYTES)
}

fn restart_hint(workflow: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|namespace| format!(" -n {namespace}"))
        .unwrap_or_default();
    format!("`kubectl workflow restart {workflow}{namespace}`")
}

pub(super) fn step_stopped_running(step: &str, job: &str, value: &str) -> String {
    format!(
        "step \"{step}\" stopped: Job {job} deleted by the stop request ({}={})",
        kwf_api::ANNOTATION_STOP,
        request(value)
    )
}

pub(super) fn step_stopped_pending(value: &str) -> String {
    format!(
        "not started: the workflow was stopped ({}={})",
        kwf_api::ANNOTATION_STOP,
        request(value)
    )
}

pub(super) fn workflow_stopped_message(
    workflow: &str,
    namespace: Option<&str>,
    value: &str,
) -> String {
    format!(
        "stopped by request ({}={}); rerun with {}",
        kwf_api::ANNOTATION_STOP,
        request(value),
        restart_hint(workflow, namespace)
    )
}

pub(super) fn suspended(workflow: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|namespace| format!(" -n {namespace}"))
        .unwrap_or_default();
    format!(
        "suspended ({}={}): no new step starts until `kubectl workflow resume {workflow}{namespace}`",
        kwf_api::ANNOTATION_SUSPEND,
        kwf_api::SUSPEND_TRUE
    )
}

pub(super) fn step_stopped(job: &str, step: &str) -> WorkflowEvent {
    event(
        "StepStopped",
        format!("step \"{step}\" stopped: Job {job} deleted"),
        true,
        Some(job),
    )
}

pub(super) fn workflow_stopped(workflow: &str, steps: usize, value: &str) -> WorkflowEvent {
    let what = match steps {
        1 => "1 step".to_owned(),
        n => format!("{n} steps"),
    };
    event(
        "WorkflowStopped",
        format!(
            "workflow \"{workflow}\" stopped ({}={}): {what} stopped",
            kwf_api::ANNOTATION_STOP,
            request(value)
        ),
        true,
        None,
    )
}

pub(super) fn workflow_suspended() -> WorkflowEvent {
    event(
        "WorkflowSuspended",
        "suspended: no new step starts; running steps finish".to_owned(),
        false,
        None,
    )
}

pub(super) fn workflow_resumed() -> WorkflowEvent {
    event(
        "WorkflowResumed",
        "resumed: steps whose dependencies succeeded start".to_owned(),
        false,
        None,
    )
}

/// A failed attempt that runs again: the failure, then which attempt comes when.
pub(super) fn retrying(failure: &str, next: u32, attempts: u32, at: jiff::Timestamp) -> String {
    format!("{failure}; attempt {next} of {attempts} starts at {at}")
}

/// A step's final failure, saying how many attempts it had when there were several.
pub(super) fn after_attempts(failure: String, attempts: u32) -> String {
    if attempts > 1 {
        format!("{failure} (after {attempts} attempts)")
    } else {
        failure
    }
}

pub(super) fn step_retrying(job: &str, message: &str) -> WorkflowEvent {
    event("StepRetrying", message.to_owned(), true, Some(job))
}

/// A unit waiting to retry when the workflow failed: the retry is given up.
pub(super) fn retry_abandoned(failure: &str) -> String {
    format!("{failure}; not retried: the workflow failed")
}

/// A fanned-out step the workflow's failure cut short.
pub(super) fn instances_cut_short(succeeded: u32, total: u32) -> String {
    format!(
        "{succeeded} of {total} instances succeeded; the others did not run because the workflow failed"
    )
}

/// A fan-out over nodes with no node to run on.
pub(super) fn no_eligible_node(
    step: &str,
    nodes: usize,
    fan_out: &kwf_api::fan_out::NodeFanOut,
) -> String {
    let selector: Vec<String> = fan_out
        .selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let selector = if selector.is_empty() {
        "none".to_owned()
    } else {
        selector.join(",")
    };
    let excluded = if fan_out.exclude.is_empty() {
        "none".to_owned()
    } else {
        fan_out.exclude.join(",")
    };
    format!(
        "step \"{step}\": withNodes matches none of the {nodes} nodes (selector {selector}, excluded {excluded}; cordoned nodes, the pod's nodeSelector and untolerated taints also rule nodes out): check kubectl get nodes --show-labels, then rerun with kubectl workflow restart --failed"
    )
}

pub(super) fn fan_out_succeeded(step: &str, total: u32) -> WorkflowEvent {
    event(
        "StepSucceeded",
        format!("step \"{step}\" succeeded: all {total} instances"),
        false,
        None,
    )
}

pub(super) fn fan_out_started(step: &str, total: u32) -> WorkflowEvent {
    event(
        "StepStarted",
        format!("step \"{step}\" started: {total} instances"),
        false,
        None,
    )
}

fn event(reason: &str, note: String, warning: bool, job: Option<&str>) -> WorkflowEvent {
    WorkflowEvent {
        reason: reason.to_owned(),
        note: truncate(note, MAX_NOTE_BYTES),
        warning,
        related: job.map(OwnedRef::job),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with "…".
pub(super) fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let ellipsis = "…";
    let mut end = max - ellipsis.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(ellipsis);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(truncate("short".to_owned(), 10), "short");
        let cut = truncate("ééééé".to_owned(), 8); // 2 bytes each; "…" takes 3
        assert_eq!(cut, "éé…");
        assert!(cut.len() <= 8);
    }

    #[test]
    fn event_notes_fit_in_a_kubernetes_event() {
        let note = step_failed("j", &"x".repeat(5000)).note;
        assert_eq!(note.len(), MAX_NOTE_BYTES);
        assert!(note.ends_with('…'));
    }

    fn exit(code: i32, reason: &str) -> ContainerExit {
        ContainerExit {
            code,
            reason: Some(reason.to_owned()),
        }
    }

    #[test]
    fn failure_messages_say_step_exit_code_reason_and_job() {
        let limit = "BackoffLimitExceeded";
        let noise = "Job has reached the specified backoff limit";
        assert_eq!(
            failed("b", "wf-b-1", limit, noise, Some(&exit(3, "Error"))),
            "step \"b\" failed with exit code 3 (Job wf-b-1)"
        );
        assert_eq!(
            failed("b", "wf-b-1", limit, noise, Some(&exit(137, "OOMKilled"))),
            "step \"b\" was OOMKilled (exit code 137, Job wf-b-1)"
        );
        assert_eq!(
            failed(
                "b",
                "wf-b-1",
                limit,
                noise,
                Some(&exit(128, "ContainerCannotRun"))
            ),
            "step \"b\" failed: ContainerCannotRun (exit code 128, Job wf-b-1)"
        );
        assert_eq!(
            failed("b", "wf-b-1", limit, noise, None),
            "step \"b\" failed (Job wf-b-1)"
        );
        assert_eq!(failed("s", "j", "", "", None), "step \"s\" failed (Job j)");
    }

    #[test]
    fn other_job_reasons_are_kept_and_a_deadline_is_a_timeout() {
        assert_eq!(
            failed("s", "j", "PodFailurePolicy", "", Some(&exit(2, "Error"))),
            "step \"s\" failed with exit code 2 (Job j: PodFailurePolicy)"
        );
        assert_eq!(
            failed(
                "s",
                "j",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
                None
            ),
            "step \"s\" timed out (Job j: DeadlineExceeded: Job was active longer than specified deadline)"
        );
    }
}
