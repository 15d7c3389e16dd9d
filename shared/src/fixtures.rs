//! Builders of Workflow objects for the unit, property and snapshot tests and the benchmarks of
//! every crate. Behind the cargo feature `fixtures` (off by default), so no release binary
//! carries them. Every time is a whole number of seconds after [`CREATED`], so snapshots are
//! stable; every default matches what the API server would hold for a fresh Workflow.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use crate::names::job_name;
use crate::workflow::{
    Step, StepPhase, StepStatus, Workflow, WorkflowPhase, WorkflowSpec, WorkflowStatus,
};

/// 2026-03-01T10:00:00Z, in seconds since the Unix epoch: when every fixture workflow is created.
pub const CREATED: i64 = 1_772_359_200;
/// The image of every fixture step.
pub const IMAGE: &str = "busybox:1.37";
/// `spec.maxStepTimeout` of every fixture workflow, in seconds.
pub const MAX_STEP_TIMEOUT: i64 = 60;
/// The namespace of every fixture workflow.
pub const NAMESPACE: &str = "default";

/// The instant `seconds` after [`CREATED`] (negative: before it).
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(CREATED + seconds).expect("fixture times lie within jiff's range")
}

/// [`at`] as the Kubernetes API's `Time`.
pub fn time(seconds: i64) -> Time {
    Time(at(seconds))
}

/// A step called `name` running [`IMAGE`] with `sh -c "echo <name>"`, after `deps`.
pub fn step(name: &str, deps: &[&str]) -> Step {
    Step {
        step_name: name.to_owned(),
        image: Some(IMAGE.to_owned()),
        command: Some(strings(&["sh", "-c", &format!("echo {name}")])),
        depends_on: strings(deps),
        ..Step::default()
    }
}

/// Changes to a fixture [`Step`], each returning the changed step.
pub trait StepFixture {
    /// Runs `image` instead of [`IMAGE`].
    fn with_image(self, image: &str) -> Step;
    /// Runs `command` instead of `sh -c "echo <name>"`.
    fn with_command(self, command: &[&str]) -> Step;
    /// Depends on `deps` instead (in this order).
    fn with_deps(self, deps: &[&str]) -> Step;
}

impl StepFixture for Step {
    fn with_image(self, image: &str) -> Step {
        Step {
            image: Some(image.to_owned()),
            ..self
        }
    }

    fn with_command(self, command: &[&str]) -> Step {
        Step {
            command: Some(strings(command)),
            ..self
        }
    }

    fn with_deps(self, deps: &[&str]) -> Step {
        Step {
            depends_on: strings(deps),
            ..self
        }
    }
}

/// Workflow `name` with `steps`, each `(step, depends on)` and built by [`step`]; no status.
pub fn workflow(name: &str, steps: &[(&str, &[&str])]) -> Workflow {
    workflow_of(
        name,
        steps.iter().map(|(name, deps)| step(name, deps)).collect(),
    )
}

/// Workflow `name` with these steps, as the API server holds it after creation: in
/// [`NAMESPACE`], uid `<name>-uid`, generation 1, created at [`time`]`(0)`,
/// [`MAX_STEP_TIMEOUT`]; no labels, annotations or status.
pub fn workflow_of(name: &str, steps: Vec<Step>) -> Workflow {
    let mut wf = Workflow::new(
        name,
        WorkflowSpec {
            max_step_timeout: MAX_STEP_TIMEOUT,
            containers: steps,
            ..WorkflowSpec::default()
        },
    );
    wf.metadata = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        uid: Some(format!("{name}-uid")),
        generation: Some(1),
        creation_timestamp: Some(time(0)),
        ..ObjectMeta::default()
    };
    wf
}

/// Workflow `ab`: step `b` after step `a`.
pub fn b_after_a() -> Workflow {
    workflow("ab", &[("a", &[]), ("b", &["a"])])
}

/// Workflow `diamond`: a -> {b, c} -> d (d lists b before c).
pub fn diamond() -> Workflow {
    workflow(
        "diamond",
        &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])],
    )
}

/// Workflow `diamond-with-tail`: a -> {b, c} -> d -> e.
pub fn diamond_with_tail() -> Workflow {
    workflow(
        "diamond-with-tail",
        &[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
            ("e", &["d"]),
        ],
    )
}

/// The name of step `index` of layer `layer` in [`layered_steps`]: `l00-s00`, `l03-s17`.
pub fn layered_step_name(layer: usize, index: usize) -> String {
    format!("l{layer:02}-s{index:02}")
}

