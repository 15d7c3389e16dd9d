//! Which pods `logs` reads, decided from the Workflow alone (pure): a step, or one instance of
//! a fanned-out step (`--instance N`), at its latest attempt or at `--attempt N`. Each is a
//! [`Unit`]: a name for its log lines (`build`, `build[3]`) and the Jobs whose pods may hold
//! its log, matched by the step, instance and attempt labels the controller puts on them.

use k8s_openapi::api::core::v1::Pod;
use kwf_api::fan_out::InstanceStatus;
use kwf_api::job::{LABEL_ATTEMPT, LABEL_INSTANCE};
use kwf_api::retries::{FailedAttempt, MAX_RETRIES};
use kwf_api::{Dag, LABEL_STEP, StepPhase, StepStatus, Workflow, attempt_job_name};

/// The label the Job controller puts on its pods (and the legacy one before it).
pub(super) const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];
/// Most instance indices an error message lists.
const INDICES_SHOWN: usize = 10;

/// What the command line asked for besides the step: an instance, an attempt (from 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    pub(crate) instance: Option<u32>,
    pub(crate) attempt: Option<u32>,
}

/// One log to read: a step, or one instance of a fanned-out step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// `build`, or `build[3]` for an instance: the prefix of its lines.
    pub(crate) label: String,
    pub(crate) step: String,
    pub(crate) instance: Option<u32>,
    /// The value of the attempt label wanted (0 for the first), or any: the newest pod wins.
    pub(crate) attempt: Option<u32>,
    /// The Jobs whose pods may hold its log; none while it has not started.
    pub(crate) jobs: Vec<String>,
}

impl Unit {
    fn of_step(step: &str, attempt: Option<u32>, jobs: Vec<String>) -> Unit {
        Unit {
            label: step.to_owned(),
            step: step.to_owned(),
            instance: None,
            attempt,
            jobs,
        }
    }
}

/// The units of one named step: the step itself, or the chosen instance of a fan-out.
pub(crate) fn named(wf: &Workflow, step: &str, selection: Selection) -> Result<Unit, String> {
    let name = wf.metadata.name.as_deref().unwrap_or_default();
    let index = wf
        .spec
        .containers
        .iter()
        .position(|s| s.step_name == step)
        .ok_or_else(|| format!("workflow \"{name}\" has no step \"{step}\""))?;
    let status = step_status(wf, step);
    match (fan_out_total(wf, index), selection.instance) {
        (None, None) => step_unit(wf, step, status, selection.attempt),
        (None, Some(_)) => Err(format!(
            "step \"{step}\" of workflow \"{name}\" does not fan out, so it has no instances; \
             drop --instance"
        )),
        (Some(total), None) => Err(format!(
            "step \"{step}\" of workflow \"{name}\" fans out over {total} instances (0 to {}{}); \
             choose one with --instance N",
            total.saturating_sub(1),
            not_succeeded(status)
        )),
        (Some(total), Some(instance)) if instance >= total => Err(format!(
            "step \"{step}\" of workflow \"{name}\" has {total} instances, 0 to {}; \
             there is no instance {instance}",
            total.saturating_sub(1)
        )),
        (Some(_), Some(instance)) => instance_unit(wf, index, instance, selection.attempt),
    }
}

/// Every unit of `steps` (in that order) at its latest attempt: a fanned-out step's started
/// instances one by one; with `failed_only`, only what failed.
pub(crate) fn all(wf: &Workflow, steps: &[String], failed_only: bool) -> Vec<Unit> {
    let mut units = Vec::new();
    for step in steps {
        let Some(index) = wf.spec.containers.iter().position(|s| &s.step_name == step) else {
            continue;
        };
        let status = step_status(wf, step);
        let instances = status.and_then(|s| s.instances.as_ref());
        match instances {
            Some(instances) if failed_only => units.extend(
                instances
                    .active
                    .iter()
                    .filter(|i| i.phase == StepPhase::Failed)
                    .filter_map(|i| instance_unit(wf, index, i.index, None).ok()),
            ),
            Some(instances) => units.extend(
                (0..instances.started).filter_map(|i| instance_unit(wf, index, i, None).ok()),
            ),
            // A plain step, or a fan-out not started: nothing but its name (no Jobs).
            None => units.extend(step_unit(wf, step, status, None).ok()),
        }
    }
    units
}

