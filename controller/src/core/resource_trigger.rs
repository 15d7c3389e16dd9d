//! Resource triggers of a WorkflowTemplate, as one pure decision per trigger: (the trigger, what
//! the template's status recorded, the objects the watch lists now, the last states of those it
//! saw deleted, now) -> the runs to create, the new record, when to look again.
//!
//! **What counts.** The record (`status.resourceTriggers[].objects`) holds, per object uid, the
//! fingerprint last counted (`g<generation>`, or `c<hash>` of the content without `metadata` and
//! `status` for kinds without generation: `kwf_api::resource_trigger::fingerprint`). An object
//! listed and not recorded is a **Create**; listed with another fingerprint, an **Update**;
//! recorded and not listed, a **Delete**. A write of labels, annotations or status only keeps
//! the fingerprint, so it never counts; nor does a re-list or a restart that shows the objects
//! as recorded. Changes made while no controller watched count on the next list (a deletion as
//! Delete), once each. The record follows every object, also for events the trigger does not
//! run on, so that an Update is always told from a Create.
//!
//! **The baseline.** A trigger without a record (new, or its apiVersion, kind, namespace,
//! objectName or selector changed: the record's `source`) records the objects it lists and runs
//! nothing: only changes after that count.
//!
//! **Run names.** `<template>-<trigger>-<10 hex>` of a hash of (template, trigger, object uid,
//! event, fingerprint), the template part cut to keep within 253 characters: the same cause always
//! gives the same name, so a restart, a re-list after a lost status write, or a second replica
//! never creates a run twice (the shell takes AlreadyExists as success).
//!
//! **Debounce.** With `debounceSeconds`, an object's change counts only once the watch has shown
//! it unchanged for that long (`SeenObject::changed_at`, kept by the shell in memory): a burst of
//! writes makes one run, of the last state; an object created and deleted within the window makes
//! none. After a restart the quiet time is unknown, so a change found on the first list counts
//! at once.
//!
//! **Bounds.** A trigger follows at most `MAX_TRACKED_OBJECTS` objects (its record lives in the
//! template's status); past that it counts nothing and says so, until narrowed.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kwf_api::resource_trigger::{
    ANNOTATION_TRIGGER_EVENT, ANNOTATION_TRIGGER_OBJECT, ANNOTATION_TRIGGER_UID, CountedObject,
    LABEL_TRIGGER_NAME, MAX_TRACKED_OBJECTS, ResourceTrigger, ResourceTriggerStatus,
    TRIGGER_RESOURCE, TriggerEvent, fingerprint, hash_hex, picked_params,
};
use kwf_api::workflow_template::LABEL_TRIGGER;
use kwf_api::{TemplateError, Workflow, WorkflowTemplate, instantiate};
use serde_json::Value;

use super::template_run::owned_run;

/// Longest Workflow name (a DNS-1123 subdomain).
const MAX_RUN_NAME_LEN: usize = 253;
/// Hex digits of the cause's hash in a run's name.
const CAUSE_HASH_LEN: usize = 10;

/// One object as a trigger's watch shows it, stripped to what the decision reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenObject {
    pub uid: String,
    pub name: String,
    pub fingerprint: String,
    /// The values the trigger's `params` pick from it.
    pub params: BTreeMap<String, String>,
    /// When the watch last showed its fingerprint change or it go away; None when it has not
    /// since the watch started.
    pub changed_at: Option<Timestamp>,
}

impl SeenObject {
    /// `object` (as JSON, with its metadata) as `trigger` sees it.
    pub fn observe(
        trigger: &ResourceTrigger,
        object: &Value,
        changed_at: Option<Timestamp>,
    ) -> SeenObject {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        SeenObject {
            uid: text("/metadata/uid"),
            name: text("/metadata/name"),
            fingerprint: fingerprint(object),
            params: picked_params(&trigger.params, object),
            changed_at,
        }
    }
}

/// What one trigger's decision reads.
#[derive(Debug, Clone, Copy)]
pub struct TriggerInput<'a> {
    pub template: &'a str,
    pub trigger: &'a ResourceTrigger,
    /// `trigger.source(template namespace)`: what the record must be of.
    pub source: &'a str,
    /// The trigger's entry in the status (or the shell's newer copy of it).
    pub recorded: Option<&'a ResourceTriggerStatus>,
    /// Every object the watch lists now.
    pub present: &'a [SeenObject],
    /// The last state of objects the watch saw deleted (for a Delete run's parameters).
    pub gone: &'a [SeenObject],
    pub now: Timestamp,
}

