//! A Workflow as every renderer reads it, computed once: the status of each step by its index
//! in the spec (one hash lookup per status entry, never a search per step), progress and
//! durations.

use std::collections::HashMap;

use jiff::Timestamp;
use kwf_api::{
    CONDITION_SUSPENDED, StepPhase, StepStatus, Workflow, WorkflowPhase, WorkflowStatus,
};

use super::fan_out::{Attempt, Counts, max_attempts, policy};
use super::text::{Look, NONE, clean, suspended_look, workflow_look};
use super::time;

pub(crate) struct WorkflowView<'a> {
    pub(crate) wf: &'a Workflow,
    pub(crate) status: Option<&'a WorkflowStatus>,
    pub(crate) phase: WorkflowPhase,
    /// `status.steps` entry of each spec step (same index), `None` while it is Pending.
    step_status: Vec<Option<&'a StepStatus>>,
    pub(crate) now: Timestamp,
}

impl<'a> WorkflowView<'a> {
    pub(crate) fn new(wf: &'a Workflow, now: Timestamp) -> WorkflowView<'a> {
        let steps = &wf.spec.containers;
        let mut step_status = vec![None; steps.len()];
        if let Some(status) = wf.status.as_ref().filter(|s| !s.steps.is_empty()) {
            let index: HashMap<&str, usize> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.step_name.as_str(), i))
                .collect();
            for entry in &status.steps {
                // An entry of a step no longer in the spec has nothing to be drawn under.
                if let Some(&i) = index.get(entry.name.as_str()) {
                    step_status[i] = Some(entry);
                }
            }
        }
        WorkflowView {
            wf,
            status: wf.status.as_ref(),
            // No status yet: the controller has not seen it, which is what Created means.
            phase: wf.status.as_ref().and_then(|s| s.phase).unwrap_or_default(),
            step_status,
            now,
        }
    }

    pub(crate) fn name(&self) -> &'a str {
        self.wf.metadata.name.as_deref().unwrap_or_default()
    }

    pub(crate) fn namespace(&self) -> Option<&'a str> {
        self.wf.metadata.namespace.as_deref()
    }

    pub(crate) fn len(&self) -> usize {
        self.step_status.len()
    }

    pub(crate) fn step_name(&self, step: usize) -> &'a str {
        &self.wf.spec.containers[step].step_name
    }

    pub(crate) fn depends_on(&self, step: usize) -> &'a [String] {
        &self.wf.spec.containers[step].depends_on
    }

    pub(crate) fn step_status(&self, step: usize) -> Option<&'a StepStatus> {
        self.step_status[step]
    }

    pub(crate) fn step_phase(&self, step: usize) -> StepPhase {
        self.step_status[step].map(|s| s.phase).unwrap_or_default()
    }

    /// Succeeded steps and all steps.
    pub(crate) fn progress(&self) -> (usize, usize) {
        let succeeded = self
            .step_status
            .iter()
            .filter(|s| s.is_some_and(|s| s.phase == StepPhase::Succeeded))
            .count();
        (succeeded, self.len())
    }

    /// Whether the workflow runs suspended: phase Started and the `Suspended` condition True.
    pub(crate) fn suspended(&self) -> bool {
        self.phase == WorkflowPhase::Started
            && self.status.is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == CONDITION_SUSPENDED && c.status == "True")
            })
    }

    /// How the workflow's state is drawn: its phase, or Suspended while it is.
    pub(crate) fn look(&self) -> Look {
        if self.suspended() {
            suspended_look()
        } else {
            workflow_look(self.phase)
        }
    }

    /// The status message on one line, or `-` when there is none.
    pub(crate) fn message_text(&self) -> String {
        self.status
            .and_then(|s| s.message.as_deref())
            .map(|m| clean(m).into_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| NONE.into())
    }

    /// `3/5`, counted from the steps themselves so it always matches the lines shown.
    pub(crate) fn progress_text(&self) -> String {
        let (done, total) = self.progress();
        format!("{done}/{total}")
    }

    /// Seconds the step ran (until now while it runs); `None` before it started.
    pub(crate) fn step_seconds(&self, step: usize) -> Option<i64> {
        let s = self.step_status[step]?;
        time::elapsed(
            s.started_at.as_ref(),
            s.finished_at.as_ref(),
            s.phase == StepPhase::Running,
            self.now,
        )
    }

    /// Seconds the current run took (until now while it runs); `None` before it started.
    pub(crate) fn seconds(&self) -> Option<i64> {
        let s = self.status?;
        time::elapsed(
            s.started_at.as_ref(),
            s.finished_at.as_ref(),
            self.phase == WorkflowPhase::Started,
            self.now,
        )
    }

    /// The instances of a fanned-out step by phase: from its status once it started, else
    /// all of its items waiting; `None` for a step that does not fan out.
    pub(crate) fn instance_counts(&self, step: usize) -> Option<Counts> {
        if let Some(instances) = self.step_status[step].and_then(|s| s.instances.as_ref()) {
            return Some(Counts::of(instances));
        }
        let items = self.wf.spec.containers[step].with_items.as_ref()?;
        let total = u32::try_from(items.len()).unwrap_or(u32::MAX);
        Some(Counts {
            total,
            waiting: total,
            ..Counts::default()
        })
    }

    /// `attempt 3/4` (and `retry in 8s` while it waits) of a step with retries; `None` for a
    /// fanned-out step, whose instances each have their own attempts.
    pub(crate) fn attempt_note(&self, step: usize) -> Option<String> {
        let s = self.step_status[step].filter(|s| s.instances.is_none())?;
        let attempt = Attempt {
            phase: s.phase,
            retries: &s.retries,
            next_retry_at: s.next_retry_at.as_ref(),
        };
        attempt.note(max_attempts(policy(self.wf, step)), self.now)
    }

    /// Why a step failed or was skipped: its message, else its exit code.
    pub(crate) fn problem(&self, step: usize) -> Option<String> {
        let s = self.step_status[step]?;
        if !matches!(
            s.phase,
            StepPhase::Failed | StepPhase::Skipped | StepPhase::Stopped
        ) {
            return None;
        }
        match (&s.message, s.exit_code) {
            (Some(m), _) if !m.trim().is_empty() => Some(super::text::clean(m).into_owned()),
            (_, Some(code)) => Some(format!("exit code {code}")),
            _ => None,
        }
    }
}
