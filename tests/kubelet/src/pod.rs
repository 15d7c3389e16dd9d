//! One pod's life on this node: run its containers as host processes, report status, honour restart
//! policy, the active deadline and deletion, and finally delete it.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, PodCondition};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use tokio::sync::{Mutex, watch};

use crate::logs::{LogKey, LogStore};
use crate::process;
use crate::spec::launch_plan;
use crate::status::{ContainerRun, Phase, PodRun, RunState, Termination, pod_status};

/// What the API server last said about the pod's existence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodSignal {
    Live,
    /// `deletionTimestamp` is set: stop within the grace period, then delete for good.
    Deleting {
        grace: Duration,
    },
    /// The object is gone: kill at once, report nothing.
    Gone,
}

/// What the containers are asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Run,
    Terminate { grace: Duration },
    Kill,
}

/// What every pod task shares.
pub struct Node {
    pub client: kube::Client,
    pub logs: LogStore,
    pub work_dir: std::path::PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn of(pod: &Pod) -> Self {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }
}

/// Whether a container that exited with `exit_code` runs again. Init containers must succeed once, so
/// `Always` restarts them only on failure.
pub fn should_restart(policy: RestartPolicy, init: bool, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Always => !init || exit_code != 0,
    }
}

/// Pause before restart number `restarts` (1-based): 1 s doubling, at most 10 s. Shorter than the real
/// kubelet's 10 s..5 min, because tests wait on it.
pub fn restart_backoff(restarts: i32) -> Duration {
    let exponent = restarts.clamp(1, 5) - 1;
    Duration::from_secs((1u64 << exponent).min(10))
}

/// The pod's reported state, shared by its container loops; patches are made under the lock, in order.
struct Reporter {
    pods: Api<Pod>,
    name: String,
    inner: Mutex<Reported>,
}

struct Reported {
    run: PodRun,
    conditions: Vec<PodCondition>,
    gone: bool,
}

enum Slot {
    Init(usize),
    Main(usize),
}

fn container_mut<'a>(run: &'a mut PodRun, slot: &Slot) -> &'a mut ContainerRun {
    match *slot {
        Slot::Init(i) => &mut run.init[i],
        Slot::Main(i) => &mut run.main[i],
    }
}

