//! End-to-end tests of run control on the real control plane, with the real controller and the
//! real plugin: `stop` (Jobs gone, pods terminated, steps Stopped, then `restart` completes),
//! `suspend`/`resume` (a step whose dependency finished does not start until resumed), `wait`'s
//! exit codes, the failed step's log tail in `describe` and `logs --failed`, and `delete`.
//! Steps run as host processes on the process kubelet.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kwf_api::{
    ANNOTATION_SUSPEND, CONDITION_SUSPENDED, LABEL_STEP, LABEL_WORKFLOW, StepPhase, Workflow,
    WorkflowPhase,
};
use kwf_e2e::fixtures::{shell_step, workflow};
use kwf_e2e::plugin::run;
use kwf_e2e::{Controller, Scene};

const WITHIN: Duration = Duration::from_secs(60);

async fn scene(prefix: &str) -> (Scene, Controller) {
    let scene = Scene::new(prefix).await;
    let controller = scene.controller().await;
    (scene, controller)
}

fn step_phase(wf: &Workflow, step: &str) -> StepPhase {
    wf.status
        .as_ref()
        .map(|s| s.step_phase(step))
        .unwrap_or_default()
}

/// The pods of `step` of workflow `name`.
async fn pods_of(scene: &Scene, name: &str, step: &str) -> Vec<Pod> {
    let params =
        ListParams::default().labels(&format!("{LABEL_WORKFLOW}={name},{LABEL_STEP}={step}"));
    scene
        .api::<Pod>()
        .list(&params)
        .await
        .expect("list pods")
        .items
}

