//! The workflow controller end to end: the real binary against the real control plane, with
//! steps run by the process kubelet as host commands.

mod controller_support;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_support::{JobRecorder, step_phases};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kwf_api::fixtures::WorkflowFixture;
use kwf_api::{StepPhase, WorkflowPhase};
use kwf_e2e::fixtures::{shell_step, workflow};
use kwf_e2e::{Scene, metrics};
use serde_json::json;

const RUN: Duration = Duration::from_secs(90);

/// The kopf seed's example shape (examples/seed-example.yaml): one step, then two after it.
#[tokio::test]
async fn seed_example_completes_in_dependency_order() {
    let scene = Scene::new("ctl-seed").await;
    let _controller = scene.controller().await;
    let recorder = JobRecorder::start(&scene, "seed-example").await;
    scene
        .create(&workflow(
            "seed-example",
            60,
            vec![
                shell_step("first", &[], "echo first"),
                shell_step("second", &["first"], "echo second"),
                shell_step("third", &["first"], "echo third"),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("seed-example", WorkflowPhase::Completed, RUN)
        .await;
    recorder.assert_dependency_order(&wf);

    let status = wf.status.clone().unwrap();
    assert_eq!(status.progress.as_deref(), Some("3/3"));
    assert_eq!(status.observed_generation, wf.metadata.generation);
    assert_eq!(status.executed_steps().len(), 3);
    // Every Job: labels naming workflow and step, owned by the Workflow, restartPolicy Never.
    for job in scene.jobs_of("seed-example").await {
        assert_eq!(
            job.labels().get("kwf.dev/workflow").map(String::as_str),
            Some("seed-example")
        );
        assert!(job.labels().contains_key("kwf.dev/step"));
        let owner = job.owner_references().first().cloned().expect("an owner");
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("Workflow", Some(true))
        );
        let spec = job.spec.unwrap();
        assert_eq!(
            spec.template.spec.unwrap().restart_policy.as_deref(),
            Some("Never")
        );
        assert_eq!(spec.active_deadline_seconds, Some(60));
    }

    // Events are published in the background: wait for them, then check what they name.
    let events = wait_for_events(
        &scene,
        "seed-example",
        &[
            ("StepStarted", 3),
            ("StepSucceeded", 3),
            ("WorkflowCompleted", 1),
        ],
    )
    .await;
    let job_names: Vec<String> = scene
        .jobs_of("seed-example")
        .await
        .iter()
        .map(|job| job.name_any())
        .collect();
    for event in events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("StepStarted"))
    {
        let related = event.related.as_ref().and_then(|r| r.name.clone());
        assert!(
            related
                .as_ref()
                .is_some_and(|name| job_names.contains(name)),
            "StepStarted names its Job: {related:?} in {job_names:?}"
        );
        assert_eq!(event.type_.as_deref(), Some("Normal"));
        assert_eq!(
            event.reporting_controller.as_deref(),
            Some("workflow-controller")
        );
    }
}

#[tokio::test]
async fn diamond_runs_the_join_after_both_branches() {
    let scene = Scene::new("ctl-diamond").await;
    let controller = scene.controller().await;
    let recorder = JobRecorder::start(&scene, "diamond").await;
    scene
        .create(&workflow(
            "diamond",
            120,
            vec![
                shell_step("fetch", &[], "sleep 0.2"),
                shell_step("build", &["fetch"], "sleep 0.5"),
                shell_step("test", &["fetch"], "sleep 1"),
                shell_step("package", &["build", "test"], "sleep 0.2"),
                shell_step("publish", &["package"], "echo published"),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("diamond", WorkflowPhase::Completed, RUN)
        .await;
    recorder.assert_dependency_order(&wf);

    // The controller measured the scheduling latency of the four dependent steps.
    let metrics = controller.metrics().await.expect("scrape /metrics");
    let count = metrics.value("kwf_step_scheduling_latency_seconds_count");
    assert!(count >= 4.0, "{metrics:?}");
    let addr = controller
        .metrics_addr()
        .expect("a ready controller's address");
    let (readiness, _) = metrics::get_status(addr, "/readyz")
        .await
        .expect("GET /readyz");
    assert_eq!(readiness, 200);
}

/// The five-step DAG of kubeci's design (step-5 after step-1 and step-4).
#[tokio::test]
async fn kubeci_five_step_dag() {
    let scene = Scene::new("ctl-kubeci").await;
    let dir = scene.dir.display();
    let _controller = scene.controller().await;
    let recorder = JobRecorder::start(&scene, "my-workflow").await;
    let touch = |n: u32| format!("touch {dir}/file-{n}");
    scene
        .create(&workflow(
            "my-workflow",
            60,
            vec![
                shell_step("step-1", &[], &touch(1)),
                shell_step("step-2", &["step-1"], &touch(2)),
                shell_step("step-3", &["step-1"], &touch(3)),
                shell_step("step-4", &["step-2", "step-3"], &touch(4)),
                shell_step(
                    "step-5",
                    &["step-1", "step-4"],
                    &format!("echo step-5; ls {dir}; test -f {dir}/file-4"),
                ),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("my-workflow", WorkflowPhase::Completed, RUN)
        .await;
    recorder.assert_dependency_order(&wf);
}

/// The five flows of the jobflow operator's example (job3 after job1 and job2, job5 after job4 and job2).
#[tokio::test]
async fn jobflow_five_flows() {
    let scene = Scene::new("ctl-jobflow").await;
    let _controller = scene.controller().await;
    let recorder = JobRecorder::start(&scene, "jobflow-example").await;
    scene
        .create(&workflow(
            "jobflow-example",
            60,
            vec![
                shell_step("job1", &[], "sleep 0.5"),
                shell_step("job2", &["job1"], "sleep 1"),
                shell_step("job3", &["job1", "job2"], "sleep 1"),
                shell_step("job4", &[], "sleep 0.5"),
                shell_step("job5", &["job4", "job2"], "sleep 0.5"),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("jobflow-example", WorkflowPhase::Completed, RUN)
        .await;
    recorder.assert_dependency_order(&wf);
}

#[tokio::test]
async fn a_failing_step_fails_the_workflow_and_skips_what_follows() {
    let scene = Scene::new("ctl-failing").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "failing",
            60,
            vec![
                shell_step("prepare", &[], "echo preparing"),
                shell_step("flaky", &["prepare"], "echo about to fail >&2; exit 3"),
                shell_step("report", &["flaky"], "echo never runs"),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("failing", WorkflowPhase::Failed, RUN)
        .await;
    let status = wf.status.clone().unwrap();
    let phases = step_phases(&wf);
    assert_eq!(phases["prepare"], StepPhase::Succeeded);
    assert_eq!(phases["flaky"], StepPhase::Failed);
    // Skipped is recorded once the workflow failed; give the next reconcile a moment.
    let wf = scene
        .wait_for("failing", RUN, "report Skipped", |wf| {
            step_phases(wf)["report"] == StepPhase::Skipped
        })
        .await;
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("flaky") && message.contains("exit code 3"),
        "{message}"
    );
    let flaky = wf.status.clone().unwrap().step("flaky").cloned().unwrap();
    assert_eq!(flaky.exit_code, Some(3));
    let events = wait_for_events(
        &scene,
        "failing",
        &[("StepFailed", 1), ("WorkflowFailed", 1), ("StepStarted", 2)],
    )
    .await;
    let failed = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("StepFailed"))
        .unwrap();
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert!(
        failed
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("exit code 3"),
        "{:?}",
        failed.note
    );
    // No Job was ever created for the skipped step.
    let jobs = scene.jobs_of("failing").await;
    assert!(
        !jobs
            .iter()
            .any(|j| j.labels().get("kwf.dev/step").map(String::as_str) == Some("report"))
    );
}

#[tokio::test]
async fn a_step_over_its_timeout_fails_the_workflow() {
    let scene = Scene::new("ctl-timeout").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "slow",
            2,
            vec![
                shell_step("sleepy", &[], "sleep 30"),
                shell_step("after", &["sleepy"], "true"),
            ],
        ))
        .await;
    let wf = scene
        .wait_phase("slow", WorkflowPhase::Failed, Duration::from_secs(30))
        .await;
    let message = wf.status.clone().unwrap().message.unwrap_or_default();
    assert!(
        message.contains("sleepy") && message.contains("timed out after 2s"),
        "{message}"
    );
    let started = wf.metadata.creation_timestamp.clone().unwrap().0;
    let finished = wf
        .status
        .clone()
        .unwrap()
        .finished_at
        .map(|t| t.0)
        .expect("finishedAt");
    assert!(
        finished.duration_since(started).as_secs() < 15,
        "failed long after the 2 s timeout"
    );
    scene
        .wait_for("slow", RUN, "after Skipped", |wf| {
            step_phases(wf)["after"] == StepPhase::Skipped
        })
        .await;
}

#[tokio::test]
async fn relabeling_a_workflow_cascades_to_its_jobs() {
    let scene = Scene::new("ctl-relabel").await;
    let _controller = scene.controller().await;
    let wf = workflow(
        "labelled",
        120,
        vec![
            shell_step("quick", &[], "true"),
            shell_step("long", &["quick"], "sleep 60"),
        ],
    )
    .with_label("team", "a")
    .with_label("tier", "gold");
    scene.create(&wf).await;
    scene
        .wait_for("labelled", RUN, "long Running", |wf| {
            step_phases(wf)["long"] == StepPhase::Running
        })
        .await;
    let labels_of = |job: &k8s_openapi::api::batch::v1::Job| job.labels().clone();

    // Someone else labels a Job: the controller must leave that label alone.
    let jobs = scene.jobs_of("labelled").await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(labels_of(job).get("team").map(String::as_str), Some("a"));
        let foreign = json!({ "metadata": { "labels": { "owner": "me" } } });
        scene
            .jobs()
            .patch(
                &job.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&foreign),
            )
            .await
            .unwrap();
    }

    // Add env, change team, remove tier.
    let relabel = json!({ "metadata": { "labels": { "env": "prod", "team": "b", "tier": null } } });
    scene
        .workflows()
        .patch("labelled", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = scene.jobs_of("labelled").await;
        let ok = jobs.len() == 2
            && jobs.iter().all(|job| {
                let l = labels_of(job);
                l.get("env").map(String::as_str) == Some("prod")
                    && l.get("team").map(String::as_str) == Some("b")
                    && !l.contains_key("tier")
                    && l.get("owner").map(String::as_str) == Some("me")
            });
        if ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "labels did not cascade: {:?}\n{}",
            jobs.iter().map(labels_of).collect::<Vec<BTreeMap<_, _>>>(),
            scene.controller_logs(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn deleting_a_workflow_deletes_its_jobs_and_pods() {
    let scene = Scene::new("ctl-delete").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "doomed",
            120,
            vec![
                shell_step("a", &[], "true"),
                shell_step("b", &["a"], "sleep 60"),
            ],
        ))
        .await;
    scene
        .wait_for("doomed", RUN, "b Running", |wf| {
            step_phases(wf)["b"] == StepPhase::Running
        })
        .await;
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.ns);
    let by_workflow = ListParams::default().labels("kwf.dev/workflow=doomed");
    // Wait until b's pod exists, so the cascade has something running to remove.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while pods.list(&by_workflow).await.unwrap().items.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods never appeared"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    scene
        .workflows()
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = scene.jobs_of("doomed").await.len();
        let pods = pods.list(&by_workflow).await.unwrap().items.len();
        if jobs == 0 && pods == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{jobs} Jobs and {pods} Pods left after deleting the Workflow"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_spec_change_restarts_the_workflow_with_the_new_spec() {
    let scene = Scene::new("ctl-update").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "evolving",
            120,
            vec![shell_step("a", &[], "sleep 60")],
        ))
        .await;
    scene
        .wait_for("evolving", RUN, "a Running", |wf| {
            step_phases(wf)["a"] == StepPhase::Running
        })
        .await;
    let old_jobs: Vec<String> = scene
        .jobs_of("evolving")
        .await
        .iter()
        .map(|j| j.name_any())
        .collect();
    assert_eq!(old_jobs.len(), 1);

    let spec = json!({ "spec": { "containers": [
        shell_step("a", &[], "true"),
        shell_step("b", &["a"], "echo new step"),
    ] } });
    scene
        .workflows()
        .patch("evolving", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    let wf = scene
        .wait_phase("evolving", WorkflowPhase::Completed, RUN)
        .await;
    assert_eq!(wf.status.clone().unwrap().observed_generation, Some(2));

    let jobs = scene.jobs_of("evolving").await;
    let names: Vec<String> = jobs.iter().map(|j| j.name_any()).collect();
    // The old generation's Job is gone (or going: background deletion).
    let live: Vec<_> = jobs
        .iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .collect();
    assert!(
        live.iter().all(|j| !old_jobs.contains(&j.name_any())),
        "old Job kept: {names:?}"
    );
    assert_eq!(live.len(), 2, "{names:?}");
    assert!(
        live.iter()
            .all(|j| j.labels().get("kwf.dev/generation").map(String::as_str) == Some("2"))
    );
}

#[tokio::test]
async fn a_restart_reruns_the_whole_workflow() {
    let scene = Scene::new("ctl-restart").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "again",
            60,
            vec![
                shell_step("a", &[], "true"),
                shell_step("b", &["a"], "true"),
            ],
        ))
        .await;
    let first = scene
        .wait_phase("again", WorkflowPhase::Completed, RUN)
        .await;
    let first_jobs: BTreeMap<String, String> = job_names_by_step(&first);

    annotate(
        &scene,
        "again",
        json!({ "kwf.dev/restartedAt": "2026-11-21T20:00:00Z" }),
    )
    .await;
    let wf = scene
        .wait_for("again", RUN, "rerun Completed", |wf| {
            let status = wf.status.clone().unwrap_or_default();
            status.run == 1 && status.phase == Some(WorkflowPhase::Completed)
        })
        .await;
    let second_jobs = job_names_by_step(&wf);
    for (step, job) in &second_jobs {
        assert_ne!(Some(job), first_jobs.get(step), "step {step} was not rerun");
    }
    assert_eq!(second_jobs.len(), 2);
}

#[tokio::test]
async fn a_failed_only_restart_keeps_what_succeeded() {
    let scene = Scene::new("ctl-restart-failed").await;
    let dir = scene.dir.display();
    let _controller = scene.controller().await;
    // `flaky` fails the first time and succeeds when rerun.
    let flaky = format!("if [ -f {dir}/ran ]; then exit 0; else touch {dir}/ran; exit 5; fi");
    scene
        .create(&workflow(
            "partial",
            60,
            vec![
                shell_step("ok", &[], "true"),
                shell_step("flaky", &["ok"], &flaky),
                shell_step("last", &["flaky"], "true"),
            ],
        ))
        .await;
    let failed = scene
        .wait_for("partial", RUN, "Failed with last Skipped", |wf| {
            wf.status.as_ref().and_then(|s| s.phase) == Some(WorkflowPhase::Failed)
                && step_phases(wf)["last"] == StepPhase::Skipped
        })
        .await;
    let before = job_names_by_step(&failed);

    annotate(
        &scene,
        "partial",
        json!({ "kwf.dev/restartedAt": "2026-11-21T20:00:00Z", "kwf.dev/restart-mode": "failed" }),
    )
    .await;
    let wf = scene
        .wait_for("partial", RUN, "rerun Completed", |wf| {
            let status = wf.status.clone().unwrap_or_default();
            status.run == 1 && status.phase == Some(WorkflowPhase::Completed)
        })
        .await;
    let after = job_names_by_step(&wf);
    assert_eq!(after["ok"], before["ok"], "the succeeded step was rerun");
    assert_ne!(
        after["flaky"], before["flaky"],
        "the failed step was not rerun"
    );
    assert!(after.contains_key("last"));
}

fn job_names_by_step(wf: &kwf_api::Workflow) -> BTreeMap<String, String> {
    wf.status
        .iter()
        .flat_map(|s| s.steps.iter())
        .filter_map(|s| Some((s.name.clone(), s.job_name.clone()?)))
        .collect()
}

/// The Events regarding Workflow `name`, once at least the given number of each reason is there
/// (the controller publishes them in the background); fails the test after 30 s.
async fn wait_for_events(scene: &Scene, name: &str, wanted: &[(&str, usize)]) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(scene.client.clone(), &scene.ns);
    let params = ListParams::default().fields(&format!("regarding.name={name}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let events = api.list(&params).await.expect("list Events").items;
        let count = |reason: &str| {
            events
                .iter()
                .filter(|e| e.reason.as_deref() == Some(reason))
                .count()
        };
        if wanted.iter().all(|(reason, n)| count(reason) >= *n) {
            return events;
        }
        if tokio::time::Instant::now() > deadline {
            let seen: Vec<_> = events.iter().map(|e| e.reason.clone()).collect();
            panic!("Events of {name}: wanted {wanted:?}, saw {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn annotate(scene: &Scene, name: &str, annotations: serde_json::Value) {
    let patch = json!({ "metadata": { "annotations": annotations } });
    scene
        .workflows()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}
