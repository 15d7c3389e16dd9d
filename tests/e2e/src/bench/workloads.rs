//! The workflows the benchmark runs, how they are submitted, and how their ends are awaited.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kwf_api::{Workflow, WorkflowPhase};
use serde_json::{Value, json};

/// A step that runs `sh -c true` (the process kubelet ignores the image).
fn step(name: &str, deps: &[String]) -> Value {
    json!({
        "stepName": name,
        "image": "busybox",
        "command": ["sh", "-c", "true"],
        "dependsOn": deps,
    })
}

fn workflow(name: &str, steps: Vec<Value>) -> Workflow {
    let value = json!({
        "apiVersion": "kwf.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": { "name": name },
        "spec": { "maxStepTimeout": -1, "containers": steps },
    });
    serde_json::from_value(value).expect("the benchmark's workflows match the Workflow type")
}

/// Five steps: a diamond (a -> b, c -> d) plus a tail (d -> e).
pub fn diamond_with_tail(name: &str) -> Workflow {
    let deps = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    workflow(
        name,
        vec![
            step("a", &[]),
            step("b", &deps(&["a"])),
            step("c", &deps(&["a"])),
            step("d", &deps(&["b", "c"])),
            step("e", &deps(&["d"])),
        ],
    )
}

/// `steps` steps in layers of `width`; each step after the first layer depends on two steps of
/// the layer before (its own position and the next).
pub fn layered(name: &str, steps: usize, width: usize) -> Workflow {
    let width = width.max(1);
    let step_name = |i: usize| format!("l{}-s{}", i / width, i % width);
    let steps = (0..steps)
        .map(|i| {
            let deps = if i < width {
                Vec::new()
            } else {
                let layer_start = (i / width - 1) * width;
                let position = i % width;
                let mut deps = vec![step_name(layer_start + position)];
                if width > 1 {
                    deps.push(step_name(layer_start + (position + 1) % width));
                }
                deps
            };
            step(&step_name(i), &deps)
        })
        .collect();
    workflow(name, steps)
}

/// A chain of `length` steps, each depending on the one before: `length - 1` dependent pairs.
pub fn chain(name: &str, length: usize) -> Workflow {
    let steps = (0..length)
        .map(|i| {
            let deps = if i == 0 {
                Vec::new()
            } else {
                vec![format!("s{}", i - 1)]
            };
            step(&format!("s{i}"), &deps)
        })
        .collect();
    workflow(name, steps)
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
    handle: tokio::task::JoinHandle<()>,
    ends: std::sync::Arc<std::sync::Mutex<Ends>>,
}

impl EndWatch {
    pub async fn start(client: &Client, namespace: &str) -> anyhow::Result<EndWatch> {
        let api: Api<Workflow> = Api::namespaced(client.clone(), namespace);
        let ends: std::sync::Arc<std::sync::Mutex<Ends>> = Default::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let noted = ends.clone();
        let handle = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                let wf = match event {
                    watcher::Event::InitDone => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    watcher::Event::Apply(wf) | watcher::Event::InitApply(wf) => wf,
                    watcher::Event::Delete(_) | watcher::Event::Init => continue,
                };
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
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .map_err(|_| anyhow::anyhow!("the Workflow watch did not start within 30 s"))??;
        Ok(EndWatch { handle, ends })
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

impl Drop for EndWatch {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_are_valid_workflows() {
        for wf in [
            diamond_with_tail("d"),
            layered("l", 2000, 50),
            layered("one-wide", 3, 1),
            chain("c", 51),
        ] {
            kwf_api::validate(&wf.spec).unwrap_or_else(|e| panic!("{}: {e}", wf.name_any()));
        }
    }

    #[test]
    fn layers_depend_on_two_steps_of_the_layer_before() {
        let wf = layered("l", 150, 50);
        assert_eq!(wf.spec.containers.len(), 150);
        let last = &wf.spec.containers[149];
        assert_eq!(last.step_name, "l2-s49");
        assert_eq!(last.depends_on, ["l1-s49", "l1-s0"]);
        assert!(wf.spec.containers[49].depends_on.is_empty());
    }

    #[test]
    fn a_chain_has_one_dependent_pair_per_step_but_the_first() {
        let wf = chain("c", 51);
        let pairs: usize = wf.spec.containers.iter().map(|s| s.depends_on.len()).sum();
        assert_eq!(pairs, 50);
    }
}
