//! Starting over: a spec change (new generation) and restart requests in both modes.

use kwf_api::{ANNOTATION_RESTART_MODE, ANNOTATION_RESTARTED_AT, StepPhase, WorkflowPhase};

use super::*;

/// a -> b -> c with a succeeded, b failed, c skipped: a failed workflow.
fn failed_chain() -> World {
    let mut world = World::new(workflow(vec![
        step("a", &[]),
        step("b", &["a"]),
        step("c", &["b"]),
    ]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.fail("b", at(2), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(2));
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    world
}

#[test]
fn a_new_generation_deletes_old_jobs_and_runs_the_new_spec_from_the_start() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));

    world.change_spec(vec![step("a", &[]), step("x", &["a"])]);
    let decision = world.reconcile(at(5));

    assert_eq!(created(&decision), ["wf-a-2"]);
    assert_eq!(deleted(&decision), ["wf-a-1", "wf-b-1", "wf-c-1"]);
    let status = world.status();
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.run, 0);
    assert_eq!(status.phase, Some(WorkflowPhase::Started));
    assert_eq!(status.progress.as_deref(), Some("0/2"));
    assert_eq!(status.started_at.as_ref().map(|t| t.0), Some(at(5)));
    assert_eq!(
        status.steps.len(),
        1,
        "only the new run's step: {:?}",
        status.steps
    );
    assert_eq!(world.step("a").job_name.as_deref(), Some("wf-a-2"));
    assert!(status.step("b").is_none());
    let names: Vec<&str> = world.jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["wf-a-2"]);
}

#[test]
fn a_new_generation_restarts_a_failed_workflow() {
    let mut world = failed_chain();
    world.change_spec(vec![step("a", &[]), step("b", &["a"])]);
    let decision = world.reconcile(at(10));
    assert_eq!(created(&decision), ["wf-a-2"]);
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Started));
    assert_eq!(status.message, None);
    assert_eq!(status.finished_at, None);
    assert_eq!(
        status.last_transition_time.as_ref().map(|t| t.0),
        Some(at(10))
    );
    let failed = condition(status, "Failed");
    assert_eq!(failed.status, "False");
    assert_eq!(failed.observed_generation, Some(2));
}

#[test]
fn a_spec_made_invalid_fails_and_deletes_the_old_jobs() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    world.change_spec(vec![step("a", &["a"])]);
    let decision = world.reconcile(at(1));
    assert_eq!(deleted(&decision), ["wf-a-1"]);
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.status().observed_generation, Some(2));
    assert!(world.jobs.is_empty());
}

#[test]
fn jobs_of_a_newer_generation_than_the_workflow_seen_are_left_alone() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    let mut newer = world.jobs[0].clone();
    newer.name = "wf-a-2".to_owned();
    newer.generation = 2;
    world.jobs.push(newer);
    let decision = world.reconcile(at(1));
    assert_eq!(deleted(&decision), Vec::<String>::new());
}

#[test]
fn a_restart_reruns_every_step_as_the_next_run() {
    let mut world = failed_chain();
    world.annotate(ANNOTATION_RESTARTED_AT, "2026-11-21T20:00:00Z");
    let decision = world.reconcile(at(10));

    assert_eq!(created(&decision), ["wf-a-1-r1"]);
    assert_eq!(deleted(&decision), ["wf-a-1", "wf-b-1"]);
    assert_eq!(events(&decision), ["WorkflowRestarted", "StepStarted"]);
    let status = world.status();
    assert_eq!(status.run, 1);
    assert_eq!(
        status.observed_restart.as_deref(),
        Some("2026-11-21T20:00:00Z")
    );
    assert_eq!(status.phase, Some(WorkflowPhase::Started));
    assert_eq!(status.progress.as_deref(), Some("0/3"));
    assert_eq!(status.steps.len(), 1);

    world.succeed("a", at(11));
    world.reconcile(at(11));
    world.succeed("b", at(12));
    world.reconcile(at(12));
    world.succeed("c", at(13));
    world.reconcile(at(13));
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(
        world.created,
        ["wf-a-1", "wf-b-1", "wf-a-1-r1", "wf-b-1-r1", "wf-c-1-r1"]
    );
}

