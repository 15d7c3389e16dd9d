//! The failure at hand: the last lines of each failed step's log, as `describe` and
//! `graph --watch` of a failed workflow show them. The plugin fetches the tails (a bounded
//! number of lines per step); this draws them.

use owo_colors::Style as Ansi;

use super::Style;
use super::text::Painter;

/// How many lines of each failed step's log `describe` and `graph --watch` show.
pub const TAIL_LINES: i64 = 10;

/// The end of one failed step's log, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    pub step: String,
    /// The pod the lines come from.
    pub pod: Option<String>,
    /// The lines (at most [`TAIL_LINES`]), or why they could not be read.
    pub text: Result<String, String>,
}

/// `Failed Step Logs (last N lines):` and, per step, its pod and lines indented; nothing
/// when no step failed.
pub(crate) fn render(tails: &[LogTail], style: Style) -> String {
    if tails.is_empty() {
        return String::new();
    }
    let painter = Painter::new(style);
    let mut out = format!("Failed Step Logs (last {TAIL_LINES} lines):\n");
    for tail in tails {
        let step = painter.paint(&line(&tail.step), Ansi::new().red().bold());
        match (&tail.pod, &tail.text) {
            (Some(pod), Ok(_)) => out.push_str(&format!("  {step} (pod {}):\n", line(pod))),
            _ => out.push_str(&format!("  {step}:\n")),
        }
        match &tail.text {
            Ok(text) if text.trim().is_empty() => out.push_str("    <empty log>\n"),
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                // The API server's tail is the bound; a longer answer is cut here all the same.
                let start = lines.len().saturating_sub(TAIL_LINES as usize);
                for text in &lines[start..] {
                    out.push_str("    ");
                    out.push_str(&line(text));
                    out.push('\n');
                }
            }
            Err(why) => out.push_str(&format!("    <{}>\n", line(why))),
        }
    }
    out
}

/// A log line fit for a terminal: control characters (escapes that could rewrite the screen)
/// become spaces; leading indentation is kept.
fn line(text: &str) -> String {
    text.trim_end()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_in_a_log_cannot_reach_the_terminal() {
        assert_eq!(line("  \x1b[2Jcleared\r"), "   [2Jcleared");
    }

    #[test]
    fn no_failed_step_no_section() {
        assert_eq!(render(&[], Style::default()), "");
    }
}
