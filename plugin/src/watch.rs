//! `--watch`: follow one Workflow with a watcher, redraw its graph on every change (and every
//! second on a terminal, so running durations tick), stop when it ends.

use std::io::IsTerminal;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::{Workflow, WorkflowPhase};

use crate::errors::{Op, WORKFLOWS};
use crate::render::{self, GraphFormat, Style};
use crate::session::Session;
use crate::terminal::Terminal;

/// How a followed workflow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed { message: String },
}

impl Outcome {
    /// `Ok` for Completed; the one-line error for Failed (exit code 1).
    pub fn into_result(self, name: &str) -> anyhow::Result<()> {
        match self {
            Outcome::Completed => Ok(()),
            Outcome::Failed { message } if message.is_empty() => {
                Err(anyhow::anyhow!("workflow \"{name}\" failed"))
            }
            Outcome::Failed { message } => {
                Err(anyhow::anyhow!("workflow \"{name}\" failed: {message}"))
            }
        }
    }
}

/// The end state of `wf`, if it has ended. `fresh` says whether its status already answers
/// our request (after a restart, the old Failed status is not the answer yet).
pub fn outcome(wf: &Workflow, fresh: &dyn Fn(&Workflow) -> bool) -> Option<Outcome> {
    if !fresh(wf) {
        return None;
    }
    let status = wf.status.as_ref()?;
    match status.phase? {
        WorkflowPhase::Completed => Some(Outcome::Completed),
        WorkflowPhase::Failed => Some(Outcome::Failed {
            message: crate::errors::one_line(status.message.as_deref().unwrap_or_default()),
        }),
        WorkflowPhase::Created | WorkflowPhase::Started => None,
    }
}

/// Follows workflow `name` in `namespace` until it ends, drawing its graph in `format`;
/// returns how it ended.
pub async fn follow(
    session: &Session,
    namespace: &str,
    name: &str,
    fresh: &dyn Fn(&Workflow) -> bool,
    format: GraphFormat,
) -> anyhow::Result<Outcome> {
    let api: Api<Workflow> = session.api(Some(namespace));
    let op = Op::new("watch", WORKFLOWS, Some(namespace)).named(name);
    let mut current = session.get_workflow(namespace, name).await?;
    let mut screen = Screen {
        terminal: session.terminal,
        in_place: std::io::stdout().is_terminal(),
        format,
        style: session.terminal.stdout_style(),
        frames: 0,
        last: String::new(),
    };
    screen.draw(&current)?;
    if let Some(end) = outcome(&current, fresh) {
        return Ok(end);
    }

    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut consecutive_errors = 0u32;
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else {
                    anyhow::bail!("the watch on workflow \"{name}\" ended unexpectedly; run the command again");
                };
                match event {
                    Ok(watcher::Event::Apply(wf) | watcher::Event::InitApply(wf)) => {
                        consecutive_errors = 0;
                        current = wf;
                    }
                    Ok(watcher::Event::Delete(_)) => {
                        anyhow::bail!("workflow \"{name}\" was deleted in namespace \"{namespace}\" while being watched");
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
                    Err(err) => {
                        consecutive_errors += 1;
                        // The watcher relists by itself after expired versions and dropped
                        // connections; only persistent or permission errors end the watch.
                        if consecutive_errors >= 5 || is_permanent(&err) {
                            return Err(session.fail_watch(op, &err));
                        }
                        continue;
                    }
                }
            }
            _ = tick.tick(), if screen.in_place => {}
        }
        screen.draw(&current)?;
        if let Some(end) = outcome(&current, fresh) {
            return Ok(end);
        }
    }
}

fn is_permanent(err: &watcher::Error) -> bool {
    use watcher::Error as W;
    let status = match err {
        W::InitialListFailed(kube::Error::Api(s))
        | W::WatchStartFailed(kube::Error::Api(s))
        | W::WatchFailed(kube::Error::Api(s)) => s,
        W::WatchError(s) => s,
        _ => return false,
    };
    status.is_forbidden() || status.code == 401 || status.is_not_found()
}

