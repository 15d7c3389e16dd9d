//! maxStepTimeout: the controller's own deadline, counted from the Job's creation.

use kwf_api::{StepPhase, WorkflowPhase};

use super::*;

#[test]
fn a_step_past_its_deadline_fails_and_its_job_is_deleted() {
    let mut wf = workflow(vec![step("a", &[]), step("b", &["a"])]);
    wf.spec.max_step_timeout = 2;
    let mut world = World::new(wf);
    assert_eq!(world.reconcile(at(0)).requeue_after, secs(2));

    // The Job never started (its pod stuck Pending): the Job controller never fails it.
    let decision = world.reconcile(at(2));
    let a = world.step("a");
    assert_eq!(a.phase, StepPhase::Failed);
    assert_eq!(
        a.message.as_deref(),
        Some("step \"a\" timed out after 2s (maxStepTimeout)")
    );
    assert_eq!(a.finished_at.as_ref().map(|t| t.0), Some(at(2)));
    assert_eq!(deleted(&decision), ["wf-a-1"]);
    assert_eq!(events(&decision), ["StepTimedOut", "WorkflowFailed"]);
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.step_phase("b"), StepPhase::Skipped);
    assert_eq!(decision.requeue_after, None);
}

#[test]
fn the_status_is_written_before_the_timed_out_job_is_deleted() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = 2;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    let decision = world.reconcile(at(3));
    let status_at = decision
        .effects
        .iter()
        .position(|e| matches!(e, Effect::WriteStatus(_)));
    let delete_at = decision
        .effects
        .iter()
        .position(|e| matches!(e, Effect::Delete(_)));
    assert!(status_at < delete_at, "{:?}", decision.effects);
}

#[test]
fn a_timed_out_job_still_seen_is_deleted_again_until_it_goes() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = 2;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    let timed_out = world.jobs.clone();
    world.reconcile(at(3));
    // The shell's cache still shows the Job, not yet deleting: ask again (NotFound is fine).
    let decision = decide_jobs(&world.wf, &timed_out, at(4));
    assert_eq!(
        decision.effects,
        vec![Effect::Delete(OwnedRef::job("wf-a-1"))]
    );
    // Once it is being deleted, nothing more.
    let mut deleting = timed_out;
    deleting[0].deleting = true;
    assert_eq!(decide_jobs(&world.wf, &deleting, at(5)).effects, Vec::new());
}

#[test]
fn the_requeue_is_the_earliest_deadline_of_the_running_steps() {
    let mut world = World::new(workflow(vec![
        step("a", &[]),
        step("b", &["a"]),
        step("c", &[]),
    ]));
    world.wf.spec.max_step_timeout = 30;
    world.reconcile(at(0)); // a and c created at 0
    world.succeed("a", at(10));
    let decision = world.reconcile(at(10)); // b created at 10, deadline 40; c's is 30
    assert_eq!(decision.requeue_after, secs(20));
    let decision = world.reconcile(at(25));
    assert_eq!(decision.requeue_after, secs(5));
}

#[test]
fn the_deadline_counts_from_the_jobs_creation() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = 10;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.jobs[0].created = Some(at(4)); // the API server's clock
    let decision = decide_jobs(&world.wf, &world.jobs, at(12));
    assert_eq!(decision.effects, Vec::new());
    assert_eq!(decision.requeue_after, secs(2));
    assert_eq!(world.reconcile(at(14)).requeue_after, None);
    assert_eq!(world.step_phase("a"), StepPhase::Failed);
}

#[test]
fn a_requeue_before_the_deadline_carries_the_fraction_left() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = 10;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    let now = at(9) + jiff::SignedDuration::from_millis(400);
    let decision = decide_jobs(&world.wf, &world.jobs, now);
    assert_eq!(
        decision.requeue_after,
        Some(std::time::Duration::from_millis(600))
    );
}

#[test]
fn a_job_failed_by_its_active_deadline_reads_as_a_timeout() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = 5;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.fail("a", at(5), "DeadlineExceeded", None);
    let decision = world.reconcile(at(5));
    assert_eq!(
        world.step("a").message.as_deref(),
        Some("step \"a\" timed out after 5s (maxStepTimeout)")
    );
    assert_eq!(events(&decision), ["StepTimedOut", "WorkflowFailed"]);
    assert!(
        deleted(&decision).is_empty(),
        "a failed Job has stopped already"
    );
}

#[test]
fn an_unlimited_timeout_never_fails_a_step_and_never_requeues() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.max_step_timeout = -1;
    let mut world = World::new(wf);
    assert_eq!(world.reconcile(at(0)).requeue_after, None);
    let decision = world.reconcile(at(1_000_000));
    assert_eq!(decision.effects, Vec::new());
    assert_eq!(decision.requeue_after, None);
    assert_eq!(world.step_phase("a"), StepPhase::Running);
}
