//! Property: for a random DAG and a random completion order (with some status writes lost, as
//! when a write conflicts or the controller dies after creating a Job), decide() creates exactly
//! one Job per step, never before all of the step's dependencies succeeded, and the workflow
//! ends Completed. Each decision whose effects all landed is checked to be idempotent.

use std::collections::{BTreeMap, BTreeSet};

use kwf_api::WorkflowPhase;
use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// `deps[i]`: the steps step i waits for, all with a smaller index (so the graph is acyclic).
fn random_dag() -> impl Strategy<Value = Vec<BTreeSet<usize>>> {
    (1usize..30).prop_flat_map(|n| {
        proptest::collection::vec(proptest::collection::vec(any::<Index>(), 0..4), n).prop_map(
            |picks| {
                picks
                    .into_iter()
                    .enumerate()
                    .map(|(i, picks)| match i {
                        0 => BTreeSet::new(),
                        _ => picks.iter().map(|pick| pick.index(i)).collect(),
                    })
                    .collect()
            },
        )
    })
}

/// The DAG as a Workflow whose steps are listed in `order` (not necessarily topological).
fn as_workflow(deps: &[BTreeSet<usize>], order: &[usize]) -> Workflow {
    let name = |i: usize| format!("s{i}");
    let steps = order
        .iter()
        .map(|&i| {
            let deps: Vec<String> = deps[i].iter().map(|&d| name(d)).collect();
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            step(&name(i), &deps)
        })
        .collect();
    let mut wf = workflow(steps);
    wf.spec.max_step_timeout = -1;
    wf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_step_gets_one_job_after_its_dependencies_and_the_workflow_completes(
        (deps, order) in random_dag().prop_flat_map(|deps| {
            let order: Vec<usize> = (0..deps.len()).collect();
            (Just(deps), Just(order).prop_shuffle())
        }),
        picks in proptest::collection::vec(any::<Index>(), 200),
        lost_writes in proptest::collection::vec(prop::bool::weighted(0.25), 200),
    ) {
        let n = deps.len();
        let mut world = World::new(as_workflow(&deps, &order));
        let mut creates: BTreeMap<String, usize> = BTreeMap::new();
        let mut succeeded: BTreeSet<String> = BTreeSet::new();

        for round in 0..4 * n + 10 {
            let now = at(round as i64);
            let decision = decide_jobs(&world.wf, &world.jobs, now);
            let lose_write = lost_writes[round % lost_writes.len()];
            for effect in &decision.effects {
                if let Effect::Create(OwnedObject::Job(job)) = effect {
                    let step = job.metadata.labels.as_ref()
                        .and_then(|labels| labels.get(kwf_api::LABEL_STEP))
                        .cloned()
                        .unwrap_or_default();
                    let i: usize = step[1..].parse().expect("step names are s<i>");
                    for d in &deps[i] {
                        prop_assert!(
                            succeeded.contains(&format!("s{d}")),
                            "{step} created before its dependency s{d} succeeded"
                        );
                    }
                    *creates.entry(step).or_default() += 1;
                }
                if lose_write && matches!(effect, Effect::WriteStatus(_)) {
                    continue;
                }
                world.apply(effect, now);
            }
            if !lose_write {
                let again = decide_jobs(&world.wf, &world.jobs, now);
                prop_assert_eq!(again.effects, Vec::new(), "not idempotent in round {}", round);
            }
            if world.wf.status.as_ref().and_then(|s| s.phase) == Some(WorkflowPhase::Completed) {
                break;
            }
            let active: Vec<String> = world.jobs.iter()
                .filter(|job| job.state == JobState::Active)
                .map(|job| job.step.clone())
                .collect();
            if !active.is_empty() {
                let step = active[picks[round % picks.len()].index(active.len())].clone();
                world.succeed(&step, now);
                succeeded.insert(step);
            }
        }

        prop_assert_eq!(world.wf.status.as_ref().and_then(|s| s.phase), Some(WorkflowPhase::Completed));
        prop_assert_eq!(creates.len(), n, "every step got a Job");
        prop_assert!(creates.values().all(|&count| count == 1), "one create per step: {:?}", creates);
        prop_assert_eq!(world.jobs.len(), n);
        let progress = format!("{n}/{n}");
        prop_assert_eq!(world.status().progress.as_deref(), Some(progress.as_str()));
    }
}

