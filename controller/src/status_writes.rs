//! The status this process wrote and the watch has not shown back yet.
//!
//! A reconcile triggered by a Job event often runs before the Workflow watch delivers the status
//! written by the reconcile just before it. Deciding from that stale copy would send a status
//! patch whose resourceVersion precondition fails (409), then retry: at scale that was a third
//! of all status patches, and a 100 ms retry in the scheduling path. Since each patch is
//! conditional on the version it was decided from, the version it creates is exactly that
//! version plus the written status; so while the cache still shows a version this process has
//! superseded, the reconcile uses the written one instead (client-go calls this a mutation cache).
//!
//! It also bounds how often a big Workflow's status is written ([`hold_for`]): every write of a
//! 2,000-step Workflow makes the API server decode, validate, store and send out 660 KiB again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kwf_api::{Workflow, WorkflowStatus};

/// Per Workflow uid, what this process wrote last; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct StatusWrites {
    inner: Arc<Mutex<HashMap<String, Written>>>,
    /// When the status of each big Workflow (by uid) was last written; an entry older than the
    /// longest interval holds nothing back and is swept out.
    written_at: Arc<Mutex<HashMap<String, Instant>>>,
}

/// Workflows with at least this many steps get their status writes spaced out.
pub const COALESCE_FROM_STEPS: usize = 200;
/// The interval between two status writes of a big Workflow: 1 ms per step, within these bounds.
const MIN_INTERVAL: Duration = Duration::from_millis(250);
const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// The least time between two status writes of a Workflow of `steps` steps; None when its
/// writes are never held (a small Workflow).
pub fn write_interval(steps: usize) -> Option<Duration> {
    if steps < COALESCE_FROM_STEPS {
        return None;
    }
    let per_step = Duration::from_millis(u64::try_from(steps).unwrap_or(u64::MAX));
    Some(per_step.clamp(MIN_INTERVAL, MAX_INTERVAL))
}

/// How long to hold back a status write that a decision asks for, or None to write now.
/// A big Workflow's status is written at most once per [`write_interval`]: held back, it is
/// decided again (the core is level-triggered) when the interval is over or sooner when an
/// event comes. A change of the Workflow's phase is never held (people and `kubectl workflow
/// wait` watch for it). The Jobs of a decision are created whether or not its status is held.
pub fn hold_for(
    steps: usize,
    phase_changes: bool,
    since_last: Option<Duration>,
) -> Option<Duration> {
    let interval = write_interval(steps)?;
    if phase_changes {
        return None;
    }
    let since = since_last?;
    interval.checked_sub(since).filter(|left| !left.is_zero())
}

struct Written {
    /// Versions replaced by this process's writes, oldest first.
    superseded: Vec<String>,
    /// The version the last write created, and the status it holds.
    resource_version: String,
    status: WorkflowStatus,
}

impl StatusWrites {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Written>> {
        // Plain map: a panic elsewhere cannot leave it inconsistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a status patch conditional on `from` succeeded and created `to` with `status`.
    pub fn wrote(&self, uid: &str, from: &str, to: String, status: WorkflowStatus) {
        let mut writes = self.lock();
        let entry = writes.entry(uid.to_owned()).or_insert_with(|| Written {
            superseded: Vec::new(),
            resource_version: String::new(),
            status: WorkflowStatus::default(),
        });
        entry.superseded.push(from.to_owned());
        entry.resource_version = to;
        entry.status = status;
    }

    /// The Workflow to decide from: `wf` itself, or `wf` with the status this process wrote when
    /// `wf` is a version that write superseded.
    pub fn current(&self, wf: Arc<Workflow>) -> Arc<Workflow> {
        let Some(uid) = wf.metadata.uid.as_deref() else {
            return wf;
        };
        let mut writes = self.lock();
        let Some(written) = writes.get(uid) else {
            return wf;
        };
        let version = wf.resource_version().unwrap_or_default();
        if !written.superseded.contains(&version) {
            // The cache caught up (or someone else wrote since): it is the truth again.
            writes.remove(uid);
            return wf;
        }
        let mut newer = (*wf).clone();
        newer.metadata.resource_version = Some(written.resource_version.clone());
        newer.status = Some(written.status.clone());
        Arc::new(newer)
    }

    /// Called with every Workflow the watch shows: forgets what the cache now holds, so a
    /// finished Workflow's last write is not kept.
    pub fn seen(&self, wf: &Workflow) {
        let Some(uid) = wf.metadata.uid.as_deref() else {
            return;
        };
        let mut writes = self.lock();
        let caught_up = writes.get(uid).is_some_and(|written| {
            !written
                .superseded
                .iter()
                .any(|v| Some(v.as_str()) == wf.metadata.resource_version.as_deref())
        });
        if caught_up {
            writes.remove(uid);
        }
    }

    /// Forgets the write of a deleted Workflow.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
        self.times().remove(uid);
    }

