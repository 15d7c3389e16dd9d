//! Retries: a new Job per attempt after the backoff, the attempts in the status, the limit
//! counting retries after the first attempt, no backoff after the last, and which failures retry.

use kwf_api::retries::{Backoff, RetryPolicy};

use super::*;

fn flaky(limit: i32, seconds: i64) -> Workflow {
    let mut s = step("flaky", &[]);
    s.retries = Some(RetryPolicy {
        limit,
        backoff: Some(Backoff {
            seconds: Some(seconds),
            factor: Some(2),
            max_seconds: Some(100),
        }),
        ..RetryPolicy::default()
    });
    let mut wf = workflow(vec![s, step("after", &["flaky"])]);
    wf.spec.max_step_timeout = -1;
    wf
}

#[test]
fn a_step_that_fails_twice_then_succeeds_has_three_attempts_with_growing_waits() {
    let mut world = World::new(flaky(3, 5));
    world.reconcile(at(0));
    assert_eq!(world.created, vec!["wf-flaky-1"]);

    world.fail("flaky", at(10), "BackoffLimitExceeded", Some(1));
    let decision = world.reconcile(at(10));
    assert_eq!(created(&decision), Vec::<String>::new(), "waits 5 s first");
    assert_eq!(decision.requeue_after, secs(5));
    assert_eq!(events(&decision), vec!["StepRetrying"]);
    let entry = world.step("flaky");
    assert_eq!(entry.phase, StepPhase::Running);
    assert_eq!(entry.retries.len(), 1);
    assert_eq!(entry.retries[0].job_name, "wf-flaky-1");
    assert_eq!(entry.retries[0].exit_code, Some(1));
    assert_eq!(entry.retries[0].reason, "exit code 1");
    assert_eq!(entry.next_retry_at, Some(fixtures::time(15)));
    assert!(
        entry
            .message
            .as_deref()
            .unwrap()
            .contains("attempt 2 of 4 starts at"),
        "{:?}",
        entry.message
    );

    let early = world.reconcile(at(14));
    assert!(created(&early).is_empty());
    assert_eq!(early.requeue_after, secs(1));
    let decision = world.reconcile(at(15));
    assert_eq!(created(&decision), vec!["wf-flaky-1-a1"]);
    assert_eq!(world.step("flaky").next_retry_at, None);
    assert_eq!(world.job("flaky").attempt, 1);

    world.fail("flaky", at(20), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(20));
    assert_eq!(
        world.step("flaky").next_retry_at,
        Some(fixtures::time(30)),
        "5 s, then 10 s"
    );
    world.reconcile(at(30));
    assert_eq!(world.created.last().unwrap(), "wf-flaky-1-a2");
    world.succeed("flaky", at(31));
    world.reconcile(at(31));
    let entry = world.step("flaky");
    assert_eq!(entry.phase, StepPhase::Succeeded);
    assert_eq!(entry.retries.len(), 2);
    assert_eq!(entry.message, None);
    assert_eq!(world.step_phase("after"), StepPhase::Running);
    assert_eq!(
        world.jobs.len(),
        4,
        "the failed attempts' Jobs are kept for their logs"
    );
}

#[test]
fn the_last_attempt_fails_the_step_at_once() {
    let mut world = World::new(flaky(1, 5));
    world.reconcile(at(0));
    world.fail("flaky", at(1), "BackoffLimitExceeded", Some(2));
    world.reconcile(at(1));
    world.reconcile(at(6));
    assert_eq!(world.created, vec!["wf-flaky-1", "wf-flaky-1-a1"]);
    world.fail("flaky", at(7), "BackoffLimitExceeded", Some(2));
    let decision = world.reconcile(at(7));
    assert_eq!(
        decision.requeue_after, None,
        "no backoff after the last attempt"
    );
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    let entry = world.step("flaky");
    assert_eq!(entry.phase, StepPhase::Failed);
    assert_eq!(entry.exit_code, Some(2));
    assert!(
        entry
            .message
            .as_deref()
            .unwrap()
            .ends_with("(after 2 attempts)"),
        "{:?}",
        entry.message
    );
    assert_eq!(world.step_phase("after"), StepPhase::Skipped);
}

