//! The scenes of the snapshot tests: a pipeline in every phase, a diamond, a fan-out and an
//! invalid spec, built with `kwf_api::fixtures`, and the Events only the plugin shows. The
//! clock is frozen at [`now`], ten minutes after every workflow was created.

use jiff::Timestamp;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kwf_api::fan_out::{InstanceStatus, InstancesStatus};
use kwf_api::fixtures::{
    StepFixture, StepStatusFixture, WorkflowFixture, at, condition, step, step_status, time,
    workflow, workflow_of,
};
use kwf_api::retries::{FailedAttempt, RetryPolicy};
use kwf_api::{StepPhase, StepStatus, Workflow, WorkflowPhase, attempt_job_name};
use serde_json::json;

/// The frozen clock: ten minutes after creation.
pub(crate) fn now() -> Timestamp {
    at(600)
}

/// A workflow of the scenes: `steps` as `(name, depends on)`, labelled `team=platform`.
fn labelled(name: &str, steps: &[(&str, &[&str])]) -> Workflow {
    workflow(name, steps).with_label("team", "platform")
}

/// A CI pipeline of seven steps with fan-out, fan-in and a step after three others.
fn pipeline() -> Workflow {
    labelled(
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

/// A step that left Pending: its name, phase, and when it started and finished (seconds
/// after creation).
type Ran<'a> = (&'a str, StepPhase, i64, Option<i64>);

/// The statuses of the steps that left Pending, in this order.
fn ran(wf: &Workflow, steps: &[Ran<'_>]) -> Vec<StepStatus> {
    steps
        .iter()
        .map(|&(name, phase, started, finished)| {
            let status = step_status(wf, name, phase).with_started(started);
            match finished {
                Some(finished) => status.with_finished(finished),
                None => status,
            }
        })
        .collect()
}

/// The pipeline's first two steps, which every later phase has behind it.
const CHECKOUT_AND_LINT: [Ran<'static>; 2] = [
    ("checkout", StepPhase::Succeeded, 2, Some(6)),
    ("lint", StepPhase::Succeeded, 7, Some(19)),
];

/// The pipeline's statuses: checkout and lint, then `rest`.
fn pipeline_ran(wf: &Workflow, rest: &[Ran<'_>]) -> Vec<StepStatus> {
    let mut steps = ran(wf, &CHECKOUT_AND_LINT);
    steps.extend(ran(wf, rest));
    steps
}

/// Running: some steps done, two running, the rest waiting.
pub(crate) fn started() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let steps = pipeline_ran(
        &wf,
        &[
            ("unit-tests", Running, 7, None),
            ("build", Succeeded, 7, Some(79)),
            ("package", Running, 80, None),
        ],
    );
    wf.with_status(WorkflowPhase::Started, None, steps)
}

/// Every step succeeded.
pub(crate) fn completed() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let steps = pipeline_ran(
        &wf,
        &[
            ("unit-tests", Succeeded, 7, Some(130)),
            ("build", Succeeded, 7, Some(79)),
            ("package", Succeeded, 80, Some(95)),
            ("integration", Succeeded, 131, Some(320)),
            ("deploy", Succeeded, 321, Some(333)),
        ],
    );
    wf.with_status(WorkflowPhase::Completed, None, steps)
}

/// A step failed with an exit code: the steps after it are skipped, the other branch ran.
pub(crate) fn failed() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let mut steps = pipeline_ran(
        &wf,
        &[
            ("build", Succeeded, 7, Some(79)),
            ("package", Succeeded, 80, Some(95)),
        ],
    );
    steps.push(
        step_status(&wf, "unit-tests", Failed)
            .with_started(7)
            .with_finished(130)
            .with_exit_code(2)
            .with_message("container exited with code 2: 3 of 120 tests failed"),
    );
    for skipped in ["integration", "deploy"] {
        steps.push(
            step_status(&wf, skipped, Skipped)
                .with_message("a step it depends on failed: unit-tests"),
        );
    }
    wf.with_status(
        WorkflowPhase::Failed,
        Some("step unit-tests failed: container exited with code 2: 3 of 120 tests failed"),
        steps,
    )
}

/// a -> {b, c} -> d, with b done, c running.
pub(crate) fn diamond() -> Workflow {
    use StepPhase::*;
    let wf = labelled(
        "diamond",
        &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])],
    );
    let steps = ran(
        &wf,
        &[
            ("a", Succeeded, 1, Some(5)),
            ("b", Succeeded, 6, Some(9)),
            ("c", Running, 6, None),
        ],
    );
    wf.with_status(WorkflowPhase::Started, None, steps)
}

