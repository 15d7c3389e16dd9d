//! Property tests of the DAG engine and validate() on random graphs, each checked against a
//! naive reference computation (reachability by plain search).

use std::collections::BTreeSet;

use kwf_api::fixtures::{step, workflow_of};
use kwf_api::{Dag, ProblemKind, StepPhase, WorkflowSpec, validate};
use proptest::prelude::*;

/// Step `i` is called `s{i}`; `deps[i]` are the indices it depends on.
fn spec(deps: &[Vec<usize>]) -> WorkflowSpec {
    let steps = deps.iter().enumerate().map(|(i, d)| {
        let names: Vec<String> = d.iter().map(|j| format!("s{j}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        step(&format!("s{i}"), &names)
    });
    workflow_of("random", steps.collect()).spec
}

/// Any directed graph without self-loops or repeated edges, possibly cyclic.
fn any_graph() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..30).prop_flat_map(|n| {
        prop::collection::vec(prop::collection::btree_set(0..n, 0..4), n).prop_map(|sets| {
            sets.into_iter()
                .enumerate()
                .map(|(i, set)| set.into_iter().filter(|&j| j != i).collect())
                .collect()
        })
    })
}

/// A DAG: steps depend only on steps earlier in a random order, listed in another order.
fn acyclic_graph() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..40).prop_flat_map(|n| {
        let edges = prop::collection::vec(prop::collection::btree_set(0..n, 0..4), n);
        let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        (edges, order).prop_map(|(edges, order)| {
            // `order[k]` is the step at rank k; it may depend on steps of lower rank only.
            let mut deps = vec![Vec::new(); order.len()];
            for (rank, picks) in edges.into_iter().enumerate() {
                deps[order[rank]] = picks
                    .into_iter()
                    .filter(|&p| p < rank)
                    .map(|p| order[p])
                    .collect();
            }
            deps
        })
    })
}

fn phase() -> impl Strategy<Value = StepPhase> {
    prop_oneof![
        Just(StepPhase::Pending),
        Just(StepPhase::Running),
        Just(StepPhase::Succeeded),
        Just(StepPhase::Failed),
        Just(StepPhase::Skipped),
    ]
}

