//! The workflow controller under faults: crashes (SIGKILL) at random points, Jobs deleted by
//! hand, and two replicas competing for the leader Lease.

mod controller_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use controller_support::{JobRecorder, Seen, random_below, step_phases};
use kube::ResourceExt;
use kube::api::DeleteParams;
use kwf_api::{StepPhase, WorkflowPhase};
use kwf_e2e::fixtures::{chain, layered, shell_step, workflow};
use kwf_e2e::{Lease, Scene};

#[tokio::test]
async fn sigkilled_and_restarted_repeatedly_it_completes_with_one_job_per_step() {
    let scene = Scene::new("ctl-crash").await;
    let recorder = JobRecorder::start(&scene, "crashy").await;
    let mut controller = scene.spawn(scene.controller_command("crash"));
    // 20 steps in 5 layers of 4; each step waits for two steps of the layer before.
    let wf = scene
        .create(&layered("crashy", 5, 4, 120, "sleep 0.4"))
        .await;

    let mut killed_mid_run = 0;
    for kill in 1..=5 {
        // A random point: 0.3 .. 1.5 s into this life of the controller.
        tokio::time::sleep(Duration::from_millis(300 + random_below(1200))).await;
        controller.kill();
        let now = scene.workflow("crashy").await;
        let done = now.status.as_ref().map_or(0, |s| s.executed_steps().len());
        if done < 20 {
            killed_mid_run += 1;
        }
        controller
            .restart()
            .unwrap_or_else(|e| panic!("restart {kill}: {e:#}"));
    }
    assert!(
        killed_mid_run >= 3,
        "only {killed_mid_run} of 5 kills landed before the workflow finished"
    );
    let done = scene
        .wait_phase("crashy", WorkflowPhase::Completed, Duration::from_secs(120))
        .await;
    recorder.assert_dependency_order(&done);

    let jobs = scene.jobs_of("crashy").await;
    let per_step: BTreeMap<String, usize> = jobs.iter().fold(BTreeMap::new(), |mut m, j| {
        *m.entry(j.labels().get("kwf.dev/step").cloned().unwrap_or_default())
            .or_default() += 1;
        m
    });
    assert_eq!(per_step.len(), wf.spec.containers.len(), "{per_step:?}");
    assert!(
        per_step.values().all(|n| *n == 1),
        "a step got more than one Job: {per_step:?}"
    );
    let ever_created = recorder
        .seen()
        .iter()
        .filter(|s| matches!(s, Seen::Added { .. }))
        .count();
    assert_eq!(
        ever_created,
        20,
        "Jobs were created and deleted on the way: {:#?}",
        recorder.seen()
    );
}

#[tokio::test]
async fn a_job_deleted_by_hand_fails_its_step_with_the_documented_message() {
    let scene = Scene::new("ctl-deleted").await;
    let _controller = scene.controller().await;
    scene
        .create(&workflow(
            "victim",
            120,
            vec![
                shell_step("long", &[], "sleep 60"),
                shell_step("next", &["long"], "true"),
            ],
        ))
        .await;
    let running = scene
        .wait_for("victim", Duration::from_secs(60), "long Running", |wf| {
            step_phases(wf)["long"] == StepPhase::Running
        })
        .await;
    let job = running
        .status
        .clone()
        .unwrap()
        .step("long")
        .and_then(|s| s.job_name.clone())
        .expect("a Job name");
    scene
        .jobs()
        .delete(&job, &DeleteParams::background())
        .await
        .unwrap();

    let wf = scene
        .wait_phase("victim", WorkflowPhase::Failed, Duration::from_secs(60))
        .await;
    let long = wf.status.clone().unwrap().step("long").cloned().unwrap();
    assert_eq!(long.phase, StepPhase::Failed);
    let message = long.message.unwrap_or_default();
    assert!(
        message.contains(&format!("Job {job} was deleted before it finished"))
            && message.contains("kubectl workflow restart victim --failed"),
        "{message}"
    );
    scene
        .wait_for("victim", Duration::from_secs(30), "next Skipped", |wf| {
            step_phases(wf)["next"] == StepPhase::Skipped
        })
        .await;
}

#[tokio::test]
async fn two_replicas_never_both_act_and_the_standby_takes_over() {
    let scene = Scene::new("ctl-leader").await;
    let replica = |identity: &str| {
        let command = scene
            .controller_command(identity)
            .leader_election(Lease {
                name: "kwf-e2e".to_owned(),
                namespace: scene.ns.clone(),
                identity: identity.to_owned(),
            })
            .args(["--lease-duration=4"]);
        scene.spawn(command)
    };
    let mut replica_a = replica("replica-a");
    let mut replica_b = replica("replica-b");

    let recorder = JobRecorder::start(&scene, "contested").await;
    // A chain of 12 steps of 0.5 s: long enough to kill the leader in the middle.
    scene
        .create(&chain("contested", 12, 120, "sleep 0.5"))
        .await;

    // Wait for a few steps, then kill whichever replica created them.
    scene
        .wait_for("contested", Duration::from_secs(60), "3 steps done", |wf| {
            wf.status
                .as_ref()
                .is_some_and(|s| s.executed_steps().len() >= 3)
        })
        .await;
    let early = creators(&recorder.seen());
    assert_eq!(
        early.iter().collect::<BTreeSet<_>>().len(),
        1,
        "two replicas created Jobs: {early:?}"
    );
    let leader = early[0].clone();
    let standby = if leader == "replica-a" {
        replica_a.kill();
        &mut replica_b
    } else {
        replica_b.kill();
        &mut replica_a
    };
    assert!(standby.is_running());

    let wf = scene
        .wait_phase(
            "contested",
            WorkflowPhase::Completed,
            Duration::from_secs(90),
        )
        .await;
    recorder.assert_dependency_order(&wf);
    let all = creators(&recorder.seen());
    // The creators switch exactly once: from the killed leader to the standby, never back and forth.
    let switches = all.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(switches, 1, "{all:?}");
    assert_eq!(all.first(), Some(&leader));
    assert_ne!(all.last(), Some(&leader));
}

/// The `kwf.dev/created-by` of each Job, in creation order.
fn creators(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Added { created_by, .. } => {
                Some(created_by.clone().unwrap_or_else(|| "(none)".into()))
            }
            _ => None,
        })
        .collect()
}
