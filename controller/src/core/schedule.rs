//! The schedule of a WorkflowTemplate, as one pure decision: (schedule, what was scheduled
//! last, the template's runs, now) -> the run to create, the runs to delete, the next wake-up.
//!
//! CronJob's semantics (batch/v1, controller v2), with its field names:
//! - Only the **latest** due time since the last one scheduled is ever run: after a downtime of
//!   many periods, one catch-up run, never a backlog. With `startingDeadlineSeconds` a time older
//!   than the deadline is dropped.
//! - A run is named `<template>-<scheduled time in Unix minutes>`: the same time always gives the
//!   same name, so a restart, a second replica or a lost status write never creates it twice (the
//!   shell takes AlreadyExists as success), and a run of that name already there means done.
//! - `concurrencyPolicy`: `Allow` starts it anyway; `Forbid` leaves the time due until the
//!   active runs finish (then it starts, if still within the deadline: CronJob's behaviour);
//!   `Replace` deletes the active runs and starts it.
//! - `suspend` starts nothing; on resume the latest due time within the deadline runs.
//! - DST: croner's rules (the Open Cron Pattern Specification): in a skipped hour a fixed time
//!   (`30 2 * * *`) runs at the first minute after the gap, and `*` or step times in the gap do
//!   not exist; in a repeated hour a fixed time runs once (the first pass) and `*`/step times run
//!   in both passes. Each run is named from its real instant, so the two passes never collide.
//!
//! What was scheduled last is the later of the template's `status.lastScheduleTime` and the
//! newest `kwf.dev/scheduled-time` of its runs, so a status write lost in a crash does not make a
//! time due again.

use std::time::Duration;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use kwf_api::workflow_template::{ConcurrencyPolicy, Schedule};

/// One run of the template, as the schedule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRunState {
    pub name: String,
    /// Its `kwf.dev/scheduled-time`, if a schedule created it.
    pub scheduled: Option<Timestamp>,
    /// Not yet Completed or Failed.
    pub active: bool,
}

/// What the schedule asks for now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleDecision {
    /// The run to create: its name and the time it is for.
    pub create: Option<(String, Timestamp)>,
    /// Active runs to delete first (Replace).
    pub delete: Vec<String>,
    /// The new `status.lastScheduleTime`.
    pub last_schedule_time: Option<Timestamp>,
    /// The next time due after now (`status.nextScheduleTime`), none when suspended or invalid.
    pub next_schedule_time: Option<Timestamp>,
    /// When to look again (the next time due); none: only an event can change the answer.
    pub requeue_after: Option<Duration>,
    /// What is wrong with the schedule, for the template's status (one line).
    pub problem: Option<String>,
}

/// The name of the run of `template` scheduled for `at`.
pub fn run_name(template: &str, at: Timestamp) -> String {
    format!("{template}-{}", at.as_second().div_euclid(60))
}

/// The decision; see the module's documentation. `created` is the template's creation time:
/// nothing before it is due.
pub fn decide_schedule(
    template: &str,
    schedule: &Schedule,
    created: Timestamp,
    last_scheduled: Option<Timestamp>,
    runs: &[ScheduledRunState],
    now: Timestamp,
) -> ScheduleDecision {
    let (cron, zone) = match parse(schedule) {
        Ok(parsed) => parsed,
        Err(problem) => {
            return ScheduleDecision {
                last_schedule_time: last_scheduled,
                problem: Some(problem),
                ..Default::default()
            };
        }
    };
    let last = runs
        .iter()
        .filter_map(|r| r.scheduled)
        .chain(last_scheduled)
        .max();
    let mut decision = ScheduleDecision {
        last_schedule_time: last,
        ..Default::default()
    };
    if schedule.suspend {
        return decision;
    }
    let next = next_after(&cron, &zone, now);
    decision.next_schedule_time = next;
    decision.requeue_after = next.map(|t| wait_until(now, t));

    let Some(due) = latest_due(&cron, &zone, now) else {
        return decision;
    };
    let earliest = last.unwrap_or(created).max(created);
    if due <= earliest {
        return decision;
    }
    if let Some(deadline) = schedule.starting_deadline_seconds
        && now.duration_since(due).as_secs() > deadline
    {
        return decision;
    }
    let name = run_name(template, due);
    if runs.iter().any(|r| r.name == name) {
        // Created before (the status write may have been lost): done.
        decision.last_schedule_time = Some(due);
        return decision;
    }
    let active: Vec<String> = runs
        .iter()
        .filter(|r| r.active)
        .map(|r| r.name.clone())
        .collect();
    match schedule.concurrency_policy {
        ConcurrencyPolicy::Forbid if !active.is_empty() => {
            // Still due: the end of the active run triggers the next decision.
            return decision;
        }
        ConcurrencyPolicy::Replace => decision.delete = active,
        _ => {}
    }
    decision.create = Some((name, due));
    decision.last_schedule_time = Some(due);
    decision
}

