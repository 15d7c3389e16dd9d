//! The hand-off as a user sees it, from outside the controller (issue 17): watches of the
//! namespace's Jobs and pods in the harness, like `kubectl get jobs --watch` beside the
//! controller, note when each step's Job was first seen, first seen Complete, and when its pod
//! was first seen with its container started and first seen finished. Per dependent pair:
//!
//! - **outside**: the last dependency's Job seen Complete -> the dependent's Job first seen.
//!   Negative when the controller started the dependent from the dependency's pod, before the
//!   Job controller marked the dependency's Job Complete.
//! - **end to end**: the last dependency's container seen exited (pod Succeeded, as the
//!   kubelet reports it) -> the dependent's container seen started.
//!
//! The end-to-end gap is then cut into its stages, so that a slow one shows: the controller
//! (the dependency's exit -> the dependent's Job), the Job controller (Job -> its pod), the
//! binding (pod -> pod on a node) and the kubelet (pod on a node -> container started).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, Workflow};

use crate::watch::{self, Change};

use super::report::{Handoff, Latencies, Stages};

/// When the outside watches first saw each step (by workflow and step name) get somewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sighting {
    pub job_seen: Option<Instant>,
    pub job_complete: Option<Instant>,
    pub pod_seen: Option<Instant>,
    pub pod_bound: Option<Instant>,
    pub pod_started: Option<Instant>,
    pub pod_exited: Option<Instant>,
}

type Sightings = HashMap<(String, String), Sighting>;

/// The two watches, started before the workflows are submitted.
pub struct HandoffWatch {
    _jobs: watch::Follow,
    _pods: watch::Follow,
    seen: Arc<Mutex<Sightings>>,
}

fn step_of(labels: &std::collections::BTreeMap<String, String>) -> Option<(String, String)> {
    Some((
        labels.get(LABEL_WORKFLOW)?.clone(),
        labels.get(LABEL_STEP)?.clone(),
    ))
}

