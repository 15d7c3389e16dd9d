//! The item group of a WorkflowTemplate (oaat-operator's algorithm), as one pure decision:
//! (template, its per-item status, its runs, now) -> the new per-item status, the runs to
//! create, the next time an item becomes due.
//!
//! - **The status is the truth.** Per item, `status.items` records the last success and
//!   failure (finish times), the failures since the success, the active run and how many runs
//!   were created. A run's outcome is folded in when it is seen finished, so the history limits
//!   and TTL may delete runs afterwards without the group forgetting anything.
//! - **Names from the cause.** The n-th run of an item is `<template>-<8 hex of the item's
//!   hash>-<n>`, n counted in the item's status. A lost status write, a restart or a second
//!   replica computes the same name again: the create answers AlreadyExists (success), and a run
//!   of that name already watched is adopted as the item's run (and its outcome folded) instead
//!   of creating another.
//! - **Selection** (oaat): an item is a candidate when it has no active run, its last success is
//!   at least `frequency` ago (or it never succeeded) and its last failure at least
//!   `failureCoolOff` ago. Candidates are taken never-succeeded first, then by oldest success,
//!   then by oldest failure (never-failed first), ties by the item's place in the list, not at
//!   random, so the order is reproducible. At most `concurrency` runs of the group are active.
//! - A run that was the item's current run and is gone from the watch (deleted by hand before it
//!   finished) counts as neither success nor failure, once [`VANISHED_AFTER`] has passed since
//!   it was created: until then the watch may simply not show it yet.
//! - `suspend` and a problem (unreadable duration) create nothing, but outcomes are still folded.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::item_group::{
    ANNOTATION_ITEM, ItemGroup, ItemStatus, TRIGGER_ITEM_GROUP, cool_off, frequency, item_hash,
};
use kwf_api::workflow_template::{LABEL_TRIGGER, WorkflowTemplate};
use kwf_api::{TemplateError, Workflow, instantiate};

use super::history::{Outcome, TemplateRun};
use super::template_run::owned_run;

/// A current run not (yet) in the watch is taken as deleted after this long since its creation.
pub const VANISHED_AFTER: SignedDuration = SignedDuration::from_secs(30);

/// Longest Workflow name (a DNS-1123 subdomain).
const MAX_NAME_LEN: usize = 253;

/// What the item group asks for now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemGroupDecision {
    /// The new `status.items`, in the order of `itemGroup.items`.
    pub items: Vec<ItemStatus>,
    /// Runs to create, in the order chosen.
    pub create: Vec<Workflow>,
    /// The next time an item without a run becomes due, after now.
    pub next_due: Option<Timestamp>,
    /// When to look again (next due, or the end of a current run's [`VANISHED_AFTER`]).
    pub requeue_after: Option<Duration>,
    /// What is wrong with the group, for the template's status (one line).
    pub problem: Option<String>,
}

/// The name of the `n`-th run of `item` of `template`.
pub fn run_name(template: &str, item: &str, n: u32) -> String {
    let suffix = format!("-{}-{n}", item_hash(item));
    let keep = MAX_NAME_LEN.saturating_sub(suffix.len());
    let prefix: String = template.chars().take(keep).collect();
    format!("{}{suffix}", prefix.trim_end_matches(['-', '.']))
}

