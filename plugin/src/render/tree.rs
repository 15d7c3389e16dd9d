//! `kubectl workflow graph` (tree): a header, then the DAG as a tree. Each step appears once,
//! under its first dependency (roots under the workflow), its other dependencies named on its
//! line, so a diamond reads naturally and no edge is lost. One line per step:
//! glyph, name, phase, duration, Job, then the other dependencies and why it failed.

use jiff::Timestamp;
use kwf_api::{Dag, StepPhase, Workflow};
use owo_colors::Style as Ansi;
use ptree::print_config::{ASCII_CHARS_TICK, StyleWhen, UTF_CHARS};
use ptree::{PrintConfig, TreeBuilder};

use super::fan_out;
use super::fields::{self, Field};
use super::table::Table;
use super::text::{NONE, Painter, arrow, clean, step_look};
use super::workflow_view::WorkflowView;
use super::{Style, time};

/// Separates the cells of a tree line; ptree writes it through untouched and `clean` keeps it
/// out of names and messages.
const CELL: char = '\t';

/// What a fanned-out step shows: one line with its counts, or also a line per listed
/// instance (`graph --instances`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Instances {
    Counted,
    Listed,
}

pub(crate) fn render(wf: &Workflow, style: Style, now: Timestamp, instances: Instances) -> String {
    let view = WorkflowView::new(wf, now);
    let painter = Painter::new(style);
    let mut out = header(&view, painter);
    out.push('\n');
    out.push_str(&tree(&view, style, painter, instances));
    out
}

/// Name, namespace, phase, message, times, duration and progress of the workflow.
pub(crate) fn header(view: &WorkflowView<'_>, painter: Painter) -> String {
    let look = view.look();
    let mut list = vec![
        Field::new("Name", clean(view.name())),
        Field::new("Namespace", clean(view.namespace().unwrap_or(NONE))),
        Field::new("Phase", painter.paint(look.word, look.ansi)),
        Field::new("Message", view.message_text()),
        Field::new(
            "Created",
            time::when(view.wf.metadata.creation_timestamp.as_ref(), view.now),
        ),
    ];
    list.extend(fields::current_run(view));
    fields::render(&list)
}

fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| NONE.into(), time::compact)
}

fn tree(view: &WorkflowView<'_>, style: Style, painter: Painter, instances: Instances) -> String {
    let look = view.look();
    let root = cells(&[
        format!(
            "{} {}",
            painter.paint(look.glyph(style), look.ansi),
            painter.paint(&clean(view.name()), Ansi::new().bold())
        ),
        painter.paint(look.word, look.ansi),
        duration(view.seconds()),
    ]);
    let mut builder = TreeBuilder::new(root);
    let line = |step: usize, waits: Waits<'_>| step_line(view, step, waits, style, painter);
    let instance_lines = |step: usize| match instances {
        Instances::Listed => instance_lines(view, step, style, painter),
        Instances::Counted => Vec::new(),
    };
    match Dag::build(&view.wf.spec) {
        Ok(dag) => {
            // Each step under its first dependency, children in spec order: one pass.
            let mut children: Vec<Vec<usize>> = vec![Vec::new(); dag.len()];
            let mut roots = Vec::new();
            for step in 0..dag.len() {
                match dag.dependencies(step).first() {
                    Some(&parent) => children[parent].push(step),
                    None => roots.push(step),
                }
            }
            let step_line = |step: usize| {
                let others: Vec<&str> = dag
                    .dependencies(step)
                    .get(1..)
                    .unwrap_or_default()
                    .iter()
                    .map(|&d| dag.name(d))
                    .collect();
                line(step, Waits::AlsoAfter(&others))
            };
            for root in roots {
                add_subtree(&mut builder, root, &children, &step_line, &instance_lines);
            }
        }
        // An invalid spec has no trustworthy graph (a cycle has no first step): list the
        // steps flat, each with all it waits for; the header's message says what is wrong.
        Err(_) => {
            for step in 0..view.len() {
                let deps: Vec<&str> = view.depends_on(step).iter().map(String::as_str).collect();
                builder.begin_child(line(step, Waits::After(&deps)));
                for instance in instance_lines(step) {
                    builder.add_empty_child(instance);
                }
                builder.end_child();
            }
        }
    }
    let mut drawn = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ptree::write_tree_with(&builder.build(), &mut drawn, &print_config(style));
    let drawn = String::from_utf8_lossy(&drawn);

    let mut table = Table::new();
    table.row(
        ["STEP", "PHASE", "DURATION", "JOB"]
            .map(String::from)
            .to_vec(),
    );
    for line in drawn.lines() {
        table.row(line.split(CELL).map(str::to_owned).collect());
    }
    table.render("")
}

/// Set in full here, never read from `PTREE_*` variables or a user's config file, so the
/// output depends on nothing but the arguments.
fn print_config(style: Style) -> PrintConfig {
    PrintConfig {
        depth: u32::MAX,
        indent: 3,
        padding: 1,
        styled: if style.color {
            StyleWhen::Always
        } else {
            StyleWhen::Never
        },
        characters: if style.ascii {
            ASCII_CHARS_TICK.into()
        } else {
            UTF_CHARS.into()
        },
        branch: ptree::Style {
            dimmed: true,
            ..ptree::Style::default()
        },
        leaf: ptree::Style::default(),
    }
}