    /// Forgets the writes of every Workflow whose uid is not in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|uid, _| live.contains(uid));
        self.times().retain(|uid, _| live.contains(uid));
    }

    fn times(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.written_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a big Workflow's status was written now.
    pub fn wrote_big(&self, uid: &str) {
        let now = Instant::now();
        let mut times = self.times();
        // Only entries younger than the longest interval can hold a write back.
        times.retain(|_, at| now.saturating_duration_since(*at) < MAX_INTERVAL);
        times.insert(uid.to_owned(), now);
    }

    /// How long ago this process last wrote the big Workflow's status; None when not within
    /// the longest interval.
    pub fn since_written(&self, uid: &str) -> Option<Duration> {
        self.times()
            .get(uid)
            .map(Instant::elapsed)
            .filter(|since| *since < MAX_INTERVAL)
    }

    /// How many Workflows have a write the cache has not shown yet.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::WorkflowPhase;
    use kwf_api::fixtures::WorkflowFixture;

    fn workflow(version: &str, phase: WorkflowPhase) -> Arc<Workflow> {
        let mut wf = kwf_api::fixtures::workflow("wf", &[]).with_uid("uid-1");
        wf.metadata.resource_version = Some(version.into());
        wf.status = Some(WorkflowStatus {
            phase: Some(phase),
            ..Default::default()
        });
        Arc::new(wf)
    }

    fn status(phase: WorkflowPhase) -> WorkflowStatus {
        WorkflowStatus {
            phase: Some(phase),
            ..Default::default()
        }
    }

    #[test]
    fn a_stale_copy_is_replaced_by_what_was_written() {
        let writes = StatusWrites::default();
        writes.wrote("uid-1", "10", "11".into(), status(WorkflowPhase::Completed));
        let current = writes.current(workflow("10", WorkflowPhase::Started));
        assert_eq!(current.resource_version().as_deref(), Some("11"));
        assert_eq!(
            current.status.as_ref().unwrap().phase,
            Some(WorkflowPhase::Completed)
        );
    }

    #[test]
    fn chained_writes_cover_every_superseded_version() {
        let writes = StatusWrites::default();
        writes.wrote("uid-1", "10", "11".into(), status(WorkflowPhase::Started));
        writes.wrote("uid-1", "11", "12".into(), status(WorkflowPhase::Completed));
        for stale in ["10", "11"] {
            let current = writes.current(workflow(stale, WorkflowPhase::Started));
            assert_eq!(current.resource_version().as_deref(), Some("12"), "{stale}");
        }
    }

    #[test]
    fn a_newer_version_in_the_cache_wins_and_the_write_is_forgotten() {
        let writes = StatusWrites::default();
        writes.wrote("uid-1", "10", "11".into(), status(WorkflowPhase::Started));
        // Someone else's write (e.g. a spec change) after ours: the cache is the truth.
        let cached = workflow("12", WorkflowPhase::Created);
        let current = writes.current(cached.clone());
        assert!(Arc::ptr_eq(&current, &cached));
        assert_eq!(writes.pending(), 0);
    }

    #[test]
    fn the_watch_showing_the_write_forgets_it() {
        let writes = StatusWrites::default();
        writes.wrote("uid-1", "10", "11".into(), status(WorkflowPhase::Started));
        writes.seen(&workflow("10", WorkflowPhase::Started));
        assert_eq!(writes.pending(), 1, "still behind");
        writes.seen(&workflow("11", WorkflowPhase::Started));
        assert_eq!(writes.pending(), 0);
    }

    #[test]
    fn a_deleted_workflows_write_is_forgotten() {
        let writes = StatusWrites::default();
        writes.wrote("uid-1", "10", "11".into(), status(WorkflowPhase::Started));
        writes.wrote("uid-2", "10", "11".into(), status(WorkflowPhase::Started));
        writes.forget("uid-1");
        assert_eq!(writes.pending(), 1);
        writes.retain(&HashSet::new());
        assert_eq!(writes.pending(), 0, "not in a re-list: deleted meanwhile");
    }

    #[test]
    fn only_big_workflows_are_spaced_out_from_a_quarter_second_to_two() {
        assert_eq!(write_interval(COALESCE_FROM_STEPS - 1), None);
        assert_eq!(write_interval(COALESCE_FROM_STEPS), Some(MIN_INTERVAL));
        assert_eq!(write_interval(1000), Some(Duration::from_secs(1)));
        assert_eq!(write_interval(100_000), Some(MAX_INTERVAL));
    }

    #[test]
    fn a_big_workflows_write_waits_out_the_interval_unless_the_phase_changes() {
        let ms = Duration::from_millis;
        assert_eq!(hold_for(2000, false, Some(ms(500))), Some(ms(1500)));
        assert_eq!(hold_for(2000, false, Some(ms(2000))), None, "interval over");
        assert_eq!(hold_for(2000, false, None), None, "no write lately");
        assert_eq!(hold_for(2000, true, Some(ms(10))), None, "a phase change");
        assert_eq!(hold_for(10, false, Some(ms(10))), None, "a small workflow");
    }

    #[test]
    fn write_times_are_forgotten_with_the_workflow_and_after_the_interval() {
        let writes = StatusWrites::default();
        writes.wrote_big("uid-1");
        writes.wrote_big("uid-2");
        assert!(writes.since_written("uid-1").is_some());
        writes.forget("uid-1");
        assert_eq!(writes.since_written("uid-1"), None);
        writes.retain(&HashSet::new());
        assert!(writes.times().is_empty());
        let long_ago = Instant::now() - MAX_INTERVAL - Duration::from_millis(1);
        writes.times().insert("uid-3".into(), long_ago);
        assert_eq!(
            writes.since_written("uid-3"),
            None,
            "too old to hold anything"
        );
        writes.wrote_big("uid-4");
        assert!(
            !writes.times().contains_key("uid-3"),
            "swept out by the next write"
        );
    }

    #[test]
    fn other_workflows_are_untouched() {
        let writes = StatusWrites::default();
        writes.wrote("uid-2", "10", "11".into(), status(WorkflowPhase::Started));
        let cached = workflow("10", WorkflowPhase::Created);
        assert!(Arc::ptr_eq(&writes.current(cached.clone()), &cached));
        assert_eq!(writes.pending(), 1);
    }
}
