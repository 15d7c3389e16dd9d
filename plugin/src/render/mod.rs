//! Pure rendering of Workflows to text: a Workflow (and its events) in, a String out. No I/O,
//! no environment, no terminal detection: the CLI decides color and ASCII and passes `now`,
//! so every view is reproducible and snapshot-tested.

mod describe;
mod diagram;
mod export;
mod fields;
mod list;
mod logs;
mod model;
mod problems;
mod table;
mod text;
mod time;
mod tree;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod snapshot_tests;

use k8s_openapi::api::events::v1::Event;
use kwf_api::{ValidationErrors, Workflow};

pub use export::{GraphDocument, StepDocument};

/// How to draw: ANSI colors or not, ASCII glyphs or unicode ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub ascii: bool,
}

/// Output formats of `kubectl workflow graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Header and the DAG as a tree, for people.
    Tree,
    /// [`GraphDocument`] as JSON, for scripts.
    Json,
    /// [`GraphDocument`] as YAML.
    Yaml,
    /// Graphviz `digraph`, nodes filled by phase.
    Dot,
    /// Mermaid `flowchart TD`, one class per phase.
    Mermaid,
}

/// `kubectl workflow graph`: header + the DAG as a tree (ptree + owo-colors), or
/// json/yaml/dot/mermaid (which ignore `style`).
pub fn graph(wf: &Workflow, format: GraphFormat, style: Style, now: jiff::Timestamp) -> String {
    match format {
        GraphFormat::Tree => tree::render(wf, style, now),
        GraphFormat::Json => export::json(wf, now),
        GraphFormat::Yaml => export::yaml(wf, now),
        GraphFormat::Dot => diagram::dot(wf),
        GraphFormat::Mermaid => diagram::mermaid(wf),
    }
}

/// `kubectl workflow describe`: metadata, the spec in short, steps table, conditions, events.
pub fn describe(wf: &Workflow, events: &[Event], style: Style, now: jiff::Timestamp) -> String {
    describe::render(wf, events, style, now)
}

/// `kubectl workflow list`: NAME PHASE PROGRESS DURATION AGE (NAMESPACE first with -A), in
/// the order given. Empty input gives an empty string: the CLI says "No resources found".
pub fn list(wfs: &[Workflow], all_namespaces: bool, style: Style, now: jiff::Timestamp) -> String {
    list::render(wfs, all_namespaces, style, now)
}

/// `kubectl workflow validate` / `create` problems: one line per problem,
/// `SOURCE: error: step "b": ...`, where `source` names the file (and document index).
pub fn problems(source: &str, errors: &ValidationErrors, style: Style) -> String {
    problems::render(source, errors, style)
}

/// Stable color for a step's log prefix (`logs`): `name │ ` with the name padded to `width`;
/// the same step name always gets the same color.
pub fn step_prefix(step: &str, width: usize, style: Style) -> String {
    logs::step_prefix(step, width, style)
}
