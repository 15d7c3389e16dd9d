//! The run history of a WorkflowTemplate, as one pure decision: (the template's history fields,
//! its runs, now) -> the finished runs to delete, the template's recent runs, the next wake-up.
//!
//! - `successfulRunsHistoryLimit` / `failedRunsHistoryLimit` (CronJob's meaning): of the
//!   template's finished runs of that phase, the newest N (by finish time) are kept and the
//!   older ones deleted. They count every run labelled with the template, whatever created it
//!   (schedule, submit, item group, resource trigger). Unset keeps all; 0 keeps none.
//! - `ttlSecondsAfterFinished`: a finished run is deleted that long after it finished; the
//!   decision asks to be woken at the earliest such time still ahead.
//! - An active run is never deleted, nor a `protected` one: a run of an item group whose outcome
//!   the template's status, as read, has not folded in yet (`core::item_group::unsettled_runs`).
//!   It goes at a later reconcile, once the written status is what the controller reads, so a
//!   reconcile from an older view of the template can neither lose its outcome nor create it
//!   again. The per-item status, not the runs, is the truth once runs go.
//! - `status.recentRuns`: the names of the template's runs that remain, newest (by creation)
//!   first, at most [`RECENT_RUNS`].

use std::time::Duration;

use jiff::Timestamp;
use kwf_api::item_group::ANNOTATION_ITEM;
use kwf_api::workflow_template::WorkflowTemplateSpec;
use kwf_api::{Workflow, WorkflowPhase};

/// Most names in `status.recentRuns`.
pub const RECENT_RUNS: usize = 10;

/// How a run of the template stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Active,
    Succeeded,
    Failed,
}

/// One run of the template, as the history and the item group see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRun {
    pub name: String,
    /// Its `kwf.dev/item`, if an item group created it.
    pub item: Option<String>,
    pub outcome: Outcome,
    pub created: Option<Timestamp>,
    /// When it Completed or Failed.
    pub finished: Option<Timestamp>,
}

impl TemplateRun {
    /// The run as the watch shows it.
    pub fn of(wf: &Workflow) -> TemplateRun {
        let status = wf.status.as_ref();
        let outcome = match status.and_then(|s| s.phase) {
            Some(WorkflowPhase::Completed) => Outcome::Succeeded,
            Some(WorkflowPhase::Failed) => Outcome::Failed,
            _ => Outcome::Active,
        };
        let finished = match outcome {
            Outcome::Active => None,
            _ => status
                .and_then(|s| s.finished_at.as_ref().or(s.last_transition_time.as_ref()))
                .map(|t| t.0),
        };
        TemplateRun {
            name: wf.metadata.name.clone().unwrap_or_default(),
            item: wf
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_ITEM))
                .cloned(),
            outcome,
            created: wf.metadata.creation_timestamp.as_ref().map(|t| t.0),
            finished,
        }
    }

    /// When it finished, for a finished run (its creation when the finish went unrecorded).
    fn finished_at(&self) -> Option<Timestamp> {
        match self.outcome {
            Outcome::Active => None,
            _ => self.finished.or(self.created),
        }
    }
}

/// The history fields of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryPolicy {
    pub successful_limit: Option<u32>,
    pub failed_limit: Option<u32>,
    pub ttl_seconds: Option<i64>,
}

impl HistoryPolicy {
    pub fn of(spec: &WorkflowTemplateSpec) -> HistoryPolicy {
        HistoryPolicy {
            successful_limit: spec.successful_runs_history_limit,
            failed_limit: spec.failed_runs_history_limit,
            ttl_seconds: spec.ttl_seconds_after_finished,
        }
    }
}

/// What the history asks for now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryDecision {
    /// Finished runs to delete, oldest first.
    pub delete: Vec<String>,
    /// `status.recentRuns`.
    pub recent_runs: Vec<String>,
    /// The next time a run's TTL ends; none: only an event can change the answer.
    pub next_expiry: Option<Timestamp>,
}

