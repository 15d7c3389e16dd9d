//! `validate()`: every problem of a Workflow spec at once, each with a message a person can
//! act on. The CRD's CEL rules catch most of these at admission; this layer repeats them (a
//! spec may come from a file or an older CRD) and adds what CEL cannot see: cycles.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use fnv::FnvHashMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::adjacency::Adjacency;
use crate::names::{MAX_STEP_NAME_LEN, is_dns1123_label};
use crate::types::WorkflowSpec;

/// Most steps a Workflow may have (also the CRD's `maxItems`): a 2,000-step workflow with its
/// status stays well below etcd's 1.5 MiB object limit, and the CEL rules stay within the
/// API server's cost budget.
pub const MAX_STEPS: usize = 2000;
/// Most entries a step's `dependsOn` may have (also the CRD's `maxItems`).
pub const MAX_DEPENDENCIES: usize = 100;

/// Bounds `validate_with` checks. The defaults are the CRD's; larger ones exist so that the
/// engine can be exercised (and benchmarked) beyond what the API server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_steps: usize,
    pub max_dependencies: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: MAX_STEPS,
            max_dependencies: MAX_DEPENDENCIES,
        }
    }
}

/// What is wrong, as a machine-readable category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// `containers` is empty.
    NoSteps,
    /// More steps than [`Limits::max_steps`].
    TooManySteps,
    /// `stepName` is not a DNS-1123 label of at most [`MAX_STEP_NAME_LEN`] characters.
    InvalidStepName,
    /// Two steps share a `stepName`.
    DuplicateStep,
    /// A `dependsOn` entry names no step of the workflow.
    MissingDependency,
    /// A step lists itself in `dependsOn`.
    SelfDependency,
    /// A `dependsOn` entry is listed twice.
    DuplicateDependency,
    /// More `dependsOn` entries than [`Limits::max_dependencies`].
    TooManyDependencies,
    /// Steps depend on each other in a circle, so none of them can ever start.
    Cycle,
    /// `maxStepTimeout` is neither -1 nor positive.
    InvalidTimeout,
    /// A step has neither `image` nor `jobTemplate`.
    MissingImage,
}

