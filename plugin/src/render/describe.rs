//! `kubectl workflow describe`: sections as kubectl describe prints them — metadata, the spec
//! in short, the steps table in dependency order, the last lines of each failed step's log,
//! conditions, then the Workflow's events.

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::{Dag, StepPhase, Workflow};
use owo_colors::Style as Ansi;

use super::failed_logs::{self, LogTail};
use super::fan_out;
use super::fields::{self, Field};
use super::table::Table;
use super::text::{NONE, Painter, clean, step_look};
use super::workflow_view::WorkflowView;
use super::{Style, time};

/// Annotations kubectl describe leaves out too: a copy of the whole object, no help to read.
const HIDDEN_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

pub(crate) fn render(
    wf: &Workflow,
    events: &[Event],
    tails: &[LogTail],
    style: Style,
    now: Timestamp,
) -> String {
    let view = WorkflowView::new(wf, now);
    let painter = Painter::new(style);
    let mut out = overview(&view, painter);
    out.push_str("Steps:\n");
    out.push_str(&steps(&view, painter));
    out.push_str(&failed_attempts(&view));
    out.push_str(&instances(&view, style, painter));
    out.push_str(&failed_logs::render(tails, style));
    out.push_str(&conditions(&view));
    out.push_str(&events_section(events, painter, now));
    out
}

fn overview(view: &WorkflowView<'_>, painter: Painter) -> String {
    let meta = &view.wf.metadata;
    let status = view.status;
    let labels = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| clean(&format!("{k}={v}")).into_owned())
        .collect();
    let annotations = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !HIDDEN_ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, v)| clean(&format!("{k}={v}")).into_owned())
        .collect();
    let look = view.look();
    let timeout = match view.wf.spec.max_step_timeout {
        -1 => "unlimited".to_owned(),
        seconds => format!("{seconds}s"),
    };
    let mut list = vec![
        Field::new("Name", clean(view.name())),
        Field::new("Namespace", clean(view.namespace().unwrap_or(NONE))),
        Field::lines("Labels", labels),
        Field::lines("Annotations", annotations),
        Field::new(
            "Created",
            time::when(meta.creation_timestamp.as_ref(), view.now),
        ),
        Field::new("Phase", painter.paint(look.word, look.ansi)),
        Field::new("Message", view.message_text()),
        Field::new("Max Step Timeout", timeout),
    ];
    list.extend(fields::current_run(view));
    list.push(Field::new(
        "Restarts",
        status.map_or(0, |s| s.run).to_string(),
    ));
    fields::render(&list)
}