/// The decision; see the module's documentation.
pub fn decide_history(
    policy: HistoryPolicy,
    runs: &[TemplateRun],
    protected: &[String],
    now: Timestamp,
) -> HistoryDecision {
    let mut delete: Vec<&TemplateRun> = Vec::new();
    let mut next_expiry: Option<Timestamp> = None;
    if let Some(ttl) = policy.ttl_seconds {
        let ttl = jiff::SignedDuration::from_secs(ttl.max(0));
        for run in runs {
            let Some(finished) = run.finished_at() else {
                continue;
            };
            let expiry = finished.checked_add(ttl).unwrap_or(Timestamp::MAX);
            if expiry <= now {
                delete.push(run);
            } else {
                next_expiry = Some(next_expiry.map_or(expiry, |e| e.min(expiry)));
            }
        }
    }
    for (outcome, limit) in [
        (Outcome::Succeeded, policy.successful_limit),
        (Outcome::Failed, policy.failed_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut finished: Vec<&TemplateRun> =
            runs.iter().filter(|r| r.outcome == outcome).collect();
        // Newest first; the name breaks ties so the answer does not depend on the list order.
        finished.sort_by(|a, b| (b.finished_at(), &b.name).cmp(&(a.finished_at(), &a.name)));
        for run in finished.into_iter().skip(limit as usize) {
            if !delete.iter().any(|d| d.name == run.name) {
                delete.push(run);
            }
        }
    }
    delete.retain(|r| !protected.contains(&r.name));
    delete.sort_by(|a, b| (a.finished_at(), &a.name).cmp(&(b.finished_at(), &b.name)));
    let mut remaining: Vec<&TemplateRun> = runs
        .iter()
        .filter(|r| !delete.iter().any(|d| d.name == r.name))
        .collect();
    remaining.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
    HistoryDecision {
        delete: delete.into_iter().map(|r| r.name.clone()).collect(),
        recent_runs: remaining
            .into_iter()
            .take(RECENT_RUNS)
            .map(|r| r.name.clone())
            .collect(),
        next_expiry,
    }
}

/// `status.lastRun`: the newest of `runs` (which hold the runs this reconcile created), else
/// what the status said. Never the status as read when runs are shown: a reconcile from a
/// template whose status lags its own last write (the template and run watches are not
/// ordered) would write a stale `lastRun`, or none. A run created by the reconcile before and
/// not shown yet may be named one reconcile late; its watch event brings that reconcile.
pub fn last_run(previous: Option<&str>, runs: &[TemplateRun]) -> Option<String> {
    runs.iter()
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
        .map(|r| r.name.clone())
        .or_else(|| previous.map(str::to_owned))
}

/// From `now` to `at`, at least a second (a wake-up at once would spin on clock skew).
pub fn wait_until(now: Timestamp, at: Timestamp) -> Duration {
    let secs = at.duration_since(now).as_secs_f64().max(1.0);
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod last_run_tests {
    use super::*;

    fn run(name: &str, created: i64) -> TemplateRun {
        TemplateRun {
            name: name.into(),
            item: None,
            outcome: Outcome::Active,
            created: Some(Timestamp::from_second(created).unwrap()),
            finished: None,
        }
    }

    #[test]
    fn the_newest_run_shown_is_the_last_run() {
        let runs = [run("old", 10), run("new", 20)];
        assert_eq!(last_run(None, &runs).as_deref(), Some("new"));
        assert_eq!(last_run(Some("old"), &runs).as_deref(), Some("new"));
    }

    #[test]
    fn a_stale_status_does_not_win_over_the_runs_shown() {
        let runs = [run("r4", 40), run("r5", 50)];
        assert_eq!(last_run(Some("r3"), &runs).as_deref(), Some("r5"));
    }

    #[test]
    fn without_runs_the_status_is_kept() {
        assert_eq!(last_run(Some("gone"), &[]).as_deref(), Some("gone"));
        assert_eq!(last_run(None, &[]), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + minute * 60).unwrap()
    }

    fn run(name: &str, outcome: Outcome, created: i64, finished: Option<i64>) -> TemplateRun {
        TemplateRun {
            name: name.to_owned(),
            item: None,
            outcome,
            created: Some(at(created)),
            finished: finished.map(at),
        }
    }

    #[test]
    fn no_policy_deletes_nothing_and_lists_the_newest_runs() {
        let runs: Vec<TemplateRun> = (0..12)
            .map(|i| run(&format!("r{i:02}"), Outcome::Succeeded, i, Some(i + 1)))
            .collect();
        let d = decide_history(HistoryPolicy::default(), &runs, &[], at(100));
        assert!(d.delete.is_empty());
        assert_eq!(d.recent_runs.len(), RECENT_RUNS);
        assert_eq!(d.recent_runs[0], "r11");
        assert_eq!(d.recent_runs[9], "r02");
        assert_eq!(d.next_expiry, None);
    }

    #[test]
    fn limits_keep_the_newest_finished_of_each_phase_and_never_an_active_run() {
        let runs = [
            run("s1", Outcome::Succeeded, 0, Some(1)),
            run("f1", Outcome::Failed, 1, Some(2)),
            run("s2", Outcome::Succeeded, 2, Some(3)),
            run("s3", Outcome::Succeeded, 3, Some(9)),
            run("f2", Outcome::Failed, 4, Some(5)),
            run("a1", Outcome::Active, 5, None),
        ];
        let policy = HistoryPolicy {
            successful_limit: Some(2),
            failed_limit: Some(1),
            ttl_seconds: None,
        };
        let d = decide_history(policy, &runs, &[], at(10));
        assert_eq!(
            d.delete,
            ["s1", "f1"],
            "the oldest beyond each limit, oldest first"
        );
        assert_eq!(d.recent_runs, ["a1", "f2", "s3", "s2"]);
        let none = HistoryPolicy {
            successful_limit: Some(0),
            failed_limit: Some(0),
            ttl_seconds: None,
        };
        let d = decide_history(none, &runs, &[], at(10));
        assert_eq!(d.delete, ["s1", "f1", "s2", "f2", "s3"]);
        assert_eq!(d.recent_runs, ["a1"]);
    }

    #[test]
    fn the_ttl_deletes_runs_that_finished_long_enough_ago_and_wakes_for_the_next() {
        let runs = [
            run("old", Outcome::Failed, 0, Some(1)),
            run("new", Outcome::Succeeded, 5, Some(8)),
            run("active", Outcome::Active, 9, None),
        ];
        let policy = HistoryPolicy {
            ttl_seconds: Some(300),
            ..Default::default()
        };
        let d = decide_history(policy, &runs, &[], at(6));
        assert_eq!(d.delete, ["old"]);
        assert_eq!(d.next_expiry, Some(at(13)));
        assert_eq!(d.recent_runs, ["active", "new"]);
        let later = decide_history(policy, &runs, &[], at(13));
        assert_eq!(later.delete, ["old", "new"]);
        assert_eq!(later.next_expiry, None);
        let guarded = decide_history(policy, &runs, &["old".to_owned()], at(13));
        assert_eq!(guarded.delete, ["new"], "a protected run stays");
        assert_eq!(guarded.recent_runs, ["active", "old"]);
    }

    #[test]
    fn a_finished_run_without_a_finish_time_ages_from_its_creation() {
        let runs = [run("r", Outcome::Failed, 0, None)];
        let policy = HistoryPolicy {
            ttl_seconds: Some(60),
            ..Default::default()
        };
        assert_eq!(decide_history(policy, &runs, &[], at(1)).delete, ["r"]);
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Active),
            Just(Outcome::Succeeded),
            Just(Outcome::Failed)
        ]
    }

    proptest! {
        /// Active runs stay; at most `limit` finished runs of each phase stay, and they are the
        /// newest; an expired run goes; applying the decision and deciding again deletes nothing;
        /// the list order does not matter.
        #[test]
        fn the_decision_keeps_the_newest_and_is_idempotent(
            specs in proptest::collection::vec((outcome(), 0i64..50, 0i64..20), 0..30),
            successful_limit in proptest::option::of(0u32..5),
            failed_limit in proptest::option::of(0u32..5),
            ttl_seconds in proptest::option::of(0i64..3000),
            now in 0i64..100,
        ) {
            let runs: Vec<TemplateRun> = specs
                .iter()
                .enumerate()
                .map(|(i, (o, created, took))| {
                    let finished = (*o != Outcome::Active).then_some(created + took);
                    run(&format!("r{i}"), *o, *created, finished)
                })
                .collect();
            let policy = HistoryPolicy { successful_limit, failed_limit, ttl_seconds };
            let now = at(now);
            let d = decide_history(policy, &runs, &[], now);
            let kept: Vec<&TemplateRun> =
                runs.iter().filter(|r| !d.delete.contains(&r.name)).collect();
            for r in &runs {
                if r.outcome == Outcome::Active {
                    prop_assert!(!d.delete.contains(&r.name));
                }
            }
            for (o, limit) in [(Outcome::Succeeded, successful_limit), (Outcome::Failed, failed_limit)] {
                if let Some(limit) = limit {
                    let of_phase: Vec<&&TemplateRun> = kept.iter().filter(|r| r.outcome == o).collect();
                    prop_assert!(of_phase.len() <= limit as usize);
                    // A deleted run of the phase is never newer than a kept one, unless its TTL ended.
                    for gone in runs.iter().filter(|r| r.outcome == o && d.delete.contains(&r.name)) {
                        let expired = ttl_seconds.is_some_and(|t| {
                            gone.finished_at().unwrap().checked_add(jiff::SignedDuration::from_secs(t)).unwrap() <= now
                        });
                        if !expired {
                            for k in &of_phase {
                                prop_assert!((k.finished_at(), &k.name) > (gone.finished_at(), &gone.name));
                            }
                        }
                    }
                }
            }
            if let Some(ttl) = ttl_seconds {
                for k in &kept {
                    if let Some(f) = k.finished_at() {
                        let expiry = f.checked_add(jiff::SignedDuration::from_secs(ttl)).unwrap();
                        prop_assert!(expiry > now);
                        prop_assert!(d.next_expiry.is_some_and(|n| n <= expiry));
                    }
                }
            }
            prop_assert!(d.recent_runs.len() <= RECENT_RUNS.min(kept.len()));
            let kept_runs: Vec<TemplateRun> = kept.iter().map(|r| (*r).clone()).collect();
            let again = decide_history(policy, &kept_runs, &[], now);
            prop_assert!(again.delete.is_empty(), "{:?}", again.delete);
            prop_assert_eq!(&again.recent_runs, &d.recent_runs);
            let mut reversed = runs.clone();
            reversed.reverse();
            prop_assert_eq!(&decide_history(policy, &reversed, &[], now), &d);
            // A protected run is never deleted, and protecting one deletes nothing else.
            if let Some(first) = d.delete.first() {
                let guarded = decide_history(policy, &runs, std::slice::from_ref(first), now);
                prop_assert!(!guarded.delete.contains(first));
                prop_assert_eq!(&guarded.delete[..], &d.delete[1..]);
            }
        }
    }
}