/// One problem of a spec: the step it concerns (if any), its kind, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub step: Option<String>,
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    fn of_step(step: &str, kind: ProblemKind, message: String) -> Problem {
        Problem {
            step: Some(step.to_owned()),
            kind,
            message,
        }
    }

    fn of_spec(kind: ProblemKind, message: String) -> Problem {
        Problem {
            step: None,
            kind,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step {step:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a spec; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<Problem>);

impl ValidationErrors {
    /// The problems of one kind.
    pub fn of_kind(&self, kind: ProblemKind) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(move |p| p.kind == kind)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Checks a spec against the CRD's limits; see [`validate_with`].
pub fn validate(spec: &WorkflowSpec) -> Result<(), ValidationErrors> {
    validate_with(spec, &Limits::default())
}

/// Checks a spec and reports every problem at once: the spec's own, then each step's name
/// and image in spec order, then each step's dependencies in spec order, then one per
/// cycle. Linear in steps plus dependencies (the topological sort that finds whether there
/// is a cycle adds a log factor for its deterministic ties).
pub fn validate_with(spec: &WorkflowSpec, limits: &Limits) -> Result<(), ValidationErrors> {
    let problems = Checked::new(spec, limits).problems;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(problems))
    }
}

/// The result of checking a spec: its problems, and the pieces `Dag::build` reuses so that
/// the spec is walked once.
pub(crate) struct Checked {
    pub problems: Vec<Problem>,
    /// Per step, the indices of the existing steps it depends on, in `dependsOn` order
    /// (without self-dependencies and repeats).
    pub dependencies: Adjacency,
    /// Per step, the steps that depend on it, in spec order.
    pub dependents: Adjacency,
    /// Every step after its dependencies, ties broken by spec order; complete only when
    /// the graph has no cycle.
    pub topological: Vec<usize>,
}

impl Checked {
    pub fn new(spec: &WorkflowSpec, limits: &Limits) -> Checked {
        let steps = &spec.containers;
        let mut problems = Vec::new();

        if spec.max_step_timeout != -1 && spec.max_step_timeout <= 0 {
            problems.push(Problem::of_spec(
                ProblemKind::InvalidTimeout,
                format!(
                    "maxStepTimeout is {}: set it to a positive number of seconds, or -1 for no limit",
                    spec.max_step_timeout
                ),
            ));
        }
        if steps.is_empty() {
            problems.push(Problem::of_spec(
                ProblemKind::NoSteps,
                "the workflow has no steps: add at least one entry to spec.containers".to_owned(),
            ));
        }
        if steps.len() > limits.max_steps {
            problems.push(Problem::of_spec(
                ProblemKind::TooManySteps,
                format!(
                    "the workflow has {} steps, more than the {} allowed: split it into several workflows",
                    steps.len(),
                    limits.max_steps
                ),
            ));
        }

        // Step names are short: FNV hashes them several times faster than SipHash, and
        // they come from the workflow's own author, so flooding is not a concern.
        let mut index: FnvHashMap<&str, usize> =
            FnvHashMap::with_capacity_and_hasher(steps.len(), Default::default());
        let mut edges = 0;
        for (i, step) in steps.iter().enumerate() {
            let name = step.step_name.as_str();
            edges += step.depends_on.len();
            if !is_dns1123_label(name) || name.len() > MAX_STEP_NAME_LEN {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::InvalidStepName,
                    format!(
                        "invalid step name: use at most {MAX_STEP_NAME_LEN} lowercase letters, digits and '-', starting and ending with a letter or digit"
                    ),
                ));
            }
            // The first step of a name wins; later ones are reported.
            if *index.entry(name).or_insert(i) != i {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::DuplicateStep,
                    "another step has the same name: give every step a unique stepName".to_owned(),
                ));
            }
            if step.image.as_deref().is_none_or(str::is_empty) && step.job_template.is_none() {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::MissingImage,
                    "no image: set image (or a jobTemplate)".to_owned(),
                ));
            }
        }

        let mut dependencies = Adjacency::with_capacity(steps.len(), edges);
        for step in steps {
            let name = step.step_name.as_str();
            if step.depends_on.len() > limits.max_dependencies {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::TooManyDependencies,
                    format!(
                        "dependsOn has {} entries, more than the {} allowed: depend on fewer steps, e.g. through an intermediate step",
                        step.depends_on.len(),
                        limits.max_dependencies
                    ),
                ));
            }
            for dependency in &step.depends_on {
                match index.get(dependency.as_str()) {
                    None => problems.push(Problem::of_step(
                        name,
                        ProblemKind::MissingDependency,
                        format!(
                            "depends on {dependency:?}, which is not a step of this workflow: fix the name or remove it from dependsOn"
                        ),
                    )),
                    Some(_) if dependency == name => problems.push(Problem::of_step(
                        name,
                        ProblemKind::SelfDependency,
                        "depends on itself: remove it from its own dependsOn".to_owned(),
                    )),
                    // dependsOn is short (bounded by max_dependencies): a scan is cheaper
                    // than a set.
                    Some(&d) if dependencies.current().contains(&d) => {
                        problems.push(Problem::of_step(
                            name,
                            ProblemKind::DuplicateDependency,
                            format!("lists {dependency:?} more than once in dependsOn: remove the repeat"),
                        ))
                    }
                    Some(&d) => dependencies.push(d),
                }
            }
            dependencies.end_row();
        }

        let dependents = dependencies.reversed();
        let topological = topological_order(&dependencies, &dependents);
        if topological.len() < steps.len() {
            // Only a graph with a cycle leaves steps out: name each cycle.
            problems.extend(cycles(
                steps.iter().map(|s| s.step_name.as_str()),
                &dependencies,
            ));
        }
        Checked {
            problems,
            dependencies,
            dependents,
            topological,
        }
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