/// Waits until `check` holds, polling every 100 ms; panics with `what` otherwise.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {WITHIN:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stop_deletes_the_running_jobs_stops_the_rest_and_restart_completes_it() {
    let (scene, _controller) = scene("rc-stop").await;
    // b sleeps the first time only: the rerun after the stop completes.
    let marker = scene.dir.join("b-ran-once");
    let b = format!(
        "if [ -f {m} ]; then echo second run; exit 0; fi; touch {m}; sleep 300",
        m = marker.display()
    );
    scene
        .create(&workflow(
            "three",
            -1,
            vec![
                shell_step("a", &[], "echo a"),
                shell_step("b", &["a"], &b),
                shell_step("c", &["b"], "echo c"),
            ],
        ))
        .await;
    scene
        .wait_for("three", WITHIN, "step b running", |wf| {
            step_phase(wf, "b") == StepPhase::Running
        })
        .await;
    eventually("b's pod runs", || async {
        pods_of(&scene, "three", "b")
            .await
            .iter()
            .any(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;

    let dry = run(&scene, &["stop", "three", "--dry-run=server"]).await;
    dry.expect_code(0);
    assert_eq!(
        dry.stdout, "workflow.kwf.dev/three stopped (server dry run)\n",
        "{dry}"
    );
    let annotations = scene.workflow("three").await.metadata.annotations;
    assert!(
        !annotations.unwrap_or_default().contains_key("kwf.dev/stop"),
        "a dry run changed the workflow"
    );

    let stop = run(&scene, &["stop", "three"]).await;
    stop.expect_code(0);
    assert_eq!(stop.stdout, "workflow.kwf.dev/three stopped\n", "{stop}");

    let wf = scene
        .wait_phase("three", WorkflowPhase::Failed, WITHIN)
        .await;
    let status = wf.status.as_ref().expect("a status");
    assert_eq!(step_phase(&wf, "a"), StepPhase::Succeeded);
    assert_eq!(step_phase(&wf, "b"), StepPhase::Stopped);
    assert_eq!(step_phase(&wf, "c"), StepPhase::Stopped);
    let message = status.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("stopped by request (kwf.dev/stop=")
            && message.contains("by kubectl workflow stop"),
        "{message}"
    );
    let b_message = status
        .step("b")
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        b_message.contains("deleted by the stop request"),
        "{b_message}"
    );
    assert!(
        !b_message.contains("deleted before it finished"),
        "{b_message}"
    );
    let failed = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed")
        .expect("a Failed condition");
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "Stopped")
    );

    // The Job is gone and its pod terminated (the garbage collector deletes it after its grace
    // period; the process kubelet kills the sleep).
    eventually("b's Job is deleted", || async {
        scene.jobs_of("three").await.iter().all(|job| {
            job.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_STEP))
                .map(String::as_str)
                != Some("b")
        })
    })
    .await;
    eventually("b's pod is gone", || async {
        pods_of(&scene, "three", "b").await.is_empty()
    })
    .await;
    // Nothing was started after the stop.
    assert!(pods_of(&scene, "three", "c").await.is_empty());

    let graph = run(&scene, &["graph", "three", "--color=never"]).await;
    graph.expect_code(0);
    let line = |step: &str| {
        graph
            .stdout
            .lines()
            .find(|l| l.contains(&format!(" {step} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("b").contains("Stopped") && line("c").contains("Stopped"),
        "{graph}"
    );

    let restart = run(&scene, &["restart", "three", "--watch", "--color=never"]).await;
    restart.expect_code(0);
    let wf = scene.workflow("three").await;
    let status = wf.status.as_ref().expect("a status");
    assert_eq!(status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(status.run, 1);
    // The restart cleared the stop request; the controller would not act on the old value anyway.
    assert!(
        !wf.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kwf.dev/stop"),
        "restart leaves the old stop value"
    );
}

#[tokio::test]
async fn a_suspended_workflow_starts_no_step_until_resumed() {
    let (scene, _controller) = scene("rc-suspend").await;
    let go = scene.dir.join("go");
    let first = format!(
        "while [ ! -f {go} ]; do sleep 0.1; done; echo first",
        go = go.display()
    );
    scene
        .create(&workflow(
            "paused",
            -1,
            vec![
                shell_step("first", &[], &first),
                shell_step("second", &["first"], "echo second"),
            ],
        ))
        .await;
    scene
        .wait_for("paused", WITHIN, "step first running", |wf| {
            step_phase(wf, "first") == StepPhase::Running
        })
        .await;

    let suspend = run(&scene, &["suspend", "paused"]).await;
    suspend.expect_code(0);
    assert_eq!(
        suspend.stdout, "workflow.kwf.dev/paused suspended\n",
        "{suspend}"
    );
    let suspended = |wf: &Workflow| {
        wf.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == CONDITION_SUSPENDED && c.status == "True")
        })
    };
    scene
        .wait_for("paused", WITHIN, "the Suspended condition", suspended)
        .await;

    // The dependency finishes while suspended: the running step was let finish ...
    std::fs::write(&go, "").expect("write the go file");
    let wf = scene
        .wait_for("paused", WITHIN, "step first succeeded", |wf| {
            step_phase(wf, "first") == StepPhase::Succeeded
        })
        .await;
    // ... and the next one does not start: give the controller time to (wrongly) start it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let wf_later = scene.workflow("paused").await;
    assert_eq!(step_phase(&wf_later, "second"), StepPhase::Pending);
    assert_eq!(
        wf_later.status.as_ref().and_then(|s| s.phase),
        Some(WorkflowPhase::Started)
    );
    assert!(suspended(&wf) && suspended(&wf_later));
    let jobs = scene.jobs_of("paused").await;
    assert_eq!(jobs.len(), 1, "only first's Job: {jobs:?}");

    for command in [
        &["graph", "paused", "--color=never"][..],
        &["list", "--color=never"],
    ] {
        let shown = run(&scene, command).await;
        shown.expect_code(0);
        assert!(shown.stdout.contains("Suspended"), "{shown}");
    }
    let described = run(&scene, &["describe", "paused", "--color=never"]).await;
    assert!(
        described.stdout.contains("Suspended")
            && described.stdout.contains("kubectl workflow resume paused"),
        "{described}"
    );

    let resume = run(&scene, &["resume", "paused"]).await;
    resume.expect_code(0);
    assert_eq!(
        resume.stdout, "workflow.kwf.dev/paused resumed\n",
        "{resume}"
    );
    let wf = scene
        .wait_phase("paused", WorkflowPhase::Completed, WITHIN)
        .await;
    assert!(
        !wf.metadata
            .annotations
            .unwrap_or_default()
            .contains_key(ANNOTATION_SUSPEND),
        "resume removes the annotation"
    );
    let again = run(&scene, &["resume", "paused"]).await;
    again.expect_code(0);
    assert_eq!(
        again.stdout, "workflow.kwf.dev/paused is not suspended\n",
        "{again}"
    );
}