/// `layers` layers of `width` steps in spec order, named by [`layered_step_name`]; step `i` of
/// every layer but the first depends on step `(i + offset) % width` of the layer before for
/// each offset in `fan_in`, in that order, a step named twice only once.
pub fn layered_steps(layers: usize, width: usize, fan_in: &[usize]) -> Vec<Step> {
    layered_steps_named(layers, width, fan_in, layered_step_name)
}

/// [`layered_steps`] with step `index` of layer `layer` called `name(layer, index)`.
pub fn layered_steps_named(
    layers: usize,
    width: usize,
    fan_in: &[usize],
    name: impl Fn(usize, usize) -> String,
) -> Vec<Step> {
    let mut steps = Vec::with_capacity(layers * width);
    for layer in 0..layers {
        for index in 0..width {
            let mut deps: Vec<String> = Vec::with_capacity(fan_in.len());
            if layer > 0 {
                for offset in fan_in {
                    let dep = name(layer - 1, (index + offset) % width);
                    if !deps.contains(&dep) {
                        deps.push(dep);
                    }
                }
            }
            steps.push(Step {
                depends_on: deps,
                ..step(&name(layer, index), &[])
            });
        }
    }
    steps
}

/// Workflow `name` of [`layered_steps`]`(layers, width, fan_in)`.
pub fn layered(name: &str, layers: usize, width: usize, fan_in: &[usize]) -> Workflow {
    workflow_of(name, layered_steps(layers, width, fan_in))
}

/// Changes to a fixture [`Workflow`], each returning the changed workflow.
pub trait WorkflowFixture {
    /// Moves it to namespace `namespace`.
    fn with_namespace(self, namespace: &str) -> Workflow;
    /// Gives it uid `uid`.
    fn with_uid(self, uid: &str) -> Workflow;
    /// Sets `metadata.generation`.
    fn with_generation(self, generation: i64) -> Workflow;
    /// Adds (or replaces) label `key`.
    fn with_label(self, key: &str, value: &str) -> Workflow;
    /// Adds (or replaces) annotation `key`.
    fn with_annotation(self, key: &str, value: &str) -> Workflow;
    /// Sets `spec.maxStepTimeout` (`-1`: no limit).
    fn with_max_step_timeout(self, seconds: i64) -> Workflow;
    /// Sets a status in `phase` consistent with `steps` (the steps that left Pending): started
    /// at the earliest step start, finished (when Completed or Failed) at the latest step end,
    /// progress, `message`, and the conditions the controller writes for the phase.
    fn with_status(
        self,
        phase: WorkflowPhase,
        message: Option<&str>,
        steps: Vec<StepStatus>,
    ) -> Workflow;
    /// Only what a person submits (name, labels, annotations, spec): no namespace, uid,
    /// generation, creation time or status, so the API server accepts it in any namespace.
    fn into_manifest(self) -> Workflow;
}

impl WorkflowFixture for Workflow {
    fn with_namespace(mut self, namespace: &str) -> Workflow {
        self.metadata.namespace = Some(namespace.to_owned());
        self
    }

    fn with_uid(mut self, uid: &str) -> Workflow {
        self.metadata.uid = Some(uid.to_owned());
        self
    }

    fn with_generation(mut self, generation: i64) -> Workflow {
        self.metadata.generation = Some(generation);
        self
    }