/// One problem per strongly connected component with more than one step, naming a real
/// cycle through it, `a -> b -> c -> a`, where `->` reads "depends on".
fn cycles<'a>(names: impl Iterator<Item = &'a str>, dependencies: &Adjacency) -> Vec<Problem> {
    let names: Vec<&str> = names.collect();
    // Edges point from a step to the steps it depends on, the direction the path is named in.
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(names.len(), 0);
    for _ in 0..names.len() {
        graph.add_node(());
    }
    for (step, dependency) in dependencies.edges() {
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

    let mut component_of = vec![usize::MAX; names.len()];
    for (id, component) in components.iter().enumerate() {
        for &step in component {
            component_of[step] = id;
        }
    }
    components
        .iter()
        .enumerate()
        .map(|(id, component)| {
            let path = shortest_cycle_through(component[0], dependencies, |s| component_of[s] == id);
            let named: Vec<&str> = path.iter().map(|&s| names[s]).collect();
            Problem::of_step(
                names[component[0]],
                ProblemKind::Cycle,
                format!(
                    "is part of the dependency cycle {} (\"->\" reads \"depends on\"): remove one of these dependencies",
                    named.join(" -> ")
                ),
            )
        })
        .collect()
}

/// A shortest path `start -> .. -> start` along dependencies, staying inside one strongly
/// connected component (so it exists). Breadth-first: linear in the component's size.
fn shortest_cycle_through(
    start: usize,
    dependencies: &Adjacency,
    in_component: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
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
    use crate::fixtures::{step, workflow_of};
    use crate::types::Step;

    fn spec(steps: Vec<Step>) -> WorkflowSpec {
        workflow_of("wf", steps).spec
    }

    fn kinds(result: Result<(), ValidationErrors>) -> Vec<(Option<String>, ProblemKind)> {
        result
            .unwrap_err()
            .0
            .into_iter()
            .map(|p| (p.step, p.kind))
            .collect()
    }

    #[test]
    fn accepts_the_seed_shape_and_unlimited_timeout() {
        let mut ok = spec(vec![step("first", &[]), step("second", &["first"])]);
        assert_eq!(validate(&ok), Ok(()));
        ok.max_step_timeout = -1;
        assert_eq!(validate(&ok), Ok(()));
    }

    #[test]
    fn reports_every_problem_at_once_in_spec_order() {
        let mut bad = spec(vec![
            step("a", &["a", "missing"]),
            step("Bad_Name", &[]),
            step("a", &[]),
            step("c", &["d", "d"]),
            step("d", &["c"]),
        ]);
        bad.containers[1].image = None;
        bad.max_step_timeout = 0;
        let s = |n: &str| Some(n.to_owned());
        assert_eq!(
            kinds(validate(&bad)),
            vec![
                (None, ProblemKind::InvalidTimeout),
                (s("Bad_Name"), ProblemKind::InvalidStepName),
                (s("Bad_Name"), ProblemKind::MissingImage),
                (s("a"), ProblemKind::DuplicateStep),
                (s("a"), ProblemKind::SelfDependency),
                (s("a"), ProblemKind::MissingDependency),
                (s("c"), ProblemKind::DuplicateDependency),
                (s("c"), ProblemKind::Cycle),
            ]
        );
    }

    #[test]
    fn messages_name_the_step_and_say_what_to_do() {
        let err = validate(&spec(vec![step("a", &[]), step("b", &["x"])])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step \"b\": depends on \"x\", which is not a step of this workflow: fix the name or remove it from dependsOn"
        );
        let err = validate(&spec(vec![step("a", &["a"]), step("b", &["a", "a"])])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step \"a\": depends on itself: remove it from its own dependsOn; \
             step \"b\": lists \"a\" more than once in dependsOn: remove the repeat"
        );
    }

    #[test]
    fn empty_and_oversized_workflows() {
        assert_eq!(
            kinds(validate(&spec(vec![]))),
            vec![(None, ProblemKind::NoSteps)]
        );
        let steps: Vec<Step> = (0..3).map(|i| step(&format!("s{i}"), &[])).collect();
        let limits = Limits {
            max_steps: 2,
            max_dependencies: 1,
        };
        assert_eq!(
            kinds(validate_with(&spec(steps.clone()), &limits)),
            vec![(None, ProblemKind::TooManySteps)]
        );
        let mut wide = steps;
        wide[2].depends_on = vec!["s0".into(), "s1".into()];
        let limits = Limits {
            max_steps: 3,
            ..limits
        };
        assert_eq!(
            kinds(validate_with(&spec(wide), &limits)),
            vec![(Some("s2".into()), ProblemKind::TooManyDependencies)]
        );
    }

    #[test]
    fn step_names_are_dns_labels_of_at_most_40_characters() {
        let long = "a".repeat(MAX_STEP_NAME_LEN);
        assert_eq!(validate(&spec(vec![step(&long, &[])])), Ok(()));
        for bad in [
            format!("{long}a"),
            "-a".into(),
            "a.b".into(),
            "".into(),
            "A".into(),
        ] {
            assert_eq!(
                kinds(validate(&spec(vec![step(&bad, &[])]))),
                vec![(Some(bad.clone()), ProblemKind::InvalidStepName)],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_job_template_replaces_the_image() {
        let mut s = step("a", &[]);
        s.image = None;
        s.job_template = Some(Default::default());
        assert_eq!(validate(&spec(vec![s])), Ok(()));
    }

    #[test]
    fn every_cycle_is_named_with_its_path() {
        let err = validate(&spec(vec![
            step("a", &["b"]),
            step("b", &["a"]),
            step("c", &["e"]),
            step("d", &["c"]),
            step("e", &["d"]),
            step("f", &["a", "c"]),
        ]))
        .unwrap_err();
        let messages: Vec<String> = err
            .of_kind(ProblemKind::Cycle)
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            messages,
            vec![
                "step \"a\": is part of the dependency cycle a -> b -> a (\"->\" reads \"depends on\"): remove one of these dependencies",
                "step \"c\": is part of the dependency cycle c -> e -> d -> c (\"->\" reads \"depends on\"): remove one of these dependencies",
            ]
        );
    }

    #[test]
    fn the_named_cycle_is_a_shortest_one_through_its_first_step() {
        // a -> b -> c -> d -> a, with the shortcut b -> a.
        let err = validate(&spec(vec![
            step("a", &["b"]),
            step("b", &["c", "a"]),
            step("c", &["d"]),
            step("d", &["a"]),
        ]))
        .unwrap_err();
        let cycle: Vec<&Problem> = err.of_kind(ProblemKind::Cycle).collect();
        assert_eq!(cycle.len(), 1, "one strongly connected component");
        assert!(
            cycle[0].message.contains("cycle a -> b -> a "),
            "{}",
            cycle[0]
        );
    }
}