impl HandoffWatch {
    pub async fn start(client: &Client, ns: &str) -> anyhow::Result<HandoffWatch> {
        let seen: Arc<Mutex<Sightings>> = Arc::default();
        let config = watcher::Config::default().labels(LABEL_WORKFLOW);
        let jobs = watch::follow(
            Api::<Job>::namespaced(client.clone(), ns),
            config.clone(),
            {
                let seen = seen.clone();
                move |change| {
                    let Change::Applied(job) = change else {
                        return;
                    };
                    let now = Instant::now();
                    let Some(key) = step_of(job.labels()) else {
                        return;
                    };
                    let complete = job
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter()
                                .any(|c| c.type_ == "Complete" && c.status == "True")
                        });
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    let sighting = seen.entry(key).or_default();
                    sighting.job_seen.get_or_insert(now);
                    if complete {
                        sighting.job_complete.get_or_insert(now);
                    }
                }
            },
        )
        .await?;
        let pods = watch::follow(Api::<Pod>::namespaced(client.clone(), ns), config, {
            let seen = seen.clone();
            move |change| {
                let Change::Applied(pod) = change else {
                    return;
                };
                let now = Instant::now();
                let Some(key) = step_of(pod.labels()) else {
                    return;
                };
                let status = pod.status.as_ref();
                let states = status
                    .into_iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .filter_map(|c| c.state.as_ref());
                let (mut started, mut terminated) = (false, false);
                for state in states {
                    started |= state.running.is_some() || state.terminated.is_some();
                    terminated |= state.terminated.is_some();
                }
                let exited = terminated
                    || matches!(
                        status.and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    );
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                let sighting = seen.entry(key).or_default();
                sighting.pod_seen.get_or_insert(now);
                if pod.spec.as_ref().is_some_and(|s| s.node_name.is_some()) {
                    sighting.pod_bound.get_or_insert(now);
                }
                if started || exited {
                    sighting.pod_started.get_or_insert(now);
                }
                if exited {
                    sighting.pod_exited.get_or_insert(now);
                }
            }
        })
        .await?;
        Ok(HandoffWatch {
            _jobs: jobs,
            _pods: pods,
            seen,
        })
    }

    /// Waits (at most `within`) until every step of `workflows` has been seen with its Job
    /// Complete: a workflow can end from its last pod's exit before the Job controller marks
    /// that Job Complete, and the outside figure needs every Job's Complete.
    pub async fn settle(&self, workflows: &[Workflow], within: std::time::Duration) {
        let deadline = Instant::now() + within;
        loop {
            let all_complete = {
                let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                workflows.iter().all(|wf| {
                    let name = wf.name_any();
                    wf.spec.containers.iter().all(|step| {
                        seen.get(&(name.clone(), step.step_name.clone()))
                            .is_some_and(|s| s.job_complete.is_some())
                    })
                })
            };
            if all_complete || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Both figures over every dependent pair of `workflows`.
    pub fn figures(&self, workflows: &[Workflow]) -> Handoff {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let pairs = dependent_pairs(workflows);
        let own = |from: fn(&Sighting) -> Option<Instant>, to: fn(&Sighting) -> Option<Instant>| {
            Latencies::of(signed_gaps(&own_stage(&pairs), &seen, from, to))
        };
        Handoff {
            outside: Latencies::of(signed_gaps(
                &pairs,
                &seen,
                |s| s.job_complete,
                |s| s.job_seen,
            )),
            end_to_end: Latencies::of(signed_gaps(
                &pairs,
                &seen,
                |s| s.pod_exited,
                |s| s.pod_started,
            )),
            stages: Stages {
                controller: Latencies::of(signed_gaps(
                    &pairs,
                    &seen,
                    |s| s.pod_exited,
                    |s| s.job_seen,
                )),
                job_controller: own(|s| s.job_seen, |s| s.pod_seen),
                binding: own(|s| s.pod_seen, |s| s.pod_bound),
                kubelet: own(|s| s.pod_bound, |s| s.pod_started),
            },
        }
    }
}

/// Every (workflow, step, its dependencies) with at least one dependency.
pub fn dependent_pairs(workflows: &[Workflow]) -> Vec<(String, String, Vec<String>)> {
    workflows
        .iter()
        .flat_map(|wf| {
            let name = wf.name_any();
            wf.spec
                .containers
                .iter()
                .filter(|step| !step.depends_on.is_empty())
                .map(move |step| {
                    (
                        name.clone(),
                        step.step_name.clone(),
                        step.depends_on.clone(),
                    )
                })
        })
        .collect()
}

/// The dependent steps of `pairs`, each as its own "dependency": for the stages within one step.
fn own_stage(pairs: &[(String, String, Vec<String>)]) -> Vec<(String, String, Vec<String>)> {
    pairs
        .iter()
        .map(|(wf, step, _)| (wf.clone(), step.clone(), vec![step.clone()]))
        .collect()
}

/// Per pair, in ms, sorted: the dependent's `to` sighting minus the latest `from` sighting of
/// its dependencies (negative when it came first). Pairs with a sighting missing are left out.
pub fn signed_gaps(
    pairs: &[(String, String, Vec<String>)],
    seen: &Sightings,
    from: impl Fn(&Sighting) -> Option<Instant>,
    to: impl Fn(&Sighting) -> Option<Instant>,
) -> Vec<f64> {
    let at = |wf: &str, step: &str| seen.get(&(wf.to_owned(), step.to_owned()));
    let mut gaps: Vec<f64> = pairs
        .iter()
        .filter_map(|(wf, step, deps)| {
            let end = to(at(wf, step)?)?;
            let mut latest: Option<Instant> = None;
            for dep in deps {
                let dep_at = from(at(wf, dep)?)?;
                latest = Some(latest.map_or(dep_at, |l| l.max(dep_at)));
            }
            let start = latest?;
            Some(match end.checked_duration_since(start) {
                Some(after) => after.as_secs_f64() * 1000.0,
                None => -(start.duration_since(end).as_secs_f64() * 1000.0),
            })
        })
        .collect();
    gaps.sort_by(f64::total_cmp);
    gaps
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_gap_runs_from_the_last_dependency_and_may_be_negative() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut seen = Sightings::new();
        let mut put = |step: &str, from: u64, to: u64| {
            seen.insert(
                ("wf".into(), step.into()),
                Sighting {
                    job_complete: Some(ms(from)),
                    job_seen: Some(ms(to)),
                    ..Default::default()
                },
            );
        };
        put("a", 100, 0);
        put("b", 300, 0);
        put("c", 0, 350);
        put("d", 0, 250);
        let pairs = vec![
            (
                "wf".to_owned(),
                "c".to_owned(),
                vec!["a".to_owned(), "b".to_owned()],
            ),
            ("wf".to_owned(), "d".to_owned(), vec!["b".to_owned()]),
            ("wf".to_owned(), "e".to_owned(), vec!["a".to_owned()]),
        ];
        let gaps = signed_gaps(&pairs, &seen, |s| s.job_complete, |s| s.job_seen);
        // c: 350 - max(100, 300); d: 250 - 300; e never seen: left out.
        assert_eq!(gaps.len(), 2);
        assert!((gaps[0] + 50.0).abs() < 1e-6, "{gaps:?}");
        assert!((gaps[1] - 50.0).abs() < 1e-6, "{gaps:?}");
    }
}
