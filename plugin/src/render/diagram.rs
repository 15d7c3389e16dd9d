//! `graph -o dot|mermaid`: the DAG for Graphviz and Mermaid, each node labelled with its step
//! and phase and colored by phase. Edges come straight from the spec (dependency -> step), so
//! even an invalid spec draws: a cycle shows as one.

use std::collections::HashMap;
use std::fmt::Write;

use kwf_api::{StepPhase, Workflow};

use super::text::step_look;
use super::workflow_view::WorkflowView;

const PHASES: [StepPhase; 6] = [
    StepPhase::Pending,
    StepPhase::Running,
    StepPhase::Succeeded,
    StepPhase::Failed,
    StepPhase::Skipped,
    StepPhase::Stopped,
];

/// Fill and border of a node in each phase: light fills that keep black text readable.
fn colors(phase: StepPhase) -> (&'static str, &'static str) {
    match phase {
        StepPhase::Pending => ("#fff3cd", "#b58900"),
        StepPhase::Running => ("#d1ecf1", "#0c7c8c"),
        StepPhase::Succeeded => ("#d4edda", "#2e7d32"),
        StepPhase::Failed => ("#f8d7da", "#c62828"),
        StepPhase::Skipped => ("#e9ecef", "#6c757d"),
        StepPhase::Stopped => ("#f3e5f5", "#7b1fa2"),
    }
}

/// Every edge, dependency first, in spec order; dependencies naming no step are left out.
fn edges(view: &WorkflowView<'_>) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = (0..view.len()).map(|i| (view.step_name(i), i)).collect();
    let mut edges = Vec::new();
    for step in 0..view.len() {
        for dep in view.depends_on(step) {
            if let Some(&from) = index.get(dep.as_str()) {
                edges.push((from, step));
            }
        }
    }
    edges
}

/// A double-quoted DOT identifier.
fn dot_quote(text: &str) -> String {
    format!("\"{}\"", dot_escape(text))
}

/// Text inside a DOT string: quotes and backslashes escaped, no control characters.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn dot(wf: &Workflow) -> String {
    let view = WorkflowView::new(wf, jiff::Timestamp::UNIX_EPOCH);
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_quote(view.name()));
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t];",
        dot_quote(&format!(
            "{} ({}, {})",
            view.name(),
            view.look().word,
            view.progress_text()
        ))
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];"
    );
    for step in 0..view.len() {
        let phase = view.step_phase(step);
        let (fill, border) = colors(phase);
        let name = view.step_name(step);
        // `\n` inside a DOT string is Graphviz's line break.
        let label = format!("{}\\n{}", dot_escape(name), step_look(phase).word);
        let _ = writeln!(
            out,
            "  {} [label=\"{label}\", fillcolor=\"{fill}\", color=\"{border}\"];",
            dot_quote(name)
        );
    }
    for (from, to) in edges(&view) {
        let _ = writeln!(
            out,
            "  {} -> {};",
            dot_quote(view.step_name(from)),
            dot_quote(view.step_name(to))
        );
    }
    out.push_str("}\n");
    out
}

/// Text inside a Mermaid `["..."]` label: quotes and markup as entities.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn class(phase: StepPhase) -> String {
    step_look(phase).word.to_lowercase()
}

pub(crate) fn mermaid(wf: &Workflow) -> String {
    let view = WorkflowView::new(wf, jiff::Timestamp::UNIX_EPOCH);
    let mut out = String::from("flowchart TD\n");
    for phase in PHASES {
        let (fill, border) = colors(phase);
        let _ = writeln!(
            out,
            "  classDef {} fill:{fill},stroke:{border},color:#000",
            class(phase)
        );
    }
    // Node ids are positions: step names may contain `-`, which Mermaid reads as an edge.
    for step in 0..view.len() {
        let phase = view.step_phase(step);
        let _ = writeln!(
            out,
            "  s{step}[\"{}<br/>{}\"]:::{}",
            mermaid_text(view.step_name(step)),
            step_look(phase).word,
            class(phase)
        );
    }
    for (from, to) in edges(&view) {
        let _ = writeln!(out, "  s{from} --> s{to}");
    }
    out
}
