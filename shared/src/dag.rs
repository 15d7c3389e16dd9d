//! The pure DAG engine: a validated Workflow's steps and their dependencies, and the
//! questions the controller and the plugin ask of them. No I/O; every query is linear in
//! steps plus dependencies (the topological order is computed once, at build).

use std::sync::Arc;

use fnv::FnvHashMap;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::adjacency::Adjacency;
use crate::dependency_graph::DependencyGraph;
use crate::limits::Limits;
use crate::validate::{ValidationErrors, problems};
use crate::workflow::{StepPhase, WorkflowSpec};

/// A valid Workflow's steps and their dependencies, for the questions asked of them. Steps
/// are indexed `0..len()` in spec order.
///
/// Adjacency is kept in flat arrays (what the queries walk), as the spec's `DependencyGraph`
/// resolved it; petgraph is offered by [`Dag::graph`] for rendering and analysis.
#[derive(Debug, Clone)]
pub struct Dag {
    // Shared by `names` and `index`: one allocation per name instead of two.
    names: Vec<Arc<str>>,
    index: FnvHashMap<Arc<str>, usize>,
    dependencies: Adjacency,
    dependents: Adjacency,
    topological: Vec<usize>,
    /// Position of each step in `topological`, to sort subsets in that order.
    rank: Vec<usize>,
}

impl Dag {
    /// Validates the spec (see [`crate::validate()`]) and builds its graph. Linear in steps
    /// plus dependencies (the topological order adds a log factor for its spec-order ties).
    pub fn build(spec: &WorkflowSpec) -> Result<Dag, ValidationErrors> {
        Dag::build_with(spec, &Limits::default())
    }

