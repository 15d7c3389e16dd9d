//! The pure model of one pod's run and the `PodStatus` it is reported as.
//!
//! The runtime only mutates a [`PodRun`]; everything the API server sees is derived here, so the rules
//! (phase, conditions, container states) are tested without processes or a cluster.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Every pod and the node itself live on loopback.
pub const LOOPBACK_IP: &str = "127.0.0.1";

/// Reason of a container that has nothing to run (images are ignored by this runtime).
pub const NO_COMMAND: &str = "NoCommand";

/// Reason and message Kubernetes uses for a pod killed by `activeDeadlineSeconds`.
pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
    },
    Terminated(Termination),
}

/// How one run of a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
}

impl Termination {
    /// A process exit: reason `Completed` for 0, `Error` otherwise (as container runtimes report it).
    pub fn exited(exit_code: i32, started_at: Timestamp, finished_at: Timestamp) -> Self {
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        Termination {
            exit_code,
            reason: reason.to_string(),
            message: None,
            started_at: Some(started_at),
            finished_at,
        }
    }

    /// A container that never ran (no command, spawn failure): it fails with `reason` and `message`.
    pub fn not_started(exit_code: i32, reason: &str, message: String, now: Timestamp) -> Self {
        Termination {
            exit_code,
            reason: reason.to_string(),
            message: Some(message),
            started_at: None,
            finished_at: now,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRun {
    pub name: String,
    pub image: String,
    pub state: RunState,
    pub last_termination: Option<Termination>,
    pub restart_count: i32,
}

impl ContainerRun {
    pub fn waiting(name: &str, image: &str, reason: &str) -> Self {
        ContainerRun {
            name: name.to_string(),
            image: image.to_string(),
            state: RunState::Waiting {
                reason: reason.to_string(),
                message: None,
            },
            last_termination: None,
            restart_count: 0,
        }
    }

    fn succeeded(&self) -> bool {
        matches!(&self.state, RunState::Terminated(t) if t.exit_code == 0)
    }

    fn running(&self) -> bool {
        matches!(self.state, RunState::Running { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// Everything the runtime knows about one pod's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRun {
    pub uid: String,
    pub start_time: Timestamp,
    pub init: Vec<ContainerRun>,
    pub main: Vec<ContainerRun>,
    /// Set by the runtime once no container will run again (all exited for good, or the pod was stopped).
    pub finished: bool,
    pub deadline_exceeded: bool,
}

impl PodRun {
    pub fn phase(&self) -> Phase {
        // Past the deadline the pod fails, but only once its processes are gone: a terminal phase promises that.
        if self.finished && self.deadline_exceeded {
            return Phase::Failed;
        }
        if self.finished {
            let all_succeeded =
                !self.main.is_empty() && self.main.iter().all(ContainerRun::succeeded);
            return if all_succeeded && self.initialized() {
                Phase::Succeeded
            } else {
                Phase::Failed
            };
        }
        if self.initialized() {
            Phase::Running
        } else {
            Phase::Pending
        }
    }

    fn initialized(&self) -> bool {
        self.init.iter().all(ContainerRun::succeeded)
    }

    fn containers_ready(&self) -> bool {
        !self.finished && !self.main.is_empty() && self.main.iter().all(ContainerRun::running)
    }

    pub fn container_id(&self, container: &ContainerRun) -> String {
        format!(
            "kwf://{}/{}/{}",
            self.uid, container.name, container.restart_count
        )
    }
}

/// The status to publish for `run`. `previous` holds the conditions published before, so that an
/// unchanged condition keeps its `lastTransitionTime`.
pub fn pod_status(run: &PodRun, previous: &[PodCondition], now: Timestamp) -> PodStatus {
    let phase = run.phase();
    let (reason, message) = if run.deadline_exceeded && phase == Phase::Failed {
        (
            Some(DEADLINE_EXCEEDED.to_string()),
            Some(DEADLINE_MESSAGE.to_string()),
        )
    } else {
        (None, None)
    };
    PodStatus {
        phase: Some(phase.as_str().to_string()),
        reason,
        message,
        start_time: Some(Time(run.start_time)),
        host_ip: Some(LOOPBACK_IP.to_string()),
        host_ips: Some(vec![HostIP {
            ip: LOOPBACK_IP.to_string(),
        }]),
        pod_ip: Some(LOOPBACK_IP.to_string()),
        pod_ips: Some(vec![PodIP {
            ip: LOOPBACK_IP.to_string(),
        }]),
        conditions: Some(conditions(run, phase, previous, now)),
        init_container_statuses: Some(run.init.iter().map(|c| container_status(run, c)).collect()),
        container_statuses: Some(run.main.iter().map(|c| container_status(run, c)).collect()),
        qos_class: Some("BestEffort".to_string()),
        ..PodStatus::default()
    }
}

fn conditions(
    run: &PodRun,
    phase: Phase,
    previous: &[PodCondition],
    now: Timestamp,
) -> Vec<PodCondition> {
    let not_ready_reason = if phase.is_terminal() {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let ready = run.containers_ready();
    let initialized = run.initialized();
    let wanted = [
        ("PodReadyToStartContainers", true, None),
        ("PodScheduled", true, None),
        (
            "Initialized",
            initialized,
            (!initialized).then_some("ContainersNotInitialized"),
        ),
        (
            "ContainersReady",
            ready,
            (!ready).then_some(not_ready_reason),
        ),
        ("Ready", ready, (!ready).then_some(not_ready_reason)),
    ];
    wanted
        .into_iter()
        .map(|(type_, status, reason)| {
            let status = if status { "True" } else { "False" }.to_string();
            let unchanged = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status);
            let since = unchanged
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            PodCondition {
                type_: type_.to_string(),
                status,
                reason: reason.map(str::to_string),
                last_transition_time: Some(since),
                ..PodCondition::default()
            }
        })
        .collect()
}

fn container_status(run: &PodRun, container: &ContainerRun) -> ContainerStatus {
    let running = container.running();
    let has_run =
        !matches!(container.state, RunState::Waiting { .. }) || container.restart_count > 0;
    ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone(),
        image_id: format!("kwf://image/{}", container.image),
        container_id: has_run.then(|| run.container_id(container)),
        ready: running && !run.finished,
        started: Some(running),
        restart_count: container.restart_count,
        state: Some(container_state(
            &container.state,
            run.container_id(container),
        )),
        last_state: container
            .last_termination
            .as_ref()
            .map(|t| terminated_state(t, None)),
        ..ContainerStatus::default()
    }
}

fn container_state(state: &RunState, container_id: String) -> ContainerState {
    match state {
        RunState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: message.clone(),
            }),
            ..ContainerState::default()
        },
        RunState::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..ContainerState::default()
        },
        RunState::Terminated(t) => terminated_state(t, Some(container_id)),
    }
}

fn terminated_state(t: &Termination, container_id: Option<String>) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: t.started_at.map(Time),
            finished_at: Some(Time(t.finished_at)),
            container_id,
            signal: None,
        }),
        ..ContainerState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("valid timestamp")
    }

    fn pod(init: Vec<ContainerRun>, main: Vec<ContainerRun>) -> PodRun {
        PodRun {
            uid: "uid-1".to_string(),
            start_time: t(0),
            init,
            main,
            finished: false,
            deadline_exceeded: false,
        }
    }

    fn with_state(name: &str, state: RunState) -> ContainerRun {
        ContainerRun {
            state,
            ..ContainerRun::waiting(name, "busybox", "ContainerCreating")
        }
    }

    fn exited(name: &str, code: i32) -> ContainerRun {
        with_state(
            name,
            RunState::Terminated(Termination::exited(code, t(1), t(2))),
        )
    }

    fn running(name: &str) -> ContainerRun {
        with_state(name, RunState::Running { started_at: t(1) })
    }

    fn condition<'a>(status: &'a PodStatus, type_: &str) -> &'a PodCondition {
        status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
            .unwrap_or_else(|| panic!("condition {type_} missing"))
    }

    #[test]
    fn termination_reason_follows_exit_code() {
        assert_eq!(Termination::exited(0, t(0), t(1)).reason, "Completed");
        assert_eq!(Termination::exited(3, t(0), t(1)).reason, "Error");
    }

    #[test]
    fn running_pod_reports_running_container_and_ready() {
        let run = pod(vec![], vec![running("main")]);
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip.as_deref(), Some(LOOPBACK_IP));
        assert_eq!(status.host_ip.as_deref(), Some(LOOPBACK_IP));
        assert_eq!(status.start_time, Some(Time(t(0))));
        let cs = &status.container_statuses.as_ref().expect("statuses")[0];
        assert!(cs.ready);
        assert_eq!(cs.container_id.as_deref(), Some("kwf://uid-1/main/0"));
        assert_eq!(cs.image_id, "kwf://image/busybox");
        let state = cs.state.as_ref().expect("state");
        assert_eq!(
            state.running.as_ref().and_then(|r| r.started_at.clone()),
            Some(Time(t(1)))
        );
        assert_eq!(condition(&status, "Ready").status, "True");
        assert_eq!(condition(&status, "ContainersReady").status, "True");
        assert_eq!(condition(&status, "Initialized").status, "True");
        assert_eq!(condition(&status, "PodScheduled").status, "True");
    }

    #[test]
    fn finished_pod_with_all_zero_exits_succeeds() {
        let mut run = pod(vec![], vec![exited("a", 0), exited("b", 0)]);
        run.finished = true;
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Succeeded"));
        let ready = condition(&status, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
        let terminated = status.container_statuses.as_ref().expect("statuses")[0]
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .expect("terminated");
        assert_eq!(terminated.exit_code, 0);
        assert_eq!(terminated.reason.as_deref(), Some("Completed"));
        assert_eq!(terminated.started_at, Some(Time(t(1))));
        assert_eq!(terminated.finished_at, Some(Time(t(2))));
    }

    #[test]
    fn finished_pod_with_a_failed_container_fails_and_keeps_exit_code() {
        let mut run = pod(vec![], vec![exited("a", 0), exited("b", 3)]);
        run.finished = true;
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        let codes: Vec<i32> = status
            .container_statuses
            .expect("statuses")
            .iter()
            .filter_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code))
            .collect();
        assert_eq!(codes, vec![0, 3]);
    }

    #[test]
    fn one_exited_container_of_two_keeps_the_pod_running_but_not_ready() {
        let run = pod(vec![], vec![exited("a", 0), running("b")]);
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = condition(&status, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    }

    #[test]
    fn pod_is_pending_until_init_containers_succeed() {
        let run = pod(
            vec![running("init")],
            vec![ContainerRun::waiting("main", "img", "PodInitializing")],
        );
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        let initialized = condition(&status, "Initialized");
        assert_eq!(initialized.status, "False");
        assert_eq!(
            initialized.reason.as_deref(),
            Some("ContainersNotInitialized")
        );
        assert_eq!(status.init_container_statuses.expect("init").len(), 1);
        let main = &status.container_statuses.expect("main")[0];
        assert_eq!(
            main.container_id, None,
            "a container that never ran has no id"
        );
    }

    #[test]
    fn failed_init_container_fails_the_finished_pod_even_if_main_never_ran() {
        let mut run = pod(
            vec![exited("init", 1)],
            vec![ContainerRun::waiting("main", "img", "PodInitializing")],
        );
        run.finished = true;
        assert_eq!(run.phase(), Phase::Failed);
    }

    #[test]
    fn stopped_pod_without_containers_run_fails() {
        let mut run = pod(
            vec![],
            vec![ContainerRun::waiting("main", "img", "ContainerCreating")],
        );
        run.finished = true;
        assert_eq!(run.phase(), Phase::Failed);
    }

    #[test]
    fn deadline_exceeded_fails_with_reason_once_finished() {
        let mut run = pod(vec![], vec![running("main")]);
        run.deadline_exceeded = true;
        let stopping = pod_status(&run, &[], t(5));
        assert_eq!(
            stopping.phase.as_deref(),
            Some("Running"),
            "not terminal while processes run"
        );
        assert_eq!(stopping.reason, None);
        run.main = vec![exited("main", 0)];
        run.finished = true;
        let status = pod_status(&run, &[], t(5));
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.reason.as_deref(), Some(DEADLINE_EXCEEDED));
        assert!(status.message.is_some());
    }

    #[test]
    fn restarted_container_reports_last_state_and_count() {
        let mut container = running("main");
        container.restart_count = 2;
        container.last_termination = Some(Termination::exited(1, t(1), t(2)));
        let run = pod(vec![], vec![container]);
        let status = pod_status(&run, &[], t(5));
        let cs = &status.container_statuses.expect("statuses")[0];
        assert_eq!(cs.restart_count, 2);
        assert_eq!(cs.container_id.as_deref(), Some("kwf://uid-1/main/2"));
        let last = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .expect("last state terminated");
        assert_eq!(last.exit_code, 1);
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time() {
        let run = pod(vec![], vec![running("main")]);
        let first = pod_status(&run, &[], t(5));
        let previous = first.conditions.expect("conditions");
        let mut done = run.clone();
        done.main = vec![exited("main", 0)];
        done.finished = true;
        let second = pod_status(&done, &previous, t(9));
        assert_eq!(
            condition(&second, "PodScheduled").last_transition_time,
            Some(Time(t(5)))
        );
        assert_eq!(
            condition(&second, "Ready").last_transition_time,
            Some(Time(t(9)))
        );
    }
}