/// Draws successive frames: in place on a terminal, else each changed frame after a blank line.
struct Screen {
    terminal: Terminal,
    in_place: bool,
    format: GraphFormat,
    style: Style,
    frames: usize,
    last: String,
}

impl Screen {
    fn draw(&mut self, wf: &Workflow) -> anyhow::Result<()> {
        let text = render::graph(wf, self.format, self.style, jiff::Timestamp::now());
        if text == self.last {
            return Ok(());
        }
        let frame = if self.in_place {
            in_place_frame(&text, self.frames == 0)
        } else if self.frames == 0 {
            text.clone()
        } else {
            format!("\n{text}")
        };
        self.terminal.print(&frame)?;
        self.frames += 1;
        self.last = text;
        Ok(())
    }
}

/// A frame that overwrites the previous one without flicker: cursor home, each line cleared
/// to its end, then everything below cleared. The first frame clears the screen once.
fn in_place_frame(text: &str, first: bool) -> String {
    let mut frame = String::with_capacity(text.len() + 64);
    if first {
        frame.push_str("\x1b[2J");
    }
    frame.push_str("\x1b[H");
    for line in text.lines() {
        frame.push_str(line);
        frame.push_str("\x1b[K\n");
    }
    frame.push_str("\x1b[J");
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::WorkflowStatus;
    use kwf_api::fixtures::workflow;

    fn wf(
        phase: Option<WorkflowPhase>,
        message: Option<&str>,
        observed_restart: Option<&str>,
    ) -> Workflow {
        let mut wf = workflow("wf", &[]);
        wf.status = Some(WorkflowStatus {
            phase,
            message: message.map(str::to_string),
            observed_restart: observed_restart.map(str::to_string),
            ..Default::default()
        });
        wf
    }

    fn always(_: &Workflow) -> bool {
        true
    }

    #[test]
    fn only_completed_and_failed_end_a_watch() {
        assert_eq!(outcome(&wf(None, None, None), &always), None);
        assert_eq!(
            outcome(&wf(Some(WorkflowPhase::Created), None, None), &always),
            None
        );
        assert_eq!(
            outcome(&wf(Some(WorkflowPhase::Started), None, None), &always),
            None
        );
        assert_eq!(
            outcome(&wf(Some(WorkflowPhase::Completed), None, None), &always),
            Some(Outcome::Completed)
        );
        assert_eq!(
            outcome(
                &wf(
                    Some(WorkflowPhase::Failed),
                    Some("step \"b\" failed:\n exit code 3"),
                    None
                ),
                &always
            ),
            Some(Outcome::Failed {
                message: "step \"b\" failed: exit code 3".into()
            })
        );
        let mut no_status = wf(None, None, None);
        no_status.status = None;
        assert_eq!(outcome(&no_status, &always), None);
    }

    #[test]
    fn a_stale_status_does_not_end_a_restart_watch() {
        let fresh = |w: &Workflow| {
            w.status
                .as_ref()
                .and_then(|s| s.observed_restart.as_deref())
                == Some("t2")
        };
        assert_eq!(
            outcome(&wf(Some(WorkflowPhase::Failed), None, Some("t1")), &fresh),
            None
        );
        assert_eq!(
            outcome(
                &wf(Some(WorkflowPhase::Completed), None, Some("t2")),
                &fresh
            ),
            Some(Outcome::Completed)
        );
    }

    #[test]
    fn failed_outcomes_become_one_line_errors() {
        assert!(Outcome::Completed.into_result("wf").is_ok());
        let err = Outcome::Failed {
            message: "step \"b\" failed".into(),
        }
        .into_result("wf")
        .unwrap_err();
        assert_eq!(err.to_string(), "workflow \"wf\" failed: step \"b\" failed");
    }

    #[test]
    fn in_place_frames_clear_each_line_and_below() {
        assert_eq!(
            in_place_frame("a\nb\n", true),
            "\x1b[2J\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J"
        );
        assert_eq!(in_place_frame("a\n", false), "\x1b[Ha\x1b[K\n\x1b[J");
    }
}
