//! Leader election on a coordination.k8s.io Lease (kube-lease-manager), so that of several
//! replicas only one acts.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where and as whom to take part in the election.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration_seconds: u64,
    pub grace_seconds: u64,
}

/// The outcome of the election, as a channel: `true` while this replica leads.
pub struct Leadership {
    receiver: watch::Receiver<bool>,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// No election: this replica always leads (`--leader-elect=false`).
    pub fn always() -> Self {
        let (sender, receiver) = watch::channel(true);
        // Keep the channel open for the life of the process.
        std::mem::forget(sender);
        Self {
            receiver,
            stop: None,
            task: None,
        }
    }

    /// Starts competing for the Lease in the background.
    pub fn elect(client: Client, settings: LeaseSettings) -> Self {
        let (sender, receiver) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(election_loop(client, settings, sender, stopped));
        Self {
            receiver,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A receiver of the leadership state.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.receiver.clone()
    }

    /// Stops competing and releases the Lease if held, so a standby takes over at once.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            // Releasing is one request; do not let a hung API server block shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

async fn election_loop(
    client: Client,
    settings: LeaseSettings,
    leading: watch::Sender<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let manager = match build(&client, &settings).await {
            Ok(manager) => manager,
            Err(err) => {
                tracing::warn!(lease = %settings.name, error = %err, "cannot set up the leader-election Lease; retrying");
                if wait_or_stop(&mut stopped, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                biased;
                _ = stopped.changed() => {
                    leading.send_replace(false);
                    if let Err(err) = manager.release().await {
                        tracing::warn!(lease = %settings.name, error = %err, "releasing the Lease failed; it expires by itself");
                    }
                    return;
                }
                changed = manager.changed() => match changed {
                    Ok(is_leader) => {
                        if is_leader {
                            tracing::info!(lease = %settings.name, identity = %settings.identity, "became the leader");
                        } else {
                            tracing::warn!(lease = %settings.name, identity = %settings.identity, "lost the leadership; stopping at once");
                        }
                        leading.send_replace(is_leader);
                    }
                    Err(err) => {
                        // We can no longer tell whether we hold the Lease: stop acting now, and
                        // start over with a fresh manager (it re-learns who holds the Lease).
                        tracing::warn!(lease = %settings.name, error = %err, "leader election failed; standing by");
                        leading.send_replace(false);
                        break;
                    }
                }
            }
        }
        if wait_or_stop(&mut stopped, Duration::from_secs(1)).await {
            return;
        }
    }
}

async fn build(
    client: &Client,
    settings: &LeaseSettings,
) -> kube_lease_manager::Result<LeaseManager> {
    LeaseManagerBuilder::new(client.clone(), &settings.name)
        .with_namespace(&settings.namespace)
        .with_identity(&settings.identity)
        .with_duration(settings.duration_seconds)
        .with_grace(settings.grace_seconds)
        .build()
        .await
}

/// Sleeps for `delay`; true if asked to stop meanwhile.
async fn wait_or_stop(stopped: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = stopped.changed() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}
