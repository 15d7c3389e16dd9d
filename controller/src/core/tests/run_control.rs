//! Run control: stopping a run (`kwf.dev/stop`) and suspending one (`kwf.dev/suspend`).

use kwf_api::{
    ANNOTATION_RESTARTED_AT, ANNOTATION_STOP, ANNOTATION_SUSPEND, CONDITION_SUSPENDED, StepPhase,
    WorkflowPhase,
};

use super::*;

const STOP: &str = "2026-12-03T10:00:00Z by kubectl workflow stop";

/// a -> b -> c with a succeeded and b running.
fn chain_mid_run() -> World {
    let mut world = World::new(workflow(vec![
        step("a", &[]),
        step("b", &["a"]),
        step("c", &["b"]),
    ]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    assert_eq!(world.step_phase("b"), StepPhase::Running);
    world
}

fn unannotate(world: &mut World, key: &str) {
    if let Some(annotations) = world.wf.metadata.annotations.as_mut() {
        annotations.remove(key);
    }
}

fn suspended_condition(world: &World) -> Option<(String, String)> {
    world
        .status()
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_SUSPENDED)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[test]
fn a_stop_deletes_the_running_jobs_and_fails_the_workflow_with_the_request() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_STOP, STOP);
    let decision = world.reconcile(at(5));

    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(deleted(&decision), ["wf-b-1"]);
    assert_eq!(
        kinds(&decision),
        ["status", "delete", "event", "event", "event"],
        "the status records the stop before the Job is deleted"
    );
    assert_eq!(
        events(&decision),
        ["StepStopped", "WorkflowStopped", "WorkflowFailed"]
    );
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.step_phase("a"), StepPhase::Succeeded);
    assert_eq!(world.step_phase("b"), StepPhase::Stopped);
    assert_eq!(world.step_phase("c"), StepPhase::Stopped);
    let b = world.step("b");
    assert_eq!(b.finished_at.as_ref().map(|t| t.0), Some(at(5)));
    assert_eq!(
        b.message.as_deref(),
        Some(
            "step \"b\" stopped: Job wf-b-1 deleted by the stop request \
             (kwf.dev/stop=2026-12-03T10:00:00Z by kubectl workflow stop)"
        )
    );
    assert_eq!(
        world.step("c").message.as_deref(),
        Some(
            "not started: the workflow was stopped \
             (kwf.dev/stop=2026-12-03T10:00:00Z by kubectl workflow stop)"
        )
    );
    let status = world.status();
    assert_eq!(
        status.message.as_deref(),
        Some(
            "stopped by request (kwf.dev/stop=2026-12-03T10:00:00Z by kubectl workflow stop); \
             rerun with `kubectl workflow restart wf -n ns`"
        )
    );
    assert_eq!(status.observed_stop.as_deref(), Some(STOP));
    assert_eq!(status.finished_at.as_ref().map(|t| t.0), Some(at(5)));
    assert_eq!(status.progress.as_deref(), Some("1/3"));
    let failed = condition(status, "Failed");
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "Stopped")
    );
    assert!(world.jobs.iter().all(|job| job.name != "wf-b-1"));
}

#[test]
fn a_job_deleted_by_a_stop_is_not_reported_as_deleted_by_hand() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_STOP, STOP);
    let stale = world.wf.clone();
    world.reconcile(at(5));
    // Later reconciles see the Job gone: the step stays Stopped with the stop's message.
    let decision = world.reconcile(at(6));
    assert_eq!(decision.effects, Vec::new());
    let message = world.step("b").message.clone().unwrap_or_default();
    assert!(!message.contains("deleted before it finished"), "{message}");
    assert_eq!(world.step_phase("b"), StepPhase::Stopped);
    // A reconcile from the status before the stop (its write not seen yet) finds the Job
    // gone and records the stop all the same.
    let again = decide_jobs(&stale, &world.jobs, at(6));
    assert_eq!(deleted(&again), Vec::<String>::new(), "the Job is gone");
    let Some(Effect::WriteStatus(status)) = again
        .effects
        .iter()
        .find(|e| matches!(e, Effect::WriteStatus(_)))
    else {
        panic!("a status write: {:?}", again.effects)
    };
    let b = status.step("b").expect("b has a status");
    assert_eq!(b.phase, StepPhase::Stopped);
    assert!(
        b.message
            .as_deref()
            .unwrap_or_default()
            .contains("stop request")
    );
}

