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
