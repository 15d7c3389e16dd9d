//! The terminal a command writes to: how its output looks (decided here, once, from `--color`,
//! `--ascii`, `NO_COLOR` and whether the stream is a terminal; the renderers never look) and
//! writing to it. A closed pipe (`kubectl workflow list | head -1`) is a normal way for a
//! reader to stop, not an error: the plugin then exits quietly with status 0.

use std::io::{ErrorKind, IsTerminal, Write};

use crate::cli::ColorChoice;
use crate::render::Style;

/// The output choices of one command line.
#[derive(Clone, Copy, Debug)]
pub struct Terminal {
    color: ColorChoice,
    ascii: bool,
}

impl Terminal {
    /// Unicode glyphs, colored as `--color` says.
    pub fn new(color: ColorChoice) -> Terminal {
        Terminal {
            color,
            ascii: false,
        }
    }

    /// The same with ASCII glyphs when `ascii` (`--ascii`).
    pub fn with_ascii(self, ascii: bool) -> Terminal {
        Terminal { ascii, ..self }
    }

    /// The style for text written to standard output.
    pub fn stdout_style(&self) -> Style {
        Style {
            color: self.colors(std::io::stdout().is_terminal()),
            ascii: self.ascii,
        }
    }

    /// The style for text written to standard error (problems, warnings): never ASCII-only,
    /// as they draw no glyphs.
    pub fn stderr_style(&self) -> Style {
        Style {
            color: self.colors(std::io::stderr().is_terminal()),
            ascii: false,
        }
    }

    fn colors(&self, is_terminal: bool) -> bool {
        let no_color = std::env::var("NO_COLOR").ok();
        use_color(self.color, no_color.as_deref(), is_terminal)
    }

    /// Writes `text` to standard output as is and flushes, so a redraw shows at once.
    pub fn print(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
        }
    }

    /// Writes `text` and a newline unless it already ends with one.
    pub fn print_block(&self, text: &str) -> anyhow::Result<()> {
        if text.is_empty() || text.ends_with('\n') {
            self.print(text)
        } else {
            self.print(&format!("{text}\n"))
        }
    }

    /// A note for the user on standard error (warnings, "No resources found").
    pub fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// Whether to color: an explicit `--color` wins; `auto` colors a terminal unless `NO_COLOR`
/// is set to a non-empty value (<https://no-color.org>).
pub fn use_color(choice: ColorChoice, no_color_env: Option<&str>, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color_env.is_none_or(str::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colors_only_a_terminal_without_no_color() {
        assert!(use_color(ColorChoice::Auto, None, true));
        assert!(!use_color(ColorChoice::Auto, None, false));
        assert!(!use_color(ColorChoice::Auto, Some("1"), true));
        // The spec: an empty NO_COLOR does not disable color.
        assert!(use_color(ColorChoice::Auto, Some(""), true));
    }

    #[test]
    fn explicit_choices_win_over_environment_and_terminal() {
        assert!(use_color(ColorChoice::Always, Some("1"), false));
        assert!(!use_color(ColorChoice::Never, None, true));
    }

    #[test]
    fn ascii_applies_to_standard_output_only() {
        let terminal = Terminal::new(ColorChoice::Never).with_ascii(true);
        assert_eq!(
            terminal.stdout_style(),
            Style {
                color: false,
                ascii: true
            }
        );
        assert_eq!(
            terminal.stderr_style(),
            Style {
                color: false,
                ascii: false
            }
        );
        assert!(!Terminal::new(ColorChoice::Always).stdout_style().ascii);
        assert!(Terminal::new(ColorChoice::Always).stdout_style().color);
    }
}
