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
    /// Whether the Job runs exactly one pod at a time towards one completion, and when the Job
    /// controller's `activeDeadlineSeconds` ends it: what [`ObservedJob::settle_from_pod`] needs.
    pub shape: JobShape,
    /// The Job's pod as the pod watch last showed it, filled by the shell; None when no pod
    /// was seen.
    pub pod: Option<ObservedPod>,
}

/// What of a Job's spec and status decides whether its pod's success may stand for the Job's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobShape {
    /// `completions` and `parallelism` are 1 (or unset), the Job is not suspended and no pod of
    /// it failed: the Job succeeds exactly when its one pod does (unless the deadline strikes
    /// first). False for Jobs from a jobTemplate with more pods.
    pub single_pod: bool,
    /// `status.startTime + activeDeadlineSeconds`.
    pub deadline: Deadline,
}

/// When the Job controller fails a Job for its `activeDeadlineSeconds`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Deadline {
    /// No `activeDeadlineSeconds`.
    #[default]
    None,
    /// `status.startTime + activeDeadlineSeconds`.
    At(jiff::Timestamp),
    /// `activeDeadlineSeconds` is set but the Job shows no start time yet.
    Unknown,
}

/// What the pod watch showed of a Job's pod (the shell keeps only this of a pod).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedPod {
    /// The phase is `Succeeded`: every container exited 0 (what the Job controller counts).
    pub succeeded: bool,
    /// When its last container finished, as the kubelet reported it (whole seconds).
    pub finished: Option<jiff::Timestamp>,
    /// `metadata.deletionTimestamp` is set: the Job controller may count it failed.
    pub deleting: bool,
    /// The watch showed more than one pod of the Job (a replacement): only the Job knows.
    pub several: bool,
    /// How its failed container exited, if one did (the first non-zero exit).
    pub exit: Option<ContainerExit>,
    /// The node it was placed on.
    pub node: Option<String>,
}

/// How long before the Job's `activeDeadlineSeconds` a pod's success stops standing for the
/// Job's. The Job controller settles a Job's outcome at its first sync after the pod finished
/// (about a second later: it batches pod updates) and checks the deadline *before* it counts
/// completions, so a pod that succeeded just before the deadline can still leave the Job
/// `Failed` (`DeadlineExceeded`). Within this margin the core waits for the Job's condition.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

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
            shape: job_shape(job),
            pod: None,
        })
    }

    /// Takes the Job's one pod's success for the Job's, so that dependents start when the
    /// kubelet reports the container's exit instead of a second later when the Job controller
    /// marks the Job Complete. Only when all of these hold, else the Job's conditions stay the
    /// only truth:
    /// - the Job is still Active by its conditions (a finished Job is never overridden);
    /// - it runs a single pod ([`JobShape::single_pod`]) and the watch saw only that one pod,
    ///   not being deleted, in phase `Succeeded` (failures always come from the Job);
    /// - the Job controller's deadline is at least [`DEADLINE_MARGIN`] after `now` (or there is
    ///   none): the Job controller's sync after the pod finished, which marks it succeeded,
    ///   comes long before it could fail the Job for its deadline.
    ///
    /// Returns whether the state changed.
    pub fn settle_from_pod(&mut self, now: jiff::Timestamp) -> bool {
        let Some(pod) = &self.pod else {
            return false;
        };
        if self.state != JobState::Active
            || self.deleting
            || !self.shape.single_pod
            || !pod.succeeded
            || pod.deleting
            || pod.several
        {
            return false;
        }
        let clear_of_deadline = match self.shape.deadline {
            Deadline::None => true,
            Deadline::Unknown => false,
            Deadline::At(deadline) => {
                let margin = jiff::SignedDuration::try_from(DEADLINE_MARGIN).unwrap_or_default();
                now.checked_add(margin)
                    .is_ok_and(|latest| latest <= deadline)
            }
        };
        if !clear_of_deadline {
            return false;
        }
        self.state = JobState::Succeeded {
            finished: pod.finished,
        };
        true
    }
}

/// Settles every Job of `jobs` from its pod where [`ObservedJob::settle_from_pod`] allows;
/// returns how many it settled.
pub fn settle_from_pods(jobs: &mut [ObservedJob], now: jiff::Timestamp) -> usize {
    jobs.iter_mut()
        .filter_map(|job| job.settle_from_pod(now).then_some(()))
        .count()
}

