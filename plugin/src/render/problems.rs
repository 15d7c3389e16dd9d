//! Problems of a spec found by `validate()`, one line each, compiler style:
//! `wf.yaml (document 2): error: step "b": depends on "x", ...`.

use kwf_api::ValidationErrors;
use owo_colors::Style as Ansi;

use super::Style;
use super::text::{Painter, clean};

pub(crate) fn render(source: &str, errors: &ValidationErrors, style: Style) -> String {
    let painter = Painter::new(style);
    let source = painter.paint(&clean(source), Ansi::new().bold());
    let label = painter.paint("error:", Ansi::new().red().bold());
    let mut out = String::new();
    for problem in &errors.0 {
        out.push_str(&format!(
            "{source}: {label} {}\n",
            clean(&problem.to_string())
        ));
    }
    out
}