/// One step fanning out to twelve shards that a last step joins again.
pub(crate) fn fan_out() -> Workflow {
    use StepPhase::*;
    let shards: Vec<String> = (1..=12).map(|i| format!("shard-{i:02}")).collect();
    let shard_refs: Vec<&str> = shards.iter().map(String::as_str).collect();
    let mut steps: Vec<(&str, &[&str])> = vec![("split", &[])];
    steps.extend(shard_refs.iter().map(|s| (*s, &["split"][..])));
    steps.push(("merge", &shard_refs));
    let wf = labelled("fan-out", &steps);
    let mut ran_steps: Vec<Ran<'_>> = vec![("split", Succeeded, 1, Some(3))];
    for (i, shard) in shard_refs.iter().enumerate() {
        let i = i as i64;
        ran_steps.push(match i % 3 {
            0 => (shard, Succeeded, 4, Some(30 + 7 * i)),
            1 => (shard, Running, 4, None),
            _ => (shard, Succeeded, 4, Some(200 + 30 * i)),
        });
    }
    let status = ran(&wf, &ran_steps);
    wf.with_status(WorkflowPhase::Started, None, status)
}

/// A failed attempt of the `matrix` scene: its Job, exit code and times (seconds after creation).
fn failed_attempt(job: &str, code: i32, started: i64, finished: i64) -> FailedAttempt {
    FailedAttempt {
        job_name: job.into(),
        exit_code: Some(code),
        reason: format!("exit code {code}"),
        started_at: Some(time(started)),
        finished_at: Some(time(finished)),
    }
}

/// A listed instance of the `matrix` scene's fan-out.
fn instance(index: u32, phase: StepPhase, attempt: u32, started: i64) -> InstanceStatus {
    InstanceStatus {
        index,
        phase,
        job_name: Some(attempt_job_name(
            "matrix",
            "build",
            1,
            0,
            Some(index),
            attempt,
        )),
        started_at: Some(time(started)),
        ..InstanceStatus::default()
    }
}

/// Retries and fan-outs at work: `prepare` succeeded on its third attempt; `build` fans out
/// over 50 targets (44 done, one failed for good after 3 attempts, one running, one waiting
/// 8 s to retry, 3 not started); `flaky` waits 8 s for its second attempt; `test` fans out over
/// three objects and waits; `ship` waits for all.
pub(crate) fn retries_and_fan_out() -> Workflow {
    use StepPhase::*;
    let retries = |limit| {
        Some(RetryPolicy {
            limit,
            ..RetryPolicy::default()
        })
    };
    let mut prepare = step("prepare", &[]);
    prepare.retries = retries(3);
    let mut build = step("build", &["prepare"]).with_command(&["make", "{{item}}"]);
    build.with_items = Some(
        (0..50)
            .map(|i| json!(format!("target-{i:02}-linux-amd64")))
            .collect(),
    );
    build.max_parallel = Some(3);
    let mut flaky = step("flaky", &["prepare"]);
    flaky.retries = retries(1);
    let mut test = step("test", &["prepare"]);
    test.with_items = Some(vec![
        json!({"os": "linux", "arch": "amd64"}),
        json!({"os": "linux", "arch": "arm64", "kernel": "6.12-with-a-very-long-build-tag"}),
        json!({"os": "windows", "arch": "amd64"}),
    ]);
    let ship = step("ship", &["build", "flaky", "test"]);
    let mut wf = workflow_of("matrix", vec![prepare, build, flaky, test, ship])
        .with_label("team", "platform");
    wf.spec.retries = retries(2);

    let mut prepare = step_status(&wf, "prepare", Succeeded)
        .with_started(31)
        .with_finished(40);
    prepare.job_name = Some(attempt_job_name("matrix", "prepare", 1, 0, None, 2));
    prepare.retries = vec![
        failed_attempt("matrix-prepare-1", 1, 1, 5),
        failed_attempt("matrix-prepare-1-a1", 1, 15, 19),
    ];
    let mut build = step_status(&wf, "build", Running).with_started(41);
    build.job_name = None;
    build.exit_code = None;
    let mut failed_for_good = instance(3, Failed, 2, 200);
    failed_for_good.finished_at = Some(time(230));
    failed_for_good.exit_code = Some(2);
    failed_for_good.message =
        Some("container exited with code 2: no space left on device (after 3 attempts)".into());
    failed_for_good.retries = vec![
        failed_attempt("matrix-build-1-i3", 2, 60, 90),
        failed_attempt("matrix-build-1-i3-a1", 2, 100, 130),
    ];
    // Waiting to retry: its Job is the failed attempt's, already in its retries.
    let mut retrying = instance(46, Running, 0, 540);
    retrying.finished_at = Some(time(598));
    let mut oom_killed = failed_attempt("matrix-build-1-i46", 137, 540, 598);
    oom_killed.reason = "OOMKilled".into();
    retrying.retries = vec![oom_killed];
    retrying.message = Some("OOMKilled; attempt 2 of 3 starts at 2026-03-01T10:10:08Z".into());
    retrying.next_retry_at = Some(time(608));
    build.instances = Some(InstancesStatus {
        total: 50,
        started: 47,
        succeeded: 44,
        failed: 1,
        run: 0,
        active: vec![failed_for_good, instance(45, Running, 0, 560), retrying],
        nodes: Vec::new(),
    });
    let mut flaky = step_status(&wf, "flaky", Running).with_started(41);
    flaky.exit_code = None;
    flaky.finished_at = Some(time(592));
    flaky.retries = vec![failed_attempt("matrix-flaky-1", 3, 41, 592)];
    flaky.message = Some("exit code 3; attempt 2 of 2 starts at 2026-03-01T10:10:08Z".into());
    flaky.next_retry_at = Some(time(608));
    wf.with_status(WorkflowPhase::Started, None, vec![prepare, build, flaky])
}

