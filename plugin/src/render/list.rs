//! `kubectl workflow list`: one line per Workflow, as kubectl get prints resources.

use jiff::Timestamp;
use kwf_api::Workflow;

use super::model::View;
use super::table::Table;
use super::text::{NONE, Painter, clean, workflow_look};
use super::{Style, time};

pub(crate) fn render(
    wfs: &[Workflow],
    all_namespaces: bool,
    style: Style,
    now: Timestamp,
) -> String {
    if wfs.is_empty() {
        return String::new();
    }
    let painter = Painter::new(style);
    let mut table = Table::new();
    let mut header = vec!["NAME", "PHASE", "PROGRESS", "DURATION", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    table.row(header.into_iter().map(String::from).collect());
    for wf in wfs {
        let view = View::new(wf, now);
        let look = workflow_look(view.phase);
        let mut row = vec![
            clean(view.name()).into_owned(),
            painter.paint(look.word, look.ansi),
            view.progress_text(),
            view.seconds().map_or_else(|| NONE.into(), time::compact),
            wf.metadata.creation_timestamp.as_ref().map_or_else(
                || "<unknown>".into(),
                |t| time::age(time::seconds_between(t.0, now)),
            ),
        ];
        if all_namespaces {
            row.insert(0, clean(view.namespace().unwrap_or(NONE)).into_owned());
        }
        table.row(row);
    }
    table.render("")
}
