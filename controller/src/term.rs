//! Leadership terms: while this replica leads, every reconciler runs, each with its own
//! watches; when the leadership is lost they are all dropped at once, and on shutdown they all
//! stop gracefully (bounded by a grace period).

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use tokio::sync::watch;

/// One reconciler (today the Workflow one), run afresh for each leadership term.
pub trait Reconciler: Send + Sync {
    /// For logs.
    fn name(&self) -> &'static str;

    /// Watches and reconciles for one term. Returns once `stop` turns true and its in-flight
    /// reconciles finished; is dropped at once, mid-flight, when the leadership is lost.
    fn lead(&self, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()>;
}

/// Runs every reconciler in each term this replica leads (`leading` true), until `shutdown`
/// turns true. In-flight work gets `grace` after shutdown before it is dropped.
pub async fn lead_terms(
    reconcilers: &[Arc<dyn Reconciler>],
    mut leading: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut stop = shutdown.clone();
    loop {
        // Stand by until this replica leads (or is asked to stop).
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            led = leading.wait_for(|leads| *leads) => if led.is_err() { return },
        }
        if lead_one_term(reconcilers, &mut leading, shutdown.clone(), grace).await {
            return;
        }
    }
}

/// One term: true when it ended for shutdown, false when the leadership was lost.
async fn lead_one_term(
    reconcilers: &[Arc<dyn Reconciler>],
    leading: &mut watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> bool {
    let names: Vec<&str> = reconcilers.iter().map(|r| r.name()).collect();
    tracing::info!(reconcilers = ?names, "leading");
    let all = join_all(reconcilers.iter().map(|r| r.lead(shutdown.clone())));
    let mut stop = shutdown;
    let ended_for_shutdown = tokio::select! {
        // Every reconciler returned: they do so only when asked to stop.
        _ = all => true,
        _ = leading.wait_for(|leads| !*leads) => false,
        _ = async {
            let _ = stop.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(grace).await;
        } => true,
    };
    if !ended_for_shutdown {
        tracing::warn!("standing by: the leadership was lost");
    }
    ended_for_shutdown
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A reconciler that logs when its term starts, ends gracefully and is dropped.
    struct Recording {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    struct OnDrop(&'static str, Arc<Mutex<Vec<String>>>);

    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(format!("{} dropped", self.0));
        }
    }

    impl Reconciler for Recording {
        fn name(&self) -> &'static str {
            self.name
        }

        fn lead(&self, mut stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
            let (name, log) = (self.name, self.log.clone());
            Box::pin(async move {
                log.lock().unwrap().push(format!("{name} started"));
                let _guard = OnDrop(name, log.clone());
                let _ = stop.wait_for(|stopped| *stopped).await;
                log.lock().unwrap().push(format!("{name} stopped"));
            })
        }
    }

    fn take(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
        let mut entries = std::mem::take(&mut *log.lock().unwrap());
        entries.sort();
        entries
    }

    #[tokio::test(start_paused = true)]
    async fn every_reconciler_runs_each_term_and_all_stop_together() {
        let log = Arc::default();
        let reconcilers: Vec<Arc<dyn Reconciler>> = ["a", "b"]
            .into_iter()
            .map(|name| {
                Arc::new(Recording {
                    name,
                    log: Arc::clone(&log),
                }) as Arc<dyn Reconciler>
            })
            .collect();
        let (leads, leading) = watch::channel(false);
        let (shut_down, shutdown) = watch::channel(false);
        let terms = tokio::spawn(async move {
            lead_terms(&reconcilers, leading, shutdown, Duration::from_secs(10)).await;
        });
        let settle = || tokio::time::sleep(Duration::from_millis(1));

        settle().await;
        assert!(take(&log).is_empty(), "nothing runs while standing by");
        leads.send_replace(true);
        settle().await;
        assert_eq!(take(&log), ["a started", "b started"]);
        leads.send_replace(false);
        settle().await;
        assert_eq!(
            take(&log),
            ["a dropped", "b dropped"],
            "a lost leadership drops every reconciler at once"
        );
        leads.send_replace(true);
        settle().await;
        assert_eq!(take(&log), ["a started", "b started"], "a new term");
        shut_down.send_replace(true);
        terms.await.unwrap();
        assert_eq!(
            take(&log),
            ["a dropped", "a stopped", "b dropped", "b stopped"],
            "shutdown stops every reconciler gracefully"
        );
    }
}
