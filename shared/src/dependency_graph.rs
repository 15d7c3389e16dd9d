//! The dependency graph of any spec, valid or not: `dependsOn` names resolved to step
//! indices, the edges the other way round, a topological order and the cycles. `validate()`
//! reports what did not resolve and the cycles; a [`crate::Dag`] keeps the graph of a valid
//! spec. Steps are indexed `0..steps` in spec order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use fnv::FnvHashMap;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::adjacency::Adjacency;
use crate::workflow::WorkflowSpec;

/// Why a `dependsOn` entry is not an edge of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// It names no step of the workflow.
    Missing,
    /// It names the step it belongs to.
    Itself,
    /// An earlier entry of the same `dependsOn` already named that step.
    Duplicate,
}

/// A `dependsOn` entry that is not an edge: `depends_on[entry]` of step `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnresolvedEntry {
    pub step: usize,
    pub entry: usize,
    pub why: Unresolved,
}

/// The steps of a spec and the edges between them.
#[derive(Debug, Clone)]
pub(crate) struct DependencyGraph {
    /// Per step, the steps it depends on, in `dependsOn` order (entries that did not resolve
    /// left out).
    pub dependencies: Adjacency,
    /// Per step, the steps that depend on it, in spec order.
    pub dependents: Adjacency,
    /// Every step after its dependencies, ties broken by spec order; steps on or after a
    /// cycle are left out.
    pub topological: Vec<usize>,
    /// Steps whose `stepName` an earlier step already has, in spec order. A name stands for
    /// its first step.
    pub duplicates: Vec<usize>,
    /// The entries that did not resolve, in spec order then `dependsOn` order.
    pub unresolved: Vec<UnresolvedEntry>,
}

impl DependencyGraph {
    /// Resolves every `dependsOn` entry of `spec`. Linear in steps plus dependencies (the
    /// topological order adds a log factor for its spec-order ties).
    pub fn build(spec: &WorkflowSpec) -> DependencyGraph {
        let steps = &spec.containers;
        // Step names are short: FNV hashes them several times faster than SipHash, and
        // they come from the workflow's own author, so flooding is not a concern.
        let mut index: FnvHashMap<&str, usize> =
            FnvHashMap::with_capacity_and_hasher(steps.len(), Default::default());
        let mut duplicates = Vec::new();
        let mut edges = 0;
        for (i, step) in steps.iter().enumerate() {
            edges += step.depends_on.len();
            if *index.entry(step.step_name.as_str()).or_insert(i) != i {
                duplicates.push(i);
            }
        }

        let mut dependencies = Adjacency::with_capacity(steps.len(), edges);
        let mut unresolved = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            for (entry, dependency) in step.depends_on.iter().enumerate() {
                let why = match index.get(dependency.as_str()) {
                    None => Unresolved::Missing,
                    Some(_) if *dependency == step.step_name => Unresolved::Itself,
                    // dependsOn is short (bounded by the limits): a scan is cheaper than a set.
                    Some(&d) if dependencies.current().contains(&d) => Unresolved::Duplicate,
                    Some(&d) => {
                        dependencies.push(d);
                        continue;
                    }
                };
                unresolved.push(UnresolvedEntry {
                    step: i,
                    entry,
                    why,
                });
            }
            dependencies.end_row();
        }