    /// [`Dag::build`] with other limits than the CRD's.
    pub fn build_with(spec: &WorkflowSpec, limits: &Limits) -> Result<Dag, ValidationErrors> {
        let graph = DependencyGraph::build(spec);
        let problems = problems(spec, limits, &graph);
        if !problems.is_empty() {
            return Err(ValidationErrors(problems));
        }
        let names: Vec<Arc<str>> = spec
            .containers
            .iter()
            .map(|s| Arc::from(s.step_name.as_str()))
            .collect();
        let index = names.iter().cloned().zip(0..).collect();
        let mut rank = vec![0; names.len()];
        for (position, &step) in graph.topological.iter().enumerate() {
            rank[step] = position;
        }
        Ok(Dag {
            names,
            index,
            dependencies: graph.dependencies,
            dependents: graph.dependents,
            topological: graph.topological,
            rank,
        })
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no steps (never true for a built Dag: validation requires one).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The `stepName` of `step`. Panics if `step >= len()`.
    pub fn name(&self, step: usize) -> &str {
        &self.names[step]
    }

    /// The index of the step called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The steps `step` depends on, in `dependsOn` order.
    pub fn dependencies(&self, step: usize) -> &[usize] {
        self.dependencies.of(step)
    }

    /// The steps that depend on `step`, in spec order.
    pub fn dependents(&self, step: usize) -> &[usize] {
        self.dependents.of(step)
    }

    /// Every step after all of its dependencies; among steps free to go next, the first in
    /// spec order comes first, so the order is deterministic.
    pub fn topological_order(&self) -> &[usize] {
        &self.topological
    }

    /// Pending steps whose dependencies have all Succeeded, in spec order.
    pub fn ready(&self, phase: impl Fn(usize) -> StepPhase) -> Vec<usize> {
        let phases = self.phases(phase);
        (0..self.len())
            .filter(|&step| {
                phases[step] == StepPhase::Pending
                    && self
                        .dependencies
                        .of(step)
                        .iter()
                        .all(|&d| phases[d] == StepPhase::Succeeded)
            })
            .collect()
    }

    /// Every step that transitively depends on `step` (not including it), in topological
    /// order.
    pub fn descendants(&self, step: usize) -> Vec<usize> {
        self.reachable(step, &self.dependents)
    }

    /// Every step `step` transitively depends on (not including it), in topological order.
    pub fn ancestors(&self, step: usize) -> Vec<usize> {
        self.reachable(step, &self.dependencies)
    }

    /// Steps that can never run given the phases: Pending and with a Failed or Skipped
    /// ancestor, in spec order. One pass in topological order, each step deciding from its
    /// direct dependencies' memoized answers.
    pub fn blocked(&self, phase: impl Fn(usize) -> StepPhase) -> Vec<usize> {
        let phases = self.phases(phase);
        let mut has_bad_ancestor = vec![false; self.len()];
        for &step in &self.topological {
            has_bad_ancestor[step] = self.dependencies.of(step).iter().any(|&d| {
                has_bad_ancestor[d] || matches!(phases[d], StepPhase::Failed | StepPhase::Skipped)
            });
        }
        (0..self.len())
            .filter(|&step| has_bad_ancestor[step] && phases[step] == StepPhase::Pending)
            .collect()
    }

    /// The graph as petgraph sees it (node weights are step names, an edge runs from a
    /// step to a step that depends on it; node `i` is step `i`), for rendering or analysis.
    pub fn graph(&self) -> DiGraph<&str, ()> {
        let mut graph = DiGraph::with_capacity(self.len(), 0);
        for name in &self.names {
            graph.add_node(&**name);
        }
        for (step, dependency) in self.dependencies.edges() {
            graph.add_edge(NodeIndex::new(dependency), NodeIndex::new(step), ());
        }
        graph
    }

    /// Evaluates the caller's phase function once per step.
    fn phases(&self, phase: impl Fn(usize) -> StepPhase) -> Vec<StepPhase> {
        (0..self.len()).map(phase).collect()
    }

    /// Steps reachable from `step` along `edges`, excluding `step`, in topological order.
    fn reachable(&self, step: usize, edges: &Adjacency) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack = vec![step];
        let mut found = Vec::new();
        while let Some(at) = stack.pop() {
            for &next in edges.of(at) {
                if !seen[next] {
                    seen[next] = true;
                    found.push(next);
                    stack.push(next);
                }
            }
        }
        found.sort_unstable_by_key(|&s| self.rank[s]);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{diamond_with_tail, workflow};
    use crate::validate::ProblemKind;

    fn spec(steps: &[(&str, &[&str])]) -> WorkflowSpec {
        workflow("wf", steps).spec
    }

    /// a -> {b, c} -> d -> e
    fn diamond() -> Dag {
        Dag::build(&diamond_with_tail().spec).expect("the diamond is valid")
    }

    #[test]
    fn indexes_steps_in_spec_order() {
        let dag = diamond();
        assert_eq!(dag.len(), 5);
        assert!(!dag.is_empty());
        assert_eq!(dag.name(3), "d");
        assert_eq!(dag.index_of("d"), Some(3));
        assert_eq!(dag.index_of("z"), None);
        assert_eq!(dag.dependencies(3), &[1, 2]);
        assert_eq!(dag.dependents(0), &[1, 2], "spec order");
        let reordered = Dag::build(&spec(&[("a", &[]), ("b", &[]), ("c", &["b", "a"])])).unwrap();
        assert_eq!(reordered.dependencies(2), &[1, 0], "dependsOn order");
    }

    #[test]
    fn topological_order_breaks_ties_by_spec_order() {
        let dag = Dag::build(&spec(&[("z", &["y"]), ("y", &[]), ("x", &[])])).unwrap();
        assert_eq!(dag.topological_order(), &[1, 0, 2]);
        assert_eq!(diamond().topological_order(), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn ready_needs_every_dependency_succeeded() {
        use StepPhase::*;
        let dag = diamond();
        assert_eq!(dag.ready(|_| Pending), vec![0]);
        let phases = [Succeeded, Succeeded, Running, Pending, Pending];
        assert_eq!(dag.ready(|s| phases[s]), Vec::<usize>::new());
        let phases = [Succeeded, Succeeded, Succeeded, Pending, Pending];
        assert_eq!(dag.ready(|s| phases[s]), vec![3]);
    }

    #[test]
    fn ancestors_and_descendants_in_topological_order() {
        let dag = diamond();
        assert_eq!(dag.descendants(0), vec![1, 2, 3, 4]);
        assert_eq!(dag.descendants(1), vec![3, 4]);
        assert_eq!(dag.descendants(4), Vec::<usize>::new());
        assert_eq!(dag.ancestors(4), vec![0, 1, 2, 3]);
        assert_eq!(dag.ancestors(2), vec![0]);
    }

    #[test]
    fn blocked_are_pending_steps_after_a_failure() {
        use StepPhase::*;
        let dag = diamond();
        let phases = [Succeeded, Failed, Running, Pending, Pending];
        assert_eq!(dag.blocked(|s| phases[s]), vec![3, 4]);
        let phases = [Succeeded, Succeeded, Succeeded, Skipped, Pending];
        assert_eq!(dag.blocked(|s| phases[s]), vec![4]);
        assert_eq!(dag.blocked(|_| Pending), Vec::<usize>::new());
    }

    #[test]
    fn build_rejects_a_cycle_naming_its_path() {
        let err = Dag::build(&spec(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
        ]))
        .unwrap_err();
        let cycles: Vec<_> = err.of_kind(ProblemKind::Cycle).collect();
        assert_eq!(cycles.len(), 1);
        assert_eq!(
            cycles[0].to_string(),
            "step \"a\": is part of the dependency cycle a -> c -> b -> a (\"->\" reads \"depends on\"): remove one of these dependencies"
        );
    }

    #[test]
    fn graph_mirrors_the_dependencies() {
        let dag = diamond();
        let graph = dag.graph();
        assert_eq!(graph.node_count(), 5);
        assert_eq!(graph.edge_count(), 5);
        assert!(graph.contains_edge(NodeIndex::new(2), NodeIndex::new(3)));
    }
}
