//! Watches the pods bound to this node and keeps one task per pod (keyed by UID) informed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::pod::{self, Node, PodSignal};

/// What the watch says about a pod, as the signal its task acts on.
pub fn signal_of(pod: &Pod) -> PodSignal {
    match &pod.metadata.deletion_timestamp {
        None => PodSignal::Live,
        Some(_) => PodSignal::Deleting {
            grace: Duration::from_secs(
                pod.metadata
                    .deletion_grace_period_seconds
                    .unwrap_or(0)
                    .max(0)
                    .unsigned_abs(),
            ),
        },
    }
}

/// Runs pods bound to `node_name` until `shutdown` resolves; then kills every container and returns.
pub async fn run(node: Arc<Node>, node_name: &str, shutdown: impl Future<Output = ()>) {
    let pods: Api<Pod> = Api::all(node.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node_name}"));
    let mut events = watcher::watcher(pods, config).default_backoff().boxed();
    let mut known: HashMap<String, watch::Sender<PodSignal>> = HashMap::new();
    let mut listed: HashSet<String> = HashSet::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            event = events.next() => match event {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "kubelet: watching this node's pods failed; retrying"),
                Some(Ok(Event::Init)) => listed.clear(),
                Some(Ok(Event::InitApply(pod))) => {
                    if let Some(uid) = &pod.metadata.uid {
                        listed.insert(uid.clone());
                    }
                    observe(&node, &mut known, &mut tasks, pod);
                }
                Some(Ok(Event::InitDone)) => {
                    // Pods deleted while the watch was down never get a Delete event.
                    known.retain(|uid, signals| {
                        let present = listed.contains(uid);
                        if !present {
                            signals.send_replace(PodSignal::Gone);
                        }
                        present
                    });
                }
                Some(Ok(Event::Apply(pod))) => observe(&node, &mut known, &mut tasks, pod),
                Some(Ok(Event::Delete(pod))) => {
                    if let Some(signals) = pod.metadata.uid.as_ref().and_then(|uid| known.remove(uid)) {
                        signals.send_replace(PodSignal::Gone);
                    }
                }
            },
        }
    }
    // Aborting a pod task drops its processes, which kills their process groups.
    tasks.shutdown().await;
}

fn observe(
    node: &Arc<Node>,
    known: &mut HashMap<String, watch::Sender<PodSignal>>,
    tasks: &mut JoinSet<()>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let signal = signal_of(&pod);
    match known.get(&uid) {
        Some(signals) => {
            signals.send_if_modified(|current| {
                let changed = *current != signal && *current != PodSignal::Gone;
                if changed {
                    *current = signal;
                }
                changed
            });
        }
        None => {
            let (sender, receiver) = watch::channel(signal);
            known.insert(uid, sender);
            tasks.spawn(pod::run(node.clone(), pod, receiver));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn deletion_timestamp_and_grace_become_the_signal() {
        let mut pod = Pod::default();
        assert_eq!(signal_of(&pod), PodSignal::Live);
        pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        pod.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(
            signal_of(&pod),
            PodSignal::Deleting {
                grace: Duration::from_secs(30)
            }
        );
        pod.metadata.deletion_grace_period_seconds = None;
        assert_eq!(
            signal_of(&pod),
            PodSignal::Deleting {
                grace: Duration::ZERO
            }
        );
    }
}
