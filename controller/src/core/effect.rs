//! The vocabulary of the pure core: what the shell observed of a Job, and what decide() asks
//! the shell to do.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kwf_api::WorkflowStatus;

/// What the controller knows of one Job (built by the shell from its reflector cache, usually
/// with [`crate::jobs::observe`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedJob {
    pub name: String,
    pub uid: String,
    /// The `kwf.dev/step` label: the step the Job runs.
    pub step: String,
    /// The `kwf.dev/generation` label: the Workflow generation the Job was created for.
    pub generation: i64,
    /// The `kwf.dev/run` label: the restart counter the Job was created for.
    pub run: u32,
    /// `metadata.creationTimestamp`; None for a Job the shell created but has not seen back yet.
    pub created: Option<jiff::Timestamp>,
    pub state: JobState,
    /// Current labels of the Job.
    pub labels: BTreeMap<String, String>,
    /// Keys of the labels that were copied from the Workflow (the `kwf.dev/inherited-labels`
    /// annotation), so a relabel removes exactly those and leaves others' labels alone.
    pub inherited_labels: BTreeSet<String>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// Exit code of the Job's failed container, filled by the shell from the Job's pod; only
    /// for Failed Jobs, None when no pod shows one.
    pub exit_code: Option<i32>,
}

/// How far a Job got, from its conditions.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum JobState {
    /// Not finished (including not yet started).
    #[default]
    Active,
    /// Complete (or SuccessCriteriaMet).
    Succeeded { finished: Option<jiff::Timestamp> },
    /// Failed (or FailureTarget), with the condition's reason and message, e.g.
    /// `BackoffLimitExceeded` or `DeadlineExceeded`.
    Failed {
        finished: Option<jiff::Timestamp>,
        reason: String,
        message: String,
    },
}

impl JobState {
    pub fn is_finished(&self) -> bool {
        !matches!(self, JobState::Active)
    }
}

/// One thing for the shell to do. The shell applies a Decision's actions in order and stops at
/// the first error (then retries the whole reconcile): Jobs are created before the status that
/// records them is written, so a failed create is never taken for a Job deleted by hand.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the Job; AlreadyExists counts as success (the name is deterministic).
    CreateJob(Box<Job>),
    /// Delete the Job with propagation Background; NotFound counts as success.
    DeleteJob { name: String },
    /// Merge-patch the Job's labels (None removes a label) and set its
    /// `kwf.dev/inherited-labels` annotation to `inherited`.
    PatchJobLabels {
        name: String,
        labels: BTreeMap<String, Option<String>>,
        inherited: String,
    },
    /// Write this status through the status subresource (only emitted when it changed).
    PatchStatus(Box<WorkflowStatus>),
    /// Record a Kubernetes Event on the Workflow. Reasons: StepStarted, StepSucceeded,
    /// StepFailed, StepTimedOut, WorkflowCompleted, WorkflowFailed, WorkflowRestarted.
    Event {
        reason: String,
        note: String,
        warning: bool,
        /// The Job a step event concerns: recorded as the event's related object, which also
        /// keeps events of different steps from being merged into one series.
        job: Option<String>,
    },
}

/// Everything decide() wants done for one Workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// Reconcile again after this long even if nothing changes: the earliest step deadline.
    pub requeue_after: Option<Duration>,
}
