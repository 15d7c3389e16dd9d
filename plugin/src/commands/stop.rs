//! `stop NAME`: ask the controller to stop the current run by setting `kwf.dev/stop` to when
//! and by what. It deletes the running Jobs (their pods get their grace period), records the
//! running and pending steps Stopped and fails the workflow; `restart` runs it again.

use kwf_api::{ANNOTATION_STOP, StepPhase, Workflow, WorkflowPhase};

use crate::cli::StopArgs;
use crate::session::Session;

use super::annotate::{annotation_patch, done_line, send};

pub async fn execute(args: &StopArgs, session: &Session) -> anyhow::Result<()> {
    let name = &args.workflow.name;
    let dry_run = args.dry_run.dry_run;
    let wf = session.get_workflow(session.namespace(), name).await?;
    if let Some(why) = nothing_to_stop(&wf) {
        return session.terminal.print(&format!(
            "{} not stopped: {why}\n",
            crate::render::object_ref(name)
        ));
    }
    let value = stop_value(jiff::Timestamp::now());
    send(
        session,
        name,
        &annotation_patch(ANNOTATION_STOP, Some(&value)),
        dry_run,
    )
    .await?;
    session.terminal.print(&done_line(name, "stopped", dry_run))
}

/// The annotation's value: when, and by what.
fn stop_value(now: jiff::Timestamp) -> String {
    format!(
        "{} by kubectl workflow stop",
        jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
    )
}

/// Why there is nothing to stop: the run ended and no step still runs.
fn nothing_to_stop(wf: &Workflow) -> Option<String> {
    let status = wf.status.as_ref()?;
    let phase = status.phase?;
    let ended = matches!(phase, WorkflowPhase::Completed | WorkflowPhase::Failed);
    let running = status.steps.iter().any(|s| s.phase == StepPhase::Running);
    let current = status.observed_generation == wf.metadata.generation;
    (ended && !running && current).then(|| format!("its run already ended ({phase:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::{WorkflowFixture, step_status, workflow};

    #[test]
    fn the_value_says_when_and_by_what() {
        let now: jiff::Timestamp = "2026-12-03T10:00:00.5Z".parse().unwrap();
        assert_eq!(
            stop_value(now),
            "2026-12-03T10:00:00Z by kubectl workflow stop"
        );
    }

    #[test]
    fn only_a_run_that_ended_with_nothing_running_has_nothing_to_stop() {
        let wf = workflow("wf", &[("a", &[]), ("b", &["a"])]);
        assert_eq!(nothing_to_stop(&wf), None, "not seen by the controller yet");
        let running = wf.clone().with_status(
            WorkflowPhase::Started,
            None,
            vec![step_status(&wf, "a", StepPhase::Running)],
        );
        assert_eq!(nothing_to_stop(&running), None);
        let done = wf.clone().with_status(
            WorkflowPhase::Completed,
            None,
            vec![
                step_status(&wf, "a", StepPhase::Succeeded),
                step_status(&wf, "b", StepPhase::Succeeded),
            ],
        );
        assert_eq!(
            nothing_to_stop(&done).as_deref(),
            Some("its run already ended (Completed)")
        );
        let failing = wf.clone().with_status(
            WorkflowPhase::Failed,
            None,
            vec![
                step_status(&wf, "a", StepPhase::Failed),
                step_status(&wf, "b", StepPhase::Running),
            ],
        );
        assert_eq!(nothing_to_stop(&failing), None, "b still runs");
    }
}
