//! `validate()`: every problem of a Workflow spec at once, each with a message a person can
//! act on. The CRD's CEL rules catch most of these at admission; this layer repeats them (a
//! spec may come from a file or an older CRD) and adds what CEL cannot see: cycles.

use std::collections::HashMap;
use std::fmt;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

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

/// Checks a spec and reports every problem at once, in spec order (cycles last). Linear in
/// steps plus dependencies.
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
pub(crate) struct Checked<'a> {
    pub problems: Vec<Problem>,
    /// Step name to its first index in spec order.
    pub index: HashMap<&'a str, usize>,
    /// Per step, the indices of the existing steps it depends on, in `dependsOn` order
    /// (without self-dependencies and repeats).
    pub dependencies: Vec<Vec<usize>>,
}

impl<'a> Checked<'a> {
    pub fn new(spec: &'a WorkflowSpec, limits: &Limits) -> Checked<'a> {
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

        let mut index: HashMap<&str, usize> = HashMap::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let name = step.step_name.as_str();
            if !is_dns1123_label(name) || name.len() > MAX_STEP_NAME_LEN {
                problems.push(Problem::of_step(
                    name,
                    ProblemKind::InvalidStepName,
                    format!(
                        "invalid step name: use at most {MAX_STEP_NAME_LEN} lowercase letters, digits and '-', starting and ending with a letter or digit"
                    ),
                ));
            }
            if index.insert(name, i).is_some() {
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
        // The first step of a name wins: later duplicates are already reported.
        for (i, step) in steps.iter().enumerate().rev() {
            index.insert(step.step_name.as_str(), i);
        }

        let mut dependencies = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
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
            let mut deps: Vec<usize> = Vec::with_capacity(step.depends_on.len());
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
                    Some(&d) if d == i => {
                        // A later duplicate of this step's own name resolves to another step:
                        // already reported as DuplicateStep.
                    }
                    Some(&d) => {
                        // dependsOn is short (bounded by max_dependencies): a scan is cheaper
                        // than a set.
                        if deps.contains(&d) {
                            problems.push(Problem::of_step(
                                name,
                                ProblemKind::DuplicateDependency,
                                format!(
                                    "lists {dependency:?} more than once in dependsOn: remove the repeat"
                                ),
                            ));
                        } else {
                            deps.push(d);
                        }
                    }
                }
            }
            dependencies.push(deps);
        }

        problems.extend(cycles(
            steps.iter().map(|s| s.step_name.as_str()),
            &dependencies,
        ));
        Checked {
            problems,
            index,
            dependencies,
        }
    }
}

/// One problem per strongly connected component with more than one step, naming a real
/// cycle through it, `a -> b -> c -> a`, where `->` reads "depends on".
fn cycles<'a>(names: impl Iterator<Item = &'a str>, dependencies: &[Vec<usize>]) -> Vec<Problem> {
    let names: Vec<&str> = names.collect();
    // Edges point from a step to the steps it depends on, the direction the path is named in.
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(names.len(), 0);
    for _ in 0..names.len() {
        graph.add_node(());
    }
    for (step, deps) in dependencies.iter().enumerate() {
        for &d in deps {
            graph.add_edge(NodeIndex::new(step), NodeIndex::new(d), ());
        }
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
    dependencies: &[Vec<usize>],
    in_component: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(step) = queue.pop_front() {
        for &d in &dependencies[step] {
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