/// The decision; see the module's documentation.
pub fn decide_item_group(
    template: &WorkflowTemplate,
    group: &ItemGroup,
    previous: &[ItemStatus],
    runs: &[TemplateRun],
    now: Timestamp,
) -> ItemGroupDecision {
    let name = template.metadata.name.clone().unwrap_or_default();
    let by_name: BTreeMap<&str, &TemplateRun> = runs.iter().map(|r| (r.name.as_str(), r)).collect();
    let mut wake: Option<Timestamp> = None;
    let mut items: Vec<ItemStatus> = group
        .items
        .iter()
        .map(|item| {
            let mut st = previous
                .iter()
                .find(|s| &s.name == item)
                .cloned()
                .unwrap_or_else(|| ItemStatus {
                    name: item.clone(),
                    ..Default::default()
                });
            settle(&name, &mut st, &by_name, now, &mut wake);
            st
        })
        .collect();

    let timing = frequency(group).and_then(|f| cool_off(group).map(|c| (f, c)));
    let (freq, cool) = match timing {
        Ok(t) => t,
        Err(problem) => {
            return ItemGroupDecision {
                items,
                requeue_after: wake.map(|w| wait_until(now, w)),
                problem: Some(problem),
                ..Default::default()
            };
        }
    };
    let due = |st: &ItemStatus| -> Timestamp {
        let after_success = st.last_success.as_ref().map(|t| add(t.0, freq));
        let after_failure = st.last_failure.as_ref().map(|t| add(t.0, cool));
        after_success
            .into_iter()
            .chain(after_failure)
            .max()
            .unwrap_or(Timestamp::MIN)
    };

    // Active runs of the group: those watched (also of items no longer listed), and current
    // runs the watch does not show yet.
    let watched_active = runs
        .iter()
        .filter(|r| r.item.is_some() && r.outcome == Outcome::Active)
        .count();
    let unseen_current = items
        .iter()
        .filter_map(|s| s.current_run.as_deref())
        .filter(|run| !by_name.contains_key(run))
        .count();
    let mut slots = (group.concurrency as usize).saturating_sub(watched_active + unseen_current);

    let mut candidates: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].current_run.is_none() && due(&items[i]) <= now)
        .collect();
    candidates.sort_by_key(|&i| {
        (
            items[i].last_success.as_ref().map(|t| t.0),
            items[i].last_failure.as_ref().map(|t| t.0),
            i,
        )
    });
    let mut create = Vec::new();
    let mut problems = Vec::new();
    if !group.suspend {
        for i in candidates {
            if slots == 0 {
                break;
            }
            let st = &mut items[i];
            let run = run_name(&name, &st.name, st.runs + 1);
            match item_run(template, group, &run, &st.name) {
                Ok(wf) => {
                    st.runs += 1;
                    st.current_run = Some(run);
                    st.last_run_time = Some(Time(now));
                    create.push(wf);
                    slots -= 1;
                    wake = earliest(wake, add(now, VANISHED_AFTER));
                }
                Err(err) => problems.push(format!("itemGroup item {:?}: {err}", st.name)),
            }
        }
    }
    let next_due = if group.suspend {
        None
    } else {
        items
            .iter()
            .filter(|s| s.current_run.is_none())
            .map(due)
            .filter(|t| *t > now)
            .min()
    };
    if let Some(next) = next_due {
        wake = earliest(wake, next);
    }
    ItemGroupDecision {
        items,
        create,
        next_due,
        requeue_after: wake.map(|w| wait_until(now, w)),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

/// The runs of the group whose outcome `previous` (the status as read) may not have folded
/// in: each item's current run and the run its next name would adopt. The history must not
/// delete them yet (see `core::history`).
pub fn unsettled_runs(template: &str, previous: &[ItemStatus]) -> Vec<String> {
    previous
        .iter()
        .flat_map(|st| {
            st.current_run
                .clone()
                .into_iter()
                .chain([run_name(template, &st.name, st.runs + 1)])
        })
        .collect()
}

/// Brings one item's status up to date with the watched runs: folds in the outcome of its
/// current run once finished, adopts a run of its next name created before (the status write
/// was lost), and drops a current run gone from the watch.
fn settle(
    template: &str,
    st: &mut ItemStatus,
    runs: &BTreeMap<&str, &TemplateRun>,
    now: Timestamp,
    wake: &mut Option<Timestamp>,
) {
    loop {
        if let Some(current) = st.current_run.clone() {
            match runs.get(current.as_str()) {
                Some(run) if run.outcome == Outcome::Active => return,
                Some(run) => {
                    let finished = Time(run.finished.or(run.created).unwrap_or(now));
                    if run.outcome == Outcome::Succeeded {
                        st.last_success = Some(finished);
                        st.failures_since_success = 0;
                    } else {
                        st.last_failure = Some(finished);
                        st.failures_since_success += 1;
                    }
                    st.current_run = None;
                }
                None => {
                    let created = st.last_run_time.as_ref().map_or(Timestamp::MIN, |t| t.0);
                    let gone_after = add(created, VANISHED_AFTER);
                    if gone_after > now {
                        *wake = earliest(*wake, gone_after);
                        return;
                    }
                    st.current_run = None;
                }
            }
        }
        let next = run_name(template, &st.name, st.runs + 1);
        let Some(run) = runs.get(next.as_str()) else {
            return;
        };
        st.runs += 1;
        st.current_run = Some(next);
        st.last_run_time = run.created.map(Time).or(Some(Time(now)));
    }
}

/// The Workflow of one item: the template's run with the item in the group's parameter (the
/// other parameters at their defaults), labelled with the template and `kwf.dev/trigger:
/// item-group`, annotated with the item, owned by the template.
pub fn item_run(
    template: &WorkflowTemplate,
    group: &ItemGroup,
    name: &str,
    item: &str,
) -> Result<Workflow, TemplateError> {
    let params = [(group.parameter.clone(), item.to_owned())].into();
    let instance = instantiate(template, &params)?;
    let mut labels = instance.labels;
    labels.insert(LABEL_TRIGGER.to_owned(), TRIGGER_ITEM_GROUP.to_owned());
    let mut annotations = instance.annotations;
    annotations.insert(ANNOTATION_ITEM.to_owned(), item.to_owned());
    Ok(owned_run(
        template,
        name,
        instance.spec,
        labels,
        annotations,
    ))
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn wait_until(now: Timestamp, at: Timestamp) -> Duration {
    super::history::wait_until(now, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::{StepFixture, step};
    use kwf_api::workflow_template::{LABEL_TEMPLATE, Parameter};
    use kwf_api::{WorkflowSpec, WorkflowTemplateSpec};
    use proptest::prelude::*;

    fn group(items: &[&str]) -> ItemGroup {
        ItemGroup {
            items: items.iter().map(|s| (*s).to_owned()).collect(),
            parameter: "item".into(),
            frequency: "1h".into(),
            failure_cool_off: Some("10m".into()),
            concurrency: 1,
            suspend: false,
        }
    }

    fn template(group: ItemGroup) -> WorkflowTemplate {
        let mut t = WorkflowTemplate::new(
            "backup",
            WorkflowTemplateSpec {
                parameters: vec![Parameter {
                    name: "item".into(),
                    default: None,
                    description: None,
                }],
                workflow_spec: WorkflowSpec {
                    containers: vec![step("copy", &[]).with_command(&[
                        "sh",
                        "-c",
                        "copy {{params.item}}",
                    ])],
                    ..Default::default()
                },
                item_group: Some(group),
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("ns".into());
        t.metadata.uid = Some("t-uid".into());
        t
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + minute * 60).unwrap()
    }

    /// A controller applying every decision, with runs that finish `took` minutes after they
    /// are created, failing for the items in `failing`; one look a minute. Returns the runs
    /// created: (minute, item).
    fn simulate(g: &ItemGroup, failing: &[&str], took: i64, minutes: i64) -> Vec<(i64, String)> {
        let t = template(g.clone());
        let mut status: Vec<ItemStatus> = Vec::new();
        let mut runs: Vec<TemplateRun> = Vec::new();
        let mut created = Vec::new();
        for minute in 0..minutes {
            let now = at(minute);
            for r in runs.iter_mut() {
                let started = r.created.unwrap();
                if r.outcome == Outcome::Active
                    && add(started, SignedDuration::from_mins(took)) <= now
                {
                    let item = r.item.clone().unwrap();
                    r.outcome = if failing.contains(&item.as_str()) {
                        Outcome::Failed
                    } else {
                        Outcome::Succeeded
                    };
                    r.finished = Some(add(started, SignedDuration::from_mins(took)));
                }
            }
            let d = decide_item_group(&t, g, &status, &runs, now);
            assert_eq!(d.problem, None);
            for wf in &d.create {
                let item = wf.metadata.annotations.as_ref().unwrap()[ANNOTATION_ITEM].clone();
                created.push((minute, item.clone()));
                runs.push(TemplateRun {
                    name: wf.metadata.name.clone().unwrap(),
                    item: Some(item),
                    outcome: Outcome::Active,
                    created: Some(now),
                    finished: None,
                });
            }
            status = d.items;
        }
        created
    }

    #[test]
    fn items_run_one_at_a_time_in_list_order_then_a_failure_after_its_cool_off() {
        let created = simulate(&group(&["a", "bad", "c"]), &["bad"], 2, 30);
        // a at 0 (done 2), bad at 2 (failed 4), c at 4 (done 6); bad cools off until 14.
        assert_eq!(
            created,
            [
                (0, "a".into()),
                (2, "bad".into()),
                (4, "c".into()),
                (14, "bad".into()),
                (26, "bad".into()),
            ]
        );
    }

    #[test]
    fn a_succeeded_item_is_due_again_after_its_frequency_and_the_oldest_success_goes_first() {
        let mut g = group(&["a", "b"]);
        g.frequency = "10m".into();
        let created = simulate(&g, &[], 1, 25);
        assert_eq!(
            created,
            [
                (0, "a".into()),
                (1, "b".into()),
                (11, "a".into()),
                (12, "b".into()),
                (22, "a".into()),
                (23, "b".into()),
            ],
            "each due 10 minutes after its last success"
        );
    }

    #[test]
    fn concurrency_lets_several_items_run_at_once() {
        let mut g = group(&["a", "b", "c"]);
        g.concurrency = 2;
        let created = simulate(&g, &[], 3, 4);
        assert_eq!(created, [(0, "a".into()), (0, "b".into()), (3, "c".into())]);
    }

    #[test]
    fn the_order_is_never_run_then_oldest_success_then_oldest_failure_then_list_order() {
        let g = group(&["s-old-f-new", "never", "s-old-f-old", "s-new"]);
        let mut g = g;
        g.concurrency = 4;
        g.frequency = "1m".into();
        g.failure_cool_off = None;
        let t = template(g.clone());
        let st = |name: &str, success: Option<i64>, failure: Option<i64>| ItemStatus {
            name: name.into(),
            last_success: success.map(|m| Time(at(m))),
            last_failure: failure.map(|m| Time(at(m))),
            ..Default::default()
        };
        let status = [
            st("s-new", Some(5), None),
            st("s-old-f-new", Some(1), Some(4)),
            st("s-old-f-old", Some(1), Some(2)),
        ];
        let d = decide_item_group(&t, &g, &status, &[], at(60));
        let order: Vec<String> = d
            .create
            .iter()
            .map(|w| w.metadata.annotations.as_ref().unwrap()[ANNOTATION_ITEM].clone())
            .collect();
        assert_eq!(order, ["never", "s-old-f-old", "s-old-f-new", "s-new"]);
        let names: Vec<String> = d.items.iter().map(|s| s.name.clone()).collect();
        assert_eq!(
            names,
            ["s-old-f-new", "never", "s-old-f-old", "s-new"],
            "in list order"
        );
    }

    #[test]
    fn a_run_is_named_from_its_item_and_count_labelled_and_given_the_item() {
        let g = group(&["db/main"]);
        let t = template(g.clone());
        let d = decide_item_group(&t, &g, &[], &[], at(0));
        let wf = &d.create[0];
        let name = wf.metadata.name.clone().unwrap();
        assert_eq!(name, format!("backup-{}-1", item_hash("db/main")));
        let labels = wf.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_TEMPLATE], "backup");
        assert_eq!(labels[LABEL_TRIGGER], TRIGGER_ITEM_GROUP);
        assert_eq!(
            wf.metadata.annotations.as_ref().unwrap()[ANNOTATION_ITEM],
            "db/main"
        );
        assert_eq!(wf.spec.params["item"], "db/main");
        assert_eq!(
            wf.spec.containers[0].command.as_ref().unwrap()[2],
            "copy db/main"
        );
        assert_eq!(
            wf.metadata.owner_references.as_ref().unwrap()[0].uid,
            "t-uid"
        );
        assert_eq!(d.items[0].current_run.as_deref(), Some(name.as_str()));
        assert_eq!(d.items[0].runs, 1);
        assert_eq!(d.requeue_after, Some(Duration::from_secs(30)));
        assert_eq!(run_name(&"t".repeat(300), "x", 7).len(), MAX_NAME_LEN);
    }

    #[test]
    fn a_lost_status_write_adopts_the_run_instead_of_creating_another() {
        let g = group(&["a"]);
        let t = template(g.clone());
        let first = decide_item_group(&t, &g, &[], &[], at(0));
        let name = first.create[0].metadata.name.clone().unwrap();
        // The status write was lost; the run ran and failed meanwhile.
        let runs = [TemplateRun {
            name: name.clone(),
            item: Some("a".into()),
            outcome: Outcome::Failed,
            created: Some(at(0)),
            finished: Some(at(1)),
        }];
        let d = decide_item_group(&t, &g, &[], &runs, at(2));
        assert!(d.create.is_empty(), "in its cool-off: {:?}", d.create);
        assert_eq!(d.items[0].runs, 1);
        assert_eq!(d.items[0].failures_since_success, 1);
        assert_eq!(d.items[0].last_failure, Some(Time(at(1))));
        assert_eq!(d.next_due, Some(at(11)));
        // Decided again, with the status written, nothing changes.
        let again = decide_item_group(&t, &g, &d.items, &runs, at(2));
        assert_eq!(again, d);
    }

    #[test]
    fn a_current_run_not_yet_watched_blocks_the_slot_until_it_is_taken_as_deleted() {
        let g = group(&["a", "b"]);
        let t = template(g.clone());
        let first = decide_item_group(&t, &g, &[], &[], at(0));
        assert_eq!(first.create.len(), 1);
        let soon = decide_item_group(
            &t,
            &g,
            &first.items,
            &[],
            at(0).checked_add(SignedDuration::from_secs(5)).unwrap(),
        );
        assert!(
            soon.create.is_empty(),
            "the run may just not be watched yet"
        );
        assert_eq!(soon.requeue_after, Some(Duration::from_secs(25)));
        let late = decide_item_group(&t, &g, &first.items, &[], at(1));
        assert_eq!(
            late.items[0].current_run.as_deref(),
            Some(run_name("backup", "a", 2).as_str()),
            "the first was deleted before it finished; a runs again"
        );
        assert_eq!(late.items[0].failures_since_success, 0, "counts as nothing");
        assert_eq!(late.items[0].last_failure, None);
        assert_eq!(late.create.len(), 1);
        assert_eq!(
            late.create[0].metadata.annotations.as_ref().unwrap()[ANNOTATION_ITEM],
            "a",
            "a never ran, so it goes first; its next run has the next number"
        );
        assert!(
            late.create[0]
                .metadata
                .name
                .as_ref()
                .unwrap()
                .ends_with("-2")
        );
    }

    #[test]
    fn suspend_and_a_bad_duration_create_nothing_but_still_fold_outcomes() {
        let mut g = group(&["a"]);
        let t = template(g.clone());
        let first = decide_item_group(&t, &g, &[], &[], at(0));
        let runs = [TemplateRun {
            name: first.items[0].current_run.clone().unwrap(),
            item: Some("a".into()),
            outcome: Outcome::Succeeded,
            created: Some(at(0)),
            finished: Some(at(1)),
        }];
        g.suspend = true;
        let d = decide_item_group(&t, &g, &first.items, &runs, at(100));
        assert!(d.create.is_empty());
        assert_eq!(d.items[0].last_success, Some(Time(at(1))));
        assert_eq!(d.next_due, None);
        g.suspend = false;
        g.frequency = "often".into();
        let d = decide_item_group(&t, &g, &first.items, &runs, at(100));
        assert!(d.create.is_empty());
        assert_eq!(d.items[0].last_success, Some(Time(at(1))));
        assert_eq!(
            d.problem.as_deref(),
            Some(
                "itemGroup.frequency: \"often\" is not a duration (unreadable): write one such as 30s, 5m, 1h30m or 2d"
            )
        );
    }

    #[test]
    fn the_unsettled_runs_are_the_current_and_the_next_name() {
        let status = [
            ItemStatus {
                name: "a".into(),
                current_run: Some(run_name("backup", "a", 2)),
                runs: 2,
                ..Default::default()
            },
            ItemStatus {
                name: "b".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            unsettled_runs("backup", &status),
            [
                run_name("backup", "a", 2),
                run_name("backup", "a", 3),
                run_name("backup", "b", 1)
            ]
        );
    }

    #[test]
    fn a_success_resets_the_failures() {
        let g = group(&["a"]);
        let t = template(g.clone());
        let run = |n: u32, outcome, finished| TemplateRun {
            name: run_name("backup", "a", n),
            item: Some("a".into()),
            outcome,
            created: Some(at(0)),
            finished: Some(at(finished)),
        };
        let status = [ItemStatus {
            name: "a".into(),
            failures_since_success: 3,
            current_run: Some(run_name("backup", "a", 4)),
            runs: 4,
            ..Default::default()
        }];
        let d = decide_item_group(&t, &g, &status, &[run(4, Outcome::Succeeded, 7)], at(8));
        assert_eq!(d.items[0].failures_since_success, 0);
        assert_eq!(d.items[0].last_success, Some(Time(at(7))));
        assert_eq!(d.next_due, Some(at(67)));
        assert_eq!(d.requeue_after, Some(Duration::from_secs(59 * 60)));
    }

    proptest! {
        /// Whatever the outcomes and durations: never more active runs than `concurrency`, an
        /// item never has two active runs, never a run name twice, no failed item rerun within
        /// its cool-off nor a succeeded one within its frequency, and deciding again with the
        /// applied decision creates nothing.
        #[test]
        fn the_group_keeps_its_rules(
            n_items in 1usize..6,
            failing in proptest::collection::vec(any::<bool>(), 6),
            concurrency in 1u32..4,
            freq_min in 1i64..20,
            cool_min in 0i64..20,
            took in 0i64..5,
        ) {
            let names: Vec<String> = (0..n_items).map(|i| format!("i{i}")).collect();
            let mut g = group(&names.iter().map(String::as_str).collect::<Vec<_>>());
            g.concurrency = concurrency;
            g.frequency = format!("{freq_min}m");
            g.failure_cool_off = Some(format!("{cool_min}m"));
            let t = template(g.clone());
            let mut status: Vec<ItemStatus> = Vec::new();
            let mut runs: Vec<TemplateRun> = Vec::new();
            for minute in 0..60 {
                let now = at(minute);
                for r in runs.iter_mut() {
                    let end = add(r.created.unwrap(), SignedDuration::from_mins(took));
                    if r.outcome == Outcome::Active && end <= now {
                        let i: usize = r.item.as_ref().unwrap()[1..].parse().unwrap();
                        r.outcome = if failing[i] { Outcome::Failed } else { Outcome::Succeeded };
                        r.finished = Some(end);
                    }
                }
                let d = decide_item_group(&t, &g, &status, &runs, now);
                for wf in &d.create {
                    let item = wf.metadata.annotations.as_ref().unwrap()[ANNOTATION_ITEM].clone();
                    let name = wf.metadata.name.clone().unwrap();
                    prop_assert!(!runs.iter().any(|r| r.name == name), "{} twice", name);
                    prop_assert!(!runs.iter().any(|r| r.item.as_ref() == Some(&item) && r.outcome == Outcome::Active));
                    let prev = status.iter().find(|s| s.name == item);
                    if let Some(f) = prev.and_then(|s| s.last_failure.as_ref()) {
                        prop_assert!(add(f.0, SignedDuration::from_mins(cool_min)) <= now);
                    }
                    if let Some(s) = prev.and_then(|s| s.last_success.as_ref()) {
                        prop_assert!(add(s.0, SignedDuration::from_mins(freq_min)) <= now);
                    }
                    runs.push(TemplateRun {
                        name,
                        item: Some(item),
                        outcome: Outcome::Active,
                        created: Some(now),
                        finished: None,
                    });
                }
                let active = runs.iter().filter(|r| r.outcome == Outcome::Active).count();
                prop_assert!(active <= concurrency as usize);
                let again = decide_item_group(&t, &g, &d.items, &runs, now);
                prop_assert!(again.create.is_empty());
                prop_assert_eq!(&again.items, &d.items);
                status = d.items;
            }
            // Every item ran at least once within the hour.
            for name in &names {
                prop_assert!(runs.iter().any(|r| r.item.as_ref() == Some(name)));
            }
        }
    }
}