#[test]
fn a_stopped_step_whose_delete_was_lost_has_its_job_deleted_again() {
    let mut world = chain_mid_run();
    let job = world.job("b").clone();
    world.annotate(ANNOTATION_STOP, STOP);
    world.reconcile(at(5));
    // The delete failed after the status was written; the Job still runs.
    world.jobs.push(job);
    let decision = world.reconcile(at(6));
    assert_eq!(deleted(&decision), ["wf-b-1"]);
    assert_eq!(kinds(&decision), ["delete"]);
}

#[test]
fn a_job_that_finished_before_the_stop_keeps_its_result() {
    let mut world = chain_mid_run();
    world.succeed("b", at(4));
    world.annotate(ANNOTATION_STOP, STOP);
    let decision = world.reconcile(at(5));
    assert_eq!(deleted(&decision), Vec::<String>::new());
    assert_eq!(created(&decision), Vec::<String>::new(), "c does not start");
    assert_eq!(world.step_phase("b"), StepPhase::Succeeded);
    assert_eq!(world.step_phase("c"), StepPhase::Stopped);
    assert_eq!(world.phase(), WorkflowPhase::Failed);
}

#[test]
fn a_restart_after_a_stop_runs_to_the_end_though_the_annotation_stays() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_STOP, STOP);
    world.reconcile(at(5));
    world.annotate(ANNOTATION_RESTARTED_AT, "2026-12-03T10:01:00Z");
    let decision = world.reconcile(at(10));
    assert_eq!(created(&decision), ["wf-a-1-r1"]);
    assert_eq!(world.phase(), WorkflowPhase::Started);
    assert_eq!(world.status().message, None);
    world.succeed("a", at(11));
    world.reconcile(at(11));
    world.succeed("b", at(12));
    world.reconcile(at(12));
    world.succeed("c", at(13));
    world.reconcile(at(13));
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(
        condition(world.status(), "Failed").reason,
        "Completed",
        "the stop is no longer the story"
    );
    // A new stop value stops the new run.
    world.annotate(ANNOTATION_RESTARTED_AT, "again");
    world.reconcile(at(20));
    world.annotate(ANNOTATION_STOP, "second");
    let decision = world.reconcile(at(21));
    assert_eq!(deleted(&decision), ["wf-a-1-r2"]);
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.status().observed_stop.as_deref(), Some("second"));
}

#[test]
fn a_failed_only_restart_reruns_the_stopped_steps() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_STOP, STOP);
    world.reconcile(at(5));
    world.annotate(kwf_api::ANNOTATION_RESTART_MODE, "failed");
    world.annotate(ANNOTATION_RESTARTED_AT, "r");
    let decision = world.reconcile(at(10));
    assert_eq!(created(&decision), ["wf-b-1-r1"], "a keeps its success");
    assert_eq!(world.step_phase("c"), StepPhase::Pending);
}

#[test]
fn a_stop_annotation_present_from_the_start_is_no_request() {
    let wf = workflow(vec![step("a", &[])]).with_annotation(ANNOTATION_STOP, "old");
    let mut world = World::new(wf);
    let decision = world.reconcile(at(0));
    assert_eq!(created(&decision), ["wf-a-1"]);
    assert_eq!(world.status().observed_stop.as_deref(), Some("old"));
    assert_eq!(world.phase(), WorkflowPhase::Started);
}

#[test]
fn a_stop_of_a_finished_workflow_changes_only_what_was_observed() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.annotate(ANNOTATION_STOP, STOP);
    let decision = world.reconcile(at(2));
    assert_eq!(kinds(&decision), ["status"]);
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(world.step_phase("a"), StepPhase::Succeeded);
}

