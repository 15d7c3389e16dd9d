//! How retries and fan-outs read, for `graph` and `describe`: a step's attempt (`attempt 3/4`,
//! `retry in 8s`), a fanned-out step's counts (`48 ✔  1 ●  1 ✖`) and an item as short text.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kwf_api::fan_out::{InstancesStatus, item_text};
use kwf_api::retries::{FailedAttempt, MAX_RETRIES, RetryPolicy};
use kwf_api::{StepPhase, Workflow};

use super::text::{Painter, clean, step_look};
use super::{Style, time};

/// Most characters of an item shown on an instance's line; `describe` has the same cut.
pub(crate) const ITEM_WIDTH: usize = 40;

/// The retries of step `step` (by spec index): its own, else the workflow's, as the
/// controller reads them.
pub(crate) fn policy(wf: &Workflow, step: usize) -> Option<&RetryPolicy> {
    wf.spec.containers[step]
        .retries
        .as_ref()
        .or(wf.spec.retries.as_ref())
}

/// Attempts a step may have in all: its retries' limit plus the first attempt.
pub(crate) fn max_attempts(policy: Option<&RetryPolicy>) -> usize {
    let limit = policy.map_or(0, |p| p.limit.clamp(0, MAX_RETRIES));
    usize::try_from(limit).unwrap_or(0) + 1
}

/// What a step (or an instance) is at in its attempts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempt<'a> {
    pub(crate) phase: StepPhase,
    pub(crate) retries: &'a [FailedAttempt],
    pub(crate) next_retry_at: Option<&'a Time>,
}

impl Attempt<'_> {
    /// The attempt it is at (or ended with), from 1.
    pub(crate) fn number(&self) -> usize {
        self.retries.len() + 1
    }

    /// `attempt 3/4`, and `retry in 8s` while it waits for the next: shown once it has
    /// retried, or while it runs with retries left (so a failure is no surprise). A step that
    /// cannot retry says nothing, as before retries existed.
    pub(crate) fn note(&self, max_attempts: usize, now: Timestamp) -> Option<String> {
        let can_retry = max_attempts > 1;
        let show = !self.retries.is_empty() || (can_retry && self.phase == StepPhase::Running);
        if !show {
            return None;
        }
        // More attempts than the policy allows: the policy changed since; say what happened.
        let of = max_attempts.max(self.number());
        let mut note = format!("attempt {}/{of}", self.number());
        if let Some(next) = self.next_retry_at {
            let wait = time::seconds_between(now, next.0);
            if wait > 0 {
                note.push_str(&format!(", retry in {}", time::compact(wait)));
            } else {
                note.push_str(", retry due");
            }
        }
        Some(note)
    }
}

/// The instances of a fanned-out step by phase. Those not yet started count as waiting; an
/// instance waiting to retry counts as running (its phase says so: it holds its attempt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) total: u32,
    pub(crate) succeeded: u32,
    pub(crate) running: u32,
    pub(crate) failed: u32,
    pub(crate) stopped: u32,
    pub(crate) waiting: u32,
}

impl Counts {
    pub(crate) fn of(instances: &InstancesStatus) -> Counts {
        let mut counts = Counts {
            total: instances.total,
            succeeded: instances.succeeded,
            waiting: instances.total.saturating_sub(instances.started),
            ..Counts::default()
        };
        for instance in &instances.active {
            match instance.phase {
                StepPhase::Running => counts.running += 1,
                StepPhase::Failed => counts.failed += 1,
                StepPhase::Stopped => counts.stopped += 1,
                // Listed yet succeeded (only in memory) or pending: counted where it belongs.
                StepPhase::Succeeded => counts.succeeded += 1,
                StepPhase::Pending | StepPhase::Skipped => counts.waiting += 1,
            }
        }
        counts
    }

    /// The non-zero counts, each with its phase's glyph in its color: `48 ✔  1 ●  1 ✖  3 ◷`.
    pub(crate) fn glyphs(&self, style: Style, painter: Painter) -> String {
        let parts: Vec<String> = self
            .by_phase()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(phase, n)| {
                let look = step_look(phase);
                painter.paint(&format!("{n} {}", look.glyph(style)), look.ansi)
            })
            .collect();
        parts.join("  ")
    }

    /// `48 succeeded, 1 running, 1 failed`, the non-zero counts in words.
    pub(crate) fn words(&self) -> String {
        let parts: Vec<String> = self
            .by_phase()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(phase, n)| format!("{n} {}", phase_word(phase)))
            .collect();
        if parts.is_empty() {
            "none started".into()
        } else {
            parts.join(", ")
        }
    }

    fn by_phase(&self) -> [(StepPhase, u32); 5] {
        [
            (StepPhase::Succeeded, self.succeeded),
            (StepPhase::Running, self.running),
            (StepPhase::Failed, self.failed),
            (StepPhase::Stopped, self.stopped),
            (StepPhase::Pending, self.waiting),
        ]
    }
}

fn phase_word(phase: StepPhase) -> &'static str {
    match phase {
        StepPhase::Succeeded => "succeeded",
        StepPhase::Running => "running",
        StepPhase::Failed => "failed",
        StepPhase::Stopped => "stopped",
        StepPhase::Pending => "waiting",
        StepPhase::Skipped => "skipped",
    }
}

/// `build ×50` (`build x50` in ASCII): a fanned-out step's name with its number of instances.
pub(crate) fn times(name: &str, total: u32, style: Style) -> String {
    let sign = if style.ascii { "x" } else { "×" };
    format!("{name} {sign}{total}")
}