#[tokio::test]
async fn a_workflow_created_suspended_starts_when_resumed() {
    let (scene, _controller) = scene("rc-created").await;
    let mut wf = workflow("held", 60, vec![shell_step("only", &[], "echo only")]);
    wf.metadata.annotations = Some([(ANNOTATION_SUSPEND.to_owned(), "true".to_owned())].into());
    let file = scene.write("held.yaml", &kwf_e2e::fixtures::manifest(&wf));
    let file = file.display().to_string();
    run(&scene, &["create", "-f", &file]).await.expect_code(0);
    let suspended = scene
        .wait_for("held", WITHIN, "the Suspended condition", |wf| {
            wf.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == CONDITION_SUSPENDED && c.status == "True")
            })
        })
        .await;
    assert_eq!(
        suspended.status.as_ref().and_then(|s| s.phase),
        Some(WorkflowPhase::Started)
    );
    assert!(
        scene.jobs_of("held").await.is_empty(),
        "a step started while suspended"
    );
    // `wait` times out on a suspended workflow, saying where it is.
    let waited = run(&scene, &["wait", "held", "--timeout=1s"]).await;
    waited.expect_code(3);
    assert!(
        waited
            .error_line()
            .contains("(it is Started, 0/1 steps succeeded)"),
        "{waited}"
    );

    run(&scene, &["resume", "held"]).await.expect_code(0);
    let done = run(&scene, &["wait", "held", "--timeout=60s"]).await;
    done.expect_code(0);
}

#[tokio::test]
async fn wait_exits_by_how_the_workflow_ended() {
    let (scene, _controller) = scene("rc-wait").await;
    scene
        .create(&workflow("good", 60, vec![shell_step("a", &[], "echo ok")]))
        .await;
    scene
        .create(&workflow(
            "bad",
            60,
            vec![shell_step("a", &[], "echo no; exit 3")],
        ))
        .await;
    scene
        .create(&workflow(
            "slow",
            -1,
            vec![shell_step("a", &[], "sleep 300")],
        ))
        .await;

    let met = run(
        &scene,
        &["wait", "good", "--for=completed", "--timeout=60s"],
    )
    .await;
    met.expect_code(0);
    assert_eq!(met.stdout, "workflow.kwf.dev/good condition met\n", "{met}");

    let other = run(&scene, &["wait", "bad", "--for=completed", "--timeout=60s"]).await;
    other.expect_code(1);
    assert!(
        other
            .error_line()
            .starts_with("error: workflow \"bad\" failed: step \"a\" failed with exit code 3"),
        "{other}"
    );
    let failed = run(&scene, &["wait", "bad", "--for=failed", "--timeout=60s"]).await;
    failed.expect_code(0);
    let finished = run(&scene, &["wait", "good", "--for=finished"]).await;
    finished.expect_code(0);
    let not_failed = run(&scene, &["wait", "good", "--for=failed"]).await;
    not_failed.expect_code(1);
    assert!(
        not_failed
            .error_line()
            .contains("completed instead of failing"),
        "{not_failed}"
    );

    let timed_out = run(&scene, &["wait", "slow", "--timeout=2s"]).await;
    timed_out.expect_code(3);
    assert!(
        timed_out
            .error_line()
            .starts_with("error: timed out waiting for the condition on workflow.kwf.dev/slow"),
        "{timed_out}"
    );
    let missing = run(&scene, &["wait", "nope", "--timeout=2s"]).await;
    missing.expect_code(4);
    assert!(
        missing.error_line().contains("workflow \"nope\" not found"),
        "{missing}"
    );
    let usage = run(&scene, &["wait", "slow", "--timeout=soon"]).await;
    usage.expect_code(2);
}

