//! Styling primitives shared by every view: phase glyphs and colors, and cleaning of text that
//! comes from the cluster before it reaches a terminal.

use std::borrow::Cow;

use kwf_api::{StepPhase, WorkflowPhase};
use owo_colors::{OwoColorize, Style as Ansi};

use super::Style;

/// Applies ANSI styles only when the caller asked for color: the CLI decides, never us.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Painter {
    color: bool,
}

impl Painter {
    pub(crate) fn new(style: Style) -> Painter {
        Painter { color: style.color }
    }

    pub(crate) fn paint(&self, text: &str, ansi: Ansi) -> String {
        if self.color && !ansi.is_plain() {
            text.style(ansi).to_string()
        } else {
            text.to_owned()
        }
    }
}

/// How a phase looks: its glyph (unicode and ASCII), its word and its color.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    unicode: &'static str,
    ascii: &'static str,
    pub(crate) word: &'static str,
    pub(crate) ansi: Ansi,
}

impl Look {
    pub(crate) fn glyph(&self, style: Style) -> &'static str {
        if style.ascii {
            self.ascii
        } else {
            self.unicode
        }
    }
}

pub(crate) fn step_look(phase: StepPhase) -> Look {
    let (unicode, ascii, word, ansi) = match phase {
        StepPhase::Pending => ("◷", ".", "Pending", Ansi::new().yellow()),
        StepPhase::Running => ("●", "*", "Running", Ansi::new().cyan()),
        StepPhase::Succeeded => ("✔", "+", "Succeeded", Ansi::new().green()),
        StepPhase::Failed => ("✖", "x", "Failed", Ansi::new().red()),
        StepPhase::Skipped => ("○", "-", "Skipped", Ansi::new().dimmed()),
        StepPhase::Stopped => ("■", "#", "Stopped", Ansi::new().magenta()),
    };
    Look {
        unicode,
        ascii,
        word,
        ansi,
    }
}

pub(crate) fn workflow_look(phase: WorkflowPhase) -> Look {
    let (unicode, ascii, word, ansi) = match phase {
        WorkflowPhase::Created => ("◷", ".", "Created", Ansi::new().yellow()),
        WorkflowPhase::Started => ("●", "*", "Started", Ansi::new().cyan()),
        WorkflowPhase::Completed => ("✔", "+", "Completed", Ansi::new().green()),
        WorkflowPhase::Failed => ("✖", "x", "Failed", Ansi::new().red()),
    };
    Look {
        unicode,
        ascii,
        word,
        ansi,
    }
}

/// How a running workflow looks while it is suspended (phase Started, condition Suspended).
pub(crate) fn suspended_look() -> Look {
    Look {
        unicode: "‖",
        ascii: "=",
        word: "Suspended",
        ansi: Ansi::new().yellow(),
    }
}

/// Text from the cluster (messages, names) on one line with no control characters: a newline
/// would break a table row and an escape sequence could rewrite the user's terminal.
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// The arrow that introduces a step's other dependencies.
pub(crate) fn arrow(style: Style) -> &'static str {
    if style.ascii { "<-" } else { "←" }
}

/// Placeholder of an empty table cell, so that columns stay parseable by `awk`.
pub(crate) const NONE: &str = "-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_newlines_and_escapes() {
        assert_eq!(clean("  exit\ncode 1\t\x1b[2J  "), "exit code 1  [2J");
        assert!(matches!(clean("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn painter_without_color_adds_no_escapes() {
        let plain = Painter::new(Style {
            color: false,
            ascii: false,
        });
        assert_eq!(plain.paint("x", Ansi::new().red()), "x");
        let colored = Painter::new(Style {
            color: true,
            ascii: false,
        });
        assert_eq!(colored.paint("x", Ansi::new().red()), "\x1b[31mx\x1b[0m");
        assert_eq!(colored.paint("x", Ansi::new()), "x");
    }
}
