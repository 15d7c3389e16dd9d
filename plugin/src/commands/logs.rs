//! `logs NAME [STEP] [-f]`: the output of a step's pod, or of every step in dependency order,
//! each line prefixed by its step in a stable color. `-f` streams until the step (or the
//! whole workflow) has ended and every stream is drained.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{anyhow, bail};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use kwf_api::{Dag, LABEL_WORKFLOW, StepPhase, Workflow, WorkflowPhase, label_value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cli::LogsArgs;
use crate::errors::Op;
use crate::render::{LogPrefixes, LogTail};
use crate::session::Session;

use super::log_units::{self, Selection, Unit};

/// How often `-f` looks for newly started steps.
const POLL: Duration = Duration::from_secs(1);

pub async fn execute(args: &LogsArgs, session: &Session) -> anyhow::Result<()> {
    let name = &args.workflow.name;
    let wf = session.get_workflow(session.namespace(), name).await?;
    let dag = Dag::build(&wf.spec)
        .map_err(|e| anyhow!("workflow \"{name}\" is invalid, so no step ran: {e}"))?;
    let selection = Selection {
        instance: args.instance,
        attempt: args.attempt,
    };
    let steps: Vec<String> = match &args.step {
        Some(step) if dag.index_of(step).is_none() => {
            let names: Vec<&str> = (0..dag.len()).map(|i| dag.name(i)).collect();
            bail!(
                "workflow \"{name}\" has no step \"{step}\"; its steps are: {}",
                names.join(", ")
            );
        }
        Some(step) => vec![step.clone()],
        None if args.failed => log_units::failed_steps(&wf, &dag),
        None => dag
            .topological_order()
            .iter()
            .map(|&i| dag.name(i).to_string())
            .collect(),
    };
    let resolve = |wf: &Workflow| -> anyhow::Result<Vec<Unit>> {
        match &args.step {
            Some(step) => Ok(vec![
                log_units::named(wf, step, selection).map_err(|e| anyhow!(e))?,
            ]),
            None => Ok(log_units::all(wf, &steps, args.failed)),
        }
    };
    // Checked before any pod is listed: a fan-out without --instance, a missing attempt.
    let units = resolve(&wf)?;
    if args.failed && units.is_empty() {
        session
            .terminal
            .note(&format!("workflow \"{name}\" has no failed step"));
        return Ok(());
    }
    let logs = StepLogs {
        session,
        name,
        single: args.step.is_some(),
        prefixes: LogPrefixes::new(
            widest_labels(&wf, &steps).iter().map(String::as_str),
            session.terminal.stdout_style(),
        ),
        pods: session.api(Some(session.namespace())),
    };
    if args.follow {
        logs.follow(&resolve).await
    } else {
        logs.print(&wf, &units).await
    }
}

/// The names a log line of `steps` may start with, a fanned-out step's widest instance among
/// them (`build[49]`), so prefixes keep one width while instances start (a fan-out over nodes
/// not started yet may widen it later).
fn widest_labels(wf: &Workflow, steps: &[String]) -> Vec<String> {
    steps
        .iter()
        .map(|step| {
            let spec = wf.spec.containers.iter().find(|s| &s.step_name == step);
            // Over nodes, the number is known once the step started (its status lists them).
            let started = wf
                .status
                .as_ref()
                .and_then(|s| s.step(step))
                .and_then(|s| s.instances.as_ref())
                .map(|i| usize::try_from(i.total).unwrap_or(usize::MAX));
            let items = started
                .or_else(|| spec.and_then(|s| s.with_items.as_ref()).map(Vec::len))
                .unwrap_or(0);
            match items {
                0 => step.clone(),
                n => format!("{step}[{}]", n - 1),
            }
        })
        .collect()
}

