//! `wait NAME [--for=completed|failed|finished] [--timeout=DURATION]`: block until the
//! workflow ends, with exit codes scripts can rely on (see [`crate::cli::WAIT_EXIT_CODES`]):
//! 0 the condition was met, 1 the workflow ended the other way, 2 usage, 3 timed out, 4 the
//! wait itself failed. Only a status written for the current spec (its observedGeneration)
//! counts, so a wait right after an edit does not answer from the old run.

use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::{Workflow, WorkflowPhase};

use crate::cli::{WaitArgs, WaitFor};
use crate::errors::{Exit, Op, WORKFLOWS, one_line};
use crate::render::object_ref;
use crate::session::Session;

/// Exit code: the workflow ended the other way.
const OTHER_END: u8 = 1;
/// Exit code: a usage error (clap's, and a bad --timeout).
const USAGE: u8 = 2;
/// Exit code: timed out waiting for the condition.
const TIMED_OUT: u8 = 3;
/// Exit code: could not wait (not found, deleted, unreachable, forbidden).
const CANNOT_WAIT: u8 = 4;
/// kubectl's "negative means a week".
const A_WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

pub async fn execute(args: &WaitArgs, session: &Session) -> anyhow::Result<()> {
    let name = args.workflow.name.as_str();
    let namespace = session.namespace();
    let timeout = parse_timeout(&args.timeout).map_err(|e| Exit::new(USAGE, e))?;
    let cannot =
        |err: anyhow::Error| anyhow::Error::new(Exit::new(CANNOT_WAIT, format!("{err:#}")));
    let mut current = session
        .get_workflow(namespace, name)
        .await
        .map_err(cannot)?;
    if let Some(end) = verdict(&current, args.condition) {
        return finish(session, name, end);
    }
    let waited = tokio::time::timeout(timeout, async {
        let api: Api<Workflow> = session.api(Some(namespace));
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = watcher(api, config).default_backoff().boxed();
        let mut errors = 0u32;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(wf) | watcher::Event::InitApply(wf)) => {
                    errors = 0;
                    if let Some(end) = verdict(&wf, args.condition) {
                        return Ok(end);
                    }
                    current = wf;
                }
                Ok(watcher::Event::Delete(_)) => {
                    return Err(anyhow::anyhow!(
                        "workflow \"{name}\" was deleted in namespace \"{namespace}\" while waiting for it"
                    ));
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                // The watcher relists by itself; only errors that persist end the wait.
                Err(err) => {
                    errors += 1;
                    if errors >= 5 {
                        let op = Op::new("watch", WORKFLOWS, Some(namespace)).named(name);
                        return Err(session.fail_watch(op, &err));
                    }
                }
            }
        }
        Err(anyhow::anyhow!(
            "the watch on workflow \"{name}\" ended unexpectedly; run the command again"
        ))
    })
    .await;
    match waited {
        Ok(Ok(end)) => finish(session, name, end),
        Ok(Err(err)) => Err(cannot(err)),
        Err(_) => Err(Exit::new(TIMED_OUT, timed_out(name, &current)).into()),
    }
}

/// How a wait ends, once the workflow has.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The condition holds.
    Met,
    /// The workflow ended the other way: the one line that says how.
    Other(String),
}

fn finish(session: &Session, name: &str, end: End) -> anyhow::Result<()> {
    match end {
        End::Met => session
            .terminal
            .print(&format!("{} condition met\n", object_ref(name))),
        End::Other(line) => Err(Exit::new(OTHER_END, line).into()),
    }
}

/// The answer `wf` gives to `--for`, once its current spec's run has ended.
fn verdict(wf: &Workflow, condition: WaitFor) -> Option<End> {
    let status = wf.status.as_ref()?;
    if status.observed_generation != wf.metadata.generation {
        return None;
    }
    let name = wf.metadata.name.as_deref().unwrap_or_default();
    let message = one_line(status.message.as_deref().unwrap_or_default());
    let said = |what: &str| {
        if message.is_empty() {
            format!("workflow \"{name}\" {what}")
        } else {
            format!("workflow \"{name}\" {what}: {message}")
        }
    };
    match (status.phase?, condition) {
        (WorkflowPhase::Created | WorkflowPhase::Started, _) => None,
        (WorkflowPhase::Completed, WaitFor::Completed | WaitFor::Finished)
        | (WorkflowPhase::Failed, WaitFor::Failed | WaitFor::Finished) => Some(End::Met),
        (WorkflowPhase::Failed, WaitFor::Completed) => Some(End::Other(said("failed"))),
        (WorkflowPhase::Completed, WaitFor::Failed) => {
            Some(End::Other(said("completed instead of failing")))
        }
    }
}

