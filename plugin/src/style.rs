//! Deciding how output looks. The renderers never look at the terminal or the environment:
//! this module does, once, and hands them a [`Style`].

use std::io::IsTerminal;

use crate::cli::ColorChoice;
use crate::render::Style;

/// Whether to color: an explicit `--color` wins; `auto` colors a terminal unless `NO_COLOR`
/// is set to a non-empty value (<https://no-color.org>).
pub fn use_color(choice: ColorChoice, no_color_env: Option<&str>, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color_env.is_none_or(str::is_empty),
    }
}

/// The style for text written to standard output.
pub fn stdout_style(choice: ColorChoice, ascii: bool) -> Style {
    let no_color = std::env::var("NO_COLOR").ok();
    let color = use_color(choice, no_color.as_deref(), std::io::stdout().is_terminal());
    Style { color, ascii }
}

/// The style for text written to standard error (problems, warnings).
pub fn stderr_style(choice: ColorChoice) -> Style {
    let no_color = std::env::var("NO_COLOR").ok();
    let color = use_color(choice, no_color.as_deref(), std::io::stderr().is_terminal());
    Style {
        color,
        ascii: false,
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
}
