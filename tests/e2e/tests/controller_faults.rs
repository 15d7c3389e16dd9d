//! The workflow controller under faults: crashes (SIGKILL) at random points, Jobs deleted by
//! hand, and two replicas competing for the leader Lease.

mod controller_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use controller_support::{Scene, Seen, random_below, step, step_phases, workflow};
use kube::ResourceExt;
use kube::api::DeleteParams;
use kwf_api::{StepPhase, WorkflowPhase};

/// 20 steps in 5 layers of 4; each step waits for two steps of the layer before.
fn twenty_steps(sleep: &str) -> Vec<serde_json::Value> {
    let name = |layer: usize, i: usize| format!("s{layer}-{i}");
    let mut steps = Vec::new();
    for layer in 0..5 {
        for i in 0..4 {
            let deps: Vec<String> = if layer == 0 {
                vec![]
            } else {
                vec![name(layer - 1, i), name(layer - 1, (i + 1) % 4)]
            };
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            steps.push(step(&name(layer, i), &deps, &format!("sleep {sleep}")));
        }
    }
    steps
}

#[tokio::test]
async fn sigkilled_and_restarted_repeatedly_it_completes_with_one_job_per_step() {
    let scene = Scene::new("ctl-crash").await;
    let recorder = scene.record_jobs("crashy").await;
    let mut controller = scene.controller_with(&["--leader-elect=false"], "crash-0");
    let wf = scene
        .create(workflow("crashy", 120, twenty_steps("0.4")))
        .await;

    let mut killed_mid_run = 0;
    for kill in 1..=5 {
        // A random point: 0.3 .. 1.5 s into this life of the controller.
        tokio::time::sleep(Duration::from_millis(300 + random_below(1200))).await;
        controller.kill();
        let now = scene.workflows().get("crashy").await.unwrap();
        let done = now.status.as_ref().map_or(0, |s| s.executed_steps().len());
        if done < 20 {
            killed_mid_run += 1;
        }
        controller = scene.controller_with(&["--leader-elect=false"], &format!("crash-{kill}"));
    }
    assert!(
        killed_mid_run >= 3,
        "only {killed_mid_run} of 5 kills landed before the workflow finished"
    );
    let done = scene
        .wait_phase(
            "crashy",
            WorkflowPhase::Completed,
            Duration::from_secs(120),
            &[&controller],
        )
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
    let controller = scene.controller();
    scene
        .create(workflow(
            "victim",
            120,
            vec![
                step("long", &[], "sleep 60"),
                step("next", &["long"], "true"),
            ],
        ))
        .await;
    let running = scene
        .wait_for(
            "victim",
            Duration::from_secs(60),
            &[&controller],
            "long Running",
            |wf| step_phases(wf)["long"] == StepPhase::Running,
        )
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
        .wait_phase(
            "victim",
            WorkflowPhase::Failed,
            Duration::from_secs(60),
            &[&controller],
        )
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
        .wait_for(
            "victim",
            Duration::from_secs(30),
            &[&controller],
            "next Skipped",
            |wf| step_phases(wf)["next"] == StepPhase::Skipped,
        )
        .await;
}

#[tokio::test]
async fn two_replicas_never_both_act_and_the_standby_takes_over() {
    let scene = Scene::new("ctl-leader").await;
    let lease = format!("--lease-namespace={}", scene.ns);
    let flags = |identity: &'static str| {
        vec![
            "--leader-elect=true".to_owned(),
            "--lease-name=kwf-e2e".to_owned(),
            lease.clone(),
            "--lease-duration=4".to_owned(),
            format!("--identity={identity}"),
        ]
    };
    let start = |identity: &'static str| {
        let args = flags(identity);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scene.controller_with(&args, identity)
    };
    let mut replica_a = start("replica-a");
    let mut replica_b = start("replica-b");

    let recorder = scene.record_jobs("contested").await;
    // A chain of 12 steps of 0.5 s: long enough to kill the leader in the middle.
    let names: Vec<String> = (0..12).map(|i| format!("c{i:02}")).collect();
    let steps = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i == 0 {
                step(n, &[], "sleep 0.5")
            } else {
                step(n, &[names[i - 1].as_str()], "sleep 0.5")
            }
        })
        .collect();
    scene.create(workflow("contested", 120, steps)).await;

    // Wait for a few steps, then kill whichever replica created them.
    scene
        .wait_for(
            "contested",
            Duration::from_secs(60),
            &[&replica_a, &replica_b],
            "3 steps done",
            |wf| {
                wf.status
                    .as_ref()
                    .is_some_and(|s| s.executed_steps().len() >= 3)
            },
        )
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
            &[standby],
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
