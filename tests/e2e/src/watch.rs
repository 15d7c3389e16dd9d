//! A watch in the background that hands every event to a closure, started before the objects it
//! should see are made (the bench's end watch, the tests' Job recorder).

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

/// How long the initial list of a watch may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running watch; stopped when dropped.
pub struct Follow {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `api` with `config` and calls `on_event` with every object applied (also those of the
/// initial list) or deleted, in the API server's order; returns once the initial list is done, so
/// nothing made after the call is missed. Watch errors are retried by the watcher.
pub async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    mut on_event: impl FnMut(Change<K>) + Send + 'static,
) -> anyhow::Result<Follow>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let (listed_tx, listed) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut listed_tx = Some(listed_tx);
        let mut events = std::pin::pin!(watcher(api, config));
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    on_event(Change::Applied(object))
                }
                Ok(watcher::Event::Delete(object)) => on_event(Change::Deleted(object)),
                Ok(watcher::Event::Init) | Err(_) => {}
            }
        }
    });
    let follow = Follow { task };
    tokio::time::timeout(START_TIMEOUT, listed)
        .await
        .map_err(|_| anyhow::anyhow!("the watch did not start within {START_TIMEOUT:?}"))?
        .map_err(|_| anyhow::anyhow!("the watch ended before its initial list"))?;
    Ok(follow)
}

/// What a watch saw happen to one object.
pub enum Change<K> {
    Applied(K),
    Deleted(K),
}

/// An object's resourceVersion as a number: etcd's revision, one order for every kind on the
/// plane, so events of two watches (Jobs and pods) can be put in the order they happened.
/// `u64::MAX` when it has none.
pub fn revision<K: kube::Resource>(object: &K) -> u64 {
    object
        .meta()
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(u64::MAX)
}
