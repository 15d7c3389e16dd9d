//! Workflows in every phase, at fixed times, for the snapshot tests. The clock is frozen at
//! [`now`], ten minutes after every workflow was created.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, ObjectMeta, Time};
use kwf_api::{
    Step, StepPhase, StepStatus, Workflow, WorkflowPhase, WorkflowSpec, WorkflowStatus, job_name,
};

/// 2026-03-01T10:00:00Z: every fixture workflow is created then.
const CREATED: i64 = 1_772_359_200;

/// The frozen clock: ten minutes after creation.
pub(crate) fn now() -> Timestamp {
    instant(600)
}

fn instant(seconds_after_creation: i64) -> Timestamp {
    Timestamp::from_second(CREATED + seconds_after_creation).expect("fixture time in range")
}

/// A time `seconds` after the fixtures' creation.
pub(crate) fn at(seconds: i64) -> Time {
    Time(instant(seconds))
}

/// A workflow (generation 1, in `default`) with `steps`, each `(name, depends on)`; no status.
pub(crate) fn workflow(name: &str, steps: &[(&str, &[&str])]) -> Workflow {
    let containers = steps
        .iter()
        .map(|(step, deps)| Step {
            step_name: (*step).into(),
            image: Some("busybox:1.37".into()),
            command: Some(vec!["sh".into(), "-c".into(), format!("echo {step}")]),
            depends_on: deps.iter().map(|d| (*d).into()).collect(),
            ..Step::default()
        })
        .collect();
    let mut wf = Workflow::new(
        name,
        WorkflowSpec {
            max_step_timeout: 60,
            containers,
        },
    );
    wf.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        generation: Some(1),
        creation_timestamp: Some(at(0)),
        labels: Some(BTreeMap::from([("team".into(), "platform".into())])),
        ..ObjectMeta::default()
    };
    wf
}

/// The status entry of a step that left Pending: started and finished are seconds after
/// creation; the Job is named as the controller names it.
pub(crate) fn step(
    wf: &Workflow,
    name: &str,
    phase: StepPhase,
    started: Option<i64>,
    finished: Option<i64>,
) -> StepStatus {
    let ran = phase != StepPhase::Skipped;
    StepStatus {
        name: name.into(),
        phase,
        job_name: ran
            .then(|| job_name(wf.metadata.name.as_deref().unwrap_or_default(), name, 1, 0)),
        started_at: started.map(at),
        finished_at: finished.map(at),
        exit_code: (phase == StepPhase::Succeeded).then_some(0),
        message: None,
    }
}

fn condition(type_: &str, status: &str, reason: &str, at_seconds: i64, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: at(at_seconds),
        observed_generation: Some(1),
    }
}

/// Sets the status: phase, its times, and the steps that left Pending.
fn with_status(
    mut wf: Workflow,
    phase: WorkflowPhase,
    started: Option<i64>,
    finished: Option<i64>,
    message: Option<&str>,
    steps: Vec<StepStatus>,
) -> Workflow {
    let succeeded = steps
        .iter()
        .filter(|s| s.phase == StepPhase::Succeeded)
        .count();
    let conditions = match phase {
        WorkflowPhase::Completed => vec![condition(
            "Ready",
            "True",
            "Completed",
            finished.unwrap_or(0),
            "every step succeeded",
        )],
        WorkflowPhase::Failed => vec![
            condition(
                "Ready",
                "False",
                "Failed",
                finished.unwrap_or(0),
                message.unwrap_or(""),
            ),
            condition(
                "Failed",
                "True",
                "StepFailed",
                finished.unwrap_or(0),
                message.unwrap_or(""),
            ),
        ],
        _ => vec![],
    };
    wf.status = Some(WorkflowStatus {
        phase: Some(phase),
        last_transition_time: Some(at(finished.or(started).unwrap_or(0))),
        message: message.map(Into::into),
        observed_generation: Some(1),
        started_at: started.map(at),
        finished_at: finished.map(at),
        progress: Some(format!("{succeeded}/{}", wf.spec.containers.len())),
        conditions,
        steps,
        ..WorkflowStatus::default()
    });
    wf
}

/// A CI pipeline of seven steps with fan-out, fan-in and a step after three others.
fn pipeline() -> Workflow {
    workflow(
        "release",
        &[
            ("checkout", &[]),
            ("lint", &["checkout"]),
            ("unit-tests", &["checkout"]),
            ("build", &["checkout"]),
            ("integration", &["build", "unit-tests"]),
            ("package", &["build"]),
            ("deploy", &["package", "integration", "lint"]),
        ],
    )
}

/// Just created: the controller has not written any status yet.
pub(crate) fn new() -> Workflow {
    pipeline()
}

/// Running: some steps done, two running, the rest waiting.
pub(crate) fn started() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let steps = vec![
        step(&wf, "checkout", Succeeded, Some(2), Some(6)),
        step(&wf, "lint", Succeeded, Some(7), Some(19)),
        step(&wf, "unit-tests", Running, Some(7), None),
        step(&wf, "build", Succeeded, Some(7), Some(79)),
        step(&wf, "package", Running, Some(80), None),
    ];
    with_status(wf, WorkflowPhase::Started, Some(2), None, None, steps)
}

