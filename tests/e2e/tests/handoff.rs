//! End-to-end tests of the hand-off on the pod (issue 17) on the real control plane, with the
//! real controller: a single-pod step's success is taken from its pod before the Job controller
//! marks the Job Complete, and yet no step is ever reported succeeded when its Job failed:
//! neither a step that exits non-zero nor one whose container exits 0 around its Job's
//! `activeDeadlineSeconds` (the Job controller checks the deadline before it counts a
//! succeeded pod, so such a Job can end Failed although its pod succeeded).
//! Steps run as host processes on the process kubelet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::watcher;
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, StepPhase, Workflow, WorkflowPhase};
use kwf_e2e::Scene;
use kwf_e2e::fixtures::{shell_step, workflow};
use kwf_e2e::watch::{Change, follow};

const WITHIN: Duration = Duration::from_secs(120);

/// Everything the watches saw: per (workflow, step), whether any status said Succeeded; per Job,
/// its step and its last finish condition; which (workflow, step) ever had a Job.
#[derive(Default)]
struct Seen {
    reported_succeeded: BTreeSet<(String, String)>,
    job_outcome: BTreeMap<String, ((String, String), Option<String>)>,
    had_job: BTreeSet<(String, String)>,
}

fn finish_condition(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status == "True" && matches!(c.type_.as_str(), "Complete" | "Failed"))
        .map(|c| format!("{}:{}", c.type_, c.reason.clone().unwrap_or_default()))
}

async fn record(scene: &Scene) -> (Arc<Mutex<Seen>>, impl Drop, impl Drop) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workflows = follow(scene.workflows(), watcher::Config::default(), {
        let seen = seen.clone();
        move |change| {
            if let Change::Applied(wf) = change {
                let mut seen = seen.lock().unwrap();
                for step in wf.status.iter().flat_map(|s| s.steps.iter()) {
                    if step.phase == StepPhase::Succeeded {
                        seen.reported_succeeded
                            .insert((wf.name_any(), step.name.clone()));
                    }
                }
            }
        }
    })
    .await
    .expect("watch Workflows");
    let jobs = follow(scene.jobs(), watcher::Config::default(), {
        let seen = seen.clone();
        move |change| {
            if let Change::Applied(job) = change {
                let labels = job.labels();
                let (Some(wf), Some(step)) = (labels.get(LABEL_WORKFLOW), labels.get(LABEL_STEP))
                else {
                    return;
                };
                let key = (wf.clone(), step.clone());
                let mut seen = seen.lock().unwrap();
                seen.had_job.insert(key.clone());
                let outcome = finish_condition(&job);
                let entry = seen
                    .job_outcome
                    .entry(job.name_any())
                    .or_insert((key, None));
                if outcome.is_some() {
                    entry.1 = outcome;
                }
            }
        }
    })
    .await
    .expect("watch Jobs");
    (seen, workflows, jobs)
}

fn finished(wf: &Workflow) -> bool {
    matches!(
        wf.status.as_ref().and_then(|s| s.phase),
        Some(WorkflowPhase::Completed | WorkflowPhase::Failed)
    )
}

#[tokio::test]
async fn no_step_is_reported_succeeded_when_its_job_failed_even_at_the_deadline() {
    let scene = Scene::new("handoff").await;
    let controller = scene.controller().await;
    let (seen, _workflows, _jobs) = record(&scene).await;

    // name -> (maxStepTimeout, a's script): a, then b after a.
    let mut cases: Vec<(String, i64, String)> = vec![
        // No deadline: the pod's success is taken.
        ("fast".into(), -1, "true".into()),
        // A failure comes from the Job, never from the pod.
        ("fails".into(), -1, "exit 3".into()),
        // A 20 s deadline: finishing well before it, the pod decides; close to it, the Job.
        ("early".into(), 20, "sleep 2".into()),
        ("late".into(), 20, "sleep 7".into()),
    ];
    // The race: a exits 0 around its Job's 3 s deadline. The Job controller may mark such a Job
    // Failed (DeadlineExceeded) although its pod succeeded; the step must then be Failed.
    for tenths in [10, 15, 20, 25, 30, 35] {
        cases.push((
            format!("race-{tenths}"),
            3,
            format!("sleep {}.{}", tenths / 10, tenths % 10),
        ));
    }
    for (name, timeout, script) in &cases {
        scene
            .create(&workflow(
                name,
                *timeout,
                vec![
                    shell_step("a", &[], script),
                    shell_step("b", &["a"], "true"),
                ],
            ))
            .await;
    }
    for (name, ..) in &cases {
        scene
            .wait_for(name, WITHIN, "Completed or Failed", finished)
            .await;
    }
    // Conditions the Job controller writes after the workflow ended would still count.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The pod's success was taken, so the checks below are about the pod path too.
    let settled = controller
        .metrics()
        .await
        .expect("scrape the controller")
        .value("kwf_steps_settled_from_pod_total");
    assert!(
        settled >= 1.0,
        "at least one step (fast's) was taken from its pod: {settled}"
    );
    let seen = seen.lock().unwrap();
    for ((wf, step), outcome) in seen.job_outcome.values() {
        eprintln!("{wf}/{step}: Job {outcome:?}");
    }
    let mut failed_jobs = 0;
    for (job, ((wf, step), outcome)) in &seen.job_outcome {
        let Some(outcome) = outcome else {
            continue;
        };
        if outcome.starts_with("Failed") {
            failed_jobs += 1;
            assert!(
                !seen
                    .reported_succeeded
                    .contains(&(wf.clone(), step.clone())),
                "step {step} of {wf} was reported Succeeded but its Job {job} ended {outcome}"
            );
            if step == "a" {
                assert!(
                    !seen.had_job.contains(&(wf.clone(), "b".to_owned())),
                    "b of {wf} started although a's Job {job} ended {outcome}"
                );
            }
        }
    }
    assert!(failed_jobs >= 1, "the failing step's Job failed");
    for (wf, step) in &seen.reported_succeeded {
        let outcome = seen
            .job_outcome
            .values()
            .find(|(key, _)| key == &(wf.clone(), step.clone()))
            .and_then(|(_, outcome)| outcome.clone());
        assert!(
            outcome
                .as_deref()
                .is_some_and(|o| o.starts_with("Complete")),
            "step {step} of {wf} reported Succeeded: its Job must end Complete, not {outcome:?}"
        );
    }
    for name in ["fast", "early", "late"] {
        assert!(
            seen.reported_succeeded
                .contains(&(name.to_owned(), "b".to_owned())),
            "{name} completed"
        );
    }
}
