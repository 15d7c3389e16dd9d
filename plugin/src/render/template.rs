//! WorkflowTemplates for people: `list templates` (one line per template: its triggers, last
//! and next run), `describe template/NAME` (parameters, triggers, steps, the recent runs) and
//! the Workflow that `graph template/NAME` draws (the template's DAG, every step Pending).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kwf_api::item_group::ItemGroup;
use kwf_api::resource_trigger::{ResourceTrigger, ResourceTriggerStatus};
use kwf_api::workflow_template::{ConcurrencyPolicy, LABEL_TRIGGER, Schedule};
use kwf_api::{Dag, Workflow, WorkflowTemplate};

use super::fields::{self, Field};
use super::list::{ExportError, ListFormat, Listing, render_list};
use super::table::Table;
use super::text::{NONE, Painter, clean};
use super::workflow_view::WorkflowView;
use super::{Style, time};

/// How many of a template's runs `describe` lists, newest first.
pub const RECENT_RUNS: usize = 10;

/// `workflowtemplate.kwf.dev/NAME`, as kubectl names objects in `-o name`.
pub fn object_ref(name: &str) -> String {
    format!("workflowtemplate.kwf.dev/{name}")
}

/// `kubectl workflow list templates` in `format`.
pub(crate) fn list(
    templates: &[WorkflowTemplate],
    format: ListFormat,
    namespace: Option<&str>,
    style: Style,
    now: Timestamp,
) -> Result<Listing, ExportError> {
    render_list(
        templates,
        format,
        namespace,
        |wide| table(templates, namespace.is_none(), wide, style, now),
        |t| object_ref(name(t)),
    )
}

fn name(template: &WorkflowTemplate) -> &str {
    template.metadata.name.as_deref().unwrap_or_default()
}

fn table(
    templates: &[WorkflowTemplate],
    all_namespaces: bool,
    wide: bool,
    style: Style,
    now: Timestamp,
) -> String {
    let painter = Painter::new(style);
    let mut table = Table::new();
    let mut header = vec!["NAME", "STEPS", "TRIGGERS", "LAST RUN", "NEXT RUN", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.push("MESSAGE");
    }
    table.row(header.into_iter().map(String::from).collect());
    for template in templates {
        let status = template.status.as_ref();
        let triggers = triggers(template);
        let mut row = vec![
            clean(name(template)).into_owned(),
            template.spec.workflow_spec.containers.len().to_string(),
            if triggers.is_empty() {
                NONE.to_owned()
            } else {
                triggers
                    .iter()
                    .map(|t| t.kind)
                    .collect::<Vec<_>>()
                    .join(",")
            },
            status
                .and_then(|s| s.last_run.as_deref())
                .map_or_else(|| NONE.to_owned(), |r| clean(r).into_owned()),
            next_run(template, now),
            template.metadata.creation_timestamp.as_ref().map_or_else(
                || "<unknown>".into(),
                |t| time::age(time::seconds_between(t.0, now)),
            ),
        ];
        if all_namespaces {
            let namespace = template.metadata.namespace.as_deref().unwrap_or(NONE);
            row.insert(0, clean(namespace).into_owned());
        }
        if wide {
            let message = status
                .and_then(|s| s.message.as_deref())
                .unwrap_or_default();
            let message = clean(message)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            row.push(if message.is_empty() {
                message
            } else {
                painter.paint(&message, owo_colors::Style::new().yellow())
            });
        }
        table.row(row);
    }
    table.render("")
}

/// `in 4m` for the next scheduled time, `suspended` for a suspended schedule, `-` without one.
fn next_run(template: &WorkflowTemplate, now: Timestamp) -> String {
    let spec = &template.spec;
    // The status's next time is the earlier of the schedule's and the item group's.
    let suspended = |s: Option<bool>| s.unwrap_or(true);
    let schedule_off = suspended(spec.schedule.as_ref().map(|s| s.suspend));
    let items_off = suspended(spec.item_group.as_ref().map(|g| g.suspend));
    if spec.schedule.is_none() && spec.item_group.is_none() {
        return NONE.to_owned();
    }
    if schedule_off && items_off {
        return "suspended".to_owned();
    }
    match template
        .status
        .as_ref()
        .and_then(|s| s.next_schedule_time.as_ref())
    {
        Some(next) => {
            let seconds = time::seconds_between(now, next.0);
            if seconds <= 0 {
                "due".to_owned()
            } else {
                format!("in {}", time::age(seconds))
            }
        }
        None => NONE.to_owned(),
    }
}

