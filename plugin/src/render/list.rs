//! `kubectl workflow list`: one line per Workflow as kubectl get prints resources (`-o wide`
//! adds the message), their names (`-o name`), or a kubectl `List` (`-o json|yaml`).

use jiff::Timestamp;
use kwf_api::Workflow;
use serde::Serialize;

use super::table::Table;
use super::text::{NONE, Painter, clean};
use super::workflow_view::WorkflowView;
use super::{Style, time};

/// Output formats of `kubectl workflow list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// NAME PHASE PROGRESS DURATION AGE (NAMESPACE first across namespaces).
    Table,
    /// The table and the status message.
    Wide,
    /// `workflow.kwf.dev/NAME`, one a line.
    Name,
    /// A kubectl `List` of the Workflows as JSON.
    Json,
    /// The same `List` as YAML.
    Yaml,
}

/// What `list` prints: `text` on standard output, and `note` on standard error instead of an
/// empty table, as kubectl says "No resources found".
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    pub text: String,
    pub note: Option<String>,
}

/// Writing a `List` as JSON or YAML failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

/// `namespace` is where the workflows were listed, `None` across all namespaces (which adds
/// the NAMESPACE column).
pub(crate) fn render(
    wfs: &[Workflow],
    format: ListFormat,
    namespace: Option<&str>,
    style: Style,
    now: Timestamp,
) -> Result<Listing, ExportError> {
    render_list(
        wfs,
        format,
        namespace,
        |wide| table(wfs, namespace.is_none(), wide, style, now),
        |wf| object_ref(wf.metadata.name.as_deref().unwrap_or_default()),
    )
}

/// Any kind's list in `format`: `table(wide)` draws the table, `object_ref` names one object
/// for `-o name`; `-o json|yaml` is a kubectl `List` of the objects.
pub(crate) fn render_list<T: Serialize>(
    items: &[T],
    format: ListFormat,
    namespace: Option<&str>,
    table: impl Fn(bool) -> String,
    object_ref: impl Fn(&T) -> String,
) -> Result<Listing, ExportError> {
    let text = match format {
        ListFormat::Table | ListFormat::Wide if items.is_empty() => {
            return Ok(no_resources(namespace));
        }
        ListFormat::Table => table(false),
        ListFormat::Wide => table(true),
        ListFormat::Name => items
            .iter()
            .map(|item| format!("{}\n", object_ref(item)))
            .collect(),
        ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&KubeList::new(items))?;
            text.push('\n');
            text
        }
        ListFormat::Yaml => serde_saphyr::to_string(&KubeList::new(items))
            .map_err(|e| ExportError::Yaml(e.to_string()))?,
    };
    Ok(Listing { text, note: None })
}

/// No text, and kubectl's note instead of an empty table.
fn no_resources(namespace: Option<&str>) -> Listing {
    let note = match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_owned(),
    };
    Listing {
        text: String::new(),
        note: Some(note),
    }
}

/// `workflow.kwf.dev/NAME`, as kubectl names objects in `-o name` and in its messages.
pub fn object_ref(name: &str) -> String {
    format!("workflow.kwf.dev/{name}")
}

fn table(
    wfs: &[Workflow],
    all_namespaces: bool,
    wide: bool,
    style: Style,
    now: Timestamp,
) -> String {
    let painter = Painter::new(style);
    let mut table = Table::new();
    let mut header = vec!["NAME", "PHASE", "PROGRESS", "DURATION", "AGE"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.push("MESSAGE");
    }
    table.row(header.into_iter().map(String::from).collect());
    for wf in wfs {
        let view = WorkflowView::new(wf, now);
        let look = view.look();
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
        if wide {
            row.push(message_cell(wf));
        }
        table.row(row);
    }
    table.render("")
}

/// The status message on one line with single spaces; empty when there is none.
fn message_cell(wf: &Workflow) -> String {
    let message = wf
        .status
        .as_ref()
        .and_then(|s| s.message.as_deref())
        .unwrap_or_default();
    clean(message)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `List` kubectl prints for `-o json|yaml`, so the output can be applied or piped to jq.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubeList<'a, T> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
}

impl<'a, T: Serialize> KubeList<'a, T> {
    fn new(items: &'a [T]) -> Self {
        KubeList {
            api_version: "v1",
            kind: "List",
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_is_a_kubectl_list() {
        let value = serde_json::to_value(KubeList::<Workflow>::new(&[])).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": []})
        );
    }
}
