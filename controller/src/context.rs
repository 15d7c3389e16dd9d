//! What every reconcile shares: the client, the event queue, metrics and the Job cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;

use crate::events::Events;
use crate::job_cache::JobCache;
use crate::metrics::Metrics;
use crate::status_writes::StatusWrites;

/// Shared state of the reconciler. Built once per process; everything in it is injectable so
/// tests can run reconcile() against any client and cache.
pub struct Context {
    pub client: Client,
    pub events: Events,
    pub metrics: Metrics,
    pub jobs: JobCache,
    /// Status writes the Workflow watch has not shown back yet.
    pub status_writes: StatusWrites,
    /// This process's identity: written on every Job it creates (`kwf.dev/created-by`).
    pub identity: String,
    /// Consecutive failed reconciles per Workflow uid, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        events: Events,
        metrics: Metrics,
        jobs: JobCache,
        identity: String,
    ) -> Self {
        Self {
            events,
            client,
            metrics,
            jobs,
            status_writes: StatusWrites::default(),
            identity,
            failures: Mutex::default(),
        }
    }

    /// Records a failed reconcile of the Workflow and returns how long to wait before retrying:
    /// 250 ms doubling per consecutive failure, at most 5 minutes.
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(uid.to_owned()).or_default();
        *count = count.saturating_add(1);
        backoff_for(*count)
    }

    /// Forgets the failures of a Workflow after a successful reconcile.
    pub fn succeeded(&self, uid: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(uid);
    }
}

fn backoff_for(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_millis(250u64.saturating_mul(1 << exponent)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_for(1), Duration::from_millis(250));
        assert_eq!(backoff_for(2), Duration::from_millis(500));
        assert_eq!(backoff_for(5), Duration::from_secs(4));
        assert_eq!(backoff_for(30), Duration::from_secs(300));
        assert_eq!(backoff_for(u32::MAX), Duration::from_secs(300));
    }
}