/// A random fan-out shape for each step: (items, maxParallel), items 0 for a plain step.
fn random_fan_outs(n: usize) -> impl Strategy<Value = Vec<(usize, Option<i32>)>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0usize), 1usize..5],
            proptest::option::of(1i32..3),
        ),
        n,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// With fan-outs, retries, `parallelism` and `maxParallel`, random failures and lost status
    /// writes: never more Jobs at work than the limits, never a dependent before every instance
    /// of its dependencies succeeded, never more attempts than the limit allows, and never a
    /// second create of a Job that exists (one Job per instance and attempt).
    #[test]
    fn limits_order_and_one_job_per_attempt_hold_with_fan_outs_and_retries(
        (deps, shapes) in random_dag().prop_flat_map(|deps| {
            let n = deps.len();
            (Just(deps), random_fan_outs(n))
        }),
        parallelism in proptest::option::of(1i32..4),
        limit in 0i32..3,
        fail_picks in proptest::collection::vec(prop::bool::weighted(0.3), 300),
        lost_writes in proptest::collection::vec(prop::bool::weighted(0.25), 300),
    ) {
        use kwf_api::retries::{Backoff, RetryPolicy};
        let n = deps.len();
        let order: Vec<usize> = (0..n).collect();
        let mut wf = as_workflow(&deps, &order);
        for (step, &(items, max_parallel)) in wf.spec.containers.iter_mut().zip(&shapes) {
            if items > 0 {
                step.with_items = Some((0..items).map(|i| serde_json::json!(format!("x{i}"))).collect());
                step.max_parallel = max_parallel;
            }
        }
        wf.spec.parallelism = parallelism;
        wf.spec.retries = Some(RetryPolicy {
            limit,
            backoff: Some(Backoff { seconds: Some(0), ..Backoff::default() }),
            ..RetryPolicy::default()
        });
        let mut world = World::new(wf);
        let mut succeeded_units: BTreeSet<(String, Option<u32>)> = BTreeSet::new();
        let mut pick = 0usize;

        for round in 0..600 {
            let now = at(round as i64);
            let decision = decide_jobs(&world.wf, &world.jobs, now);
            let lose_write = lost_writes[round % lost_writes.len()];
            for effect in &decision.effects {
                if let Effect::Create(OwnedObject::Job(job)) = effect {
                    let observed = ObservedJob::from_job(job).expect("our labels");
                    prop_assert!(
                        !world.jobs.iter().any(|j| j.name == observed.name),
                        "round {}: {} created again", round, observed.name
                    );
                    prop_assert!(observed.attempt as i32 <= limit, "{} beyond the limit", observed.name);
                    let i: usize = observed.step[1..].parse().expect("s<i>");
                    for &d in &deps[i] {
                        let total = shapes[d].0;
                        let done = if total == 0 {
                            succeeded_units.contains(&(format!("s{d}"), None))
                        } else {
                            (0..total as u32).all(|x| succeeded_units.contains(&(format!("s{d}"), Some(x))))
                        };
                        prop_assert!(done, "{} created before s{} finished", observed.name, d);
                    }
                }
                if lose_write && matches!(effect, Effect::WriteStatus(_)) {
                    continue;
                }
                world.apply(effect, now);
            }
            let active: Vec<&ObservedJob> = world.jobs.iter().filter(|j| j.state == JobState::Active).collect();
            if let Some(limit) = parallelism {
                prop_assert!(active.len() <= limit as usize, "round {}: {} at work", round, active.len());
            }
            for (k, &(items, max_parallel)) in shapes.iter().enumerate() {
                if let (true, Some(max)) = (items > 0, max_parallel) {
                    let of_step = active.iter().filter(|j| j.step == format!("s{k}")).count();
                    prop_assert!(of_step <= max as usize, "s{} has {} at work", k, of_step);
                }
            }
            let phase = world.wf.status.as_ref().and_then(|s| s.phase);
            if matches!(phase, Some(WorkflowPhase::Completed | WorkflowPhase::Failed)) && active.is_empty() && !lose_write {
                break;
            }
            // Finish one Job at work: it fails or succeeds.
            let names: Vec<String> = active.iter().map(|j| j.name.clone()).collect();
            if let Some(name) = names.get(round % names.len().max(1)) {
                pick += 1;
                let fails = fail_picks[pick % fail_picks.len()];
                let job = world.jobs.iter_mut().find(|j| &j.name == name).expect("exists");
                if fails {
                    job.state = JobState::Failed { finished: Some(now), reason: "BackoffLimitExceeded".into(), message: String::new() };
                } else {
                    job.state = JobState::Succeeded { finished: Some(now) };
                    succeeded_units.insert((job.step.clone(), job.instance));
                }
            }
        }
        let phase = world.wf.status.as_ref().and_then(|s| s.phase);
        prop_assert!(matches!(phase, Some(WorkflowPhase::Completed | WorkflowPhase::Failed)), "the run ends: {:?}", phase);
    }
}