/// The last `lines` lines of each failed step's log, for `describe` and `graph --watch`: one
/// list of pods, one log request per failed step. A step whose pod is gone, or whose log
/// cannot be read, says why instead.
pub(crate) async fn failed_tails(session: &Session, wf: &Workflow, lines: i64) -> Vec<LogTail> {
    let Ok(dag) = Dag::build(&wf.spec) else {
        return Vec::new();
    };
    let units = log_units::all(wf, &log_units::failed_steps(wf, &dag), true);
    if units.is_empty() {
        return Vec::new();
    }
    let name = wf.metadata.name.as_deref().unwrap_or_default();
    let namespace = wf
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(session.namespace());
    let params = ListParams::default().labels(&format!("{LABEL_WORKFLOW}={}", label_value(name)));
    let pods: Vec<Pod> = match session.list(namespace, &params, "pods").await {
        Ok(pods) => pods,
        Err(err) => {
            let why = format!("{err:#}");
            return units
                .into_iter()
                .map(|unit| LogTail {
                    step: unit.label,
                    pod: None,
                    text: Err(why.clone()),
                })
                .collect();
        }
    };
    let api: Api<Pod> = session.api(Some(namespace));
    let mut tails = Vec::with_capacity(units.len());
    for unit in units {
        let Some(pod) = log_units::pod_for(&pods, &unit).filter(|pod| logs_available(pod)) else {
            tails.push(LogTail {
                step: unit.label,
                pod: None,
                text: Err("no pod with a log is left (deleted, or it never started)".to_owned()),
            });
            continue;
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            container: container_for(pod, &unit.step),
            tail_lines: Some(lines),
            ..Default::default()
        };
        let op = Op::new("get", "pods/log", Some(namespace)).named(&pod_name);
        let text = session
            .send(op, api.logs(&pod_name, &params))
            .await
            .map_err(|err| format!("{err:#}"));
        tails.push(LogTail {
            step: unit.label,
            pod: Some(pod_name),
            text,
        });
    }
    tails
}

/// The logs of the steps of one workflow, in the session's namespace.
struct StepLogs<'a> {
    session: &'a Session,
    /// The workflow's name.
    name: &'a str,
    /// A step was named: its absence is an error, not something to skip.
    single: bool,
    prefixes: LogPrefixes,
    pods: Api<Pod>,
}

impl StepLogs<'_> {
    /// Everything logged so far, step after step.
    async fn print(&self, wf: &Workflow, units: &[Unit]) -> anyhow::Result<()> {
        let pods = self.list_pods().await?;
        for unit in units {
            let Some(pod) = log_units::pod_for(&pods, unit).filter(|pod| logs_available(pod))
            else {
                if self.single {
                    let hint = if log_units::ended(wf, unit, |s| step_ended(wf, s)) {
                        ""
                    } else {
                        "; use -f to wait for its output"
                    };
                    bail!("{}{hint}", not_run(wf, unit, self.name));
                }
                if unit_failed(wf, unit) {
                    // Its log is what was asked for (`--failed`, or the failure among all).
                    self.session.terminal.note(&format!(
                        "warning: {} failed but no pod of its Job with a log is left",
                        what(unit)
                    ));
                }
                continue;
            };
            self.print_whole(pod, unit).await?;
        }
        Ok(())
    }

    /// The log of `unit`'s pod so far, prefixed; returns the pod's name.
    async fn print_whole(&self, pod: &Pod, unit: &Unit) -> anyhow::Result<String> {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            container: container_for(pod, &unit.step),
            ..Default::default()
        };
        let op = Op::new("get", "pods/log", Some(self.session.namespace())).named(&pod_name);
        let text = self
            .session
            .send(op, self.pods.logs(&pod_name, &params))
            .await?;
        self.session
            .terminal
            .print(&self.prefixes.prefixed(&unit.label, &text))?;
        Ok(pod_name)
    }

    /// Streams every step's output as its pod starts, until nothing more can come; the
    /// units are resolved again at each look, as instances and attempts start.
    async fn follow(
        &self,
        resolve: &dyn Fn(&Workflow) -> anyhow::Result<Vec<Unit>>,
    ) -> anyhow::Result<()> {
        let terminal = self.session.terminal;
        let (lines, mut received) = mpsc::unbounded_channel::<String>();
        let mut streams = JoinSet::new();
        let mut streamed: HashSet<String> = HashSet::new();
        let mut first_look = true;
        loop {
            let wf = self
                .session
                .get_workflow(self.session.namespace(), self.name)
                .await?;
            let units = resolve(&wf)?;
            let pods = self.list_pods().await?;
            if std::mem::take(&mut first_look) {
                // Steps that had finished before we looked print whole, in dependency order;
                // only what still runs (or starts later) interleaves.
                let done = |unit: &&Unit| log_units::ended(&wf, unit, |s| finished(&wf, s));
                for unit in units.iter().filter(done) {
                    if let Some(pod) =
                        log_units::pod_for(&pods, unit).filter(|pod| logs_available(pod))
                    {
                        streamed.insert(self.print_whole(pod, unit).await?);
                    }
                }
            }
            for unit in &units {
                let Some(pod) = log_units::pod_for(&pods, unit).filter(|pod| logs_available(pod))
                else {
                    continue;
                };
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                if streamed.insert(pod_name.clone()) {
                    let params = LogParams {
                        container: container_for(pod, &unit.step),
                        follow: true,
                        ..Default::default()
                    };
                    let prefix = self.prefixes.prefix(&unit.label);
                    streams.spawn(stream(
                        self.pods.clone(),
                        pod_name,
                        params,
                        prefix,
                        lines.clone(),
                    ));
                }
            }
            let ended = match (self.single, units.as_slice()) {
                (true, [unit]) => log_units::ended(&wf, unit, |s| step_ended(&wf, s)),
                _ => workflow_ended(&wf),
            };
            if let (true, true, [unit]) = (ended && self.single, streamed.is_empty(), &units[..]) {
                bail!("{}", not_run(&wf, unit, self.name));
            }
            // Print what arrives until the next look, or until the last stream closed.
            let deadline = tokio::time::sleep(POLL);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    Some(line) = received.recv() => terminal.print(&line)?,
                    Some(done) = streams.join_next() => {
                        if let Ok(Err(message)) = done {
                            terminal.note(&format!("warning: {message}"));
                        }
                    }
                    _ = &mut deadline => break,
                }
            }
            if ended && streams.is_empty() {
                while let Ok(line) = received.try_recv() {
                    terminal.print(&line)?;
                }
                return Ok(());
            }
        }
    }

    /// The pods of the workflow's Jobs.
    async fn list_pods(&self) -> anyhow::Result<Vec<Pod>> {
        let params =
            ListParams::default().labels(&format!("{LABEL_WORKFLOW}={}", label_value(self.name)));
        self.session
            .list(self.session.namespace(), &params, "pods")
            .await
    }
}