/// A run a trigger asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggeredRun {
    pub name: String,
    pub event: TriggerEvent,
    pub object_name: String,
    pub object_uid: String,
    /// Parameter values picked from the object (none for an object deleted unseen).
    pub params: BTreeMap<String, String>,
}

/// What a trigger asks for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerDecision {
    /// The runs to create, in uid order.
    pub runs: Vec<TriggeredRun>,
    /// The trigger's new status entry (the record after these runs).
    pub status: ResourceTriggerStatus,
    /// When a debounced change becomes due; none: only an event can change the answer.
    pub requeue_after: Option<Duration>,
}

/// The name of the run of `trigger` of `template` for `event` of `object` (its uid, its
/// fingerprint and count of updates after the event).
pub fn run_name(
    template: &str,
    trigger: &str,
    event: TriggerEvent,
    object: &CountedObject,
) -> String {
    let hash = hash_hex(
        &format!(
            "{template}\n{trigger}\n{}\n{}\n{}\n{}",
            object.uid,
            event.as_str(),
            object.fingerprint,
            object.updates
        ),
        CAUSE_HASH_LEN,
    );
    let suffix = format!("-{trigger}-{hash}");
    let budget = MAX_RUN_NAME_LEN.saturating_sub(suffix.len());
    let kept: String = template.chars().take(budget).collect();
    let kept = kept.trim_end_matches(['-', '.']);
    format!("{kept}{suffix}")
}

/// The decision; see the module's documentation.
pub fn decide_trigger(input: TriggerInput<'_>) -> TriggerDecision {
    let trigger = input.trigger;
    let previous = input.recorded.cloned().unwrap_or_default();
    let mut status = ResourceTriggerStatus {
        name: trigger.name.clone(),
        message: None,
        source: Some(input.source.to_owned()),
        objects: previous.objects.clone(),
        last_run: previous.last_run.clone(),
    };
    let mut present: Vec<&SeenObject> = input.present.iter().collect();
    present.sort_by(|a, b| a.uid.cmp(&b.uid));
    present.dedup_by(|a, b| a.uid == b.uid);
    if present.len() > MAX_TRACKED_OBJECTS {
        status.source = previous.source.clone();
        status.message = Some(format!(
            "resourceTriggers {:?}: {} {} objects match, more than the {MAX_TRACKED_OBJECTS} a trigger can follow: narrow it with objectName or selector",
            trigger.name,
            present.len(),
            trigger.kind
        ));
        return TriggerDecision {
            runs: Vec::new(),
            status,
            requeue_after: None,
        };
    }
    if previous.source.as_deref() != Some(input.source) {
        // A baseline: what exists now was not caused by anything this trigger watched.
        status.objects = present.iter().map(|o| counted(o)).collect();
        return TriggerDecision {
            runs: Vec::new(),
            status,
            requeue_after: None,
        };
    }

    let debounce = jiff::SignedDuration::from_secs(i64::from(trigger.debounce_seconds));
    let mut wake: Option<Timestamp> = None;
    // Whether a change seen at `changed_at` is due now; if not, the wake-up is moved up to it.
    let mut due = |changed_at: Option<Timestamp>| match changed_at {
        Some(at) if trigger.debounce_seconds > 0 => {
            let ready = at.saturating_add(debounce).unwrap_or(at);
            if ready > input.now {
                wake = Some(wake.map_or(ready, |w| w.min(ready)));
                false
            } else {
                true
            }
        }
        _ => true,
    };
    let recorded: BTreeMap<&str, &CountedObject> = previous
        .objects
        .iter()
        .map(|o| (o.uid.as_str(), o))
        .collect();
    let mut objects: BTreeMap<String, CountedObject> = previous
        .objects
        .iter()
        .map(|o| (o.uid.clone(), o.clone()))
        .collect();
    let mut runs = Vec::new();
    let mut count =
        |event: TriggerEvent, seen: &CountedObject, params: BTreeMap<String, String>| {
            if trigger.watches(event) {
                runs.push(TriggeredRun {
                    name: run_name(input.template, &trigger.name, event, seen),
                    event,
                    object_name: seen.name.clone(),
                    object_uid: seen.uid.clone(),
                    params,
                });
            }
        };
    for object in &present {
        let (event, updates) = match recorded.get(object.uid.as_str()) {
            Some(r) if r.fingerprint == object.fingerprint => continue,
            Some(r) => (TriggerEvent::Update, r.updates.saturating_add(1)),
            None => (TriggerEvent::Create, 0),
        };
        if !due(object.changed_at) {
            continue;
        }
        let now_counted = CountedObject {
            updates,
            ..counted(object)
        };
        count(event, &now_counted, object.params.clone());
        objects.insert(object.uid.clone(), now_counted);
    }
    let listed: Vec<&str> = present.iter().map(|o| o.uid.as_str()).collect();
    for (uid, record) in &recorded {
        if listed.binary_search(uid).is_ok() {
            continue;
        }
        let last = input.gone.iter().find(|g| g.uid == *uid);
        if !due(last.and_then(|g| g.changed_at)) {
            continue;
        }
        count(
            TriggerEvent::Delete,
            record,
            last.map(|g| g.params.clone()).unwrap_or_default(),
        );
        objects.remove(*uid);
    }
    runs.sort_by(|a, b| (&a.object_uid, a.event).cmp(&(&b.object_uid, b.event)));
    if let Some(last) = runs.last() {
        status.last_run = Some(last.name.clone());
    }
    status.objects = objects.into_values().collect();
    TriggerDecision {
        runs,
        status,
        requeue_after: wake.map(|at| wait_until(input.now, at)),
    }
}