/// Item `index` of step `step` as text on one line, cut to [`ITEM_WIDTH`] characters
/// (`…`, or `...` in ASCII): from `withItems`, or for a fan-out over nodes the instance's node
/// as the status recorded it; `None` when there is no such item.
pub(crate) fn item(
    wf: &Workflow,
    step: usize,
    instances: &InstancesStatus,
    index: u32,
    style: Style,
) -> Option<String> {
    let index = usize::try_from(index).ok()?;
    let text = match &wf.spec.containers[step].with_items {
        Some(items) => item_text(items.get(index)?),
        None => instances.nodes.get(index)?.clone(),
    };
    Some(cut(&clean(&text), ITEM_WIDTH, style))
}

/// `text` cut to `width` characters, the cut marked.
fn cut(text: &str, width: usize, style: Style) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let ellipsis = if style.ascii { "..." } else { "…" };
    let kept: String = text
        .chars()
        .take(width.saturating_sub(ellipsis.chars().count()))
        .collect();
    format!("{kept}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fan_out::InstanceStatus;
    use kwf_api::fixtures::{at, time};

    fn attempt(phase: StepPhase, retries: usize, next: Option<&Time>) -> String {
        let failed = vec![FailedAttempt::default(); retries];
        Attempt {
            phase,
            retries: &failed,
            next_retry_at: next,
        }
        .note(4, at(100))
        .unwrap_or_default()
    }

    #[test]
    fn the_attempt_shows_once_retried_or_while_retries_are_left() {
        assert_eq!(attempt(StepPhase::Running, 0, None), "attempt 1/4");
        assert_eq!(attempt(StepPhase::Succeeded, 0, None), "");
        assert_eq!(attempt(StepPhase::Succeeded, 2, None), "attempt 3/4");
        assert_eq!(attempt(StepPhase::Failed, 3, None), "attempt 4/4");
        let next = time(108);
        assert_eq!(
            attempt(StepPhase::Running, 2, Some(&next)),
            "attempt 3/4, retry in 8s"
        );
        let past = time(90);
        assert_eq!(
            attempt(StepPhase::Running, 1, Some(&past)),
            "attempt 2/4, retry due"
        );
        let none = Attempt {
            phase: StepPhase::Running,
            retries: &[],
            next_retry_at: None,
        };
        assert_eq!(none.note(1, at(0)), None, "a step that cannot retry");
        let more = [FailedAttempt::default(), FailedAttempt::default()];
        let over = Attempt {
            retries: &more,
            ..none
        };
        assert_eq!(over.note(2, at(0)).as_deref(), Some("attempt 3/3"));
    }

    #[test]
    fn counts_add_up_to_the_total() {
        let instance = |index, phase| InstanceStatus {
            index,
            phase,
            ..InstanceStatus::default()
        };
        let status = InstancesStatus {
            total: 50,
            started: 47,
            succeeded: 44,
            failed: 1,
            run: 0,
            active: vec![
                instance(3, StepPhase::Failed),
                instance(45, StepPhase::Running),
                instance(46, StepPhase::Running),
            ],
            nodes: Vec::new(),
        };
        let counts = Counts::of(&status);
        assert_eq!(
            counts,
            Counts {
                total: 50,
                succeeded: 44,
                running: 2,
                failed: 1,
                stopped: 0,
                waiting: 3,
            }
        );
        let sum =
            counts.succeeded + counts.running + counts.failed + counts.stopped + counts.waiting;
        assert_eq!(sum, counts.total);
        let plain = Painter::new(Style::default());
        assert_eq!(
            counts.glyphs(Style::default(), plain),
            "44 ✔  2 ●  1 ✖  3 ◷"
        );
        let ascii = Style {
            color: false,
            ascii: true,
        };
        assert_eq!(counts.glyphs(ascii, plain), "44 +  2 *  1 x  3 .");
        assert_eq!(
            counts.words(),
            "44 succeeded, 2 running, 1 failed, 3 waiting"
        );
        assert_eq!(Counts::default().words(), "none started");
    }

    #[test]
    fn an_item_is_from_with_items_or_the_recorded_node() {
        let mut wf = kwf_api::fixtures::workflow("wf", &[("a", &[])]);
        let nodes = InstancesStatus {
            total: 2,
            nodes: vec!["node-a".into(), "node-b".into()],
            ..InstancesStatus::default()
        };
        let plain = Style::default();
        assert_eq!(item(&wf, 0, &nodes, 1, plain).as_deref(), Some("node-b"));
        assert_eq!(item(&wf, 0, &nodes, 2, plain), None);
        wf.spec.containers[0].with_items = Some(vec![serde_json::json!({"os": "linux"})]);
        assert_eq!(
            item(&wf, 0, &nodes, 0, plain).as_deref(),
            Some(r#"{"os":"linux"}"#)
        );
    }

    #[test]
    fn long_items_are_cut_and_marked() {
        let long = "a".repeat(60);
        let unicode = cut(&long, 10, Style::default());
        assert_eq!(unicode, format!("{}…", "a".repeat(9)));
        let ascii = cut(
            &long,
            10,
            Style {
                color: false,
                ascii: true,
            },
        );
        assert_eq!(ascii, format!("{}...", "a".repeat(7)));
        assert_eq!(cut("short", 10, Style::default()), "short");
    }
}