/// Follows one pod's log, sending each line with its prefix; an error comes back as text.
async fn stream(
    api: Api<Pod>,
    pod: String,
    params: LogParams,
    prefix: String,
    lines: mpsc::UnboundedSender<String>,
) -> Result<(), String> {
    let reader = api
        .log_stream(&pod, &params)
        .await
        .map_err(|e| format!("logs of pod {pod}: {e}"))?;
    let mut reader = reader.lines();
    while let Some(line) = reader
        .try_next()
        .await
        .map_err(|e| format!("logs of pod {pod}: {e}"))?
    {
        if lines.send(format!("{prefix}{line}\n")).is_err() {
            break;
        }
    }
    Ok(())
}

/// The container to read: the only one, else the step's (`step` or the step's name), else the first.
fn container_for(pod: &Pod, step: &str) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    if containers.len() <= 1 {
        return None;
    }
    containers
        .iter()
        .find(|c| c.name == "step" || c.name == step)
        .or(containers.first())
        .map(|c| c.name.clone())
}

/// Whether the API server can serve the pod's log: its container has started.
fn logs_available(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return true;
    }
    status.container_statuses.iter().flatten().any(|c| {
        c.state
            .as_ref()
            .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
    })
}

fn workflow_ended(wf: &Workflow) -> bool {
    let phase = wf.status.as_ref().and_then(|s| s.phase);
    matches!(
        phase,
        Some(WorkflowPhase::Completed | WorkflowPhase::Failed)
    ) && !wf
        .status
        .as_ref()
        .is_some_and(|s| s.steps.iter().any(|step| step.phase == StepPhase::Running))
}

/// The step's Job has ended, so its log is complete.
fn finished(wf: &Workflow, step: &str) -> bool {
    let phase = wf
        .status
        .as_ref()
        .map(|s| s.step_phase(step))
        .unwrap_or_default();
    matches!(
        phase,
        StepPhase::Succeeded | StepPhase::Failed | StepPhase::Stopped
    )
}

/// A step can log no more once it finished, or once the workflow ended without running it.
fn step_ended(wf: &Workflow, step: &str) -> bool {
    let phase = wf
        .status
        .as_ref()
        .map(|s| s.step_phase(step))
        .unwrap_or_default();
    match phase {
        StepPhase::Succeeded | StepPhase::Failed | StepPhase::Skipped | StepPhase::Stopped => true,
        StepPhase::Running => false,
        StepPhase::Pending => workflow_ended(wf),
    }
}