/// Adds `step`, its instances' lines (if listed) and, depth first, the steps drawn under it.
fn add_subtree(
    builder: &mut TreeBuilder,
    step: usize,
    children: &[Vec<usize>],
    line: &dyn Fn(usize) -> String,
    instance_lines: &dyn Fn(usize) -> Vec<String>,
) {
    builder.begin_child(line(step));
    for instance in instance_lines(step) {
        builder.add_empty_child(instance);
    }
    for &child in &children[step] {
        add_subtree(builder, child, children, line, instance_lines);
    }
    builder.end_child();
}

/// The steps a line names as waited for: the others besides the parent it is drawn under,
/// or all of them when the steps are listed flat.
#[derive(Clone, Copy)]
enum Waits<'a> {
    AlsoAfter(&'a [&'a str]),
    After(&'a [&'a str]),
}

/// One step's line: `glyph name`, phase, duration, Job, then its other dependencies and, for
/// a failure or a skip, why.
fn step_line(
    view: &WorkflowView<'_>,
    step: usize,
    waits: Waits<'_>,
    style: Style,
    painter: Painter,
) -> String {
    let phase = view.step_phase(step);
    let look = step_look(phase);
    let name = clean(view.step_name(step));
    let name = if phase == StepPhase::Skipped {
        painter.paint(&name, look.ansi)
    } else {
        name.into_owned()
    };
    let status = view.step_status(step);
    // A fanned-out step has a Job per instance: its JOB cell counts them instead.
    let (name, job) = match view.instance_counts(step) {
        Some(counts) => (
            fan_out::times(&name, counts.total, style),
            counts.glyphs(style, painter),
        ),
        None => (
            name,
            status
                .and_then(|s| s.job_name.as_deref())
                .map_or_else(|| NONE.to_owned(), |j| clean(j).into_owned()),
        ),
    };
    let mut notes = Vec::new();
    let (words, names) = match waits {
        Waits::AlsoAfter(names) => ("also after", names),
        Waits::After(names) => ("after", names),
    };
    if !names.is_empty() {
        let names: Vec<_> = names.iter().map(|n| clean(n)).collect();
        notes.push(format!("{} {words} {}", arrow(style), names.join(", ")));
    }
    if let Some(attempt) = view.attempt_note(step) {
        notes.push(attempt);
    }
    if let Some(problem) = view.problem(step) {
        notes.push(painter.paint(&problem, look.ansi));
    }
    cells(&[
        format!("{} {name}", painter.paint(look.glyph(style), look.ansi)),
        painter.paint(look.word, look.ansi),
        duration(view.step_seconds(step)),
        job,
        notes.join("   "),
    ])
}

/// The lines under a fanned-out step: one per listed instance (running, waiting to retry or
/// failed) as `build[3]` with its item, then one for the succeeded and waiting ones.
fn instance_lines(
    view: &WorkflowView<'_>,
    step: usize,
    style: Style,
    painter: Painter,
) -> Vec<String> {
    let Some(instances) = view.step_status(step).and_then(|s| s.instances.as_ref()) else {
        return Vec::new();
    };
    let name = clean(view.step_name(step));
    let max_attempts = fan_out::max_attempts(fan_out::policy(view.wf, step));
    let mut lines: Vec<String> = instances
        .active
        .iter()
        .map(|instance| {
            let look = step_look(instance.phase);
            let mut notes = Vec::new();
            if let Some(item) = fan_out::item(view.wf, step, instances, instance.index, style) {
                notes.push(format!("item: {item}"));
            }
            let attempt = fan_out::Attempt {
                phase: instance.phase,
                retries: &instance.retries,
                next_retry_at: instance.next_retry_at.as_ref(),
            };
            notes.extend(attempt.note(max_attempts, view.now));
            if matches!(instance.phase, StepPhase::Failed | StepPhase::Stopped) {
                let problem = match (&instance.message, instance.exit_code) {
                    (Some(m), _) if !m.trim().is_empty() => Some(clean(m).into_owned()),
                    (_, Some(code)) => Some(format!("exit code {code}")),
                    _ => None,
                };
                notes.extend(problem.map(|p| painter.paint(&p, look.ansi)));
            }
            let seconds = time::elapsed(
                instance.started_at.as_ref(),
                instance.finished_at.as_ref(),
                instance.phase == StepPhase::Running,
                view.now,
            );
            cells(&[
                format!(
                    "{} {name}[{}]",
                    painter.paint(look.glyph(style), look.ansi),
                    instance.index
                ),
                painter.paint(look.word, look.ansi),
                duration(seconds),
                instance
                    .job_name
                    .as_deref()
                    .map_or_else(|| NONE.to_owned(), |j| clean(j).into_owned()),
                notes.join("   "),
            ])
        })
        .collect();
    let counts = fan_out::Counts::of(instances);
    let unlisted = fan_out::Counts {
        running: 0,
        failed: 0,
        stopped: 0,
        ..counts
    };
    let more = unlisted.succeeded + unlisted.waiting;
    if more > 0 {
        let dots = if style.ascii { "..." } else { "…" };
        lines.push(cells(&[
            format!("{dots} {more} more"),
            String::new(),
            String::new(),
            String::new(),
            unlisted.glyphs(style, painter),
        ]));
    }
    lines
}

fn cells(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(CELL);
        }
        line.push_str(cell);
    }
    line
}
