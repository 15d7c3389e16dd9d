//! What the core knows of a Job: [`ObservedJob`], read from a Job object with
//! [`ObservedJob::from_job`] (the shell adds what the Job object does not carry: how its
//! failed container exited).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobTemplateSpec};
use kwf_api::LABEL_STEP;

pub use super::claims::ObservedClaim;
pub use super::nodes::ObservedNode;

use kwf_api::job::{
    ANNOTATION_INHERITED_LABELS, LABEL_ATTEMPT, LABEL_GENERATION, LABEL_INSTANCE, LABEL_RUN,
};

/// What the controller knows of one Job.
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
    /// The `kwf.dev/instance` label: the instance of a fanned-out step the Job runs.
    pub instance: Option<u32>,
    /// The `kwf.dev/attempt` label: 0 for a first attempt (no label), 1 for the first retry, ...
    pub attempt: u32,
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
    /// How the Job's failed container exited, filled by the shell from the Job's pods; only
    /// for Failed Jobs, None when no pod shows a terminated container.
    pub exit: Option<ContainerExit>,
    /// The node its pod was placed on, filled by the shell from the Job's pods only where the
    /// core needs it: a step that mounts a single-node claim, while its status has no node.
    pub node: Option<String>,
}

/// Everything decide() looks at besides the Workflow, as the shell observed it.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The Jobs the Workflow controls (and those the shell created but has not seen back).
    pub jobs: &'a [ObservedJob],
    /// The claims the Workflow controls.
    pub claims: &'a [ObservedClaim],
    /// The JobTemplates its steps refer to that exist, by name.
    pub job_templates: &'a BTreeMap<String, JobTemplateSpec>,
    /// The cluster's nodes, where a step fanned out over nodes is about to start (the shell
    /// lists them only then; see `needs_nodes`); empty otherwise.
    pub nodes: &'a [ObservedNode],
}

/// How a container ended: its exit code and the kubelet's reason (`Error`, `Completed`,
/// `OOMKilled`, `ContainerCannotRun`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerExit {
    pub code: i32,
    pub reason: Option<String>,
}

impl ContainerExit {
    /// The reason when it says more than the exit code does: not the plain `Error` (non-zero)
    /// or `Completed` (zero).
    pub fn telling_reason(&self) -> Option<&str> {
        self.reason
            .as_deref()
            .filter(|reason| !matches!(*reason, "" | "Error" | "Completed"))
    }
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

impl ObservedJob {
    /// What decide() needs of a Job. None for a Job without the controller's `kwf.dev/step` and
    /// `kwf.dev/generation` labels (not one of ours). `exit` is left for the shell to fill.
    pub fn from_job(job: &Job) -> Option<ObservedJob> {
        let meta = &job.metadata;
        let labels = meta.labels.clone().unwrap_or_default();
        let step = labels.get(LABEL_STEP)?.clone();
        let generation = labels.get(LABEL_GENERATION)?.parse().ok()?;
        let run = match labels.get(LABEL_RUN) {
            Some(run) => run.parse().ok()?,
            None => 0,
        };
        let instance = match labels.get(LABEL_INSTANCE) {
            Some(instance) => Some(instance.parse().ok()?),
            None => None,
        };
        let attempt = match labels.get(LABEL_ATTEMPT) {
            Some(attempt) => attempt.parse().ok()?,
            None => 0,
        };
        let inherited_labels = meta
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(ANNOTATION_INHERITED_LABELS))
            .map(|keys| {
                keys.split(',')
                    .filter(|key| !key.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Some(ObservedJob {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            step,
            generation,
            run,
            instance,
            attempt,
            created: meta.creation_timestamp.as_ref().map(|time| time.0),
            state: job_state(job),
            labels,
            inherited_labels,
            deleting: meta.deletion_timestamp.is_some(),
            exit: None,
            node: None,
        })
    }
}

/// The Job's state from its conditions. The final conditions (Complete, Failed) come only once
/// every pod has terminated; their forerunners (SuccessCriteriaMet, FailureTarget) already
/// settle the outcome, so they count too: dependents start sooner.
fn job_state(job: &Job) -> JobState {
    let status = job.status.as_ref();
    let conditions: &[JobCondition] = status
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|condition| condition.type_ == kind && condition.status == "True")
    };
    let finished_at =
        |condition: &JobCondition| condition.last_transition_time.as_ref().map(|time| time.0);

    if let Some(complete) = holds("Complete").or_else(|| holds("SuccessCriteriaMet")) {
        let finished = status
            .and_then(|status| status.completion_time.as_ref())
            .map(|time| time.0)
            .or_else(|| finished_at(complete));
        return JobState::Succeeded { finished };
    }
    if let Some(failed) = holds("Failed").or_else(|| holds("FailureTarget")) {
        return JobState::Failed {
            finished: finished_at(failed),
            reason: failed.reason.clone().unwrap_or_default(),
            message: failed.message.clone().unwrap_or_default(),
        };
    }
    JobState::Active
}

/// Whether the shell should look up how `job`'s container exited: it failed and the status
/// does not record that exit code yet (for the step, a retried attempt, or an instance).
pub fn needs_exit_code(status: &kwf_api::WorkflowStatus, job: &ObservedJob) -> bool {
    let Some(step) = status.step(&job.step) else {
        return true;
    };
    let retried = |retries: &[kwf_api::retries::FailedAttempt]| {
        retries.iter().any(|attempt| attempt.job_name == job.name)
    };
    if retried(&step.retries) {
        return false;
    }
    match &step.instances {
        None => step.exit_code.is_none(),
        Some(instances) => instances
            .active
            .iter()
            .find(|i| i.job_name.as_deref() == Some(job.name.as_str()) || retried(&i.retries))
            .is_none_or(|i| i.exit_code.is_none() && !retried(&i.retries)),
    }
}