#[test]
fn a_stop_of_a_failed_workflow_stops_the_steps_still_running() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.fail("b", at(2), "BackoffLimitExceeded", Some(3));
    world.reconcile(at(2));
    let failure = world.status().message.clone();
    world.annotate(ANNOTATION_STOP, STOP);
    let decision = world.reconcile(at(3));
    assert_eq!(deleted(&decision), ["wf-c-1"]);
    assert_eq!(world.step_phase("c"), StepPhase::Stopped);
    assert_eq!(world.step_phase("d"), StepPhase::Skipped);
    assert_eq!(
        world.status().message,
        failure,
        "the failure stays the story"
    );
    assert_eq!(condition(world.status(), "Failed").reason, "StepFailed");
}

#[test]
fn a_workflow_created_suspended_starts_nothing_until_resumed() {
    let wf = diamond().with_annotation(ANNOTATION_SUSPEND, "true");
    let mut world = World::new(wf);
    let decision = world.reconcile(at(0));
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(events(&decision), ["WorkflowSuspended"]);
    assert_eq!(world.phase(), WorkflowPhase::Started);
    assert_eq!(
        world.status().message.as_deref(),
        Some(
            "suspended (kwf.dev/suspend=true): no new step starts until \
             `kubectl workflow resume wf -n ns`"
        )
    );
    assert_eq!(
        suspended_condition(&world),
        Some(("True".to_owned(), "Suspended".to_owned()))
    );
    assert_eq!(world.reconcile(at(30)).effects, Vec::new());

    unannotate(&mut world, ANNOTATION_SUSPEND);
    let decision = world.reconcile(at(31));
    assert_eq!(created(&decision), ["wf-a-1"]);
    assert_eq!(events(&decision), ["StepStarted", "WorkflowResumed"]);
    assert_eq!(world.status().message, None);
    assert_eq!(
        suspended_condition(&world),
        Some(("False".to_owned(), "Resumed".to_owned()))
    );
}

#[test]
fn a_suspended_workflow_lets_running_steps_finish_and_starts_no_new_one() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_SUSPEND, "true");
    let decision = world.reconcile(at(2));
    assert_eq!(deleted(&decision), Vec::<String>::new());
    world.succeed("b", at(3));
    let decision = world.reconcile(at(3));
    assert_eq!(created(&decision), Vec::<String>::new(), "c waits");
    assert_eq!(world.step_phase("b"), StepPhase::Succeeded);
    assert_eq!(world.step_phase("c"), StepPhase::Pending);
    assert_eq!(world.phase(), WorkflowPhase::Started);

    world.annotate(ANNOTATION_SUSPEND, "false");
    let decision = world.reconcile(at(4));
    assert_eq!(created(&decision), ["wf-c-1"]);
    world.succeed("c", at(5));
    world.reconcile(at(5));
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(
        suspended_condition(&world),
        Some(("False".to_owned(), "Finished".to_owned()))
    );
}

#[test]
fn a_workflow_never_suspended_has_no_suspended_condition() {
    let mut world = chain_mid_run();
    world.succeed("b", at(2));
    world.reconcile(at(2));
    assert_eq!(suspended_condition(&world), None);
}

#[test]
fn a_step_failing_while_suspended_fails_the_workflow() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_SUSPEND, "true");
    world.reconcile(at(2));
    world.fail("b", at(3), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(3));
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.step_phase("c"), StepPhase::Skipped);
    assert_eq!(
        suspended_condition(&world),
        Some(("False".to_owned(), "Finished".to_owned()))
    );
}

#[test]
fn a_stop_of_a_suspended_workflow_stops_its_pending_steps() {
    let wf = diamond().with_annotation(ANNOTATION_SUSPEND, "true");
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.annotate(ANNOTATION_STOP, STOP);
    let decision = world.reconcile(at(1));
    assert_eq!(deleted(&decision), Vec::<String>::new());
    for step in ["a", "b", "c", "d"] {
        assert_eq!(world.step_phase(step), StepPhase::Stopped, "{step}");
    }
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(condition(world.status(), "Failed").reason, "Stopped");
}

#[test]
fn a_restart_of_a_suspended_workflow_stays_suspended() {
    let mut world = chain_mid_run();
    world.annotate(ANNOTATION_SUSPEND, "true");
    world.annotate(ANNOTATION_RESTARTED_AT, "r");
    let decision = world.reconcile(at(5));
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(deleted(&decision), ["wf-a-1", "wf-b-1"]);
    assert_eq!(world.phase(), WorkflowPhase::Started);
}