/// `step "build"`, `instance 3 of step "build"`, with `attempt 2 of ` before when one was asked for.
fn what(unit: &Unit) -> String {
    let attempt = unit
        .attempt
        .map(|a| format!("attempt {} of ", a + 1))
        .unwrap_or_default();
    match unit.instance {
        Some(i) => format!("{attempt}instance {i} of step \"{}\"", unit.step),
        None => format!("{attempt}step \"{}\"", unit.step),
    }
}

/// Whether the unit failed for good: the step, or the listed instance.
fn unit_failed(wf: &Workflow, unit: &Unit) -> bool {
    let Some(status) = wf.status.as_ref().and_then(|s| s.step(&unit.step)) else {
        return false;
    };
    match (unit.instance, &status.instances) {
        (Some(i), Some(instances)) => instances
            .active
            .iter()
            .any(|x| x.index == i && x.phase == StepPhase::Failed),
        _ => status.phase == StepPhase::Failed,
    }
}

/// Why a step (or an instance, or an attempt) has no output to show.
fn not_run(wf: &Workflow, unit: &Unit, name: &str) -> String {
    let step = unit.step.as_str();
    let status = wf.status.as_ref().and_then(|s| s.step(step));
    let phase = status.map(|s| s.phase).unwrap_or_default();
    let why = status
        .and_then(|s| s.message.as_deref())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    if let Some(i) = unit.instance {
        return if unit.jobs.is_empty() {
            format!(
                "instance {i} of step \"{step}\" of workflow \"{name}\" has not started (the step is {phase:?})"
            )
        } else {
            format!(
                "{} of workflow \"{name}\" has no pod with output (deleted, or not started yet)",
                what(unit)
            )
        };
    }
    match phase {
        StepPhase::Pending | StepPhase::Skipped | StepPhase::Stopped if unit.jobs.is_empty() => {
            format!("step \"{step}\" of workflow \"{name}\" has not run (it is {phase:?}{why})")
        }
        _ if unit.attempt.is_some() => format!(
            "{} of workflow \"{name}\" has no pod with output (deleted, or not started yet)",
            what(unit)
        ),
        _ => format!(
            "step \"{step}\" of workflow \"{name}\" has no pod with output yet (it is {phase:?})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus,
        PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kwf_api::fixtures::workflow;
    use kwf_api::{LABEL_STEP, StepStatus, WorkflowStatus};

    fn wf(phase: Option<WorkflowPhase>, steps: &[(&str, StepPhase, Option<&str>)]) -> Workflow {
        let mut wf = workflow("wf", &[("a", &[]), ("b", &[]), ("c", &[])]);
        wf.status = Some(WorkflowStatus {
            phase,
            steps: steps
                .iter()
                .map(|(name, phase, job)| StepStatus {
                    name: name.to_string(),
                    phase: *phase,
                    job_name: job.map(str::to_string),
                    message: (*phase == StepPhase::Skipped).then(|| "\"a\" failed".to_string()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        wf
    }

    fn pod(name: &str, step: &str, job: &str, created: i64) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.labels = Some(
            [(LABEL_STEP, step), ("batch.kubernetes.io/job-name", job)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        pod.metadata.creation_timestamp =
            Some(Time(jiff::Timestamp::from_second(created).unwrap()));
        pod
    }

    #[test]
    fn the_pod_of_the_current_job_is_chosen() {
        let pods = vec![
            pod("old", "a", "wf-a-1", 1),
            pod("cur", "a", "wf-a-1-r1", 2),
            pod("cur2", "a", "wf-a-1-r1", 3),
        ];
        let w = wf(
            Some(WorkflowPhase::Started),
            &[("a", StepPhase::Running, Some("wf-a-1-r1"))],
        );
        let pod_for_step = |w: &Workflow, step: &str| {
            let unit = log_units::named(w, step, Selection::default()).unwrap();
            log_units::pod_for(&pods, &unit).and_then(|p| p.metadata.name.clone())
        };
        assert_eq!(pod_for_step(&w, "a").as_deref(), Some("cur2"));
        assert!(pod_for_step(&w, "b").is_none());
        let pending = wf(Some(WorkflowPhase::Started), &[]);
        assert!(pod_for_step(&pending, "a").is_none());
    }

    #[test]
    fn a_single_container_needs_no_name_and_several_prefer_the_step() {
        let mut p = pod("p", "a", "j", 1);
        let container = |name: &str| Container {
            name: name.into(),
            ..Default::default()
        };
        p.spec = Some(PodSpec {
            containers: vec![container("step")],
            ..Default::default()
        });
        assert_eq!(container_for(&p, "a"), None);
        p.spec = Some(PodSpec {
            containers: vec![container("sidecar"), container("a")],
            ..Default::default()
        });
        assert_eq!(container_for(&p, "a").as_deref(), Some("a"));
        p.spec = Some(PodSpec {
            containers: vec![container("x"), container("y")],
            ..Default::default()
        });
        assert_eq!(container_for(&p, "a").as_deref(), Some("x"));
    }

    #[test]
    fn logs_are_available_once_a_container_started() {
        let mut p = pod("p", "a", "j", 1);
        assert!(!logs_available(&p));
        let state = |running: bool| ContainerState {
            running: running.then(ContainerStateRunning::default),
            waiting: (!running).then(ContainerStateWaiting::default),
            ..Default::default()
        };
        let status = |running| PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![ContainerStatus {
                state: Some(state(running)),
                ..Default::default()
            }]),
            ..Default::default()
        };
        p.status = Some(status(false));
        assert!(!logs_available(&p));
        p.status = Some(status(true));
        assert!(logs_available(&p));
        p.status = Some(PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        assert!(logs_available(&p));
    }

    #[test]
    fn a_step_ends_when_it_finished_or_the_workflow_ended_without_it() {
        let running = wf(
            Some(WorkflowPhase::Started),
            &[("a", StepPhase::Running, Some("j"))],
        );
        assert!(!step_ended(&running, "a"));
        assert!(!step_ended(&running, "b"));
        let failed = wf(
            Some(WorkflowPhase::Failed),
            &[
                ("a", StepPhase::Failed, Some("j")),
                ("b", StepPhase::Skipped, None),
            ],
        );
        assert!(step_ended(&failed, "a"));
        assert!(step_ended(&failed, "b"));
        assert!(step_ended(&failed, "c"));
    }

    #[test]
    fn a_failed_workflow_with_running_steps_has_not_ended_for_logs() {
        let w = wf(
            Some(WorkflowPhase::Failed),
            &[
                ("a", StepPhase::Failed, Some("j")),
                ("b", StepPhase::Running, Some("k")),
            ],
        );
        assert!(!workflow_ended(&w));
        assert!(workflow_ended(&wf(Some(WorkflowPhase::Completed), &[])));
        assert!(!workflow_ended(&wf(Some(WorkflowPhase::Started), &[])));
    }

    #[test]
    fn not_run_explains_skipped_steps() {
        let w = wf(
            Some(WorkflowPhase::Failed),
            &[("b", StepPhase::Skipped, None)],
        );
        let unit = |step| log_units::named(&w, step, Selection::default()).unwrap();
        assert_eq!(
            not_run(&w, &unit("b"), "wf"),
            "step \"b\" of workflow \"wf\" has not run (it is Skipped: \"a\" failed)"
        );
        assert_eq!(
            not_run(&w, &unit("c"), "wf"),
            "step \"c\" of workflow \"wf\" has not run (it is Pending)"
        );
    }

    #[test]
    fn not_run_names_the_instance_or_the_attempt() {
        let w = crate::render::fixtures::retries_and_fan_out();
        let unit = |step, instance, attempt| {
            log_units::named(&w, step, Selection { instance, attempt }).unwrap()
        };
        assert_eq!(
            not_run(&w, &unit("build", Some(48), None), "matrix"),
            "instance 48 of step \"build\" of workflow \"matrix\" has not started (the step is Running)"
        );
        assert_eq!(
            not_run(&w, &unit("build", Some(7), Some(2)), "matrix"),
            "attempt 2 of instance 7 of step \"build\" of workflow \"matrix\" has no pod with output \
             (deleted, or not started yet)"
        );
        assert_eq!(
            not_run(&w, &unit("prepare", None, Some(1)), "matrix"),
            "attempt 1 of step \"prepare\" of workflow \"matrix\" has no pod with output \
             (deleted, or not started yet)"
        );
    }
}