/// The failed steps of `wf`, in dependency order.
pub(crate) fn failed_steps(wf: &Workflow, dag: &Dag) -> Vec<String> {
    let Some(status) = wf.status.as_ref() else {
        return Vec::new();
    };
    dag.topological_order()
        .iter()
        .map(|&i| dag.name(i))
        .filter(|step| status.step_phase(step) == StepPhase::Failed)
        .map(str::to_owned)
        .collect()
}

fn step_status<'a>(wf: &'a Workflow, step: &str) -> Option<&'a StepStatus> {
    wf.status.as_ref()?.step(step)
}

/// The number of instances of a fanned-out step, `None` for a plain step.
fn fan_out_total(wf: &Workflow, index: usize) -> Option<u32> {
    let step = &wf.spec.containers[index];
    if let Some(instances) = step_status(wf, &step.step_name).and_then(|s| s.instances.as_ref()) {
        return Some(instances.total);
    }
    let items = step.with_items.as_ref()?;
    Some(u32::try_from(items.len()).unwrap_or(u32::MAX))
}

/// `; not succeeded: 3, 45, 46` for the error that asks for an instance.
fn not_succeeded(status: Option<&StepStatus>) -> String {
    let Some(instances) = status.and_then(|s| s.instances.as_ref()) else {
        return String::new();
    };
    if instances.active.is_empty() {
        return String::new();
    }
    let mut shown: Vec<String> = instances
        .active
        .iter()
        .take(INDICES_SHOWN)
        .map(|i| i.index.to_string())
        .collect();
    if instances.active.len() > INDICES_SHOWN {
        shown.push(format!("+{} more", instances.active.len() - INDICES_SHOWN));
    }
    format!("; not succeeded: {}", shown.join(", "))
}

/// The attempts of a step or listed instance, and the Job of each one that started.
struct Attempts<'a> {
    label: &'a str,
    job_name: Option<&'a str>,
    retries: &'a [FailedAttempt],
    waiting: bool,
}

impl Attempts<'_> {
    /// The Job of attempt `attempt` (from 1), or of the latest one that started.
    fn job(&self, wf_name: &str, attempt: Option<u32>) -> Result<Vec<String>, String> {
        let Some(current) = self.job_name else {
            // Not started: no Job; the caller says so (or waits for it with -f).
            return Ok(Vec::new());
        };
        let Some(attempt) = attempt else {
            return Ok(vec![current.to_owned()]);
        };
        // While it waits to retry, its last Job is the failed attempt's, already in `retries`.
        let started = self.retries.len() + usize::from(!self.waiting);
        let wanted = usize::try_from(attempt).unwrap_or(usize::MAX);
        match wanted {
            0 => Err("--attempt counts from 1 (the first attempt)".to_owned()),
            n if n <= self.retries.len() => Ok(vec![self.retries[n - 1].job_name.clone()]),
            n if n <= started => Ok(vec![current.to_owned()]),
            n => {
                let next = if self.waiting && n == started + 1 {
                    format!("; attempt {n} has not started yet (it waits to retry)")
                } else {
                    String::new()
                };
                Err(format!(
                    "{} of workflow \"{wf_name}\" has had {started} attempt{}, so there is no \
                     attempt {n}{next}; choose --attempt 1 to {started}",
                    self.label,
                    if started == 1 { "" } else { "s" },
                ))
            }
        }
    }
}

fn step_unit(
    wf: &Workflow,
    step: &str,
    status: Option<&StepStatus>,
    attempt: Option<u32>,
) -> Result<Unit, String> {
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let label = format!("step \"{step}\"");
    let attempts = Attempts {
        label: &label,
        job_name: status.and_then(|s| s.job_name.as_deref()),
        retries: status.map(|s| s.retries.as_slice()).unwrap_or_default(),
        waiting: status.is_some_and(|s| s.next_retry_at.is_some()),
    };
    let jobs = attempts.job(wf_name, attempt)?;
    Ok(Unit::of_step(
        step,
        attempt.map(|a| a.saturating_sub(1)),
        jobs,
    ))
}