#[test]
fn a_restart_while_running_deletes_the_running_jobs() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    world.annotate(ANNOTATION_RESTARTED_AT, "1");
    let decision = world.reconcile(at(1));
    assert_eq!(created(&decision), ["wf-a-1-r1"]);
    assert_eq!(deleted(&decision), ["wf-a-1"]);
}

#[test]
fn a_restart_of_only_failed_steps_keeps_what_succeeded() {
    let mut world = failed_chain();
    world.annotate(ANNOTATION_RESTART_MODE, "failed");
    world.annotate(ANNOTATION_RESTARTED_AT, "first");
    let decision = world.reconcile(at(10));

    assert_eq!(created(&decision), ["wf-b-1-r1"]);
    assert_eq!(
        deleted(&decision),
        ["wf-b-1"],
        "the succeeded step keeps its Job"
    );
    let status = world.status();
    assert_eq!(status.run, 1);
    assert_eq!(status.phase, Some(WorkflowPhase::Started));
    assert_eq!(status.progress.as_deref(), Some("1/3"));
    assert_eq!(world.step_phase("a"), StepPhase::Succeeded);
    assert_eq!(world.step("a").job_name.as_deref(), Some("wf-a-1"));
    assert_eq!(
        world.step_phase("c"),
        StepPhase::Pending,
        "skipped steps rerun too"
    );

    world.succeed("b", at(11));
    assert_eq!(created(&world.reconcile(at(11))), ["wf-c-1-r1"]);
    world.succeed("c", at(12));
    world.reconcile(at(12));
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(
        world.created,
        ["wf-a-1", "wf-b-1", "wf-b-1-r1", "wf-c-1-r1"]
    );
}

#[test]
fn a_failed_only_restart_lets_running_steps_finish() {
    // b fails while c still runs; the restart keeps c running and reruns b and d.
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.fail("b", at(2), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(2));
    world.annotate(ANNOTATION_RESTART_MODE, "failed");
    world.annotate(ANNOTATION_RESTARTED_AT, "x");
    let decision = world.reconcile(at(3));
    assert_eq!(created(&decision), ["wf-b-1-r1"]);
    assert_eq!(deleted(&decision), ["wf-b-1"]);
    assert_eq!(world.step_phase("c"), StepPhase::Running);
    world.succeed("b", at(4));
    world.succeed("c", at(4));
    assert_eq!(created(&world.reconcile(at(4))), ["wf-d-1-r1"]);
}

#[test]
fn the_same_restart_value_is_acted_on_once() {
    let mut world = failed_chain();
    world.annotate(ANNOTATION_RESTARTED_AT, "once");
    world.reconcile(at(10));
    world.succeed("a", at(11));
    world.reconcile(at(11));
    assert_eq!(world.status().run, 1);
    world.annotate(ANNOTATION_RESTARTED_AT, "twice");
    world.reconcile(at(12));
    assert_eq!(world.status().run, 2);
}

#[test]
fn a_restart_annotation_present_from_the_start_is_no_request() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.metadata.annotations = Some([(ANNOTATION_RESTARTED_AT.to_owned(), "old".to_owned())].into());
    let mut world = World::new(wf);
    let decision = world.reconcile(at(0));
    assert_eq!(created(&decision), ["wf-a-1"]);
    assert_eq!(world.status().run, 0);
    assert_eq!(world.status().observed_restart.as_deref(), Some("old"));
}

#[test]
fn a_restart_decided_twice_from_a_stale_status_creates_the_same_jobs() {
    // The second reconcile still sees the old status (the write is not in the cache yet).
    let mut world = failed_chain();
    world.annotate(ANNOTATION_RESTARTED_AT, "r");
    let stale = world.wf.clone();
    world.reconcile(at(10));
    let again = decide_jobs(&stale, &world.jobs, at(10));
    assert_eq!(
        created(&again),
        Vec::<String>::new(),
        "wf-a-1-r1 is adopted"
    );
    assert_eq!(deleted(&again), Vec::<String>::new());
}