/// Every step succeeded.
pub(crate) fn completed() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let steps = vec![
        step(&wf, "checkout", Succeeded, Some(2), Some(6)),
        step(&wf, "lint", Succeeded, Some(7), Some(19)),
        step(&wf, "unit-tests", Succeeded, Some(7), Some(130)),
        step(&wf, "build", Succeeded, Some(7), Some(79)),
        step(&wf, "package", Succeeded, Some(80), Some(95)),
        step(&wf, "integration", Succeeded, Some(131), Some(320)),
        step(&wf, "deploy", Succeeded, Some(321), Some(333)),
    ];
    with_status(
        wf,
        WorkflowPhase::Completed,
        Some(2),
        Some(333),
        None,
        steps,
    )
}

/// A step failed with an exit code: the steps after it are skipped, the other branch ran.
pub(crate) fn failed() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let mut unit_tests = step(&wf, "unit-tests", Failed, Some(7), Some(130));
    unit_tests.exit_code = Some(2);
    unit_tests.message = Some("container exited with code 2: 3 of 120 tests failed".into());
    let skipped = |name: &str| {
        let mut s = step(&wf, name, Skipped, None, None);
        s.message = Some("a step it depends on failed: unit-tests".into());
        s
    };
    let steps = vec![
        step(&wf, "checkout", Succeeded, Some(2), Some(6)),
        step(&wf, "lint", Succeeded, Some(7), Some(19)),
        step(&wf, "build", Succeeded, Some(7), Some(79)),
        step(&wf, "package", Succeeded, Some(80), Some(95)),
        unit_tests,
        skipped("integration"),
        skipped("deploy"),
    ];
    with_status(
        wf,
        WorkflowPhase::Failed,
        Some(2),
        Some(130),
        Some("step unit-tests failed: container exited with code 2: 3 of 120 tests failed"),
        steps,
    )
}

/// a -> {b, c} -> d, with b done, c running.
pub(crate) fn diamond() -> Workflow {
    use StepPhase::*;
    let wf = workflow(
        "diamond",
        &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])],
    );
    let steps = vec![
        step(&wf, "a", Succeeded, Some(1), Some(5)),
        step(&wf, "b", Succeeded, Some(6), Some(9)),
        step(&wf, "c", Running, Some(6), None),
    ];
    with_status(wf, WorkflowPhase::Started, Some(1), None, None, steps)
}

/// One step fanning out to twelve shards that a last step joins again.
pub(crate) fn fan_out() -> Workflow {
    use StepPhase::*;
    let shards: Vec<String> = (1..=12).map(|i| format!("shard-{i:02}")).collect();
    let shard_refs: Vec<&str> = shards.iter().map(String::as_str).collect();
    let mut steps: Vec<(&str, &[&str])> = vec![("split", &[])];
    steps.extend(shard_refs.iter().map(|s| (*s, &["split"][..])));
    steps.push(("merge", &shard_refs));
    let wf = workflow("fan-out", &steps);
    let mut status = vec![step(&wf, "split", Succeeded, Some(1), Some(3))];
    for (i, shard) in shard_refs.iter().enumerate() {
        let i = i as i64;
        status.push(match i % 3 {
            0 => step(&wf, shard, Succeeded, Some(4), Some(30 + 7 * i)),
            1 => step(&wf, shard, Running, Some(4), None),
            _ => step(&wf, shard, Succeeded, Some(4), Some(200 + 30 * i)),
        });
    }
    with_status(wf, WorkflowPhase::Started, Some(1), None, None, status)
}

/// A cycle: the controller refused to start it and said why.
pub(crate) fn invalid() -> Workflow {
    let wf = workflow("loop", &[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
    let message = "invalid spec: steps depend on each other in a circle: a -> b -> c -> a; \
                   remove one of these dependencies";
    let mut wf = with_status(wf, WorkflowPhase::Failed, None, None, Some(message), vec![]);
    if let Some(status) = wf.status.as_mut() {
        status.conditions = vec![condition("Ready", "False", "InvalidSpec", 1, message)];
    }
    wf
}

/// Events the controller records about a workflow, `seconds` after creation each.
pub(crate) fn events(entries: &[(&str, &str, i64, &str)]) -> Vec<Event> {
    entries
        .iter()
        .map(|(type_, reason, seconds, note)| Event {
            type_: Some((*type_).into()),
            reason: Some((*reason).into()),
            note: Some((*note).into()),
            event_time: Some(MicroTime(instant(*seconds))),
            metadata: ObjectMeta::default(),
            ..Event::default()
        })
        .collect()
}

/// An event seen `count` times, first at `first`, last at `last`.
pub(crate) fn repeated_event(
    type_: &str,
    reason: &str,
    first: i64,
    last: i64,
    count: i32,
    note: &str,
) -> Event {
    let mut event = events(&[(type_, reason, first, note)]).remove(0);
    event.series = Some(EventSeries {
        count,
        last_observed_time: MicroTime(instant(last)),
    });
    event
}

/// `layers` layers of `width` steps, each step after two steps of the layer before (a chain
/// when `width` is 1); every step Pending.
pub(crate) fn layered(layers: usize, width: usize) -> Workflow {
    let names: Vec<Vec<String>> = (0..layers)
        .map(|l| (0..width).map(|i| format!("l{l:02}-s{i:02}")).collect())
        .collect();
    let mut steps: Vec<(&str, Vec<&str>)> = Vec::new();
    for (l, layer) in names.iter().enumerate() {
        for (i, name) in layer.iter().enumerate() {
            let mut deps = Vec::new();
            if l > 0 {
                deps.push(names[l - 1][i].as_str());
                if width > 1 {
                    deps.push(names[l - 1][(i + 1) % width].as_str());
                }
            }
            steps.push((name, deps));
        }
    }
    let steps: Vec<(&str, &[&str])> = steps.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    workflow("big", &steps)
}
