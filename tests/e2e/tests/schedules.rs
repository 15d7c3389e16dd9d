//! Schedules of WorkflowTemplates (issue 15) against the real control plane and controller, on
//! the wall clock (an every-minute cron, so each test takes a few minutes; they run side by
//! side): exactly one run per minute across a controller crash and restart, one catch-up run
//! (the latest missed minute, no backlog) after a downtime longer than two periods, `Forbid`
//! leaving a due time waiting until the active run ends, and `Replace` deleting it. Steps run as
//! host processes on the process kubelet.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use kwf_api::workflow_template::{ANNOTATION_SCHEDULED_TIME, LABEL_TEMPLATE, LABEL_TRIGGER};
use kwf_api::{Workflow, WorkflowPhase, WorkflowTemplate};
use kwf_e2e::Scene;

/// A run is due within a minute; this covers that and a slow controller start.
const NEXT_MINUTE: Duration = Duration::from_secs(80);

/// An every-minute template `name` whose one step waits for `<dir>/<gate>` (created now when
/// `gate` is None, so the step ends at once), with `policy` as its concurrencyPolicy.
fn every_minute(scene: &Scene, name: &str, policy: &str, gate: Option<&str>) -> WorkflowTemplate {
    let dir = scene.dir.display();
    let gate = gate.unwrap_or("open");
    if gate == "open" {
        std::fs::write(scene.dir.join("open"), "").expect("create the open gate");
    }
    let yaml = format!(
        r#"apiVersion: kwf.dev/v1alpha1
kind: WorkflowTemplate
metadata:
  name: {name}
spec:
  workflowSpec:
    maxStepTimeout: -1
    containers:
      - stepName: wait
        image: busybox
        command: ["sh", "-c", "while [ ! -f {dir}/{gate} ]; do sleep 0.1; done"]
  schedule:
    cron: "* * * * *"
    concurrencyPolicy: {policy}
"#
    );
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("the template parses: {e}\n{yaml}"))
}

/// The scheduled time of a run, from its annotation.
fn scheduled_minute(run: &Workflow) -> i64 {
    let at: Timestamp = run.annotations()[ANNOTATION_SCHEDULED_TIME]
        .parse()
        .expect("an RFC 3339 scheduled time");
    at.as_second() / 60
}

/// The runs of template `name` that are not being deleted, by scheduled minute.
async fn runs(scene: &Scene, template: &str) -> Vec<Workflow> {
    let params = ListParams::default().labels(&format!("{LABEL_TEMPLATE}={template}"));
    let mut runs: Vec<Workflow> = scene
        .workflows()
        .list(&params)
        .await
        .expect("list the runs")
        .items
        .into_iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .collect();
    runs.sort_by_key(scheduled_minute);
    runs
}

