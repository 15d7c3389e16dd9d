//! A Workflow seen for the first time: validation, the first steps, the status written.

use kwf_api::{StepPhase, WorkflowPhase};

use super::*;

#[test]
fn a_valid_workflow_starts_and_creates_jobs_for_its_first_steps() {
    let mut world = World::new(workflow(vec![
        step("a", &[]),
        step("b", &[]),
        step("c", &["a", "b"]),
    ]));
    let decision = world.reconcile(at(0));

    assert_eq!(created(&decision), ["wf-a-1", "wf-b-1"]);
    assert_eq!(events(&decision), ["StepStarted", "StepStarted"]);
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Started));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.progress.as_deref(), Some("0/3"));
    assert_eq!(status.run, 0);
    assert_eq!(status.started_at.as_ref().map(|t| t.0), Some(at(0)));
    assert_eq!(
        status.last_transition_time.as_ref().map(|t| t.0),
        Some(at(0))
    );
    assert_eq!(status.finished_at, None);
    assert_eq!(status.message, None);
    assert_eq!(world.step_phase("a"), StepPhase::Running);
    assert_eq!(world.step("a").job_name.as_deref(), Some("wf-a-1"));
    assert_eq!(
        world.step("a").started_at.as_ref().map(|t| t.0),
        Some(at(0))
    );
    assert_eq!(world.step_phase("c"), StepPhase::Pending);
    assert!(
        status.step("c").is_none(),
        "pending steps stay out of the status"
    );
    // Both steps time out 60 s after their Jobs were created.
    assert_eq!(decision.requeue_after, secs(60));
}

#[test]
fn the_status_has_ready_and_failed_conditions() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    let ready = condition(world.status(), "Ready");
    let failed = condition(world.status(), "Failed");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Running")
    );
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("False", "Running")
    );
    assert_eq!(ready.observed_generation, Some(1));
    assert_eq!(ready.last_transition_time.0, at(0));
}

#[test]
fn jobs_are_created_before_the_status_that_names_them() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    let decision = world.reconcile(at(0));
    assert_eq!(kinds(&decision), ["create", "status", "event"]);
}

/// The order contract of the core's documentation (creates, status, deletes, relabels,
/// events), on a decision that has every kind of effect: a failed-only restart of a relabeled
/// workflow recreates the failed step (create), resets it (status), deletes its old Job
/// (delete), relabels the succeeded step's Job it keeps (relabel) and announces the restart
/// (events).
#[test]
fn effects_come_in_the_contract_order() {
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.fail("b", at(2), "BackoffLimitExceeded", Some(1));
    world.reconcile(at(2));
    world
        .wf
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("team".to_owned(), "data".to_owned());
    world.annotate(kwf_api::ANNOTATION_RESTART_MODE, "failed");
    world.annotate(kwf_api::ANNOTATION_RESTARTED_AT, "now");

    let decision = world.reconcile(at(3));
    let kinds = kinds(&decision);
    let mut distinct = kinds.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        ["create", "status", "delete", "relabel", "event"],
        "{kinds:?}"
    );
}

#[test]
fn status_times_are_whole_seconds_so_they_read_back_equal() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    let now = at(0) + jiff::SignedDuration::from_millis(750);
    world.reconcile(now);
    assert_eq!(world.status().started_at.as_ref().map(|t| t.0), Some(at(0)));
    assert_eq!(
        world.step("a").started_at.as_ref().map(|t| t.0),
        Some(at(0))
    );
}

#[test]
fn an_invalid_workflow_fails_with_the_validation_message_and_creates_nothing() {
    let mut world = World::new(workflow(vec![
        step("a", &["c"]),
        step("b", &["a"]),
        step("c", &["b"]),
    ]));
    let decision = world.reconcile(at(0));

    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(events(&decision), ["WorkflowFailed"]);
    let status = world.status();
    assert_eq!(status.phase, Some(WorkflowPhase::Failed));
    let message = status.message.as_deref().unwrap_or_default();
    assert!(message.starts_with("invalid workflow: "), "{message}");
    assert!(message.contains("->"), "names the cycle: {message}");
    assert_eq!(status.progress.as_deref(), Some("0/3"));
    assert_eq!(status.finished_at.as_ref().map(|t| t.0), Some(at(0)));
    let failed = condition(status, "Failed");
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "InvalidSpec")
    );
    assert_eq!(failed.message, message);
    assert_eq!(decision.requeue_after, None);
}

#[test]
fn a_dependency_on_a_missing_step_is_invalid() {
    let mut world = World::new(workflow(vec![step("a", &["nope"])]));
    world.reconcile(at(0));
    let message = world.status().message.clone().unwrap_or_default();
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert!(message.contains("nope"), "{message}");
}

#[test]
fn a_job_of_this_run_is_adopted_when_the_status_lost_it() {
    // The decision that created wf-a-1 crashed before writing its status.
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    let first = decide_jobs(&world.wf, &world.jobs, at(0));
    let create = first.effects.first().cloned().expect("a CreateJob");
    world.apply(&create, at(0));

    let decision = world.reconcile(at(1));
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(world.step_phase("a"), StepPhase::Running);
    assert_eq!(world.step("a").job_name.as_deref(), Some("wf-a-1"));
    assert_eq!(
        world.step("a").started_at.as_ref().map(|t| t.0),
        Some(at(0))
    );
    assert_eq!(world.created, ["wf-a-1"]);
}

#[test]
fn an_adopted_job_that_already_finished_is_recorded_at_once() {
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    let first = decide_jobs(&world.wf, &world.jobs, at(0));
    world.apply(&first.effects[0], at(0));
    world.succeed("a", at(3));

    let decision = world.reconcile(at(4));
    assert_eq!(
        events(&decision),
        ["StepStarted", "StepSucceeded", "StepStarted"]
    );
    assert_eq!(world.step_phase("a"), StepPhase::Succeeded);
    assert_eq!(created(&decision), ["wf-b-1"]);
}

#[test]
fn a_job_created_but_not_yet_seen_back_counts_as_running() {
    // The shell passes the Jobs it created as Active until its cache sees them.
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    world.jobs[0].created = None;
    let decision = decide_jobs(&world.wf, &world.jobs, at(5));
    assert_eq!(decision.effects, Vec::new());
    assert_eq!(decision.requeue_after, secs(55));
}