#[tokio::test]
async fn describe_and_logs_failed_show_the_failed_step_s_log() {
    let (scene, _controller) = scene("rc-logs").await;
    scene
        .create(&workflow(
            "broken",
            60,
            vec![
                shell_step("ok", &[], "echo fine"),
                shell_step(
                    "boom",
                    &["ok"],
                    "for i in $(seq 1 15); do echo line-$i; done; exit 3",
                ),
            ],
        ))
        .await;
    scene
        .wait_phase("broken", WorkflowPhase::Failed, WITHIN)
        .await;

    let described = run(&scene, &["describe", "broken", "--color=never"]).await;
    described.expect_code(0);
    let out = &described.stdout;
    assert!(
        out.contains("Failed Step Logs (last 10 lines):"),
        "{described}"
    );
    assert!(out.contains("  boom (pod broken-boom-1-"), "{described}");
    assert!(
        out.contains("    line-6\n") && out.contains("    line-15\n"),
        "{described}"
    );
    assert!(
        !out.contains("    line-5\n"),
        "the tail is bounded: {described}"
    );
    assert!(
        !out.contains("fine"),
        "a step that succeeded shows no log: {described}"
    );

    let logs = run(&scene, &["logs", "broken", "--failed", "--color=never"]).await;
    logs.expect_code(0);
    let lines: Vec<&str> = logs.stdout.lines().collect();
    assert_eq!(lines.len(), 15, "{logs}");
    assert!(
        lines.iter().all(|l| l.starts_with("boom │ line-")),
        "{logs}"
    );

    let graph = run(&scene, &["graph", "broken", "--watch", "--color=never"]).await;
    graph.expect_code(1);
    assert!(
        graph.stdout.contains("Failed Step Logs (last 10 lines):"),
        "{graph}"
    );
    assert!(graph.stdout.contains("    line-15\n"), "{graph}");
}

#[tokio::test]
async fn delete_takes_names_or_a_selector_and_honours_dry_run() {
    let (scene, _controller) = scene("rc-delete").await;
    for (name, team) in [("one", "a"), ("two", "a"), ("three", "b")] {
        let mut wf = workflow(name, 60, vec![shell_step("s", &[], "echo hi")]);
        wf.metadata.labels = Some([("team".to_owned(), team.to_owned())].into());
        scene.create(&wf).await;
    }
    let dry = run(&scene, &["delete", "-l", "team=a", "--dry-run=server"]).await;
    dry.expect_code(0);
    assert_eq!(
        dry.stdout,
        "workflow.kwf.dev \"one\" deleted (server dry run)\nworkflow.kwf.dev \"two\" deleted (server dry run)\n",
        "{dry}"
    );
    assert!(
        scene
            .workflows()
            .get_opt("one")
            .await
            .expect("get")
            .is_some()
    );

    let nothing = run(&scene, &["delete"]).await;
    nothing.expect_code(2);

    let by_label = run(&scene, &["delete", "-l", "team=a", "-v=6"]).await;
    by_label.expect_code(0);
    assert_eq!(
        by_label.stdout, "workflow.kwf.dev \"one\" deleted\nworkflow.kwf.dev \"two\" deleted\n",
        "{by_label}"
    );
    // -v=6 logs each request as kubectl does.
    assert!(
        by_label
            .stderr
            .lines()
            .any(|l| l.starts_with("DELETE https://")
                && l.contains("/workflows/one ")
                && l.contains(" 200 OK in ")),
        "{by_label}"
    );
    assert!(
        scene
            .workflows()
            .get_opt("one")
            .await
            .expect("get")
            .is_none()
    );

    let missing = run(&scene, &["delete", "three", "nope"]).await;
    missing.expect_code(1);
    assert_eq!(
        missing.stdout, "workflow.kwf.dev \"three\" deleted\n",
        "{missing}"
    );
    assert!(
        missing.error_line().contains("workflow \"nope\" not found"),
        "{missing}"
    );
    let ignored = run(&scene, &["delete", "nope", "--ignore-not-found"]).await;
    ignored.expect_code(0);
}
