//! The workflows the benchmark runs, how they are submitted, and how their ends are awaited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kwf_api::{Workflow, WorkflowPhase};

use crate::fixtures;
use crate::watch::{self, Change};

/// `spec.maxStepTimeout` of the benchmark's workflows: no limit (a slow run must end, not fail).
const NO_TIMEOUT: i64 = -1;

/// What every benchmark step runs: nothing, so the figures are the controller's and the
/// control plane's.
const SCRIPT: &str = "true";

/// Five steps: a diamond (a -> b, c -> d) plus a tail (d -> e).
pub fn diamond_with_tail(name: &str) -> Workflow {
    fixtures::diamond_with_tail(name, NO_TIMEOUT, SCRIPT)
}

/// `steps` steps (rounded down to whole layers, at least one) in layers of `width`; each step
/// after the first layer depends on two steps of the layer before.
pub fn layered(name: &str, steps: usize, width: usize) -> Workflow {
    let width = width.max(1);
    fixtures::layered(name, (steps / width).max(1), width, NO_TIMEOUT, SCRIPT)
}

/// A chain of `length` steps, each depending on the one before: `length - 1` dependent pairs.
pub fn chain(name: &str, length: usize) -> Workflow {
    fixtures::chain(name, length, NO_TIMEOUT, SCRIPT)
}

/// Creates the workflows, at most `parallel` requests in flight.
pub async fn submit(
    api: &Api<Workflow>,
    workflows: Vec<Workflow>,
    parallel: usize,
) -> anyhow::Result<()> {
    stream::iter(workflows)
        .map(|wf| async move {
            api.create(&PostParams::default(), &wf)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create Workflow {}: {e}", wf.name_any()))
        })
        .buffer_unordered(parallel.max(1))
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// When each workflow ended, and how.
#[derive(Debug, Default)]
pub struct Ends {
    pub completed: HashMap<String, Instant>,
    pub failed: HashMap<String, String>,
}

impl Ends {
    pub fn count(&self) -> usize {
        self.completed.len() + self.failed.len()
    }

    pub fn last_completion(&self) -> Option<Instant> {
        self.completed.values().max().copied()
    }
}

/// A watch on the namespace's Workflows, started before they are submitted, that notes when
/// each one reaches Completed or Failed.
pub struct EndWatch {
    _follow: watch::Follow,
    ends: Arc<Mutex<Ends>>,
}

impl EndWatch {
    pub async fn start(client: &Client, namespace: &str) -> anyhow::Result<EndWatch> {
        let api: Api<Workflow> = Api::namespaced(client.clone(), namespace);
        let ends: Arc<Mutex<Ends>> = Arc::default();
        let noted = ends.clone();
        let follow = watch::follow(api, watcher::Config::default(), move |change| {
            let Change::Applied(wf) = change else { return };
            let status = wf.status.as_ref();
            let mut ends = noted.lock().unwrap_or_else(|p| p.into_inner());
            match status.and_then(|s| s.phase) {
                Some(WorkflowPhase::Completed) => {
                    ends.completed
                        .entry(wf.name_any())
                        .or_insert_with(Instant::now);
                }
                Some(WorkflowPhase::Failed) => {
                    let message = status.and_then(|s| s.message.clone()).unwrap_or_default();
                    ends.failed.entry(wf.name_any()).or_insert(message);
                }
                _ => {}
            }
        })
        .await?;
        Ok(EndWatch {
            _follow: follow,
            ends,
        })
    }

    /// Waits until `expected` workflows ended or `deadline` passed; returns what ended.
    pub async fn wait(&self, expected: usize, deadline: Instant) -> Ends {
        loop {
            let done = self.ends.lock().unwrap_or_else(|p| p.into_inner()).count();
            if done >= expected || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sizes_are_the_requested_ones() {
        assert_eq!(layered("l", 2000, 50).spec.containers.len(), 2000);
        assert_eq!(layered("l", 30, 10).spec.containers.len(), 30);
        assert_eq!(diamond_with_tail("d").spec.containers.len(), 5);
        assert_eq!(chain("c", 51).spec.containers.len(), 51);
        assert_eq!(chain("c", 51).spec.max_step_timeout, -1);
    }
}