/// One trigger of a template: its kind word (for the list) and its line (for describe).
struct Trigger {
    kind: &'static str,
    line: String,
}

/// The template's triggers, in the order of its spec.
fn triggers(template: &WorkflowTemplate) -> Vec<Trigger> {
    let mut triggers = Vec::new();
    if let Some(schedule) = &template.spec.schedule {
        triggers.push(Trigger {
            kind: "schedule",
            line: schedule_line(schedule),
        });
    }
    let records = template
        .status
        .as_ref()
        .map(|s| s.resource_triggers.as_slice())
        .unwrap_or_default();
    for trigger in &template.spec.resource_triggers {
        let record = records.iter().find(|r| r.name == trigger.name);
        triggers.push(Trigger {
            kind: "resource",
            line: resource_line(trigger, record),
        });
    }
    if let Some(group) = &template.spec.item_group {
        triggers.push(Trigger {
            kind: "items",
            line: item_group_line(group),
        });
    }
    triggers
}

/// `resource config: v1 ConfigMap default/my-config on Create,Update, 2 watched, last run x`,
/// or the trigger's one-line problem when it watches nothing.
fn resource_line(trigger: &ResourceTrigger, record: Option<&ResourceTriggerStatus>) -> String {
    let namespace = trigger.namespace.as_deref().unwrap_or("<template's>");
    let what = match (&trigger.object_name, &trigger.selector) {
        (Some(name), _) => format!("{namespace}/{name}"),
        (None, Some(selector)) => {
            let labels: Vec<String> = selector
                .match_labels
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if labels.is_empty() {
                format!("{namespace}, by selector")
            } else {
                format!("{namespace} -l {}", labels.join(","))
            }
        }
        (None, None) => format!("{namespace}, all"),
    };
    let events = match &trigger.events {
        Some(events) if !events.is_empty() => events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "Create,Update,Delete".to_owned(),
    };
    let mut line = format!(
        "resource {}: {} {} {what} on {events}",
        clean(&trigger.name),
        clean(&trigger.api_version),
        clean(&trigger.kind)
    );
    if trigger.debounce_seconds > 0 {
        line.push_str(&format!(", debounce {}s", trigger.debounce_seconds));
    }
    match record {
        Some(ResourceTriggerStatus {
            message: Some(message),
            ..
        }) => line.push_str(&format!(" (not watching: {})", clean(message))),
        Some(record) => {
            line.push_str(&format!(", {} watched", record.objects.len()));
            if let Some(run) = &record.last_run {
                line.push_str(&format!(", last run {}", clean(run)));
            }
        }
        None => {}
    }
    clean(&line).into_owned()
}

/// `items a, bad, c (3) as {{params.item}}, each every 5m, cool-off 1m, 1 at a time`.
fn item_group_line(group: &ItemGroup) -> String {
    const SHOWN: usize = 5;
    let mut names: Vec<String> = group
        .items
        .iter()
        .take(SHOWN)
        .map(|i| clean(i).into_owned())
        .collect();
    if group.items.len() > SHOWN {
        names.push("...".to_owned());
    }
    let mut line = format!(
        "items {} ({}) as {{{{params.{}}}}}, each every {}",
        names.join(", "),
        group.items.len(),
        clean(&group.parameter),
        clean(&group.frequency)
    );
    if let Some(cool_off) = &group.failure_cool_off {
        line.push_str(&format!(", cool-off {}", clean(cool_off)));
    }
    line.push_str(&format!(", {} at a time", group.concurrency));
    if group.suspend {
        line.push_str(", suspended");
    }
    line
}