/// A cycle: the controller refused to start it and said why.
pub(crate) fn invalid() -> Workflow {
    let wf = labelled("loop", &[("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
    let message = "invalid spec: steps depend on each other in a circle: a -> b -> c -> a; \
                   remove one of these dependencies";
    let mut wf = wf.with_status(WorkflowPhase::Failed, Some(message), vec![]);
    if let Some(status) = wf.status.as_mut() {
        status.conditions = vec![condition("Ready", "False", "InvalidSpec", message, 1)];
    }
    wf
}

/// The stop request of the `stopped` scene.
const STOP: &str = "kwf.dev/stop=2026-03-01T10:01:40Z by kubectl workflow stop";

/// Stopped at 100 s: the two running steps' Jobs deleted, the steps that had not started
/// stopped too; the workflow Failed with the stop's message.
pub(crate) fn stopped() -> Workflow {
    use StepPhase::*;
    let wf = pipeline();
    let mut steps = pipeline_ran(&wf, &[("build", Succeeded, 7, Some(79))]);
    for (step, started) in [("unit-tests", 7), ("package", 80)] {
        steps.push(
            step_status(&wf, step, Stopped)
                .with_started(started)
                .with_finished(100)
                .with_message(&format!(
                    "step \"{step}\" stopped: Job release-{step}-1 deleted by the stop request ({STOP})"
                )),
        );
    }
    for pending in ["integration", "deploy"] {
        let mut status = step_status(&wf, pending, Stopped)
            .with_message(&format!("not started: the workflow was stopped ({STOP})"));
        status.job_name = None;
        steps.push(status);
    }
    let message = format!(
        "stopped by request ({STOP}); rerun with `kubectl workflow restart release -n {}`",
        kwf_api::fixtures::NAMESPACE
    );
    let mut wf = wf.with_status(WorkflowPhase::Failed, Some(&message), steps);
    if let Some(status) = wf.status.as_mut() {
        status.finished_at = Some(kwf_api::fixtures::time(100));
        for c in &mut status.conditions {
            if c.type_ == "Failed" {
                c.reason = "Stopped".into();
            }
        }
    }
    wf
}

/// Running, suspended at 90 s: package still runs, nothing new starts.
pub(crate) fn suspended() -> Workflow {
    let mut wf = started().with_annotation(kwf_api::ANNOTATION_SUSPEND, "true");
    let message = "suspended (kwf.dev/suspend=true): no new step starts until \
                   `kubectl workflow resume release -n default`";
    if let Some(status) = wf.status.as_mut() {
        status.message = Some(message.to_owned());
        status
            .conditions
            .push(condition("Suspended", "True", "Suspended", message, 90));
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
            event_time: Some(MicroTime(at(*seconds))),
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
        last_observed_time: MicroTime(at(last)),
    });
    event
}