/// Instance `index` (below the total) of the fanned-out step `step`.
fn instance_unit(
    wf: &Workflow,
    step: usize,
    index: u32,
    attempt: Option<u32>,
) -> Result<Unit, String> {
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let spec = &wf.spec.containers[step];
    let name = spec.step_name.as_str();
    let label = format!("{name}[{index}]");
    let unit = |jobs| Unit {
        label: label.clone(),
        step: name.to_owned(),
        instance: Some(index),
        attempt: attempt.map(|a| a.saturating_sub(1)),
        jobs,
    };
    let Some(instances) = step_status(wf, name).and_then(|s| s.instances.as_ref()) else {
        return Ok(unit(Vec::new()));
    };
    if index >= instances.started {
        return Ok(unit(Vec::new()));
    }
    if let Some(listed) = instances.active.iter().find(|i| i.index == index) {
        let what = format!("instance {index} of step \"{name}\"");
        return listed_attempts(listed, &what)
            .job(wf_name, attempt)
            .map(unit);
    }
    // Started and not listed: it succeeded, at an attempt the status no longer keeps. Its
    // Job is one of the names its attempts would have had; the newest pod is the last.
    let policy = spec.retries.as_ref().or(wf.spec.retries.as_ref());
    let max_attempts =
        u32::try_from(policy.map_or(0, |p| p.limit.clamp(0, MAX_RETRIES))).unwrap_or(0) + 1;
    let generation = wf.metadata.generation.unwrap_or(0);
    let job = |a| attempt_job_name(wf_name, name, generation, instances.run, Some(index), a);
    match attempt {
        Some(0) => Err("--attempt counts from 1 (the first attempt)".to_owned()),
        Some(n) if n > max_attempts => Err(format!(
            "instance {index} of step \"{name}\" of workflow \"{wf_name}\" has at most \
             {max_attempts} attempt{}; choose --attempt 1 to {max_attempts}",
            if max_attempts == 1 { "" } else { "s" },
        )),
        Some(n) => Ok(unit(vec![job(n - 1)])),
        None => Ok(unit((0..max_attempts).map(job).collect())),
    }
}

fn listed_attempts<'a>(instance: &'a InstanceStatus, label: &'a str) -> Attempts<'a> {
    Attempts {
        label,
        job_name: instance.job_name.as_deref(),
        retries: &instance.retries,
        waiting: instance.next_retry_at.is_some(),
    }
}