/// kubectl's line, and where the workflow was when the time ran out.
fn timed_out(name: &str, wf: &Workflow) -> String {
    let status = wf.status.as_ref();
    let phase = status.and_then(|s| s.phase).map_or_else(
        || "not seen by the controller yet".to_owned(),
        |p| format!("{p:?}"),
    );
    let progress = status
        .and_then(|s| s.progress.as_deref())
        .map(|p| format!(", {p} steps succeeded"))
        .unwrap_or_default();
    format!(
        "timed out waiting for the condition on {} (it is {phase}{progress})",
        object_ref(name)
    )
}

/// A Go-style duration as kubectl takes it: `90s`, `10m`, `1h30m`, `500ms`; a bare number is
/// seconds; negative means a week (kubectl's), zero looks once.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid --timeout \"{text}\": use a duration such as 30s, 10m or 1h30m");
    let trimmed = text.trim();
    if let Some(rest) = trimmed.strip_prefix('-') {
        parse_positive(rest).ok_or_else(bad)?;
        return Ok(A_WEEK);
    }
    parse_positive(trimmed).ok_or_else(bad)
}

fn parse_positive(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(seconds).ok()?;
        rest = tail;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::StepPhase;
    use kwf_api::fixtures::{WorkflowFixture, step_status, workflow};

    fn ended(phase: WorkflowPhase, message: Option<&str>) -> Workflow {
        let wf = workflow("wf", &[("a", &[])]);
        let step = match phase {
            WorkflowPhase::Completed => StepPhase::Succeeded,
            WorkflowPhase::Failed => StepPhase::Failed,
            _ => StepPhase::Running,
        };
        let steps = vec![step_status(&wf, "a", step)];
        wf.with_status(phase, message, steps)
    }

    #[test]
    fn each_condition_is_met_by_its_end_and_answered_by_the_other() {
        let completed = ended(WorkflowPhase::Completed, Some("the step succeeded"));
        let failed = ended(
            WorkflowPhase::Failed,
            Some("step \"a\" failed with exit code 3"),
        );
        assert_eq!(verdict(&completed, WaitFor::Completed), Some(End::Met));
        assert_eq!(verdict(&completed, WaitFor::Finished), Some(End::Met));
        assert_eq!(verdict(&failed, WaitFor::Failed), Some(End::Met));
        assert_eq!(verdict(&failed, WaitFor::Finished), Some(End::Met));
        assert_eq!(
            verdict(&failed, WaitFor::Completed),
            Some(End::Other(
                "workflow \"wf\" failed: step \"a\" failed with exit code 3".into()
            ))
        );
        assert_eq!(
            verdict(&completed, WaitFor::Failed),
            Some(End::Other(
                "workflow \"wf\" completed instead of failing: the step succeeded".into()
            ))
        );
    }

    #[test]
    fn a_running_or_stale_workflow_is_no_answer_yet() {
        let running = ended(WorkflowPhase::Started, None);
        assert_eq!(verdict(&running, WaitFor::Finished), None);
        assert_eq!(
            verdict(&workflow("wf", &[("a", &[])]), WaitFor::Finished),
            None
        );
        let mut edited = ended(WorkflowPhase::Completed, None);
        edited.metadata.generation = Some(2);
        assert_eq!(
            verdict(&edited, WaitFor::Completed),
            None,
            "the old spec's end"
        );
    }

    #[test]
    fn a_timeout_says_where_the_workflow_was() {
        let running = ended(WorkflowPhase::Started, None);
        assert_eq!(
            timed_out("wf", &running),
            "timed out waiting for the condition on workflow.kwf.dev/wf (it is Started, 0/1 steps succeeded)"
        );
        assert_eq!(
            timed_out("wf", &workflow("wf", &[])),
            "timed out waiting for the condition on workflow.kwf.dev/wf (it is not seen by the controller yet)"
        );
    }

    #[test]
    fn timeouts_read_as_kubectl_reads_them() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_timeout("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout("-1s"), Ok(A_WEEK));
        for bad in ["", "soon", "10x", "-", "1h-3m"] {
            let err = parse_timeout(bad).unwrap_err();
            assert!(err.starts_with("invalid --timeout"), "{bad}: {err}");
        }
    }
}
