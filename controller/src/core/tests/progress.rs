//! Steps advancing: dependents after success, a diamond, completion.

use kwf_api::{StepPhase, WorkflowPhase};

use super::*;

#[test]
fn a_dependent_starts_in_the_same_decision_that_records_its_dependency() {
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    world.reconcile(at(0));
    world.succeed("a", at(2));
    let decision = world.reconcile(at(3));

    assert_eq!(created(&decision), ["wf-b-1"]);
    assert_eq!(events(&decision), ["StepSucceeded", "StepStarted"]);
    assert_eq!(world.step_phase("a"), StepPhase::Succeeded);
    assert_eq!(
        world.step("a").finished_at.as_ref().map(|t| t.0),
        Some(at(2))
    );
    assert_eq!(world.step_phase("b"), StepPhase::Running);
    assert_eq!(world.status().progress.as_deref(), Some("1/2"));
}

#[test]
fn nothing_happens_while_jobs_run() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    let decision = world.reconcile(at(10));
    assert_eq!(decision.effects, Vec::new());
    assert_eq!(decision.requeue_after, secs(50));
}

#[test]
fn a_diamond_joins_only_after_both_branches_succeed() {
    let mut world = World::new(diamond());
    assert_eq!(created(&world.reconcile(at(0))), ["wf-a-1"]);
    world.succeed("a", at(1));
    assert_eq!(created(&world.reconcile(at(1))), ["wf-b-1", "wf-c-1"]);
    world.succeed("c", at(2));
    let decision = world.reconcile(at(2));
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(world.step_phase("d"), StepPhase::Pending);
    world.succeed("b", at(3));
    assert_eq!(created(&world.reconcile(at(3))), ["wf-d-1"]);
}

#[test]
fn all_steps_succeeded_completes_the_workflow_once() {
    let mut world = World::new(diamond());
    world.reconcile(at(0));
    for (second, steps) in [(1, &["a"][..]), (2, &["b", "c"]), (3, &["d"])] {
        for step in steps {
            world.succeed(step, at(second));
        }
        world.reconcile(at(second));
    }
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Completed));
    assert_eq!(status.message.as_deref(), Some("all 4 steps succeeded"));
    assert_eq!(status.progress.as_deref(), Some("4/4"));
    assert_eq!(status.finished_at.as_ref().map(|t| t.0), Some(at(3)));
    assert_eq!(
        status.last_transition_time.as_ref().map(|t| t.0),
        Some(at(3))
    );
    let ready = condition(status, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Completed")
    );
    assert_eq!(world.created, ["wf-a-1", "wf-b-1", "wf-c-1", "wf-d-1"]);

    let later = world.reconcile(at(100));
    assert_eq!(
        later.effects,
        Vec::new(),
        "a completed workflow stays quiet"
    );
    assert_eq!(later.requeue_after, None);
}

#[test]
fn the_completing_decision_records_step_and_workflow_events() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    let decision = world.reconcile(at(1));
    assert_eq!(events(&decision), ["StepSucceeded", "WorkflowCompleted"]);
    assert_eq!(
        notes(&decision, "WorkflowCompleted"),
        ["the step succeeded"]
    );
}

#[test]
fn the_phase_transition_time_moves_only_when_the_phase_changes() {
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    world.reconcile(at(0));
    world.succeed("a", at(5));
    world.reconcile(at(5));
    let status = world.status();
    assert_eq!(
        status.last_transition_time.as_ref().map(|t| t.0),
        Some(at(0))
    );
    let ready = condition(status, "Ready");
    assert_eq!(ready.last_transition_time.0, at(0));
}