        let dependents = dependencies.reversed();
        let topological = topological_order(&dependencies, &dependents);
        DependencyGraph {
            dependencies,
            dependents,
            topological,
            duplicates,
            unresolved,
        }
    }

    /// Whether no step depends on itself through others.
    pub fn is_acyclic(&self) -> bool {
        self.topological.len() == self.dependencies.len()
    }

    /// One cycle per strongly connected component of more than one step, ordered by the
    /// component's first step: a shortest path from that step along dependencies back to it,
    /// `[a, b, c, a]` meaning a depends on b, b on c, c on a.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let steps = self.dependencies.len();
        // Edges point from a step to the steps it depends on, the direction paths are read in.
        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(steps, 0);
        for _ in 0..steps {
            graph.add_node(());
        }
        for (step, dependency) in self.dependencies.edges() {
            graph.add_edge(NodeIndex::new(step), NodeIndex::new(dependency), ());
        }
        let mut components: Vec<Vec<usize>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut c: Vec<usize> = c.into_iter().map(NodeIndex::index).collect();
                c.sort_unstable();
                c
            })
            .collect();
        components.sort_unstable_by_key(|c| c[0]);

        let mut component_of = vec![usize::MAX; steps];
        for (id, component) in components.iter().enumerate() {
            for &step in component {
                component_of[step] = id;
            }
        }
        components
            .iter()
            .enumerate()
            .map(|(id, component)| {
                shortest_cycle_through(component[0], &self.dependencies, |s| component_of[s] == id)
            })
            .collect()
    }
}

/// Kahn's algorithm with a min-heap of the steps free to go: among them the first in spec
/// order goes first, so the order is deterministic. Steps on or after a cycle are left out.
fn topological_order(dependencies: &Adjacency, dependents: &Adjacency) -> Vec<usize> {
    let steps = dependencies.len();
    let mut waiting: Vec<usize> = (0..steps).map(|s| dependencies.of(s).len()).collect();
    let mut free: BinaryHeap<Reverse<usize>> = (0..steps)
        .filter(|&s| waiting[s] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(steps);
    while let Some(Reverse(step)) = free.pop() {
        order.push(step);
        for &next in dependents.of(step) {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                free.push(Reverse(next));
            }
        }
    }
    order
}

/// A shortest path `start -> .. -> start` along dependencies, staying inside one strongly
/// connected component (so it exists). Breadth-first: linear in the component's size.
fn shortest_cycle_through(
    start: usize,
    dependencies: &Adjacency,
    in_component: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(step) = queue.pop_front() {
        for &d in dependencies.of(step) {
            if d == start {
                // Walk back from `step` to `start`, then read it forwards.
                let mut path = vec![step];
                let mut at = step;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if in_component(d) && !parent.contains_key(&d) {
                parent.insert(d, step);
                queue.push_back(d);
            }
        }
    }
    // Unreachable for a real component; a lone start is still a truthful (if short) answer.
    vec![start, start]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::workflow;

    fn graph(steps: &[(&str, &[&str])]) -> DependencyGraph {
        DependencyGraph::build(&workflow("wf", steps).spec)
    }

    #[test]
    fn entries_that_name_no_other_step_once_are_not_edges() {
        let g = graph(&[("a", &["a", "x", "b", "b"]), ("b", &[]), ("a", &["b"])]);
        assert_eq!(g.dependencies.of(0), &[1]);
        assert_eq!(g.dependencies.of(2), &[1]);
        assert_eq!(g.dependents.of(1), &[0, 2]);
        assert_eq!(g.duplicates, [2]);
        let unresolved: Vec<_> = g
            .unresolved
            .iter()
            .map(|u| (u.step, u.entry, u.why))
            .collect();
        assert_eq!(
            unresolved,
            [
                (0, 0, Unresolved::Itself),
                (0, 1, Unresolved::Missing),
                (0, 3, Unresolved::Duplicate),
            ]
        );
    }

    #[test]
    fn a_cycle_leaves_its_steps_and_those_after_it_out_of_the_order() {
        let g = graph(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["a"]),
            ("e", &[]),
        ]);
        assert!(!g.is_acyclic());
        assert_eq!(g.topological, [4]);
        assert_eq!(g.cycles(), [vec![0, 2, 1, 0]]);
        let g = graph(&[("z", &["y"]), ("y", &[]), ("x", &[])]);
        assert!(g.is_acyclic());
        assert_eq!(g.topological, [1, 0, 2]);
        assert!(g.cycles().is_empty());
    }
}