impl Reporter {
    async fn update(&self, change: impl FnOnce(&mut PodRun)) {
        let mut inner = self.inner.lock().await;
        change(&mut inner.run);
        if inner.gone {
            return;
        }
        let status = pod_status(&inner.run, &inner.conditions, Timestamp::now());
        inner.conditions = status.conditions.clone().unwrap_or_default();
        let patch = json!({ "status": status });
        for attempt in 1..=5u32 {
            match self
                .pods
                .patch_status(
                    &self.name,
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    inner.gone = true;
                    return;
                }
                Err(e) => {
                    tracing::warn!(pod = %self.name, attempt, error = %e, "kubelet: status patch failed");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    async fn update_container(&self, slot: &Slot, change: impl FnOnce(&mut ContainerRun)) {
        self.update(|run| change(container_mut(run, slot))).await;
    }

    /// A container ended for good. Published at once only while another container of the pod
    /// still runs; otherwise what comes next is published with it, as a real kubelet's next
    /// status sync would: the next container's start, or the pod's end (phase Succeeded or
    /// Failed together with the exit, in one write instead of two).
    async fn end_container(&self, slot: &Slot, termination: Termination) {
        let mut inner = self.inner.lock().await;
        container_mut(&mut inner.run, slot).state = RunState::Terminated(termination);
        let others_run = match *slot {
            Slot::Init(_) => false,
            Slot::Main(i) => inner
                .run
                .main
                .iter()
                .enumerate()
                .any(|(j, c)| j != i && !matches!(c.state, RunState::Terminated(_))),
        };
        drop(inner);
        if others_run {
            self.update(|_| {}).await;
        }
    }

    async fn phase(&self) -> Phase {
        self.inner.lock().await.run.phase()
    }
}

/// Runs the pod until it is gone from the API server. `signals` carries deletion news from the watch.
pub async fn run(node: Arc<Node>, pod: Pod, mut signals: watch::Receiver<PodSignal>) {
    let (Some(name), Some(namespace), Some(uid)) = (
        pod.metadata.name.clone(),
        pod.metadata.namespace.clone(),
        pod.metadata.uid.clone(),
    ) else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(node.client.clone(), &namespace);
    let already_terminal = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let deleting_at_start = !matches!(*signals.borrow(), PodSignal::Live);
    if !already_terminal {
        let reporter = Arc::new(Reporter {
            pods: pods.clone(),
            name: name.clone(),
            inner: Mutex::new(Reported {
                run: initial_run(&pod, &uid),
                conditions: Vec::new(),
                gone: false,
            }),
        });
        if deleting_at_start {
            // Deleted before it ever ran: report it finished so that its owner sees a terminal pod.
            reporter.update(|run| run.finished = true).await;
        } else {
            let gone = drive(&node, &pod, &reporter, &mut signals).await;
            if gone {
                return;
            }
        }
    }
    // Finished: wait for the deletion request (owner GC, namespace deletion, kubectl) and complete it.
    loop {
        let signal = signals.borrow_and_update().clone();
        match signal {
            PodSignal::Live => {}
            PodSignal::Gone => return,
            PodSignal::Deleting { .. } => {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(kube::api::Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match pods.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => {
                        tracing::warn!(%namespace, pod = %name, error = %e, "kubelet: final delete failed")
                    }
                }
                return;
            }
        }
        if signals.changed().await.is_err() {
            return;
        }
    }
}

fn initial_run(pod: &Pod, uid: &str) -> PodRun {
    let spec = pod.spec.clone().unwrap_or_default();
    let init = spec.init_containers.unwrap_or_default();
    let main_reason = if init.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or_else(Timestamp::now, |t| t.0);
    PodRun {
        uid: uid.to_string(),
        start_time,
        init: init
            .iter()
            .map(|c| ContainerRun::waiting(&c.name, image(c), "PodInitializing"))
            .collect(),
        main: spec
            .containers
            .iter()
            .map(|c| ContainerRun::waiting(&c.name, image(c), main_reason))
            .collect(),
        finished: false,
        deadline_exceeded: false,
    }
}

fn image(container: &Container) -> &str {
    container.image.as_deref().unwrap_or_default()
}

/// Runs the containers while forwarding deletion and the deadline to them. Returns true if the pod is gone.
async fn drive(
    node: &Arc<Node>,
    pod: &Pod,
    reporter: &Arc<Reporter>,
    signals: &mut watch::Receiver<PodSignal>,
) -> bool {
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    // No report before the first container starts, which is at once: its Running (or its
    // failure to start) is the pod's first status, as when a real kubelet's first sync finds it
    // started.
    let start_time = reporter.inner.lock().await.run.start_time;
    let deadline = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .map(|seconds| {
            let elapsed: Duration = Timestamp::now()
                .duration_since(start_time)
                .try_into()
                .unwrap_or_default();
            tokio::time::sleep(
                Duration::from_secs(seconds.max(0).unsigned_abs()).saturating_sub(elapsed),
            )
        });
    let deadline = async move {
        match deadline {
            Some(deadline) => deadline.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let termination_grace = Duration::from_secs(
        pod.spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0)
            .unsigned_abs(),
    );
    let containers = run_containers(node, pod, reporter, stop_rx);
    tokio::pin!(containers);
    let mut gone = false;
    let mut deadline_fired = false;
    loop {
        tokio::select! {
            () = &mut containers => break,
            changed = signals.changed() => {
                let signal = if changed.is_ok() { signals.borrow_and_update().clone() } else { PodSignal::Gone };
                match signal {
                    PodSignal::Live => {}
                    PodSignal::Deleting { grace } => {
                        stop_tx.send_if_modified(|stop| {
                            let tighter = match *stop {
                                Stop::Run => true,
                                Stop::Terminate { grace: current } => grace < current,
                                Stop::Kill => false,
                            };
                            if tighter {
                                *stop = if grace.is_zero() { Stop::Kill } else { Stop::Terminate { grace } };
                            }
                            tighter
                        });
                    }
                    PodSignal::Gone => {
                        gone = true;
                        reporter.inner.lock().await.gone = true;
                        stop_tx.send_replace(Stop::Kill);
                    }
                }
            }
            () = &mut deadline, if !deadline_fired => {
                deadline_fired = true;
                reporter.update(|run| run.deadline_exceeded = true).await;
                stop_tx.send_if_modified(|stop| {
                    let first = *stop == Stop::Run;
                    if first {
                        *stop = Stop::Terminate { grace: termination_grace };
                    }
                    first
                });
            }
        }
    }
    if !gone {
        reporter.update(|run| run.finished = true).await;
    }
    let phase = reporter.phase().await;
    tracing::debug!(pod = %reporter.name, ?phase, "kubelet: pod finished");
    gone
}

/// Init containers one after another (each must succeed), then the app containers side by side.
async fn run_containers(
    node: &Arc<Node>,
    pod: &Pod,
    reporter: &Arc<Reporter>,
    stop: watch::Receiver<Stop>,
) {
    let spec = pod.spec.clone().unwrap_or_default();
    for (i, container) in spec.init_containers.iter().flatten().enumerate() {
        let succeeded = run_container(
            node,
            pod,
            reporter,
            Slot::Init(i),
            container,
            true,
            stop.clone(),
        )
        .await;
        if !succeeded {
            return;
        }
    }
    let mains = spec.containers.iter().enumerate().map(|(i, container)| {
        run_container(
            node,
            pod,
            reporter,
            Slot::Main(i),
            container,
            false,
            stop.clone(),
        )
    });
    futures::future::join_all(mains).await;
}

/// Runs one container, restarting it as the policy says. Returns whether it ended successfully.
async fn run_container(
    node: &Arc<Node>,
    pod: &Pod,
    reporter: &Arc<Reporter>,
    slot: Slot,
    container: &Container,
    init: bool,
    mut stop: watch::Receiver<Stop>,
) -> bool {
    let policy = RestartPolicy::of(pod);
    let key = LogKey {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        container: container.name.clone(),
    };
    let log_path = node.logs.path(&key);
    let default_dir = node
        .work_dir
        .join("pods")
        .join(pod.metadata.uid.as_deref().unwrap_or_default());
    loop {
        if *stop.borrow() != Stop::Run {
            return false;
        }
        let plan = match launch_plan(pod, container) {
            Ok(plan) => plan,
            Err(error) => {
                // A spec this runtime cannot run will not get better by restarting it.
                let termination =
                    Termination::not_started(1, error.reason, error.message, Timestamp::now());
                reporter.end_container(&slot, termination).await;
                return false;
            }
        };
        let started_at = Timestamp::now();
        let termination = match process::spawn(&plan, &log_path, &default_dir) {
            Err(e) => {
                let message = format!("starting {:?} failed: {e}", plan.argv[0]);
                Termination::not_started(128, "StartError", message, Timestamp::now())
            }
            Ok(mut child) => {
                node.logs.set_running(&key, true);
                reporter
                    .update_container(&slot, |c| c.state = RunState::Running { started_at })
                    .await;
                let exited = tokio::select! {
                    status = child.wait() => Some(status),
                    _ = stop.wait_for(|s| *s != Stop::Run) => None,
                };
                let status = match exited {
                    Some(status) => status,
                    None => terminate(&mut child, &mut stop).await,
                };
                node.logs.set_running(&key, false);
                match status {
                    Ok(status) => Termination::exited(
                        process::exit_code(status),
                        started_at,
                        Timestamp::now(),
                    ),
                    Err(e) => Termination::not_started(
                        255,
                        "Error",
                        format!("waiting for the process failed: {e}"),
                        Timestamp::now(),
                    ),
                }
            }
        };
        let stopping = *stop.borrow() != Stop::Run;
        let exit_code = termination.exit_code;
        if stopping || !should_restart(policy, init, exit_code) {
            reporter.end_container(&slot, termination).await;
            return exit_code == 0;
        }
        let mut restarts = 0;
        reporter
            .update_container(&slot, |c| {
                c.restart_count += 1;
                restarts = c.restart_count;
                c.last_termination = Some(termination);
                c.state = RunState::Waiting {
                    reason: "CrashLoopBackOff".to_string(),
                    message: Some(format!("back-off restarting container {:?}", c.name)),
                };
            })
            .await;
        tokio::select! {
            () = tokio::time::sleep(restart_backoff(restarts)) => {}
            _ = stop.wait_for(|s| *s != Stop::Run) => {}
        }
    }
}

/// SIGTERM, then SIGKILL after the grace period (or at once if a kill is asked for meanwhile).
async fn terminate(
    child: &mut process::ContainerProcess,
    stop: &mut watch::Receiver<Stop>,
) -> std::io::Result<std::process::ExitStatus> {
    let current = *stop.borrow();
    if let Stop::Terminate { grace } = current {
        child.signal(libc::SIGTERM);
        let expired = tokio::time::sleep(grace);
        tokio::pin!(expired);
        loop {
            tokio::select! {
                status = child.wait() => return status,
                () = &mut expired => break,
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() == Stop::Kill {
                        break;
                    }
                }
            }
        }
    }
    child.signal(libc::SIGKILL);
    child.wait().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_rules_per_policy() {
        use RestartPolicy::*;
        assert!(!should_restart(Never, false, 1));
        assert!(!should_restart(Never, false, 0));
        assert!(should_restart(OnFailure, false, 1));
        assert!(!should_restart(OnFailure, false, 0));
        assert!(should_restart(Always, false, 0));
        assert!(should_restart(Always, false, 2));
        assert!(
            !should_restart(Always, true, 0),
            "a succeeded init container is done"
        );
        assert!(should_restart(Always, true, 1));
    }

    #[test]
    fn restart_policy_defaults_to_always() {
        assert_eq!(RestartPolicy::of(&Pod::default()), RestartPolicy::Always);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<u64> = (1..=7).map(|n| restart_backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10, 10]);
    }
}