    fn with_label(mut self, key: &str, value: &str) -> Workflow {
        self.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    fn with_annotation(mut self, key: &str, value: &str) -> Workflow {
        self.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    fn with_max_step_timeout(mut self, seconds: i64) -> Workflow {
        self.spec.max_step_timeout = seconds;
        self
    }

    fn with_status(
        mut self,
        phase: WorkflowPhase,
        message: Option<&str>,
        steps: Vec<StepStatus>,
    ) -> Workflow {
        let generation = self.metadata.generation;
        let started = steps.iter().filter_map(|s| s.started_at.clone()).min();
        let finished = match phase {
            WorkflowPhase::Completed | WorkflowPhase::Failed => {
                steps.iter().filter_map(|s| s.finished_at.clone()).max()
            }
            WorkflowPhase::Created | WorkflowPhase::Started => None,
        };
        let changed = finished
            .clone()
            .or(started.clone())
            .unwrap_or_else(|| time(0));
        let condition = |type_: &str, status: &str, reason: &str, text: &str| Condition {
            last_transition_time: changed.clone(),
            observed_generation: generation,
            ..condition(type_, status, reason, text, 0)
        };
        let text = message.unwrap_or_default();
        let conditions = match phase {
            WorkflowPhase::Completed => vec![condition(
                "Ready",
                "True",
                "Completed",
                "every step succeeded",
            )],
            WorkflowPhase::Failed => vec![
                condition("Ready", "False", "Failed", text),
                condition("Failed", "True", "StepFailed", text),
            ],
            WorkflowPhase::Created | WorkflowPhase::Started => Vec::new(),
        };
        let succeeded = steps
            .iter()
            .filter(|s| s.phase == StepPhase::Succeeded)
            .count();
        self.status = Some(WorkflowStatus {
            phase: Some(phase),
            last_transition_time: Some(changed),
            message: message.map(str::to_owned),
            observed_generation: generation,
            started_at: started,
            finished_at: finished,
            progress: Some(format!("{succeeded}/{}", self.spec.containers.len())),
            conditions,
            steps,
            ..WorkflowStatus::default()
        });
        self
    }

    fn into_manifest(mut self) -> Workflow {
        self.metadata = ObjectMeta {
            name: self.metadata.name,
            labels: self.metadata.labels,
            annotations: self.metadata.annotations,
            ..ObjectMeta::default()
        };
        self.status = None;
        self
    }
}

/// The status of `step` of `wf` in `phase`, as the controller writes it for the first run of
/// generation 1: its Job's name unless Skipped, exit code 0 if Succeeded; no times or message.
pub fn step_status(wf: &Workflow, step: &str, phase: StepPhase) -> StepStatus {
    let workflow = wf.metadata.name.as_deref().unwrap_or_default();
    StepStatus {
        name: step.to_owned(),
        phase,
        job_name: (phase != StepPhase::Skipped).then(|| job_name(workflow, step, 1, 0)),
        exit_code: (phase == StepPhase::Succeeded).then_some(0),
        ..StepStatus::default()
    }
}

/// Changes to a fixture [`StepStatus`], each returning the changed status.
pub trait StepStatusFixture {
    /// Its Job was created at [`time`]`(seconds)`.
    fn with_started(self, seconds: i64) -> StepStatus;
    /// Its Job finished at [`time`]`(seconds)`.
    fn with_finished(self, seconds: i64) -> StepStatus;
    /// Its container exited with `code`.
    fn with_exit_code(self, code: i32) -> StepStatus;
    /// Why it failed, timed out or was skipped.
    fn with_message(self, message: &str) -> StepStatus;
}

impl StepStatusFixture for StepStatus {
    fn with_started(self, seconds: i64) -> StepStatus {
        StepStatus {
            started_at: Some(time(seconds)),
            ..self
        }
    }

    fn with_finished(self, seconds: i64) -> StepStatus {
        StepStatus {
            finished_at: Some(time(seconds)),
            ..self
        }
    }

    fn with_exit_code(self, code: i32) -> StepStatus {
        StepStatus {
            exit_code: Some(code),
            ..self
        }
    }

    fn with_message(self, message: &str) -> StepStatus {
        StepStatus {
            message: Some(message.to_owned()),
            ..self
        }
    }
}

/// A condition of generation 1 that last changed at [`time`]`(seconds)`.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    seconds: i64,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: time(seconds),
        observed_generation: Some(1),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_are_valid_workflows() {
        for wf in [
            b_after_a(),
            diamond(),
            diamond_with_tail(),
            layered("chain", 4, 1, &[0, 1]),
            layered("big", 50, 40, &[0, 1, 7]),
        ] {
            crate::validate(&wf.spec).unwrap_or_else(|e| panic!("{:?}: {e}", wf.metadata.name));
        }
    }

    #[test]
    fn layered_steps_depend_on_the_fan_in_of_the_layer_before() {
        let steps = layered_steps(3, 5, &[0, 1, 7]);
        assert_eq!(steps.len(), 15);
        assert!(steps[..5].iter().all(|s| s.depends_on.is_empty()));
        let last = &steps[14];
        assert_eq!(last.step_name, "l02-s04");
        // (4 + 0) % 5, (4 + 1) % 5, (4 + 7) % 5
        assert_eq!(last.depends_on, ["l01-s04", "l01-s00", "l01-s01"]);
    }

    #[test]
    fn layered_steps_name_a_dependency_once() {
        let chain = layered_steps(3, 1, &[0, 1]);
        assert_eq!(chain[2].depends_on, ["l01-s00"]);
        let wide = layered_steps(2, 5, &[0, 5]);
        assert_eq!(wide[7].depends_on, ["l00-s02"]);
        let named = layered_steps_named(2, 2, &[1], |layer, index| format!("n{layer}{index}"));
        assert_eq!(named[2].step_name, "n10");
        assert_eq!(named[2].depends_on, ["n01"]);
    }

    #[test]
    fn a_completed_status_spans_its_steps() {
        use StepPhase::*;
        let wf = diamond();
        let steps = vec![
            step_status(&wf, "a", Succeeded)
                .with_started(1)
                .with_finished(5),
            step_status(&wf, "c", Succeeded)
                .with_started(6)
                .with_finished(40),
            step_status(&wf, "b", Succeeded)
                .with_started(6)
                .with_finished(9),
            step_status(&wf, "d", Succeeded)
                .with_started(41)
                .with_finished(42),
        ];
        let wf = wf.with_status(WorkflowPhase::Completed, None, steps);
        let status = wf.status.expect("a status");
        assert_eq!(status.phase, Some(WorkflowPhase::Completed));
        assert_eq!(status.started_at, Some(time(1)));
        assert_eq!(status.finished_at, Some(time(42)));
        assert_eq!(status.last_transition_time, Some(time(42)));
        assert_eq!(status.progress.as_deref(), Some("4/4"));
        assert_eq!(status.observed_generation, Some(1));
        let ready = &status.conditions[..];
        assert_eq!(ready.len(), 1);
        assert_eq!(
            (ready[0].type_.as_str(), ready[0].status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(ready[0].last_transition_time, time(42));
        assert_eq!(
            status.step("a").and_then(|s| s.job_name.as_deref()),
            Some("diamond-a-1")
        );
        assert_eq!(status.step("a").and_then(|s| s.exit_code), Some(0));
    }

    #[test]
    fn a_failed_status_names_its_message_in_both_conditions() {
        use StepPhase::*;
        let wf = b_after_a().with_generation(3);
        let steps = vec![
            step_status(&wf, "a", Failed)
                .with_started(2)
                .with_finished(7)
                .with_exit_code(2),
            step_status(&wf, "b", Skipped).with_message("a step it depends on failed: a"),
        ];
        let wf = wf.with_status(WorkflowPhase::Failed, Some("step a failed"), steps);
        let status = wf.status.expect("a status");
        assert_eq!(status.finished_at, Some(time(7)));
        assert_eq!(status.progress.as_deref(), Some("0/2"));
        assert_eq!(status.observed_generation, Some(3));
        let conditions: Vec<_> = status
            .conditions
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.as_str(),
                    c.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            conditions,
            [
                ("Ready", "False", "Failed", "step a failed"),
                ("Failed", "True", "StepFailed", "step a failed"),
            ]
        );
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
        assert_eq!(status.step("b").and_then(|s| s.job_name.as_ref()), None);
    }

    #[test]
    fn a_running_status_has_no_end() {
        let wf = b_after_a();
        let running = step_status(&wf, "a", StepPhase::Running).with_started(3);
        let status = wf
            .with_status(WorkflowPhase::Started, None, vec![running])
            .status
            .expect("a status");
        assert_eq!(status.started_at, Some(time(3)));
        assert_eq!(status.finished_at, None);
        assert_eq!(status.last_transition_time, Some(time(3)));
        assert!(status.conditions.is_empty());
    }

    #[test]
    fn a_manifest_keeps_only_what_a_person_writes() {
        let wf = diamond()
            .with_label("team", "data")
            .with_status(WorkflowPhase::Started, None, vec![])
            .into_manifest();
        assert_eq!(wf.metadata.name.as_deref(), Some("diamond"));
        assert_eq!(
            wf.metadata.labels,
            Some(BTreeMap::from([("team".into(), "data".into())]))
        );
        assert_eq!(wf.metadata.namespace, None);
        assert_eq!(wf.metadata.uid, None);
        assert_eq!(wf.metadata.creation_timestamp, None);
        assert_eq!(wf.status, None);
    }

    #[test]
    fn times_count_from_creation() {
        assert_eq!(at(0).to_string(), "2026-03-01T10:00:00Z");
        assert_eq!(time(90).0.to_string(), "2026-03-01T10:01:30Z");
        assert_eq!(diamond().metadata.creation_timestamp, Some(time(0)));
    }
}