/// The pod holding `unit`'s log: labelled with its step, instance and attempt, of one of its
/// Jobs; the newest, should there be several (a later attempt, or a Job that made two).
pub(crate) fn pod_for<'p>(pods: &'p [Pod], unit: &Unit) -> Option<&'p Pod> {
    let instance = unit.instance.map(|i| i.to_string());
    let attempt = unit.attempt.map(|a| a.to_string());
    pods.iter()
        .filter(|pod| {
            let labels = pod.metadata.labels.as_ref();
            let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
            label(LABEL_STEP) == Some(unit.step.as_str())
                && label(LABEL_INSTANCE) == instance.as_deref()
                // An absent attempt label is the first attempt (Jobs made before retries).
                && attempt
                    .as_deref()
                    .is_none_or(|a| label(LABEL_ATTEMPT).unwrap_or("0") == a)
                && JOB_NAME_LABELS
                    .iter()
                    .any(|key| label(key).is_some_and(|job| unit.jobs.iter().any(|j| j == job)))
        })
        .max_by_key(|pod| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Whether `unit` can log no more: it finished, or the workflow ended without running it.
pub(crate) fn ended(wf: &Workflow, unit: &Unit, step_ended: impl Fn(&str) -> bool) -> bool {
    let Some(index) = unit.instance else {
        return step_ended(&unit.step);
    };
    let Some(instances) = step_status(wf, &unit.step).and_then(|s| s.instances.as_ref()) else {
        return step_ended(&unit.step);
    };
    match instances.active.iter().find(|i| i.index == index) {
        Some(listed) => {
            matches!(listed.phase, StepPhase::Failed | StepPhase::Stopped) || step_ended(&unit.step)
        }
        // Started and no longer listed: it succeeded.
        None if index < instances.started => true,
        None => step_ended(&unit.step),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::retries_and_fan_out;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn select(instance: Option<u32>, attempt: Option<u32>) -> Selection {
        Selection { instance, attempt }
    }

    fn jobs(wf: &Workflow, step: &str, selection: Selection) -> Result<Vec<String>, String> {
        named(wf, step, selection).map(|u| u.jobs)
    }

    #[test]
    fn a_step_s_attempts_are_its_retries_then_its_current_job() {
        let wf = retries_and_fan_out();
        assert_eq!(
            jobs(&wf, "prepare", Selection::default()).unwrap(),
            ["matrix-prepare-1-a2"]
        );
        assert_eq!(
            jobs(&wf, "prepare", select(None, Some(1))).unwrap(),
            ["matrix-prepare-1"]
        );
        assert_eq!(
            jobs(&wf, "prepare", select(None, Some(3))).unwrap(),
            ["matrix-prepare-1-a2"]
        );
        assert_eq!(
            named(&wf, "prepare", select(None, Some(2)))
                .unwrap()
                .attempt,
            Some(1),
            "the label counts from 0"
        );
        assert_eq!(
            jobs(&wf, "prepare", select(None, Some(4))).unwrap_err(),
            "step \"prepare\" of workflow \"matrix\" has had 3 attempts, so there is no \
             attempt 4; choose --attempt 1 to 3"
        );
        assert_eq!(
            jobs(&wf, "prepare", select(None, Some(0))).unwrap_err(),
            "--attempt counts from 1 (the first attempt)"
        );
    }

    #[test]
    fn a_step_waiting_to_retry_has_only_its_failed_attempt_so_far() {
        let wf = retries_and_fan_out();
        assert_eq!(
            jobs(&wf, "flaky", Selection::default()).unwrap(),
            ["matrix-flaky-1"]
        );
        let err = jobs(&wf, "flaky", select(None, Some(2))).unwrap_err();
        assert_eq!(
            err,
            "step \"flaky\" of workflow \"matrix\" has had 1 attempt, so there is no attempt 2; \
             attempt 2 has not started yet (it waits to retry); choose --attempt 1 to 1"
        );
    }

    #[test]
    fn a_fan_out_asks_for_an_instance_and_checks_it() {
        let wf = retries_and_fan_out();
        assert_eq!(
            jobs(&wf, "build", Selection::default()).unwrap_err(),
            "step \"build\" of workflow \"matrix\" fans out over 50 instances (0 to 49; \
             not succeeded: 3, 45, 46); choose one with --instance N"
        );
        assert_eq!(
            jobs(&wf, "test", Selection::default()).unwrap_err(),
            "step \"test\" of workflow \"matrix\" fans out over 3 instances (0 to 2); \
             choose one with --instance N"
        );
        assert_eq!(
            jobs(&wf, "build", select(Some(50), None)).unwrap_err(),
            "step \"build\" of workflow \"matrix\" has 50 instances, 0 to 49; there is no \
             instance 50"
        );
        assert_eq!(
            jobs(&wf, "prepare", select(Some(0), None)).unwrap_err(),
            "step \"prepare\" of workflow \"matrix\" does not fan out, so it has no instances; \
             drop --instance"
        );
        assert_eq!(
            jobs(&wf, "nope", Selection::default()).unwrap_err(),
            "workflow \"matrix\" has no step \"nope\""
        );
    }

    #[test]
    fn an_instance_s_attempts_come_from_its_status_or_its_job_names() {
        let wf = retries_and_fan_out();
        // Listed: failed for good on its third attempt.
        assert_eq!(
            jobs(&wf, "build", select(Some(3), None)).unwrap(),
            ["matrix-build-1-i3-a2"]
        );
        assert_eq!(
            jobs(&wf, "build", select(Some(3), Some(1))).unwrap(),
            ["matrix-build-1-i3"]
        );
        // Succeeded, no longer listed: any of its attempts' Jobs, or the one asked for.
        let unit = named(&wf, "build", select(Some(7), None)).unwrap();
        assert_eq!(unit.label, "build[7]");
        assert_eq!(
            unit.jobs,
            [
                "matrix-build-1-i7",
                "matrix-build-1-i7-a1",
                "matrix-build-1-i7-a2"
            ]
        );
        assert_eq!(
            jobs(&wf, "build", select(Some(7), Some(2))).unwrap(),
            ["matrix-build-1-i7-a1"]
        );
        assert!(jobs(&wf, "build", select(Some(7), Some(4))).is_err());
        // Not started yet: no Job, so nothing to read until it starts.
        assert_eq!(
            jobs(&wf, "build", select(Some(48), None)).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn all_units_expand_fan_outs_and_failed_keeps_the_failed_instances() {
        let wf = retries_and_fan_out();
        let steps: Vec<String> = ["prepare", "build", "test"].map(String::from).to_vec();
        let labels: Vec<String> = all(&wf, &steps, false)
            .into_iter()
            .map(|u| u.label)
            .collect();
        assert_eq!(labels.len(), 1 + 47 + 1, "{labels:?}");
        assert_eq!(labels[..3], ["prepare", "build[0]", "build[1]"]);
        assert_eq!(labels[47], "build[46]");
        assert_eq!(labels[48], "test", "a fan-out not started is its name");
        let failed: Vec<String> = all(&wf, &steps, true)
            .into_iter()
            .map(|u| u.label)
            .collect();
        assert_eq!(failed, ["prepare", "build[3]", "test"]);
    }

    fn pod(name: &str, labels: &[(&str, &str)], created: i64) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        pod.metadata.creation_timestamp =
            Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        pod
    }

    #[test]
    fn the_pod_carries_the_step_instance_and_attempt_labels_of_one_of_its_jobs() {
        let job = "batch.kubernetes.io/job-name";
        let pods = vec![
            pod(
                "i7-a0",
                &[
                    (LABEL_STEP, "build"),
                    (LABEL_INSTANCE, "7"),
                    (job, "matrix-build-1-i7"),
                ],
                1,
            ),
            pod(
                "i7-a1",
                &[
                    (LABEL_STEP, "build"),
                    (LABEL_INSTANCE, "7"),
                    (LABEL_ATTEMPT, "1"),
                    (job, "matrix-build-1-i7-a1"),
                ],
                2,
            ),
            pod(
                "i8",
                &[
                    (LABEL_STEP, "build"),
                    (LABEL_INSTANCE, "8"),
                    (job, "matrix-build-1-i8"),
                ],
                3,
            ),
            // Another step's pod with a Job name that would match: never chosen.
            pod(
                "other",
                &[
                    (LABEL_STEP, "test"),
                    (LABEL_INSTANCE, "7"),
                    (job, "matrix-build-1-i7-a1"),
                ],
                4,
            ),
        ];
        let wf = retries_and_fan_out();
        let chosen = |selection| {
            let unit = named(&wf, "build", selection).unwrap();
            pod_for(&pods, &unit).and_then(|p| p.metadata.name.clone())
        };
        assert_eq!(
            chosen(select(Some(7), None)).as_deref(),
            Some("i7-a1"),
            "the latest"
        );
        assert_eq!(chosen(select(Some(7), Some(1))).as_deref(), Some("i7-a0"));
        assert_eq!(
            chosen(select(Some(7), Some(3))),
            None,
            "that attempt has no pod"
        );
        assert_eq!(chosen(select(Some(8), None)).as_deref(), Some("i8"));
        assert_eq!(chosen(select(Some(9), None)), None);
    }

    #[test]
    fn an_instance_ends_when_it_failed_succeeded_or_its_step_ended() {
        let wf = retries_and_fan_out();
        let unit = |i| named(&wf, "build", select(Some(i), None)).unwrap();
        let never = |_: &str| false;
        assert!(ended(&wf, &unit(3), never), "failed for good");
        assert!(ended(&wf, &unit(7), never), "succeeded");
        assert!(!ended(&wf, &unit(45), never), "running");
        assert!(!ended(&wf, &unit(46), never), "waiting to retry");
        assert!(!ended(&wf, &unit(48), never), "not started");
        assert!(ended(&wf, &unit(48), |_| true), "its step ended without it");
    }
}
