//! The retry backoff of failed reconciles, per Workflow.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Consecutive failed reconciles per Workflow uid. An entry goes on the Workflow's next
/// successful reconcile, or with the Workflow (deleted, or missing from a re-list).
#[derive(Default)]
pub struct RetryBackoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl RetryBackoff {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        // A plain map: a panic elsewhere cannot leave it inconsistent.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed reconcile of the Workflow and returns how long to wait before retrying:
    /// 250 ms doubling per consecutive failure, at most 5 minutes.
    pub fn failed(&self, uid: &str) -> Duration {
        let mut failures = self.lock();
        let count = failures.entry(uid.to_owned()).or_default();
        *count = count.saturating_add(1);
        delay_after(*count)
    }

    /// Forgets the failures of a Workflow after a successful reconcile, or once it is deleted.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Forgets the failures of every Workflow whose uid is not in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|uid, _| live.contains(uid));
    }

    /// How many Workflows have failures recorded.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

fn delay_after(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_millis(250u64.saturating_mul(1 << exponent)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_and_is_capped() {
        assert_eq!(delay_after(1), Duration::from_millis(250));
        assert_eq!(delay_after(2), Duration::from_millis(500));
        assert_eq!(delay_after(5), Duration::from_secs(4));
        assert_eq!(delay_after(30), Duration::from_secs(300));
        assert_eq!(delay_after(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn consecutive_failures_back_off_further_until_a_success() {
        let backoff = RetryBackoff::default();
        assert_eq!(backoff.failed("wf-1"), Duration::from_millis(250));
        assert_eq!(backoff.failed("wf-1"), Duration::from_millis(500));
        backoff.forget("wf-1");
        assert_eq!(backoff.failed("wf-1"), Duration::from_millis(250));
    }

    #[test]
    fn a_workflow_deleted_while_failing_is_forgotten() {
        let backoff = RetryBackoff::default();
        backoff.failed("deleted");
        backoff.failed("relisted-without");
        backoff.failed("live");
        backoff.forget("deleted");
        backoff.retain(&HashSet::from(["live".to_owned()]));
        assert_eq!(backoff.len(), 1);
        assert_eq!(backoff.failed("live"), Duration::from_millis(500), "kept");
    }
}
