//! The prefix of each log line of `kubectl workflow logs`: the step's name in a color of its
//! own, the same on every run, so interleaved steps stay apart.

use owo_colors::{AnsiColors, Style as Ansi};

use super::Style;
use super::text::{Painter, clean};
use super::width::visible_width;

/// Colors readable on dark and light terminals; red is left for failures.
const PALETTE: [AnsiColors; 10] = [
    AnsiColors::Cyan,
    AnsiColors::Green,
    AnsiColors::Yellow,
    AnsiColors::Blue,
    AnsiColors::Magenta,
    AnsiColors::BrightCyan,
    AnsiColors::BrightGreen,
    AnsiColors::BrightYellow,
    AnsiColors::BrightBlue,
    AnsiColors::BrightMagenta,
];

/// FNV-1a: stable across runs and platforms, unlike std's randomly seeded hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The prefixes of the log lines of a set of steps: every name padded to the widest.
#[derive(Clone, Copy, Debug)]
pub struct LogPrefixes {
    width: usize,
    style: Style,
}

impl LogPrefixes {
    pub fn new<'a>(steps: impl IntoIterator<Item = &'a str>, style: Style) -> LogPrefixes {
        let width = steps
            .into_iter()
            .map(|step| visible_width(&clean(step)))
            .max()
            .unwrap_or(0);
        LogPrefixes { width, style }
    }

    /// `name │ `, in the step's own color.
    pub fn prefix(&self, step: &str) -> String {
        step_prefix(step, self.width, self.style)
    }

    /// Every line of `text`, prefixed, each ending in a newline.
    pub fn prefixed(&self, step: &str, text: &str) -> String {
        let prefix = self.prefix(step);
        text.lines()
            .map(|line| format!("{prefix}{line}\n"))
            .collect()
    }
}

fn step_prefix(step: &str, width: usize, style: Style) -> String {
    let name = clean(step);
    let color = PALETTE[(fnv1a(&name) % PALETTE.len() as u64) as usize];
    let pad = width.saturating_sub(visible_width(&name));
    let bar = if style.ascii { "|" } else { "│" };
    let painter = Painter::new(style);
    format!(
        "{}{} {} ",
        painter.paint(&name, Ansi::new().color(color)),
        " ".repeat(pad),
        painter.paint(bar, Ansi::new().dimmed())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLOR: Style = Style {
        color: true,
        ascii: false,
    };

    #[test]
    fn same_step_same_color_and_padding_to_width() {
        assert_eq!(
            step_prefix("build", 8, COLOR),
            step_prefix("build", 8, COLOR)
        );
        let plain = step_prefix("build", 8, Style::default());
        assert_eq!(plain, "build    │ ");
        let ascii = step_prefix(
            "a-very-long-step",
            4,
            Style {
                color: false,
                ascii: true,
            },
        );
        assert_eq!(ascii, "a-very-long-step | ");
    }

    #[test]
    fn prefixes_pad_to_the_widest_step_and_prefix_every_line() {
        let prefixes = LogPrefixes::new(["a", "build", "数据"], Style::default());
        assert_eq!(prefixes.prefix("a"), "a     │ ");
        assert_eq!(prefixes.prefix("数据"), "数据  │ ");
        assert_eq!(
            prefixes.prefixed("build", "one\ntwo\n"),
            "build │ one\nbuild │ two\n"
        );
        assert_eq!(prefixes.prefixed("build", ""), "");
    }

    #[test]
    fn steps_spread_over_the_palette() {
        let colored: std::collections::HashSet<String> = (0..40)
            .map(|i| step_prefix(&format!("step-{i}"), 0, COLOR))
            .map(|p| p[..p.find('m').unwrap_or(0)].to_owned())
            .collect();
        assert!(colored.len() >= 6, "only {} distinct colors", colored.len());
    }
}