fn parse(schedule: &Schedule) -> Result<(Cron, TimeZone), String> {
    let cron =
        kwf_api::cron::parse_cron(&schedule.cron).map_err(|e| format!("schedule.cron: {e}"))?;
    let zone = kwf_api::cron::time_zone(schedule.time_zone.as_deref())
        .map_err(|e| format!("schedule.timeZone: {e}"))?;
    Ok((cron, zone))
}

/// The latest time of the schedule at or before `now`.
fn latest_due(cron: &Cron, zone: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let now = Zoned::new(now, zone.clone());
    cron.find_previous_occurrence(&now, true)
        .ok()
        .map(|z| z.timestamp())
}

/// The first time of the schedule after `now`.
fn next_after(cron: &Cron, zone: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let now = Zoned::new(now, zone.clone());
    cron.find_next_occurrence(&now, false)
        .ok()
        .map(|z| z.timestamp())
}

/// From `now` to `at`, at least a second (a wake-up at once would spin on clock skew).
fn wait_until(now: Timestamp, at: Timestamp) -> Duration {
    let secs = at.duration_since(now).as_secs_f64().max(1.0);
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("an RFC 3339 time")
    }

    fn every(cron: &str) -> Schedule {
        Schedule {
            cron: cron.to_owned(),
            ..Default::default()
        }
    }

    fn run(name: &str, scheduled: Option<Timestamp>, active: bool) -> ScheduledRunState {
        ScheduledRunState {
            name: name.to_owned(),
            scheduled,
            active,
        }
    }

    const CREATED: &str = "2026-01-01T00:00:00Z";

    /// Runs the decision once a `step` from `from` (when the template was created) to `to`
    /// (exclusive), as a controller that applies every decision would, and returns the
    /// scheduled times of the runs it created.
    fn simulate(
        schedule: &Schedule,
        from: Timestamp,
        to: Timestamp,
        step: jiff::SignedDuration,
    ) -> Vec<Timestamp> {
        let mut runs: Vec<ScheduledRunState> = Vec::new();
        let mut last = None;
        let mut now = from;
        while now < to {
            let d = decide_schedule("t", schedule, from, last, &runs, now);
            assert!(d.problem.is_none());
            if let Some((name, at)) = d.create {
                assert!(at <= now, "never ahead of time");
                runs.push(run(&name, Some(at), false));
            }
            last = d.last_schedule_time;
            now = now.checked_add(step).unwrap();
        }
        runs.iter().filter_map(|r| r.scheduled).collect()
    }

    #[test]
    fn an_every_minute_schedule_creates_one_run_per_minute() {
        let times = simulate(
            &every("* * * * *"),
            ts("2026-05-01T09:59:59Z"),
            ts("2026-05-01T10:10:00Z"),
            jiff::SignedDuration::from_secs(7),
        );
        assert_eq!(times.len(), 10, "{times:?}");
        assert_eq!(times[0], ts("2026-05-01T10:00:00Z"));
        assert_eq!(times[9], ts("2026-05-01T10:09:00Z"));
    }

    #[test]
    fn a_run_is_named_from_its_time_in_minutes() {
        let d = decide_schedule(
            "nightly",
            &every("*/5 * * * *"),
            ts(CREATED),
            Some(ts("2026-05-01T09:55:00Z")),
            &[],
            ts("2026-05-01T10:01:30Z"),
        );
        let at = ts("2026-05-01T10:00:00Z");
        assert_eq!(
            d.create,
            Some((format!("nightly-{}", at.as_second() / 60), at))
        );
        assert_eq!(d.last_schedule_time, Some(at));
        assert_eq!(d.next_schedule_time, Some(ts("2026-05-01T10:05:00Z")));
        assert_eq!(d.requeue_after, Some(Duration::from_secs(210)));
    }

    #[test]
    fn after_a_downtime_only_the_latest_missed_time_runs() {
        let d = decide_schedule(
            "t",
            &every("0 * * * *"),
            ts(CREATED),
            Some(ts("2026-05-01T01:00:00Z")),
            &[],
            ts("2026-05-01T09:30:00Z"),
        );
        assert_eq!(d.create.map(|c| c.1), Some(ts("2026-05-01T09:00:00Z")));
        // The next look, having created it: nothing more.
        let again = decide_schedule(
            "t",
            &every("0 * * * *"),
            ts(CREATED),
            d.last_schedule_time,
            &[],
            ts("2026-05-01T09:31:00Z"),
        );
        assert_eq!(again.create, None);
    }

    #[test]
    fn a_lost_status_write_does_not_create_a_run_twice() {
        let at = ts("2026-05-01T10:00:00Z");
        let runs = [run(&run_name("t", at), Some(at), true)];
        let d = decide_schedule(
            "t",
            &every("0 * * * *"),
            ts(CREATED),
            None,
            &runs,
            ts("2026-05-01T10:20:00Z"),
        );
        assert_eq!(d.create, None);
        assert_eq!(d.last_schedule_time, Some(at));
    }

    #[test]
    fn a_time_older_than_the_starting_deadline_is_dropped() {
        let mut s = every("0 * * * *");
        s.starting_deadline_seconds = Some(300);
        let last = Some(ts("2026-05-01T09:00:00Z"));
        let late = decide_schedule("t", &s, ts(CREATED), last, &[], ts("2026-05-01T10:05:01Z"));
        assert_eq!(late.create, None);
        assert_eq!(late.last_schedule_time, last, "dropped, not recorded");
        assert_eq!(late.requeue_after, Some(Duration::from_secs(3299)));
        let in_time = decide_schedule("t", &s, ts(CREATED), last, &[], ts("2026-05-01T10:05:00Z"));
        assert!(in_time.create.is_some());
    }

    #[test]
    fn nothing_before_the_template_existed_is_due() {
        let d = decide_schedule(
            "t",
            &every("0 * * * *"),
            ts("2026-05-01T10:30:00Z"),
            None,
            &[],
            ts("2026-05-01T10:45:00Z"),
        );
        assert_eq!(d.create, None);
        assert_eq!(d.next_schedule_time, Some(ts("2026-05-01T11:00:00Z")));
    }

    #[test]
    fn forbid_waits_for_the_active_run_and_replace_deletes_it() {
        let active = [run("t-1", Some(ts("2026-05-01T09:00:00Z")), true)];
        let now = ts("2026-05-01T10:00:10Z");
        let mut s = every("0 * * * *");
        s.concurrency_policy = ConcurrencyPolicy::Forbid;
        let forbid = decide_schedule("t", &s, ts(CREATED), None, &active, now);
        assert_eq!(forbid.create, None);
        assert_eq!(forbid.last_schedule_time, Some(ts("2026-05-01T09:00:00Z")));
        let finished = [run("t-1", Some(ts("2026-05-01T09:00:00Z")), false)];
        let later = ts("2026-05-01T10:20:00Z");
        let after = decide_schedule("t", &s, ts(CREATED), None, &finished, later);
        assert_eq!(
            after.create.map(|c| c.1),
            Some(ts("2026-05-01T10:00:00Z")),
            "still due once the run ended"
        );

        s.concurrency_policy = ConcurrencyPolicy::Replace;
        let replace = decide_schedule("t", &s, ts(CREATED), None, &active, now);
        assert_eq!(replace.delete, ["t-1"]);
        assert!(replace.create.is_some());

        s.concurrency_policy = ConcurrencyPolicy::Allow;
        let allow = decide_schedule("t", &s, ts(CREATED), None, &active, now);
        assert!(allow.delete.is_empty());
        assert!(allow.create.is_some());
    }

    #[test]
    fn suspend_creates_nothing_and_resume_catches_up_once() {
        let mut s = every("*/10 * * * *");
        s.suspend = true;
        let last = Some(ts("2026-05-01T08:00:00Z"));
        let now = ts("2026-05-01T10:05:00Z");
        let d = decide_schedule("t", &s, ts(CREATED), last, &[], now);
        assert_eq!(
            (d.create, d.next_schedule_time, d.requeue_after),
            (None, None, None)
        );
        s.suspend = false;
        let d = decide_schedule("t", &s, ts(CREATED), last, &[], now);
        assert_eq!(d.create.map(|c| c.1), Some(ts("2026-05-01T10:00:00Z")));
    }

    #[test]
    fn a_bad_expression_or_zone_is_one_line_and_schedules_nothing() {
        let d = decide_schedule(
            "t",
            &every("61 * * * *"),
            ts(CREATED),
            None,
            &[],
            ts("2026-05-01T10:00:00Z"),
        );
        let problem = d.problem.unwrap();
        assert!(
            problem.starts_with("schedule.cron: invalid cron expression \"61 * * * *\""),
            "{problem}"
        );
        assert_eq!((d.create, d.requeue_after), (None, None));
        let mut s = every("* * * * *");
        s.time_zone = Some("Europe/Nowhere".into());
        let d = decide_schedule("t", &s, ts(CREATED), None, &[], ts("2026-05-01T10:00:00Z"));
        assert_eq!(
            d.problem.as_deref(),
            Some(
                "schedule.timeZone: unknown time zone \"Europe/Nowhere\": use an IANA name such as \"Europe/Berlin\" or \"UTC\""
            )
        );
    }

    fn berlin(cron: &str) -> Schedule {
        Schedule {
            cron: cron.to_owned(),
            time_zone: Some("Europe/Berlin".to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn spring_forward_in_berlin_runs_a_fixed_time_in_the_gap_once_right_after_it() {
        // 2026-03-29 02:00 CET becomes 03:00 CEST: 02:30 does not exist that day.
        let times = simulate(
            &berlin("30 2 * * *"),
            ts("2026-03-27T12:00:00Z"),
            ts("2026-03-31T12:00:00Z"),
            jiff::SignedDuration::from_secs(60),
        );
        assert_eq!(
            times,
            [
                ts("2026-03-28T01:30:00Z"), // 02:30 CET
                ts("2026-03-29T01:00:00Z"), // 03:00 CEST, the first minute after the gap
                ts("2026-03-30T00:30:00Z"), // 02:30 CEST
                ts("2026-03-31T00:30:00Z"),
            ]
        );
    }

    #[test]
    fn spring_forward_in_berlin_skips_interval_times_in_the_gap() {
        let times = simulate(
            &berlin("*/30 * * * *"),
            ts("2026-03-28T23:59:00Z"), // 00:59 CET
            ts("2026-03-29T01:31:00Z"), // 03:31 CEST
            jiff::SignedDuration::from_secs(60),
        );
        // 01:00, 01:30 CET, then 03:00, 03:30 CEST: nothing in the hour that does not exist.
        assert_eq!(
            times,
            [
                ts("2026-03-29T00:00:00Z"),
                ts("2026-03-29T00:30:00Z"),
                ts("2026-03-29T01:00:00Z"),
                ts("2026-03-29T01:30:00Z"),
            ]
        );
    }

    #[test]
    fn fall_back_in_berlin_runs_a_fixed_time_once_and_interval_times_in_both_passes() {
        // 2026-10-25 03:00 CEST becomes 02:00 CET: 02:00-02:59 happens twice.
        let fixed = simulate(
            &berlin("30 2 * * *"),
            ts("2026-10-24T12:00:00Z"),
            ts("2026-10-26T12:00:00Z"),
            jiff::SignedDuration::from_secs(60),
        );
        assert_eq!(
            fixed,
            [ts("2026-10-25T00:30:00Z"), ts("2026-10-26T01:30:00Z")],
            "02:30 CEST on the day of the change, 02:30 CET the day after"
        );
        let interval = simulate(
            &berlin("*/30 2 * * *"),
            ts("2026-10-24T23:00:00Z"),
            ts("2026-10-25T03:00:00Z"),
            jiff::SignedDuration::from_secs(60),
        );
        assert_eq!(
            interval,
            [
                ts("2026-10-25T00:00:00Z"), // 02:00 CEST
                ts("2026-10-25T00:30:00Z"), // 02:30 CEST
                ts("2026-10-25T01:00:00Z"), // 02:00 CET
                ts("2026-10-25T01:30:00Z"), // 02:30 CET
            ]
        );
        let names: std::collections::HashSet<String> =
            interval.iter().map(|t| run_name("t", *t)).collect();
        assert_eq!(names.len(), 4, "the two passes never share a name");
    }

    const CRONS: &[&str] = &[
        "* * * * *",
        "*/7 * * * *",
        "0 * * * *",
        "15 3 * * *",
        "0 0 * * MON",
        "30 2 * * *",
    ];
    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
    ];

    proptest! {
        /// At most one run, for a time of the schedule that is due (after the last one, not
        /// after now), named from it; applying the decision and deciding again creates nothing;
        /// the wake-up is the next time of the schedule.
        #[test]
        fn the_decision_is_idempotent_and_never_early(
            cron in proptest::sample::select(CRONS),
            zone in proptest::sample::select(ZONES),
            last_offset in 0i64..(40 * 24 * 3600),
            gap in 0i64..(3 * 24 * 3600),
            deadline in proptest::option::of(1i64..7200),
        ) {
            let created = ts(CREATED);
            let last = created.checked_add(jiff::SignedDuration::from_secs(last_offset)).unwrap();
            let now = last.checked_add(jiff::SignedDuration::from_secs(gap)).unwrap();
            let schedule = Schedule {
                cron: cron.to_owned(),
                time_zone: Some(zone.to_owned()),
                starting_deadline_seconds: deadline,
                ..Default::default()
            };
            let d = decide_schedule("t", &schedule, created, Some(last), &[], now);
            prop_assert!(d.problem.is_none());
            let next = d.next_schedule_time.expect("a next time");
            prop_assert!(next > now);
            let wake = now.checked_add(jiff::SignedDuration::try_from(d.requeue_after.unwrap()).unwrap()).unwrap();
            prop_assert!(wake.duration_since(next).abs().as_secs() <= 1);
            if let Some((name, at)) = &d.create {
                prop_assert!(*at > last && *at <= now);
                prop_assert_eq!(name, &run_name("t", *at));
                if let Some(deadline) = deadline {
                    prop_assert!(now.duration_since(*at).as_secs() <= deadline);
                }
                // No time of the schedule lies between the created one and now.
                let (c, z) = parse(&schedule).unwrap();
                prop_assert_eq!(latest_due(&c, &z, now), Some(*at));
                let runs = [run(name, Some(*at), true)];
                let again = decide_schedule("t", &schedule, created, d.last_schedule_time, &runs, now);
                prop_assert_eq!(again.create, None);
                let lost_status = decide_schedule("t", &schedule, created, Some(last), &runs, now);
                prop_assert_eq!(lost_status.create, None);
            }
        }
    }
}