fn counted(object: &SeenObject) -> CountedObject {
    CountedObject {
        uid: object.uid.clone(),
        name: object.name.clone(),
        fingerprint: object.fingerprint.clone(),
        updates: 0,
    }
}

/// From `now` to `at`, at least 100 ms (a wake-up at once would spin on rounding).
fn wait_until(now: Timestamp, at: Timestamp) -> Duration {
    let secs = at.duration_since(now).as_secs_f64().max(0.1);
    Duration::from_secs_f64(secs)
}

/// The Workflow `run` of `trigger` creates: the template's run with the parameters picked from
/// the object, labelled with the template, `kwf.dev/trigger: resource` and the trigger's name,
/// annotated with the event and the object (`watched`: `namespace/` or `""` for a
/// cluster-scoped kind), owned by the template.
pub fn triggered_run(
    template: &WorkflowTemplate,
    trigger: &ResourceTrigger,
    watched_namespace: Option<&str>,
    run: &TriggeredRun,
) -> Result<Workflow, TemplateError> {
    let instance = instantiate(template, &run.params)?;
    let mut labels = instance.labels;
    labels.insert(LABEL_TRIGGER.to_owned(), TRIGGER_RESOURCE.to_owned());
    labels.insert(LABEL_TRIGGER_NAME.to_owned(), trigger.name.clone());
    let mut annotations = instance.annotations;
    annotations.insert(
        ANNOTATION_TRIGGER_EVENT.to_owned(),
        run.event.as_str().to_owned(),
    );
    let object = match watched_namespace {
        Some(ns) => format!("{ns}/{}", run.object_name),
        None => run.object_name.clone(),
    };
    annotations.insert(
        ANNOTATION_TRIGGER_OBJECT.to_owned(),
        format!("{}/{} {object}", trigger.api_version, trigger.kind),
    );
    annotations.insert(ANNOTATION_TRIGGER_UID.to_owned(), run.object_uid.clone());
    Ok(owned_run(
        template,
        &run.name,
        instance.spec,
        labels,
        annotations,
    ))
}