/// Waits until template `name` has at least `count` live runs; returns them.
async fn wait_runs(scene: &Scene, template: &str, count: usize, within: Duration) -> Vec<Workflow> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let runs = runs(scene, template).await;
        if runs.len() >= count {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "template {template}: {} runs, not {count}, within {within:?}; controller logs:\n{}",
            runs.len(),
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Sleeps until `second` seconds into the wall-clock minute `minute` (Unix minutes).
async fn sleep_until(minute: i64, second: i64) {
    let target = minute * 60 + second;
    let now = Timestamp::now().as_second();
    if target > now {
        tokio::time::sleep(Duration::from_secs((target - now) as u64)).await;
    }
}

fn minutes(runs: &[Workflow]) -> Vec<i64> {
    runs.iter().map(scheduled_minute).collect()
}

#[tokio::test]
async fn one_run_per_minute_across_a_crash_and_one_catch_up_run_after_a_long_downtime() {
    let scene = Scene::new("sched-crash").await;
    let mut controller = scene.controller().await;
    scene
        .api::<WorkflowTemplate>()
        .create(
            &PostParams::default(),
            &every_minute(&scene, "tick", "Allow", None),
        )
        .await
        .expect("create the template");

    let first = wait_runs(&scene, "tick", 1, NEXT_MINUTE).await;
    let m1 = scheduled_minute(&first[0]);
    assert_eq!(first[0].name_any(), format!("tick-{m1}"));
    assert_eq!(first[0].labels()[LABEL_TRIGGER], "schedule");

    // A crash right after a run was created, and a restart at once: the next minute gets its
    // run, and the minute already run is not run again.
    controller.kill();
    controller.restart().expect("restart the controller");
    controller
        .wait_ready()
        .await
        .expect("the controller is ready again");
    let two = wait_runs(&scene, "tick", 2, NEXT_MINUTE).await;
    assert_eq!(minutes(&two), [m1, m1 + 1], "one run per minute");

    // Down across two minute boundaries: on its return one catch-up run, for the latest missed
    // minute only (CronJob's rule), then the schedule goes on.
    controller.kill();
    let killed = Timestamp::now().as_second() / 60;
    let back = killed + 2;
    sleep_until(back, 20).await;
    assert!(
        runs(&scene, "tick").await.len() == 2,
        "no run while the controller was down"
    );
    controller.restart().expect("restart the controller");
    controller
        .wait_ready()
        .await
        .expect("the controller is ready again");
    let three = wait_runs(&scene, "tick", 3, Duration::from_secs(30)).await;
    let seen = minutes(&three);
    assert_eq!(
        &seen[..3],
        [m1, m1 + 1, back],
        "one catch-up run, for minute {back}, none for the minutes before it; controller logs:\n{}",
        scene.controller_logs(30)
    );
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no minute ran twice: {seen:?}");
    for run in &three[..3] {
        scene
            .wait_phase(&run.name_any(), WorkflowPhase::Completed, NEXT_MINUTE)
            .await;
    }
}

#[tokio::test]
async fn forbid_waits_for_the_active_run_and_replace_deletes_it() {
    let scene = Scene::new("sched-policy").await;
    let _controller = scene.controller().await;
    let templates = scene.api::<WorkflowTemplate>();
    for template in [
        every_minute(&scene, "forbid", "Forbid", Some("forbid-gate")),
        every_minute(&scene, "replace", "Replace", Some("never")),
    ] {
        templates
            .create(&PostParams::default(), &template)
            .await
            .expect("create the template");
    }
    let forbid = wait_runs(&scene, "forbid", 1, NEXT_MINUTE).await;
    let replace = wait_runs(&scene, "replace", 1, NEXT_MINUTE).await;
    let forbid_first = forbid[0].name_any();
    let replace_first = replace[0].name_any();
    let later = scheduled_minute(&forbid[0]).max(scheduled_minute(&replace[0])) + 1;

    // The next minute: Replace deleted its active run and started the new one; Forbid started
    // nothing while its run is active.
    sleep_until(later, 15).await;
    let replaced = wait_runs(&scene, "replace", 1, NEXT_MINUTE).await;
    let names: Vec<String> = replaced.iter().map(|r| r.name_any()).collect();
    assert!(
        !names.contains(&replace_first) && !names.is_empty(),
        "Replace deleted {replace_first} and started another: {names:?}; controller logs:\n{}",
        scene.controller_logs(30)
    );
    let waiting: Vec<String> = runs(&scene, "forbid")
        .await
        .iter()
        .map(|r| r.name_any())
        .collect();
    assert_eq!(
        waiting,
        std::slice::from_ref(&forbid_first),
        "Forbid started nothing more"
    );

    // Its run ends: the waiting time (no starting deadline) runs then, not before.
    std::fs::write(scene.dir.join("forbid-gate"), "").expect("open the gate");
    let done = scene
        .wait_phase(&forbid_first, WorkflowPhase::Completed, NEXT_MINUTE)
        .await;
    let finished = done
        .status
        .and_then(|s| s.finished_at)
        .expect("a finish time")
        .0;
    let after = wait_runs(&scene, "forbid", 2, NEXT_MINUTE).await;
    let second = &after[1];
    let created = second
        .metadata
        .creation_timestamp
        .as_ref()
        .expect("a creation time")
        .0;
    // Timestamps are whole seconds: the run is created in the second its predecessor finished, or later.
    assert!(
        created.as_second() >= finished.as_second(),
        "{} created at {created}, before {forbid_first} finished at {finished}",
        second.name_any()
    );
}