#[test]
fn only_listed_exit_codes_retry_and_timeouts_may_be_left_out() {
    let mut wf = flaky(3, 1);
    wf.spec.containers[0].retries.as_mut().unwrap().exit_codes = Some(vec![75]);
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.fail("flaky", at(1), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(1));
    assert_eq!(
        world.step_phase("flaky"),
        StepPhase::Failed,
        "exit 1 is not listed"
    );

    let mut wf = flaky(3, 1);
    wf.spec.max_step_timeout = 10;
    wf.spec.containers[0].retries.as_mut().unwrap().timeouts = Some(false);
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.reconcile(at(10));
    assert_eq!(
        world.step_phase("flaky"),
        StepPhase::Failed,
        "timeouts do not retry"
    );
}

#[test]
fn a_timed_out_attempt_retries_with_its_own_deadline() {
    let mut wf = flaky(2, 3);
    wf.spec.max_step_timeout = 10;
    let mut world = World::new(wf);
    world.reconcile(at(0));
    let decision = world.reconcile(at(10));
    assert_eq!(
        deleted(&decision),
        vec!["wf-flaky-1"],
        "the timed-out Job is stopped"
    );
    assert_eq!(world.step("flaky").retries[0].reason, "timed out after 10s");
    world.reconcile(at(13));
    assert_eq!(world.created.last().unwrap(), "wf-flaky-1-a1");
    let decision = world.reconcile(at(14));
    assert_eq!(
        decision.requeue_after,
        secs(9),
        "10 s from the new attempt's creation"
    );
}

#[test]
fn the_workflow_default_applies_to_steps_without_their_own() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.spec.retries = Some(RetryPolicy {
        limit: 1,
        backoff: Some(Backoff {
            seconds: Some(0),
            ..Backoff::default()
        }),
        ..RetryPolicy::default()
    });
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.fail("a", at(1), "BackoffLimitExceeded", Some(1));
    world.reconcile_once(at(1));
    world.reconcile(at(1));
    assert_eq!(
        world.created,
        vec!["wf-a-1", "wf-a-1-a1"],
        "no wait: seconds 0"
    );
}

#[test]
fn a_lost_status_write_adopts_the_retry_instead_of_creating_it_twice() {
    let mut world = World::new(flaky(3, 5));
    world.reconcile(at(0));
    world.fail("flaky", at(1), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(1));
    // The retry's Job is created but the status that records it is lost.
    let decision = world.decide(at(6));
    for effect in &decision.effects {
        if !matches!(effect, Effect::WriteStatus(_)) {
            world.apply(effect, at(6));
        }
    }
    assert_eq!(world.created.len(), 2);
    let decision = world.reconcile(at(7));
    assert!(
        created(&decision).is_empty(),
        "adopted: {:?}",
        created(&decision)
    );
    assert_eq!(
        world.step("flaky").job_name.as_deref(),
        Some("wf-flaky-1-a1")
    );

    // And a status lost from the very start: both attempts adopted, the failed one recorded.
    let mut fresh = World::new(flaky(3, 5));
    fresh.jobs = world.jobs.clone();
    fresh.reconcile(at(8));
    let entry = fresh.step("flaky");
    assert_eq!(entry.job_name.as_deref(), Some("wf-flaky-1-a1"));
    assert_eq!(entry.retries.len(), 1);
    assert_eq!(entry.retries[0].job_name, "wf-flaky-1");
}

#[test]
fn a_retry_waiting_when_the_workflow_fails_is_given_up() {
    let mut wf = flaky(3, 50);
    wf.spec.containers.push(step("other", &[]));
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.fail("flaky", at(1), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(1));
    world.fail("other", at(2), "BackoffLimitExceeded", Some(9));
    world.reconcile(at(2));
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    let entry = world.step("flaky");
    assert_eq!(entry.phase, StepPhase::Failed);
    assert!(
        entry
            .message
            .as_deref()
            .unwrap()
            .ends_with("not retried: the workflow failed")
    );
    assert_eq!(world.created.len(), 2, "no retry after the failure");
}
