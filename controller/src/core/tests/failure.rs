//! A step fails: the workflow fails, nothing new starts, running steps are still recorded and
//! what can no longer run is skipped. Also: a Job deleted by hand.

use kwf_api::{StepPhase, WorkflowPhase};

use super::*;

/// a -> {b, c}; b -> d; c -> e; f alone (slow). Runs until b and c and f are running.
fn failing_world() -> World {
    let mut world = World::new(workflow(vec![
        step("a", &[]),
        step("b", &["a"]),
        step("c", &["a"]),
        step("d", &["b"]),
        step("e", &["c"]),
        step("f", &[]),
    ]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world
}

/// The failing world after b's Job failed with `exit_code` at 2 s, and the decision at 3 s.
fn b_failed_with(exit_code: i32) -> (World, Decision) {
    let mut world = failing_world();
    world.fail("b", at(2), "BackoffLimitExceeded", Some(exit_code));
    let decision = world.reconcile(at(3));
    (world, decision)
}

#[test]
fn a_failed_job_fails_its_step_with_the_exit_code_and_the_job() {
    let (world, decision) = b_failed_with(3);

    let b = world.step("b");
    assert_eq!(b.phase, StepPhase::Failed);
    assert_eq!(b.exit_code, Some(3));
    assert_eq!(b.finished_at.as_ref().map(|t| t.0), Some(at(2)));
    assert_eq!(
        b.message.as_deref(),
        Some("step \"b\" failed with exit code 3 (Job wf-b-1)")
    );
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(status.message, b.message);
    assert_eq!(status.finished_at.as_ref().map(|t| t.0), Some(at(3)));
    let failed = condition(status, "Failed");
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "StepFailed")
    );
    assert_eq!(events(&decision), ["StepFailed", "WorkflowFailed"]);
    assert!(notes(&decision, "StepFailed")[0].contains("exit code 3"));
}

#[test]
fn without_an_exit_code_the_message_names_the_job() {
    let mut world = failing_world();
    world.fail("b", at(2), "BackoffLimitExceeded", None);
    world.reconcile(at(3));
    let message = world.step("b").message.clone().unwrap_or_default();
    assert_eq!(message, "step \"b\" failed (Job wf-b-1)");
    assert_eq!(world.step("b").exit_code, None);
}

#[test]
fn a_container_killed_for_memory_says_so() {
    let mut world = failing_world();
    let oom = ContainerExit {
        code: 137,
        reason: Some("OOMKilled".to_owned()),
    };
    world.fail_with("b", at(2), "BackoffLimitExceeded", Some(oom));
    let decision = world.reconcile(at(3));
    let b = world.step("b");
    assert_eq!(
        b.message.as_deref(),
        Some("step \"b\" was OOMKilled (exit code 137, Job wf-b-1)")
    );
    assert_eq!(b.exit_code, Some(137));
    assert_eq!(
        world.status().message,
        b.message,
        "the workflow says it too"
    );
    assert_eq!(
        notes(&decision, "StepFailed"),
        ["step \"b\" was OOMKilled (exit code 137, Job wf-b-1)"]
    );
}

#[test]
fn after_a_failure_nothing_starts_and_blocked_steps_are_skipped() {
    let (world, decision) = b_failed_with(1);

    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(world.step_phase("d"), StepPhase::Skipped);
    assert_eq!(
        world.step("d").message.as_deref(),
        Some("skipped because step \"b\" failed")
    );
    // e waits for c, which still runs; the workflow failed, so e can never start either.
    assert_eq!(world.step_phase("e"), StepPhase::Skipped);
    assert_eq!(
        world.step("e").message.as_deref(),
        Some("skipped because the workflow failed before this step could start")
    );
    assert_eq!(world.step_phase("c"), StepPhase::Running);
    assert_eq!(world.step_phase("f"), StepPhase::Running);
    assert_eq!(world.status().progress.as_deref(), Some("1/6"));
}

#[test]
fn running_steps_are_still_recorded_after_the_workflow_failed() {
    let (mut world, _) = b_failed_with(1);
    let message = world.status().message.clone();

    world.succeed("c", at(4));
    world.fail("f", at(4), "BackoffLimitExceeded", Some(2));
    let decision = world.reconcile(at(5));

    assert_eq!(world.step_phase("c"), StepPhase::Succeeded);
    assert_eq!(world.step_phase("f"), StepPhase::Failed);
    assert_eq!(
        world.step_phase("e"),
        StepPhase::Skipped,
        "no new step after a failure"
    );
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(
        events(&decision),
        ["StepSucceeded", "StepFailed"],
        "no second WorkflowFailed"
    );
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    assert_eq!(
        status.message, message,
        "the message names the first failure"
    );
    assert_eq!(status.finished_at.as_ref().map(|t| t.0), Some(at(3)));
    assert_eq!(status.progress.as_deref(), Some("2/6"));
    assert_eq!(decision.requeue_after, None, "no running step, no deadline");
}

#[test]
fn failed_jobs_are_kept_for_their_logs() {
    let (world, decision) = b_failed_with(1);
    assert_eq!(deleted(&decision), Vec::<String>::new());
    assert!(world.jobs.iter().any(|job| job.name == "wf-b-1"));
}

#[test]
fn a_job_deleted_by_hand_fails_its_step_with_what_to_do() {
    let mut world = failing_world();
    world.jobs.retain(|job| job.step != "b");
    let decision = world.reconcile(at(3));

    let b = world.step("b");
    assert_eq!(b.phase, StepPhase::Failed);
    assert_eq!(
        b.message.as_deref(),
        Some(
            "step \"b\": Job wf-b-1 was deleted before it finished; rerun with \
             `kubectl workflow restart wf --failed -n ns`"
        )
    );
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.step_phase("d"), StepPhase::Skipped);
    assert_eq!(events(&decision), ["StepFailed", "WorkflowFailed"]);
}

#[test]
fn a_job_being_deleted_before_it_finished_counts_as_deleted() {
    let mut world = failing_world();
    world.job_mut("b").deleting = true;
    let decision = world.reconcile(at(3));
    assert_eq!(world.step_phase("b"), StepPhase::Failed);
    assert!(
        deleted(&decision).is_empty(),
        "its deletion is already under way"
    );
}

#[test]
fn a_finished_job_being_deleted_still_counts_as_finished() {
    let mut world = failing_world();
    world.succeed("b", at(2));
    world.job_mut("b").deleting = true;
    world.reconcile(at(3));
    assert_eq!(world.step_phase("b"), StepPhase::Succeeded);
}

#[test]
fn a_job_deleted_after_it_succeeded_changes_nothing() {
    let mut world = failing_world();
    world.succeed("b", at(2));
    world.reconcile(at(2));
    world.jobs.retain(|job| job.step != "b");
    let decision = world.reconcile(at(3));
    assert_eq!(decision.effects, Vec::new());
    assert_eq!(world.step_phase("b"), StepPhase::Succeeded);
}