/// `keep 3 succeeded and 1 failed runs, each deleted 1h after it finished`, or `keep all runs`.
fn history_line(template: &WorkflowTemplate) -> String {
    let spec = &template.spec;
    let kept = |limit: Option<u32>, what: &str| limit.map(|n| format!("{n} {what}"));
    let limits: Vec<String> = [
        kept(spec.successful_runs_history_limit, "succeeded"),
        kept(spec.failed_runs_history_limit, "failed"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut line = if limits.is_empty() {
        "keep all runs".to_owned()
    } else {
        format!("keep the newest {} runs", limits.join(" and "))
    };
    if let Some(ttl) = spec.ttl_seconds_after_finished {
        line.push_str(&format!(
            ", each deleted {} after it finished",
            time::compact(ttl)
        ));
    }
    line
}

/// `schedule "*/5 * * * *" in Europe/Paris, Forbid, suspended`.
fn schedule_line(schedule: &Schedule) -> String {
    let mut line = format!(
        "schedule {:?} in {}",
        clean(&schedule.cron),
        clean(schedule.time_zone.as_deref().unwrap_or("UTC"))
    );
    match schedule.concurrency_policy {
        ConcurrencyPolicy::Allow => {}
        ConcurrencyPolicy::Forbid => line.push_str(", Forbid"),
        ConcurrencyPolicy::Replace => line.push_str(", Replace"),
    }
    if let Some(deadline) = schedule.starting_deadline_seconds {
        line.push_str(&format!(", starting deadline {deadline}s"));
    }
    if schedule.suspend {
        line.push_str(", suspended");
    }
    line
}

/// `kubectl workflow describe template/NAME`: metadata, parameters, triggers, the steps in
/// dependency order, then `runs` (the template's Workflows) newest first.
pub(crate) fn describe(
    template: &WorkflowTemplate,
    runs: &[Workflow],
    style: Style,
    now: Timestamp,
) -> String {
    let painter = Painter::new(style);
    let meta = &template.metadata;
    let status = template.status.as_ref();
    let pairs = |map: Option<&std::collections::BTreeMap<String, String>>| -> Vec<String> {
        map.into_iter()
            .flatten()
            .filter(|(k, _)| *k != "kubectl.kubernetes.io/last-applied-configuration")
            .map(|(k, v)| clean(&format!("{k}={v}")).into_owned())
            .collect()
    };
    let parameters = template
        .spec
        .parameters
        .iter()
        .map(|p| {
            let mut line = clean(&p.name).into_owned();
            match &p.default {
                Some(default) => line.push_str(&format!(" (default {:?})", clean(default))),
                None => line.push_str(" (required)"),
            }
            if let Some(description) = &p.description {
                line.push_str(&format!(": {}", clean(description)));
            }
            line
        })
        .collect();
    let triggers = triggers(template).into_iter().map(|t| t.line).collect();
    let mut list = vec![
        Field::new("Name", clean(meta.name.as_deref().unwrap_or_default())),
        Field::new(
            "Namespace",
            clean(meta.namespace.as_deref().unwrap_or(NONE)),
        ),
        Field::lines("Labels", pairs(meta.labels.as_ref())),
        Field::lines("Annotations", pairs(meta.annotations.as_ref())),
        Field::new("Created", time::when(meta.creation_timestamp.as_ref(), now)),
        Field::lines("Parameters", parameters),
        Field::lines("Triggers", triggers),
    ];
    if template.spec.schedule.is_some() {
        list.push(Field::new(
            "Last Schedule",
            time::when(status.and_then(|s| s.last_schedule_time.as_ref()), now),
        ));
    }
    if template.spec.schedule.is_some() || template.spec.item_group.is_some() {
        list.push(Field::new("Next Run", next_run(template, now)));
    }
    list.push(Field::new("History", history_line(template)));
    list.push(Field::new(
        "Last Run",
        clean(status.and_then(|s| s.last_run.as_deref()).unwrap_or(NONE)),
    ));
    let message = status.and_then(|s| s.message.as_deref()).unwrap_or(NONE);
    list.push(Field::new(
        "Message",
        if message == NONE {
            message.to_owned()
        } else {
            painter.paint(&clean(message), owo_colors::Style::new().yellow())
        },
    ));
    let mut out = fields::render(&list);
    out.push_str(&steps(template));
    out.push_str(&items_section(template, now));
    out.push_str(&runs_section(runs, painter, now));
    out
}

/// The steps table, in dependency order: NAME, DEPENDS ON, IMAGE.
fn steps(template: &WorkflowTemplate) -> String {
    let spec = &template.spec.workflow_spec;
    let mut table = Table::new();
    table.row(["NAME", "DEPENDS ON", "IMAGE"].map(String::from).to_vec());
    // An invalid DAG (admission normally refuses one) is shown in spec order.
    let order: Vec<usize> = match Dag::build(spec) {
        Ok(dag) => dag.topological_order().to_vec(),
        Err(_) => (0..spec.containers.len()).collect(),
    };
    for i in order {
        let step = &spec.containers[i];
        let depends = if step.depends_on.is_empty() {
            NONE.to_owned()
        } else {
            clean(&step.depends_on.join(",")).into_owned()
        };
        let image = step
            .image
            .as_deref()
            .map(|i| clean(i).into_owned())
            .or_else(|| {
                step.job_template_ref
                    .as_ref()
                    .map(|r| format!("jobTemplateRef {}", clean(&r.name)))
            })
            .unwrap_or_else(|| NONE.to_owned());
        table.row(vec![clean(&step.step_name).into_owned(), depends, image]);
    }
    format!("Steps:\n{}", table.render("  "))
}

/// The item group's items as the status tracks them (oaat's view): last success, last
/// failure, failures since the last success and the run in flight. No section without a group.
fn items_section(template: &WorkflowTemplate, now: Timestamp) -> String {
    let Some(group) = &template.spec.item_group else {
        return String::new();
    };
    let tracked = template
        .status
        .as_ref()
        .map(|s| s.items.as_slice())
        .unwrap_or_default();
    let mut table = Table::new();
    table.row(
        [
            "ITEM",
            "LAST SUCCESS",
            "LAST FAILURE",
            "FAILURES",
            "CURRENT RUN",
        ]
        .map(String::from)
        .to_vec(),
    );
    // In the group's order; an item without status has never run.
    for item in &group.items {
        let status = tracked.iter().find(|s| &s.name == item);
        table.row(vec![
            clean(item).into_owned(),
            time::ago(status.and_then(|s| s.last_success.as_ref()), now),
            time::ago(status.and_then(|s| s.last_failure.as_ref()), now),
            status.map_or(0, |s| s.failures_since_success).to_string(),
            clean(
                status
                    .and_then(|s| s.current_run.as_deref())
                    .unwrap_or(NONE),
            )
            .into_owned(),
        ]);
    }
    format!(
        "Items:
{}",
        table.render("  ")
    )
}

/// The template's runs, newest first, at most [`RECENT_RUNS`]; the count of older ones after.
fn runs_section(runs: &[Workflow], painter: Painter, now: Timestamp) -> String {
    if runs.is_empty() {
        return "Runs:  <none>\n".into();
    }
    let mut sorted: Vec<&Workflow> = runs.iter().collect();
    sorted.sort_by(|a, b| {
        let created = |w: &Workflow| w.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(b)
            .cmp(&created(a))
            .then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    let mut table = Table::new();
    table.row(
        ["NAME", "PHASE", "TRIGGER", "PROGRESS", "AGE"]
            .map(String::from)
            .to_vec(),
    );
    for run in sorted.iter().take(RECENT_RUNS) {
        let view = WorkflowView::new(run, now);
        let look = view.look();
        let trigger = run
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TRIGGER))
            .map_or("submit", String::as_str);
        table.row(vec![
            clean(view.name()).into_owned(),
            painter.paint(look.word, look.ansi),
            clean(trigger).into_owned(),
            view.progress_text(),
            run.metadata.creation_timestamp.as_ref().map_or_else(
                || "<unknown>".into(),
                |t| time::age(time::seconds_between(t.0, now)),
            ),
        ]);
    }
    let mut out = format!("Runs:\n{}", table.render("  "));
    if sorted.len() > RECENT_RUNS {
        out.push_str(&format!(
            "  ... and {} older (kubectl workflow list -l kwf.dev/template={})\n",
            sorted.len() - RECENT_RUNS,
            clean(
                sorted[0]
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(kwf_api::workflow_template::LABEL_TEMPLATE))
                    .map_or("", String::as_str)
            )
        ));
    }
    out
}

/// The Workflow `graph template/NAME` draws: the template's name and spec, no status, so
/// every step is Pending and `{{params.NAME}}` shows as written.
pub fn as_workflow(template: &WorkflowTemplate) -> Workflow {
    Workflow {
        metadata: ObjectMeta {
            name: template.metadata.name.clone(),
            namespace: template.metadata.namespace.clone(),
            creation_timestamp: template.metadata.creation_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec: template.spec.workflow_spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use insta::assert_snapshot;
    use kwf_api::fixtures::{WorkflowFixture, time, workflow};
    use kwf_api::item_group::ItemStatus;
    use kwf_api::workflow_template::{
        LABEL_TEMPLATE, Parameter, TRIGGER_SCHEDULE, WorkflowTemplateSpec, WorkflowTemplateStatus,
    };
    use kwf_api::{StepPhase, WorkflowPhase};

    use super::*;
    use crate::render::fixtures::now;

    const PLAIN: Style = Style {
        color: false,
        ascii: false,
    };

    /// A nightly template of three steps with two parameters, scheduled in Paris.
    fn nightly() -> WorkflowTemplate {
        let wf = workflow(
            "nightly",
            &[
                ("fetch", &[]),
                ("build", &["fetch"]),
                ("report", &["build"]),
            ],
        );
        let mut template = WorkflowTemplate::new(
            "nightly",
            WorkflowTemplateSpec {
                parameters: vec![
                    Parameter {
                        name: "branch".into(),
                        default: Some("main".into()),
                        description: Some("what to build".into()),
                    },
                    Parameter {
                        name: "target".into(),
                        default: None,
                        description: None,
                    },
                ],
                workflow_metadata: None,
                workflow_spec: wf.spec,
                schedule: Some(Schedule {
                    cron: "0 2 * * *".into(),
                    time_zone: Some("Europe/Paris".into()),
                    concurrency_policy: ConcurrencyPolicy::Forbid,
                    ..Schedule::default()
                }),
                ..WorkflowTemplateSpec::default()
            },
        );
        template.metadata.namespace = Some("ci".into());
        template.metadata.creation_timestamp = Some(time(0));
        template.status = Some(WorkflowTemplateStatus {
            last_schedule_time: Some(time(-3600)),
            next_schedule_time: Some(time(600 + 3 * 3600)),
            last_run: Some("nightly-29000000".into()),
            ..WorkflowTemplateStatus::default()
        });
        template
    }

    /// A run of `nightly` created `created` seconds after the template, by `trigger`.
    fn run(name: &str, created: i64, trigger: Option<&str>, phase: WorkflowPhase) -> Workflow {
        let mut wf = workflow(
            name,
            &[
                ("fetch", &[]),
                ("build", &["fetch"]),
                ("report", &["build"]),
            ],
        )
        .with_label(LABEL_TEMPLATE, "nightly");
        if let Some(trigger) = trigger {
            wf = wf.with_label(LABEL_TRIGGER, trigger);
        }
        wf.metadata.creation_timestamp = Some(time(created));
        let steps = if phase == WorkflowPhase::Completed {
            ["fetch", "build", "report"]
                .iter()
                .map(|s| kwf_api::fixtures::step_status(&wf, s, StepPhase::Succeeded))
                .collect()
        } else {
            Vec::new()
        };
        wf.with_status(phase, None, steps)
    }

    #[test]
    fn describe_shows_parameters_triggers_steps_and_runs_newest_first() {
        let runs = [
            run(
                "nightly-1",
                60,
                Some(TRIGGER_SCHEDULE),
                WorkflowPhase::Completed,
            ),
            run("nightly-manual", 300, None, WorkflowPhase::Started),
        ];
        assert_snapshot!(describe(&nightly(), &runs, PLAIN, now()));
    }

    #[test]
    fn describe_says_when_there_are_more_runs_than_shown() {
        let runs: Vec<Workflow> = (0..RECENT_RUNS as i64 + 2)
            .map(|i| run(&format!("nightly-{i}"), i, None, WorkflowPhase::Completed))
            .collect();
        let text = describe(&nightly(), &runs, PLAIN, now());
        assert!(text.contains("nightly-11"), "{text}");
        assert!(!text.contains("nightly-0 "), "{text}");
        assert!(
            text.contains("... and 2 older (kubectl workflow list -l kwf.dev/template=nightly)"),
            "{text}"
        );
    }

    #[test]
    fn the_list_shows_triggers_last_and_next_run() {
        let mut plain = nightly();
        plain.metadata.name = Some("adhoc".into());
        plain.spec.schedule = None;
        plain.status = None;
        let listing = list(&[nightly(), plain], ListFormat::Wide, None, PLAIN, now()).unwrap();
        assert_snapshot!(listing.text);
    }

    #[test]
    fn an_empty_list_is_kubectl_s_note_and_names_are_object_refs() {
        let empty = list(&[], ListFormat::Table, Some("ci"), PLAIN, now()).unwrap();
        assert_eq!(
            empty.note.as_deref(),
            Some("No resources found in ci namespace.")
        );
        assert_eq!(empty.text, "");
        let names = list(&[nightly()], ListFormat::Name, Some("ci"), PLAIN, now()).unwrap();
        assert_eq!(names.text, "workflowtemplate.kwf.dev/nightly\n");
        let json = list(&[nightly()], ListFormat::Json, Some("ci"), PLAIN, now()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json.text).unwrap();
        assert_eq!(value["kind"], "List");
        assert_eq!(value["items"][0]["kind"], "WorkflowTemplate");
    }

    #[test]
    fn a_suspended_schedule_and_a_passed_time_read_as_words() {
        let mut template = nightly();
        let mut at_now = template.status.clone().unwrap();
        at_now.next_schedule_time = Some(time(500));
        template.status = Some(at_now);
        assert_eq!(next_run(&template, now()), "due");
        template.spec.schedule.as_mut().unwrap().suspend = true;
        assert_eq!(next_run(&template, now()), "suspended");
        assert_eq!(
            schedule_line(template.spec.schedule.as_ref().unwrap()),
            "schedule \"0 2 * * *\" in Europe/Paris, Forbid, suspended"
        );
    }

    /// An oaat group of three items, one failing, and kept history.
    fn group() -> WorkflowTemplate {
        let mut template = nightly();
        template.metadata.name = Some("sweep".into());
        template.spec.schedule = None;
        template.spec.item_group = Some(ItemGroup {
            items: vec!["a".into(), "bad".into(), "c".into()],
            parameter: "target".into(),
            frequency: "5m".into(),
            failure_cool_off: Some("1m".into()),
            concurrency: 1,
            suspend: false,
        });
        template.spec.successful_runs_history_limit = Some(3);
        template.spec.failed_runs_history_limit = Some(1);
        template.spec.ttl_seconds_after_finished = Some(3600);
        let status = template.status.as_mut().unwrap();
        status.last_schedule_time = None;
        status.items = vec![
            ItemStatus {
                name: "a".into(),
                last_success: Some(time(120)),
                ..ItemStatus::default()
            },
            ItemStatus {
                name: "bad".into(),
                last_failure: Some(time(540)),
                failures_since_success: 2,
                current_run: Some("sweep-1a2b3c4d-3".into()),
                ..ItemStatus::default()
            },
        ];
        template
    }

    #[test]
    fn describe_shows_the_item_group_its_items_and_the_history_kept() {
        assert_snapshot!(describe(&group(), &[], PLAIN, now()));
        let listing = list(&[group()], ListFormat::Table, Some("ci"), PLAIN, now()).unwrap();
        assert!(listing.text.contains(" items "), "{}", listing.text);
    }

    #[test]
    fn a_resource_trigger_shows_what_it_watches_or_why_it_cannot() {
        let trigger: ResourceTrigger = serde_json::from_value(serde_json::json!({
            "name": "config", "apiVersion": "v1", "kind": "ConfigMap",
            "namespace": "default", "objectName": "my-config", "events": ["Create", "Update"],
        }))
        .unwrap();
        assert_eq!(
            resource_line(&trigger, None),
            "resource config: v1 ConfigMap default/my-config on Create,Update"
        );
        let watching = ResourceTriggerStatus {
            name: "config".into(),
            last_run: Some("ci-config-0a1b2c3d4e".into()),
            ..ResourceTriggerStatus::default()
        };
        assert_eq!(
            resource_line(&trigger, Some(&watching)),
            "resource config: v1 ConfigMap default/my-config on Create,Update, 0 watched, last run ci-config-0a1b2c3d4e"
        );
        let refused = ResourceTriggerStatus {
            name: "config".into(),
            message: Some("service account default may not watch configmaps".into()),
            ..ResourceTriggerStatus::default()
        };
        assert!(
            resource_line(&trigger, Some(&refused))
                .ends_with("(not watching: service account default may not watch configmaps)")
        );
        let mut template = nightly();
        template.spec.resource_triggers = vec![trigger];
        let listing = list(&[template], ListFormat::Table, Some("ci"), PLAIN, now()).unwrap();
        assert!(
            listing.text.contains("schedule,resource"),
            "{}",
            listing.text
        );
    }

    #[test]
    fn graph_draws_the_template_s_steps_pending() {
        let wf = as_workflow(&nightly());
        assert_eq!(wf.metadata.name.as_deref(), Some("nightly"));
        assert!(wf.status.is_none());
        let text = crate::render::graph(&wf, crate::render::GraphFormat::Tree, PLAIN, now());
        for step in ["fetch", "build", "report"] {
            assert!(text.contains(step), "{text}");
        }
        assert!(text.contains("Pending"), "{text}");
    }
}