fn job_shape(job: &Job) -> JobShape {
    let spec = job.spec.as_ref();
    let status = job.status.as_ref();
    let one = |value: Option<i32>| value.is_none_or(|n| n == 1);
    let single_pod = spec.is_some_and(|spec| {
        one(spec.completions)
            && one(spec.parallelism)
            && spec.suspend != Some(true)
            && spec.completion_mode.as_deref() != Some("Indexed")
    }) && status.and_then(|status| status.failed).unwrap_or(0) == 0;
    let deadline = match spec.and_then(|spec| spec.active_deadline_seconds) {
        None => Deadline::None,
        Some(seconds) => status
            .and_then(|status| status.start_time.as_ref())
            .and_then(|start| {
                start
                    .0
                    .checked_add(jiff::SignedDuration::from_secs(seconds))
                    .ok()
            })
            .map_or(Deadline::Unknown, Deadline::At),
    };
    JobShape {
        single_pod,
        deadline,
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use proptest::prelude::*;

    use super::*;

    const START: i64 = 1_800_000_000;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(START + second).unwrap()
    }

    fn job(spec: JobSpec, status: JobStatus) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("wf-a".into()),
                labels: Some(
                    [("kwf.dev/step", "a"), ("kwf.dev/generation", "1")]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(spec),
            status: Some(status),
        }
    }

    /// A Job as build_job makes it (one pod), started at START with a 60 s deadline.
    fn single_pod_job() -> Job {
        job(
            JobSpec {
                active_deadline_seconds: Some(60),
                ..Default::default()
            },
            JobStatus {
                start_time: Some(Time(at(0))),
                ..Default::default()
            },
        )
    }

    fn succeeded_pod() -> ObservedPod {
        ObservedPod {
            succeeded: true,
            finished: Some(at(3)),
            ..Default::default()
        }
    }

    fn observed(job: &Job, pod: Option<ObservedPod>) -> ObservedJob {
        let mut observed = ObservedJob::from_job(job).unwrap();
        observed.pod = pod;
        observed
    }

    #[test]
    fn the_shape_is_read_from_the_spec_and_status() {
        let shape = ObservedJob::from_job(&single_pod_job()).unwrap().shape;
        assert_eq!(
            shape,
            JobShape {
                single_pod: true,
                deadline: Deadline::At(at(60)),
            }
        );
        let unstarted = job(
            JobSpec {
                active_deadline_seconds: Some(60),
                ..Default::default()
            },
            JobStatus::default(),
        );
        assert_eq!(
            ObservedJob::from_job(&unstarted).unwrap().shape.deadline,
            Deadline::Unknown
        );
        let no_deadline = job(JobSpec::default(), JobStatus::default());
        assert_eq!(
            ObservedJob::from_job(&no_deadline).unwrap().shape.deadline,
            Deadline::None
        );
        for spec in [
            JobSpec {
                completions: Some(3),
                ..Default::default()
            },
            JobSpec {
                parallelism: Some(2),
                ..Default::default()
            },
            JobSpec {
                suspend: Some(true),
                ..Default::default()
            },
            JobSpec {
                completion_mode: Some("Indexed".into()),
                ..Default::default()
            },
        ] {
            let many = job(spec.clone(), JobStatus::default());
            assert!(
                !ObservedJob::from_job(&many).unwrap().shape.single_pod,
                "{spec:?}"
            );
        }
        let failed_once = job(
            JobSpec::default(),
            JobStatus {
                failed: Some(1),
                ..Default::default()
            },
        );
        assert!(
            !ObservedJob::from_job(&failed_once)
                .unwrap()
                .shape
                .single_pod
        );
    }

    #[test]
    fn a_single_pods_success_well_before_the_deadline_is_the_jobs() {
        let mut job = observed(&single_pod_job(), Some(succeeded_pod()));
        assert!(job.settle_from_pod(at(5)));
        assert_eq!(
            job.state,
            JobState::Succeeded {
                finished: Some(at(3))
            },
            "finished when the kubelet says the container did"
        );
    }

    #[test]
    fn within_the_margin_of_the_deadline_only_the_job_decides() {
        let margin = i64::try_from(DEADLINE_MARGIN.as_secs()).unwrap();
        let mut job = observed(&single_pod_job(), Some(succeeded_pod()));
        assert!(
            !job.settle_from_pod(at(60 - margin + 1)),
            "the Job controller may still fail it for its deadline"
        );
        assert_eq!(job.state, JobState::Active);
        assert!(job.settle_from_pod(at(60 - margin)), "exactly the margin");
    }

    #[test]
    fn nothing_but_one_clean_succeeded_pod_of_an_active_single_pod_job_counts() {
        let cases: Vec<(&str, ObservedJob)> = vec![
            ("no pod seen", observed(&single_pod_job(), None)),
            (
                "pod running",
                observed(
                    &single_pod_job(),
                    Some(ObservedPod {
                        succeeded: false,
                        ..succeeded_pod()
                    }),
                ),
            ),
            (
                "pod being deleted",
                observed(
                    &single_pod_job(),
                    Some(ObservedPod {
                        deleting: true,
                        ..succeeded_pod()
                    }),
                ),
            ),
            (
                "a replacement pod",
                observed(
                    &single_pod_job(),
                    Some(ObservedPod {
                        several: true,
                        ..succeeded_pod()
                    }),
                ),
            ),
            ("more pods", {
                let mut many = single_pod_job();
                many.spec.as_mut().unwrap().completions = Some(2);
                observed(&many, Some(succeeded_pod()))
            }),
            ("no start time yet", {
                let mut unstarted = single_pod_job();
                unstarted.status.as_mut().unwrap().start_time = None;
                observed(&unstarted, Some(succeeded_pod()))
            }),
            ("Job being deleted", {
                let mut job = observed(&single_pod_job(), Some(succeeded_pod()));
                job.deleting = true;
                job
            }),
        ];
        for (case, mut job) in cases {
            let before = job.state.clone();
            assert!(!job.settle_from_pod(at(5)), "{case}");
            assert_eq!(job.state, before, "{case}");
        }
    }

    #[test]
    fn a_finished_job_is_never_overridden_by_its_pod() {
        let mut failed = single_pod_job();
        failed.status.as_mut().unwrap().conditions = Some(vec![JobCondition {
            type_: "Failed".into(),
            status: "True".into(),
            reason: Some("DeadlineExceeded".into()),
            ..Default::default()
        }]);
        let mut job = observed(&failed, Some(succeeded_pod()));
        assert!(!job.settle_from_pod(at(5)));
        assert!(matches!(job.state, JobState::Failed { .. }));
    }

    #[test]
    fn settle_from_pods_counts_what_it_settled() {
        let mut jobs = vec![
            observed(&single_pod_job(), Some(succeeded_pod())),
            observed(&single_pod_job(), None),
        ];
        assert_eq!(settle_from_pods(&mut jobs, at(5)), 1);
        assert_eq!(settle_from_pods(&mut jobs, at(5)), 0, "already settled");
    }

    proptest! {
        /// Whatever the pod, the Job and the time: the pod never makes a Job fail, never
        /// changes a finished Job, and a success it gives always leaves the Job's deadline at
        /// least the margin away.
        #[test]
        fn the_pod_only_ever_turns_an_active_job_succeeded_clear_of_its_deadline(
            succeeded in any::<bool>(),
            deleting in any::<bool>(),
            several in any::<bool>(),
            completions in prop::option::of(0i32..3),
            deadline in prop::option::of(1i64..120),
            started in any::<bool>(),
            finished_job in 0u8..3,
            now in 0i64..200,
        ) {
            let mut raw = single_pod_job();
            let spec = raw.spec.as_mut().unwrap();
            spec.completions = completions;
            spec.active_deadline_seconds = deadline;
            let status = raw.status.as_mut().unwrap();
            if !started {
                status.start_time = None;
            }
            let condition = match finished_job {
                1 => Some("Complete"),
                2 => Some("Failed"),
                _ => None,
            };
            status.conditions = condition.map(|kind| vec![JobCondition {
                type_: kind.into(),
                status: "True".into(),
                ..Default::default()
            }]);
            let pod = ObservedPod { succeeded, deleting, several, ..succeeded_pod() };
            let mut job = observed(&raw, Some(pod));
            let before = job.state.clone();
            let changed = job.settle_from_pod(at(now));
            if !changed {
                prop_assert_eq!(&job.state, &before);
            } else {
                prop_assert_eq!(&before, &JobState::Active);
                prop_assert!(
                    matches!(job.state, JobState::Succeeded { .. }),
                    "only ever succeeded"
                );
                prop_assert!(succeeded && !deleting && !several);
                prop_assert!(completions.is_none_or(|n| n == 1));
                if let Some(seconds) = deadline {
                    prop_assert!(started);
                    let margin = i64::try_from(DEADLINE_MARGIN.as_secs()).unwrap();
                    prop_assert!(now + margin <= seconds, "clear of the deadline");
                }
            }
        }
    }
}
