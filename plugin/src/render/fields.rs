//! `Label:  value` blocks as kubectl describe prints them, values aligned after the longest
//! label; a value of several lines continues under the first.

use super::text::NONE;
use super::time;
use super::workflow_view::WorkflowView;

/// One field: its label and its lines (at least one).
pub(crate) struct Field {
    label: &'static str,
    lines: Vec<String>,
}

impl Field {
    pub(crate) fn new(label: &'static str, value: impl Into<String>) -> Field {
        Field {
            label,
            lines: vec![value.into()],
        }
    }

    /// A field of several lines, or `<none>` when there are none.
    pub(crate) fn lines(label: &'static str, lines: Vec<String>) -> Field {
        if lines.is_empty() {
            Field::new(label, "<none>")
        } else {
            Field { label, lines }
        }
    }
}

/// Started, Finished, Duration and Progress of the current run: the graph header and describe
/// show the same four.
pub(crate) fn current_run(view: &WorkflowView<'_>) -> [Field; 4] {
    let status = view.status;
    [
        Field::new(
            "Started",
            time::when(status.and_then(|s| s.started_at.as_ref()), view.now),
        ),
        Field::new(
            "Finished",
            time::when(status.and_then(|s| s.finished_at.as_ref()), view.now),
        ),
        Field::new(
            "Duration",
            view.seconds().map_or_else(|| NONE.into(), time::compact),
        ),
        Field::new("Progress", view.progress_text()),
    ]
}

pub(crate) fn render(fields: &[Field]) -> String {
    let width = fields.iter().map(|f| f.label.len() + 1).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for field in fields {
        for (i, line) in field.lines.iter().enumerate() {
            let label = if i == 0 {
                format!("{}:", field.label)
            } else {
                String::new()
            };
            let line = format!("{label:<width$}{line}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_align_after_the_longest_label() {
        let out = render(&[
            Field::new("Name", "wf"),
            Field::lines("Labels", vec!["a=1".into(), "b=2".into()]),
            Field::lines("Annotations", vec![]),
        ]);
        assert_eq!(
            out,
            "Name:         wf\nLabels:       a=1\n              b=2\nAnnotations:  <none>\n"
        );
    }
}
