//! Pure rendering of Workflows to text: a Workflow (and its events) in, a String out. No I/O,
//! no environment, no terminal detection: the CLI decides color and ASCII and passes `now`,
//! so every view is reproducible and snapshot-tested.

mod describe;
mod diagram;
mod export;
mod failed_logs;
mod fan_out;
mod fields;
mod first_run;
mod list;
mod logs;
mod problems;
mod table;
mod template;
mod text;
mod time;
mod tree;
mod width;
mod workflow_view;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod snapshot_tests;

use k8s_openapi::api::events::v1::Event;
use kwf_api::{ValidationErrors, Workflow, WorkflowTemplate};

pub use export::{GraphDocument, InstanceCounts, StepDocument};
pub use failed_logs::{LogTail, TAIL_LINES};
pub use first_run::{FirstRun, ObjectFormat, first_run};
pub use list::{ExportError, ListFormat, Listing, object_ref};
pub use logs::LogPrefixes;
pub use template::{RECENT_RUNS, as_workflow as template_workflow, object_ref as template_ref};
pub use width::visible_width;

/// How to draw: ANSI colors or not, ASCII glyphs or unicode ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub ascii: bool,
}

/// Output formats of `kubectl workflow graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Header and the DAG as a tree, for people; a fanned-out step is one line with counts.
    Tree,
    /// The tree with a line under each fanned-out step per instance that has not succeeded.
    TreeWithInstances,
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
        GraphFormat::Tree => tree::render(wf, style, now, tree::Instances::Counted),
        GraphFormat::TreeWithInstances => tree::render(wf, style, now, tree::Instances::Listed),
        GraphFormat::Json => export::json(wf, now),
        GraphFormat::Yaml => export::yaml(wf, now),
        GraphFormat::Dot => diagram::dot(wf),
        GraphFormat::Mermaid => diagram::mermaid(wf),
    }
}

/// `kubectl workflow describe`: metadata, the spec in short, steps table, the failed steps'
/// log tails, conditions, events.
pub fn describe(
    wf: &Workflow,
    events: &[Event],
    tails: &[LogTail],
    style: Style,
    now: jiff::Timestamp,
) -> String {
    describe::render(wf, events, tails, style, now)
}

/// The failed steps' log tails (`graph --watch` prints them once a workflow failed); no text
/// when there are none.
pub fn failed_logs(tails: &[LogTail], style: Style) -> String {
    failed_logs::render(tails, style)
}

/// `kubectl workflow list` in `format`, the workflows in the order given: listed in
/// `namespace`, or across all namespaces for `None` (the table then starts with NAMESPACE).
/// An empty table is no text but a note, "No resources found".
pub fn list(
    wfs: &[Workflow],
    format: ListFormat,
    namespace: Option<&str>,
    style: Style,
    now: jiff::Timestamp,
) -> Result<Listing, ExportError> {
    list::render(wfs, format, namespace, style, now)
}

/// `kubectl workflow validate` / `create` problems: one line per problem,
/// `SOURCE: error: step "b": ...`, where `source` names the file (and document index).
pub fn problems(source: &str, errors: &ValidationErrors, style: Style) -> String {
    problems::render(source, errors, style)
}

/// `kubectl workflow list templates` in `format`, as [`list`] does for workflows; a template's
/// TRIGGERS are the kinds it has (schedule, resource, items), NEXT RUN its next scheduled time.
pub fn list_templates(
    templates: &[WorkflowTemplate],
    format: ListFormat,
    namespace: Option<&str>,
    style: Style,
    now: jiff::Timestamp,
) -> Result<Listing, ExportError> {
    template::list(templates, format, namespace, style, now)
}

/// `kubectl workflow describe template/NAME`: metadata, parameters, triggers, steps and the
/// template's runs (`runs`, any order; the newest [`RECENT_RUNS`] are shown).
pub fn describe_template(
    template: &WorkflowTemplate,
    runs: &[Workflow],
    style: Style,
    now: jiff::Timestamp,
) -> String {
    template::describe(template, runs, style, now)
}
