//! `validate()`: every problem of a Workflow spec at once, each with a message a person can
//! act on. The CRD's CEL rules catch most of these at admission; this layer repeats them (a
//! spec may come from a file or an older CRD) and adds what CEL cannot see: cycles.

use std::fmt;

use crate::dependency_graph::{DependencyGraph, Unresolved};
use crate::limits::{Limits, MAX_STEP_NAME_LEN};
use crate::names::is_dns1123_label;
use crate::workflow::WorkflowSpec;

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
    /// A step has neither `image` nor `jobTemplate` nor `jobTemplateRef`.
    MissingImage,
    /// A step has both `jobTemplate` and `jobTemplateRef`.
    TwoTemplates,
    /// A `volumeMounts` entry names no volume or claim template of the workflow.
    UnknownVolume,
    /// Two volumes or claim templates share a name.
    DuplicateVolume,
    /// A claim template's name is not a DNS-1123 label of at most 40 characters.
    InvalidClaimName,
    /// More volumes and claim templates, or more mounts in a step, than allowed.
    TooManyVolumes,
    /// `retries` out of range: a negative limit, a negative wait, a factor below 1.
    InvalidRetries,
    /// `withItems` empty, too long, with an item neither string nor object, or with a
    /// placeholder the items cannot fill (or a placeholder in a step without items).
    InvalidItems,
    /// `parallelism` or `maxParallel` below 1, or `maxParallel` on a step without items.
    InvalidParallelism,
    /// `params` without `workflowTemplateRef`: nothing would read them.
    ParamsWithoutTemplate,
}

/// One problem of a spec: the step it concerns (if any), its kind, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub step: Option<String>,
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    pub(crate) fn of_step(step: &str, kind: ProblemKind, message: String) -> Problem {
        Problem {
            step: Some(step.to_owned()),
            kind,
            message,
        }
    }

    pub(crate) fn of_spec(kind: ProblemKind, message: String) -> Problem {
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
    let problems = problems(spec, limits, &DependencyGraph::build(spec));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(problems))
    }
}

/// The problems of `spec`, whose dependency graph is `graph`, in the order [`validate_with`]
/// reports them.
pub(crate) fn problems(
    spec: &WorkflowSpec,
    limits: &Limits,
    graph: &DependencyGraph,
) -> Vec<Problem> {
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
    if !spec.params.is_empty() && spec.workflow_template_ref.is_none() {
        problems.push(Problem::of_spec(
            ProblemKind::ParamsWithoutTemplate,
            "params are for a workflow run from a template: name it in spec.workflowTemplateRef, or remove params".to_owned(),
        ));
    }
    // A run of a template gets its steps from the template when it starts.
    if steps.is_empty() && spec.workflow_template_ref.is_none() {
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

    let mut duplicates = graph.duplicates.iter().peekable();
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
        // The first step of a name wins; later ones are reported.
        if duplicates.next_if_eq(&&i).is_some() {
            problems.push(Problem::of_step(
                name,
                ProblemKind::DuplicateStep,
                "another step has the same name: give every step a unique stepName".to_owned(),
            ));
        }
        if step.image.as_deref().is_none_or(str::is_empty)
            && step.job_template.is_none()
            && step.job_template_ref.is_none()
        {
            problems.push(Problem::of_step(
                name,
                ProblemKind::MissingImage,
                "no image: set image (or a jobTemplate or jobTemplateRef)".to_owned(),
            ));
        }
        if step.job_template.is_some() && step.job_template_ref.is_some() {
            problems.push(Problem::of_step(
                name,
                ProblemKind::TwoTemplates,
                "both jobTemplate and jobTemplateRef: keep one of them".to_owned(),
            ));
        }
    }
    problems.extend(crate::volume_checks::problems(spec));
    problems.extend(crate::fan_out_checks::problems(spec));

    let mut unresolved = graph.unresolved.iter().peekable();
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
        while let Some(entry) = unresolved.next_if(|u| u.step == i) {
            let dependency = &step.depends_on[entry.entry];
            problems.push(match entry.why {
                Unresolved::Missing => Problem::of_step(
                    name,
                    ProblemKind::MissingDependency,
                    format!(
                        "depends on {dependency:?}, which is not a step of this workflow: fix the name or remove it from dependsOn"
                    ),
                ),
                Unresolved::Itself => Problem::of_step(
                    name,
                    ProblemKind::SelfDependency,
                    "depends on itself: remove it from its own dependsOn".to_owned(),
                ),
                Unresolved::Duplicate => Problem::of_step(
                    name,
                    ProblemKind::DuplicateDependency,
                    format!("lists {dependency:?} more than once in dependsOn: remove the repeat"),
                ),
            });
        }
    }

    // Only a graph with a cycle leaves steps out of the topological order.
    if !graph.is_acyclic() {
        for cycle in graph.cycles() {
            let named: Vec<&str> = cycle.iter().map(|&s| steps[s].step_name.as_str()).collect();
            problems.push(Problem::of_step(
                named[0],
                ProblemKind::Cycle,
                format!(
                    "is part of the dependency cycle {} (\"->\" reads \"depends on\"): remove one of these dependencies",
                    named.join(" -> ")
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{step, workflow_of};
    use crate::workflow::Step;

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