/// Steps reachable from `from` along `edges` (not including `from` unless on a cycle).
fn reachable(edges: &[Vec<usize>], from: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        for &next in &edges[at] {
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen
}

fn reversed(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    dependents
}

/// The step indices of the path named in a Cycle problem's message.
fn named_cycle(message: &str) -> Vec<usize> {
    let path = message
        .split("cycle ")
        .nth(1)
        .and_then(|rest| rest.split(" (").next())
        .expect("the message names the cycle");
    path.split(" -> ")
        .map(|name| name.trim_start_matches('s').parse().expect("a step name"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn topological_order_respects_every_edge(deps in acyclic_graph()) {
        let dag = Dag::build(&spec(&deps)).expect("acyclic graphs are valid");
        let order = dag.topological_order();
        let mut rank = vec![usize::MAX; deps.len()];
        for (position, &step) in order.iter().enumerate() {
            prop_assert_eq!(rank[step], usize::MAX, "step {} listed twice", step);
            rank[step] = position;
        }
        prop_assert_eq!(order.len(), deps.len());
        for (step, ds) in deps.iter().enumerate() {
            prop_assert_eq!(dag.dependencies(step), ds.as_slice());
            for &d in ds {
                prop_assert!(rank[d] < rank[step], "s{} before its dependency s{}", step, d);
            }
        }
    }

    #[test]
    fn ready_is_exactly_the_pending_steps_with_succeeded_dependencies(
        (deps, phases) in acyclic_graph().prop_flat_map(|deps| {
            let n = deps.len();
            (Just(deps), prop::collection::vec(phase(), n))
        })
    ) {
        let dag = Dag::build(&spec(&deps)).unwrap();
        let ready = dag.ready(|s| phases[s]);
        for &step in &ready {
            prop_assert_eq!(phases[step], StepPhase::Pending);
            for &d in dag.dependencies(step) {
                prop_assert_eq!(phases[d], StepPhase::Succeeded, "s{} ready before s{}", step, d);
            }
        }
        let expected: Vec<usize> = (0..deps.len())
            .filter(|&s| phases[s] == StepPhase::Pending && deps[s].iter().all(|&d| phases[d] == StepPhase::Succeeded))
            .collect();
        prop_assert_eq!(ready, expected);
    }

    #[test]
    fn blocked_is_exactly_the_pending_descendants_of_failed_or_skipped_steps(
        (deps, phases) in acyclic_graph().prop_flat_map(|deps| {
            let n = deps.len();
            (Just(deps), prop::collection::vec(phase(), n))
        })
    ) {
        let dag = Dag::build(&spec(&deps)).unwrap();
        let dependents = reversed(&deps);
        let mut expected = BTreeSet::new();
        for (step, p) in phases.iter().enumerate() {
            if matches!(p, StepPhase::Failed | StepPhase::Skipped) {
                expected.extend(reachable(&dependents, step).into_iter().filter(|&s| phases[s] == StepPhase::Pending));
            }
        }
        prop_assert_eq!(dag.blocked(|s| phases[s]), expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn ancestors_and_descendants_are_the_reachable_steps_in_topological_order(
        (deps, step) in acyclic_graph().prop_flat_map(|deps| {
            let n = deps.len();
            (Just(deps), 0..n)
        })
    ) {
        let dag = Dag::build(&spec(&deps)).unwrap();
        let rank: Vec<usize> = {
            let mut r = vec![0; deps.len()];
            for (position, &s) in dag.topological_order().iter().enumerate() { r[s] = position; }
            r
        };
        for (found, edges) in [(dag.ancestors(step), deps.clone()), (dag.descendants(step), reversed(&deps))] {
            prop_assert!(found.windows(2).all(|w| rank[w[0]] < rank[w[1]]), "not in topological order");
            prop_assert_eq!(found.iter().copied().collect::<BTreeSet<_>>(), reachable(&edges, step));
        }
        let dependents = reversed(&deps);
        for (s, expected) in dependents.iter().enumerate() {
            prop_assert_eq!(dag.dependents(s), expected.as_slice(), "spec order");
        }
    }

    #[test]
    fn every_cycle_is_found_and_named_with_a_real_path(deps in any_graph()) {
        let n = deps.len();
        let reach: Vec<BTreeSet<usize>> = (0..n).map(|s| reachable(&deps, s)).collect();
        // Strongly connected components with a cycle, by mutual reachability.
        let mut components: BTreeSet<BTreeSet<usize>> = BTreeSet::new();
        for s in (0..n).filter(|&s| reach[s].contains(&s)) {
            components.insert((0..n).filter(|&t| reach[s].contains(&t) && reach[t].contains(&s)).collect());
        }
        let result = validate(&spec(&deps));
        let cycles: Vec<Vec<usize>> = match &result {
            Ok(()) => Vec::new(),
            Err(errors) => errors.of_kind(ProblemKind::Cycle).map(|p| named_cycle(&p.message)).collect(),
        };
        prop_assert_eq!(result.is_ok(), components.is_empty());
        prop_assert_eq!(cycles.len(), components.len(), "one named cycle per component");
        let mut named_components = BTreeSet::new();
        for path in &cycles {
            prop_assert!(path.len() >= 3, "a cycle of at least two steps: {:?}", path);
            prop_assert_eq!(path.first(), path.last());
            for pair in path.windows(2) {
                prop_assert!(deps[pair[0]].contains(&pair[1]), "s{} does not depend on s{}", pair[0], pair[1]);
            }
            let inner: BTreeSet<usize> = path[..path.len() - 1].iter().copied().collect();
            prop_assert_eq!(inner.len(), path.len() - 1, "a simple cycle: {:?}", path);
            let component = components.iter().find(|c| c.is_superset(&inner));
            prop_assert!(component.is_some(), "cycle {:?} within one component", path);
            prop_assert!(named_components.insert(component.cloned()), "component named twice");
        }
        if components.is_empty() {
            prop_assert!(Dag::build(&spec(&deps)).is_ok());
        }
    }
}