/// The service account a template's trigger watches as: its runs' pods' account
/// (`workflowSpec.podDefaults.serviceAccountName`), else `default`.
pub fn service_account(template: &WorkflowTemplate) -> String {
    template
        .spec
        .workflow_spec
        .pod_defaults
        .as_ref()
        .and_then(|d| d.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Where a trigger watches, for messages.
fn place(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "cluster-wide".to_owned(),
    }
}

/// The message of a trigger whose kind the API server does not serve.
pub fn not_served_message(trigger: &ResourceTrigger) -> String {
    format!(
        "resourceTriggers {:?}: the API server does not serve kind {} in apiVersion {}: fix apiVersion and kind (kubectl api-resources lists what it serves), or install its CRD",
        trigger.name, trigger.kind, trigger.api_version
    )
}

/// The message of a trigger whose template's service account may not use `missing` (of list
/// and watch) on `plural`.
pub fn denied_message(
    trigger: &ResourceTrigger,
    account_namespace: &str,
    account: &str,
    missing: &[&str],
    plural: &str,
    namespace: Option<&str>,
) -> String {
    format!(
        "resourceTriggers {:?}: service account {account_namespace}/{account} may not {} {plural} {}: grant it (a Role or ClusterRole with verbs list, watch, bound to it) or set workflowSpec.podDefaults.serviceAccountName to an account that may",
        trigger.name,
        missing.join(", "),
        place(namespace)
    )
}

/// The message of a trigger whose watch fails (with the controller's own credentials).
pub fn watch_failed_message(
    trigger: &ResourceTrigger,
    plural: &str,
    namespace: Option<&str>,
    error: &str,
) -> String {
    let error = error.replace('\n', " ");
    if error.contains("forbidden") || error.contains("Forbidden") {
        format!(
            "resourceTriggers {:?}: the controller may not watch {plural} {}: allow the kind in the trigger-read component (controller/deploy/components/trigger-read) ({error})",
            trigger.name,
            place(namespace)
        )
    } else {
        format!(
            "resourceTriggers {:?}: watching {plural} {} failed, retrying: {error}",
            trigger.name,
            place(namespace)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::{StepFixture, step};
    use kwf_api::workflow_template::{LABEL_TEMPLATE, Parameter};
    use kwf_api::{WorkflowSpec, WorkflowTemplateSpec};
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: &str = "2026-06-01T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn config_trigger() -> ResourceTrigger {
        ResourceTrigger {
            name: "config".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            params: [("value".to_owned(), "/data/k".to_owned())].into(),
            ..Default::default()
        }
    }

    fn config_map(uid: &str, data: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{uid}"), "uid": uid, "labels": {"l": "1"}},
            "data": {"k": data}})
    }

    fn seen(trigger: &ResourceTrigger, uid: &str, data: &str) -> SeenObject {
        SeenObject::observe(trigger, &config_map(uid, data), None)
    }

    /// Decides with `present` and `gone` against `recorded` at `now`.
    fn decide(
        trigger: &ResourceTrigger,
        recorded: Option<&ResourceTriggerStatus>,
        present: &[SeenObject],
        gone: &[SeenObject],
        now: Timestamp,
    ) -> TriggerDecision {
        let source = trigger.source("ns");
        decide_trigger(TriggerInput {
            template: "tpl",
            trigger,
            source: &source,
            recorded,
            present,
            gone,
            now,
        })
    }

    fn baseline(trigger: &ResourceTrigger, present: &[SeenObject]) -> ResourceTriggerStatus {
        let first = decide(trigger, None, present, &[], now());
        assert!(first.runs.is_empty(), "a baseline runs nothing");
        first.status
    }

    fn events(decision: &TriggerDecision) -> Vec<(TriggerEvent, &str)> {
        decision
            .runs
            .iter()
            .map(|r| (r.event, r.object_uid.as_str()))
            .collect()
    }

    #[test]
    fn the_first_list_is_the_baseline_and_a_relist_counts_nothing() {
        let t = config_trigger();
        let present = [seen(&t, "a", "1"), seen(&t, "b", "2")];
        let status = baseline(&t, &present);
        assert_eq!(status.objects.len(), 2);
        assert_eq!(status.source, Some(t.source("ns")));
        let again = decide(&t, Some(&status), &present, &[], now());
        assert!(again.runs.is_empty());
        assert_eq!(again.status, status, "nothing to write");
        assert_eq!(again.requeue_after, None);
    }

    #[test]
    fn create_update_and_delete_each_count_once() {
        let t = config_trigger();
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let created = decide(
            &t,
            Some(&status),
            &[seen(&t, "a", "1"), seen(&t, "b", "x")],
            &[],
            now(),
        );
        assert_eq!(events(&created), [(TriggerEvent::Create, "b")]);
        assert_eq!(created.runs[0].params["value"], "x");
        assert_eq!(created.runs[0].object_name, "cm-b");
        let updated = decide(
            &t,
            Some(&created.status),
            &[seen(&t, "a", "2"), seen(&t, "b", "x")],
            &[],
            now(),
        );
        assert_eq!(events(&updated), [(TriggerEvent::Update, "a")]);
        let gone_b = seen(&t, "b", "last");
        let deleted = decide(
            &t,
            Some(&updated.status),
            &[seen(&t, "a", "2")],
            &[gone_b],
            now(),
        );
        assert_eq!(events(&deleted), [(TriggerEvent::Delete, "b")]);
        assert_eq!(
            deleted.runs[0].params["value"], "last",
            "a Delete run's parameters come from the object's last state"
        );
        assert_eq!(deleted.status.objects.len(), 1);
        assert_eq!(
            deleted.status.last_run.as_deref(),
            Some(deleted.runs[0].name.as_str())
        );
        let names = [
            &created.runs[0].name,
            &updated.runs[0].name,
            &deleted.runs[0].name,
        ];
        assert!(names.iter().all(|n| n.starts_with("tpl-config-")));
        assert_eq!(
            names
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            3
        );
    }

    #[test]
    fn a_metadata_or_status_only_write_does_not_count() {
        let t = config_trigger();
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let mut relabelled = config_map("a", "1");
        relabelled["metadata"]["labels"]["l"] = json!("2");
        relabelled["metadata"]["annotations"] = json!({"note": "x"});
        relabelled["status"] = json!({"seen": true});
        let decision = decide(
            &t,
            Some(&status),
            &[SeenObject::observe(&t, &relabelled, Some(now()))],
            &[],
            now(),
        );
        assert!(decision.runs.is_empty());
        assert_eq!(decision.status, status);
    }

    #[test]
    fn events_not_watched_are_recorded_without_a_run() {
        let mut t = config_trigger();
        t.events = Some(vec![TriggerEvent::Update]);
        let status = baseline(&t, &[]);
        let created = decide(&t, Some(&status), &[seen(&t, "a", "1")], &[], now());
        assert!(created.runs.is_empty(), "Create is not watched");
        assert_eq!(created.status.objects.len(), 1, "but recorded");
        let updated = decide(&t, Some(&created.status), &[seen(&t, "a", "2")], &[], now());
        assert_eq!(
            events(&updated),
            [(TriggerEvent::Update, "a")],
            "so the next change is an Update"
        );
        let deleted = decide(&t, Some(&updated.status), &[], &[], now());
        assert!(deleted.runs.is_empty());
        assert!(deleted.status.objects.is_empty());
    }

    #[test]
    fn changes_while_no_controller_watched_count_on_the_next_list() {
        let t = config_trigger();
        let status = baseline(&t, &[seen(&t, "a", "1"), seen(&t, "b", "1")]);
        // Down: a changed, b deleted (unseen), c created.
        let decision = decide(
            &t,
            Some(&status),
            &[seen(&t, "a", "2"), seen(&t, "c", "1")],
            &[],
            now(),
        );
        assert_eq!(
            events(&decision),
            [
                (TriggerEvent::Update, "a"),
                (TriggerEvent::Delete, "b"),
                (TriggerEvent::Create, "c"),
            ]
        );
        let delete = &decision.runs[1];
        assert!(
            delete.params.is_empty(),
            "unseen: the parameter's default applies"
        );
        assert_eq!(delete.object_name, "cm-b", "named from the record");
    }

    #[test]
    fn a_changed_source_is_a_new_baseline_not_deletions() {
        let t = config_trigger();
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let mut narrowed = t.clone();
        narrowed.object_name = Some("cm-b".into());
        let decision = decide(&narrowed, Some(&status), &[seen(&t, "b", "1")], &[], now());
        assert!(decision.runs.is_empty());
        assert_eq!(decision.status.objects[0].uid, "b");
        assert_eq!(decision.status.source, Some(narrowed.source("ns")));
    }

    #[test]
    fn debounce_waits_for_quiet_and_runs_once_for_the_last_state() {
        let mut t = config_trigger();
        t.debounce_seconds = 10;
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let changed: Timestamp = "2026-06-01T11:59:55Z".parse().unwrap();
        let burst = SeenObject::observe(&t, &config_map("a", "3"), Some(changed));
        let waiting = decide(&t, Some(&status), std::slice::from_ref(&burst), &[], now());
        assert!(waiting.runs.is_empty());
        assert_eq!(waiting.status, status, "the record waits too");
        assert_eq!(waiting.requeue_after, Some(Duration::from_secs(5)));
        let later = now() + jiff::SignedDuration::from_secs(5);
        let ran = decide(&t, Some(&status), &[burst], &[], later);
        assert_eq!(events(&ran), [(TriggerEvent::Update, "a")]);
        assert_eq!(ran.runs[0].params["value"], "3");
        assert_eq!(ran.requeue_after, None);
        // Created and deleted within the window: nothing at all.
        let flash = SeenObject::observe(&t, &config_map("f", "1"), Some(now()));
        let gone = decide(
            &t,
            Some(&ran.status),
            &[seen(&t, "a", "3")],
            &[flash],
            now(),
        );
        assert!(gone.runs.is_empty());
        assert_eq!(gone.status, ran.status);
    }

    #[test]
    fn a_change_found_on_the_first_list_after_a_restart_is_not_debounced() {
        let mut t = config_trigger();
        t.debounce_seconds = 60;
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let decision = decide(&t, Some(&status), &[seen(&t, "a", "2")], &[], now());
        assert_eq!(events(&decision), [(TriggerEvent::Update, "a")]);
    }

    #[test]
    fn too_many_objects_count_nothing_and_say_what_to_do() {
        let t = config_trigger();
        let status = baseline(&t, &[seen(&t, "a", "1")]);
        let many: Vec<SeenObject> = (0..=MAX_TRACKED_OBJECTS)
            .map(|i| seen(&t, &format!("u{i:04}"), "1"))
            .collect();
        let decision = decide(&t, Some(&status), &many, &[], now());
        assert!(decision.runs.is_empty());
        assert_eq!(
            decision.status.objects, status.objects,
            "the record is kept"
        );
        assert_eq!(
            decision.status.message.as_deref(),
            Some(
                "resourceTriggers \"config\": 201 ConfigMap objects match, more than the 200 a trigger can follow: narrow it with objectName or selector"
            )
        );
    }

    #[test]
    fn run_names_are_deterministic_distinct_and_within_the_limit() {
        let object = |uid: &str, fingerprint: &str, updates| CountedObject {
            uid: uid.into(),
            name: "n".into(),
            fingerprint: fingerprint.into(),
            updates,
        };
        let name = |event, o: &CountedObject| run_name("tpl", "config", event, o);
        let a = name(TriggerEvent::Update, &object("u1", "c1", 1));
        assert_eq!(a, name(TriggerEvent::Update, &object("u1", "c1", 1)));
        assert!(a.starts_with("tpl-config-") && a.len() == "tpl-config-".len() + 10);
        for other in [
            name(TriggerEvent::Update, &object("u1", "c2", 1)),
            name(TriggerEvent::Update, &object("u1", "c1", 3)),
            name(TriggerEvent::Create, &object("u1", "c1", 1)),
            name(TriggerEvent::Update, &object("u2", "c1", 1)),
        ] {
            assert_ne!(a, other);
        }
        let long = format!("{}.{}", "t".repeat(230), "x".repeat(22));
        let cut = run_name(
            &long,
            "twenty-characters-xx",
            TriggerEvent::Delete,
            &object("u", "g1", 0),
        );
        assert!(cut.len() <= MAX_RUN_NAME_LEN, "{}", cut.len());
        assert!(
            !cut.contains(".-"),
            "a cut never leaves a dot before a dash: {cut}"
        );
    }

    #[test]
    fn content_changed_back_is_a_new_update() {
        let t = config_trigger();
        let mut status = baseline(&t, &[seen(&t, "a", "1")]);
        let mut names = Vec::new();
        for data in ["2", "1", "2", "1"] {
            let d = decide(&t, Some(&status), &[seen(&t, "a", data)], &[], now());
            assert_eq!(events(&d), [(TriggerEvent::Update, "a")]);
            names.push(d.runs[0].name.clone());
            status = d.status;
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(status.objects[0].updates, 4);
    }

    fn template() -> WorkflowTemplate {
        let mut t = WorkflowTemplate::new(
            "tpl",
            WorkflowTemplateSpec {
                parameters: vec![Parameter {
                    name: "value".into(),
                    default: Some("none".into()),
                    description: None,
                }],
                workflow_metadata: None,
                workflow_spec: WorkflowSpec {
                    containers: vec![step("show", &[]).with_command(&["echo", "{{params.value}}"])],
                    ..Default::default()
                },
                schedule: None,
                resource_triggers: vec![config_trigger()],
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("ns".into());
        t.metadata.uid = Some("t-uid".into());
        t
    }

    #[test]
    fn messages_are_one_line_and_say_what_to_do() {
        let t = config_trigger();
        assert_eq!(
            denied_message(
                &t,
                "ns",
                "default",
                &["list", "watch"],
                "configmaps",
                Some("ns")
            ),
            "resourceTriggers \"config\": service account ns/default may not list, watch configmaps in namespace ns: grant it (a Role or ClusterRole with verbs list, watch, bound to it) or set workflowSpec.podDefaults.serviceAccountName to an account that may"
        );
        let mut widget = t.clone();
        widget.api_version = "example.com/v1".into();
        widget.kind = "Widget".into();
        assert_eq!(
            not_served_message(&widget),
            "resourceTriggers \"config\": the API server does not serve kind Widget in apiVersion example.com/v1: fix apiVersion and kind (kubectl api-resources lists what it serves), or install its CRD"
        );
        let forbidden = watch_failed_message(
            &t,
            "nodes",
            None,
            "failed to list: nodes is forbidden:\nUser x",
        );
        assert!(forbidden.starts_with("resourceTriggers \"config\": the controller may not watch nodes cluster-wide: allow the kind in the trigger-read component"), "{forbidden}");
        assert!(!forbidden.contains('\n'));
        let mut tpl = template();
        assert_eq!(service_account(&tpl), "default");
        tpl.spec.workflow_spec.pod_defaults = Some(kwf_api::PodDefaults {
            service_account_name: Some("runner".into()),
            ..Default::default()
        });
        assert_eq!(service_account(&tpl), "runner");
    }

    #[test]
    fn a_triggered_run_is_labelled_annotated_owned_and_substituted() {
        let t = config_trigger();
        let run = TriggeredRun {
            name: "tpl-config-0123456789".into(),
            event: TriggerEvent::Update,
            object_name: "my-config".into(),
            object_uid: "u1".into(),
            params: [("value".to_owned(), "hello".to_owned())].into(),
        };
        let wf = triggered_run(&template(), &t, Some("ns"), &run).unwrap();
        let labels = wf.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_TEMPLATE], "tpl");
        assert_eq!(labels[LABEL_TRIGGER], "resource");
        assert_eq!(labels[LABEL_TRIGGER_NAME], "config");
        let annotations = wf.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[ANNOTATION_TRIGGER_EVENT], "Update");
        assert_eq!(
            annotations[ANNOTATION_TRIGGER_OBJECT],
            "v1/ConfigMap ns/my-config"
        );
        assert_eq!(annotations[ANNOTATION_TRIGGER_UID], "u1");
        assert_eq!(wf.metadata.name.as_deref(), Some("tpl-config-0123456789"));
        assert_eq!(
            wf.metadata.owner_references.as_ref().unwrap()[0].uid,
            "t-uid"
        );
        assert_eq!(
            wf.spec.containers[0].command.as_deref().unwrap(),
            ["echo", "hello"]
        );
        let unseen = TriggeredRun {
            params: BTreeMap::new(),
            ..run
        };
        let wf = triggered_run(&template(), &t, None, &unseen).unwrap();
        assert_eq!(
            wf.spec.containers[0].command.as_deref().unwrap(),
            ["echo", "none"],
            "the default"
        );
    }

    /// One operation of a random history of ConfigMaps `u0`..`u3`.
    #[derive(Debug, Clone)]
    enum Op {
        /// Create it if absent, else change its data to this.
        Write(usize, u8),
        /// Change only labels and status.
        Touch(usize),
        Delete(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, 0..3u8).prop_map(|(i, d)| Op::Write(i, d)),
            (0..4usize).prop_map(Op::Touch),
            (0..4usize).prop_map(Op::Delete),
        ]
    }

    fn watched_events() -> impl Strategy<Value = Option<Vec<TriggerEvent>>> {
        prop_oneof![
            Just(None),
            prop::sample::subsequence(TriggerEvent::ALL.to_vec(), 1..=3).prop_map(Some),
        ]
    }

    proptest! {
        /// A controller that decides after every operation (and again at once, as a lost status
        /// write or a second replica would) creates exactly one run per create, per change of
        /// data and per delete it watches, and none for touches; each deciding twice names the
        /// same runs.
        #[test]
        fn every_counted_change_makes_exactly_one_run(
            ops in prop::collection::vec(op(), 0..30),
            events in watched_events(),
        ) {
            let mut t = config_trigger();
            t.events = events;
            let mut objects: BTreeMap<usize, (u32, u8, u32)> = BTreeMap::new(); // incarnation, data, touches
            let mut incarnations = [0u32; 4];
            let mut status = baseline(&t, &[]);
            let mut created: Vec<String> = Vec::new();
            let mut expected = 0usize;
            for op in ops {
                let mut gone = Vec::new();
                match op {
                    Op::Write(i, d) => match objects.get_mut(&i) {
                        None => {
                            incarnations[i] += 1;
                            objects.insert(i, (incarnations[i], d, 0));
                            expected += usize::from(t.watches(TriggerEvent::Create));
                        }
                        Some(o) if o.1 != d => {
                            o.1 = d;
                            expected += usize::from(t.watches(TriggerEvent::Update));
                        }
                        Some(_) => {}
                    },
                    Op::Touch(i) => if let Some(o) = objects.get_mut(&i) { o.2 += 1 },
                    Op::Delete(i) => if let Some((inc, d, _)) = objects.remove(&i) {
                        gone.push(seen(&t, &format!("u{i}-{inc}"), &d.to_string()));
                        expected += usize::from(t.watches(TriggerEvent::Delete));
                    },
                }
                let present: Vec<SeenObject> = objects
                    .iter()
                    .map(|(i, (inc, d, touches))| {
                        let mut cm = config_map(&format!("u{i}-{inc}"), &d.to_string());
                        cm["metadata"]["labels"]["touch"] = json!(touches.to_string());
                        cm["status"] = json!({"touches": touches});
                        SeenObject::observe(&t, &cm, None)
                    })
                    .collect();
                let first = decide(&t, Some(&status), &present, &gone, now());
                let replay = decide(&t, Some(&status), &present, &gone, now());
                prop_assert_eq!(&first, &replay, "deterministic");
                created.extend(first.runs.iter().map(|r| r.name.clone()));
                status = first.status;
                let settled = decide(&t, Some(&status), &present, &[], now());
                prop_assert!(settled.runs.is_empty(), "once recorded, nothing more");
            }
            prop_assert_eq!(created.len(), expected);
            let distinct: std::collections::BTreeSet<&String> = created.iter().collect();
            prop_assert_eq!(distinct.len(), created.len(), "distinct causes, distinct names");
        }

        /// However writes of one object are spaced, with a debounce the runs are those of the
        /// changes followed by a quiet period at least that long.
        #[test]
        fn debounce_runs_once_per_quiet_period(
            gaps in prop::collection::vec(1..20i64, 1..10),
            debounce in 1..15u32,
        ) {
            let mut t = config_trigger();
            t.debounce_seconds = debounce;
            let start = now();
            let mut status = baseline(&t, &[seen(&t, "a", "0")]);
            let mut at = start;
            let mut runs = 0usize;
            let mut expected = 0usize;
            for (n, gap) in gaps.iter().enumerate() {
                let write = SeenObject::observe(&t, &config_map("a", &(n + 1).to_string()), Some(at));
                // Look at every second until the next write (or long after the last).
                let next = at + jiff::SignedDuration::from_secs(*gap);
                let end = if n + 1 == gaps.len() { at + jiff::SignedDuration::from_secs(100) } else { next };
                if n + 1 == gaps.len() || *gap > i64::from(debounce) {
                    expected += 1;
                }
                let mut look = at;
                while look < end {
                    let d = decide(&t, Some(&status), std::slice::from_ref(&write), &[], look);
                    runs += d.runs.len();
                    status = d.status;
                    look += jiff::SignedDuration::from_secs(1);
                }
                at = next;
            }
            prop_assert_eq!(runs, expected);
        }
    }
}