/// One row per step, in dependency order (spec order when the spec is invalid).
fn steps(view: &WorkflowView<'_>, painter: Painter) -> String {
    let order = step_order(view);
    if order.is_empty() {
        return "  <none>\n".into();
    }
    let mut table = Table::new();
    table.row(
        [
            "STEP",
            "PHASE",
            "DEPENDS ON",
            "JOB",
            "STARTED",
            "DURATION",
            "EXIT",
            "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    );
    for step in order {
        let look = step_look(view.step_phase(step));
        let status = view.step_status(step);
        let depends_on = view.depends_on(step);
        let or_none = |text: Option<String>| text.unwrap_or_else(|| NONE.into());
        table.row(vec![
            clean(view.step_name(step)).into_owned(),
            painter.paint(look.word, look.ansi),
            depends_on_cell(depends_on),
            or_none(
                status
                    .and_then(|s| s.job_name.as_deref())
                    .map(|j| clean(j).into_owned()),
            ),
            time::ago(status.and_then(|s| s.started_at.as_ref()), view.now),
            or_none(view.step_seconds(step).map(time::compact)),
            or_none(status.and_then(|s| s.exit_code).map(|c| c.to_string())),
            status
                .and_then(|s| s.message.as_deref())
                .map(|m| painter.paint(&clean(m), look.ansi))
                .unwrap_or_default(),
        ]);
    }
    table.render("  ")
}

/// The steps in dependency order (spec order when the spec is invalid).
fn step_order(view: &WorkflowView<'_>) -> Vec<usize> {
    match Dag::build(&view.wf.spec) {
        Ok(dag) => dag.topological_order().to_vec(),
        Err(_) => (0..view.len()).collect(),
    }
}

/// Every failed attempt that was retried, of steps and of listed instances, in dependency
/// order: which Job, how it ended and when. No section when nothing was retried.
fn failed_attempts(view: &WorkflowView<'_>) -> String {
    let mut table = Table::new();
    table.row(
        [
            "STEP", "ATTEMPT", "JOB", "EXIT", "REASON", "STARTED", "DURATION",
        ]
        .map(String::from)
        .to_vec(),
    );
    let mut rows = 0;
    for step in step_order(view) {
        let Some(status) = view.step_status(step) else {
            continue;
        };
        let max = fan_out::max_attempts(fan_out::policy(view.wf, step));
        let name = clean(view.step_name(step));
        let mut units = vec![(name.to_string(), &status.retries)];
        if let Some(instances) = &status.instances {
            units.extend(
                instances
                    .active
                    .iter()
                    .map(|i| (format!("{name}[{}]", i.index), &i.retries)),
            );
        }
        for (unit, retries) in units {
            // The policy may have shrunk since: never `4/3`.
            let of = max.max(retries.len() + 1);
            for (n, attempt) in retries.iter().enumerate() {
                rows += 1;
                let seconds = time::elapsed(
                    attempt.started_at.as_ref(),
                    attempt.finished_at.as_ref(),
                    false,
                    view.now,
                );
                table.row(vec![
                    unit.clone(),
                    format!("{}/{of}", n + 1),
                    clean(&attempt.job_name).into_owned(),
                    attempt
                        .exit_code
                        .map_or_else(|| NONE.to_owned(), |c| c.to_string()),
                    clean(&attempt.reason).into_owned(),
                    attempt
                        .started_at
                        .as_ref()
                        .map_or_else(|| NONE.to_owned(), time::timestamp),
                    seconds.map_or_else(|| NONE.to_owned(), time::compact),
                ]);
            }
        }
    }
    if rows == 0 {
        return String::new();
    }
    format!("Failed Attempts:\n{}", table.render("  "))
}

/// Each fanned-out step: its counts, then its listed instances (those that have not
/// succeeded) with their items. No section when no step fans out.
fn instances(view: &WorkflowView<'_>, style: Style, painter: Painter) -> String {
    let mut out = String::new();
    for step in step_order(view) {
        let Some(counts) = view.instance_counts(step) else {
            continue;
        };
        let name = clean(view.step_name(step));
        out.push_str(&format!(
            "  {name}:  {} in all: {}\n",
            counts.total,
            counts.words()
        ));
        let Some(status) = view.step_status(step).and_then(|s| s.instances.as_ref()) else {
            continue;
        };
        let listed = status.active.as_slice();
        if listed.is_empty() {
            continue;
        }
        let max = fan_out::max_attempts(fan_out::policy(view.wf, step));
        let mut table = Table::new();
        table.row(
            [
                "INSTANCE", "ITEM", "PHASE", "ATTEMPT", "JOB", "STARTED", "DURATION", "EXIT",
                "MESSAGE",
            ]
            .map(String::from)
            .to_vec(),
        );
        for instance in listed {
            let look = step_look(instance.phase);
            let attempt = instance.retries.len() + 1;
            let seconds = time::elapsed(
                instance.started_at.as_ref(),
                instance.finished_at.as_ref(),
                instance.phase == StepPhase::Running,
                view.now,
            );
            table.row(vec![
                format!("{name}[{}]", instance.index),
                fan_out::item(view.wf, step, status, instance.index, style)
                    .unwrap_or_else(|| NONE.into()),
                painter.paint(look.word, look.ansi),
                format!("{attempt}/{}", max.max(attempt)),
                instance
                    .job_name
                    .as_deref()
                    .map_or_else(|| NONE.to_owned(), |j| clean(j).into_owned()),
                time::ago(instance.started_at.as_ref(), view.now),
                seconds.map_or_else(|| NONE.to_owned(), time::compact),
                instance
                    .exit_code
                    .map_or_else(|| NONE.to_owned(), |c| c.to_string()),
                instance
                    .message
                    .as_deref()
                    .map(|m| painter.paint(&clean(m), look.ansi))
                    .unwrap_or_default(),
            ]);
        }
        out.push_str(&table.render("    "));
    }
    if out.is_empty() {
        return out;
    }
    format!("Instances:\n{out}")
}

/// Most dependencies a DEPENDS ON cell names; `graph` and `-o json` list them all.
const MAX_DEPENDENCIES_SHOWN: usize = 3;

/// `a,b,c` — or `a,b,c,+9 more` for a wide fan-in, which would widen every row.
fn depends_on_cell(depends_on: &[String]) -> String {
    if depends_on.is_empty() {
        return NONE.into();
    }
    let shown = &depends_on[..depends_on.len().min(MAX_DEPENDENCIES_SHOWN)];
    let mut cell = clean(&shown.join(",")).into_owned();
    if depends_on.len() > shown.len() {
        cell.push_str(&format!(",+{} more", depends_on.len() - shown.len()));
    }
    cell
}

fn conditions(view: &WorkflowView<'_>) -> String {
    let conditions = view
        .status
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    if conditions.is_empty() {
        return "Conditions:  <none>\n".into();
    }
    let mut table = Table::new();
    table.row(
        ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]
            .map(String::from)
            .to_vec(),
    );
    for c in conditions {
        table.row(vec![
            clean(&c.type_).into_owned(),
            clean(&c.status).into_owned(),
            clean(&c.reason).into_owned(),
            time::age(time::seconds_between(c.last_transition_time.0, view.now)),
            clean(&c.message).into_owned(),
        ]);
    }
    format!("Conditions:\n{}", table.render("  "))
}

/// When an event was last seen: its series' last observation, else its own time.
fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.deprecated_last_timestamp.as_ref().map(|t: &Time| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// When an event was first seen, for `(x3 over 10m)`.
fn first_seen(event: &Event) -> Option<Timestamp> {
    event
        .event_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.deprecated_first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Oldest first, as kubectl describe lists them.
fn events_section(events: &[Event], painter: Painter, now: Timestamp) -> String {
    if events.is_empty() {
        return "Events:  <none>\n".into();
    }
    let mut sorted: Vec<(Option<Timestamp>, &Event)> =
        events.iter().map(|e| (last_seen(e), e)).collect();
    sorted.sort_by_key(|(seen, _)| *seen);
    let mut table = Table::new();
    table.row(
        ["TYPE", "REASON", "AGE", "MESSAGE"]
            .map(String::from)
            .to_vec(),
    );
    for (seen, event) in sorted {
        let kind = event.type_.as_deref().unwrap_or("Normal");
        let kind = if kind == "Warning" {
            painter.paint(kind, Ansi::new().yellow())
        } else {
            clean(kind).into_owned()
        };
        let count = event
            .series
            .as_ref()
            .map(|s| s.count)
            .or(event.deprecated_count)
            .unwrap_or(1);
        let age = match seen {
            None => "<unknown>".to_owned(),
            Some(seen) => {
                let age = time::age(time::seconds_between(seen, now));
                match first_seen(event) {
                    Some(first) if count > 1 => format!(
                        "{age} (x{count} over {})",
                        time::age(time::seconds_between(first, now))
                    ),
                    _ => age,
                }
            }
        };
        table.row(vec![
            kind,
            clean(event.reason.as_deref().unwrap_or(NONE)).into_owned(),
            age,
            clean(event.note.as_deref().unwrap_or_default()).into_owned(),
        ]);
    }
    format!("Events:\n{}", table.render("  "))
}
