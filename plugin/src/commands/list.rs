//! `list [-l SELECTOR] [-A] [-o table|wide|name|json|yaml]`.

use kube::Api;
use kube::api::ListParams;
use kwf_api::Workflow;
use serde::Serialize;

use super::object_ref;
use crate::cli::{ColorChoice, ConnectionFlags, ListArgs, ListOutput};
use crate::connect::connect;
use crate::errors::{Op, WORKFLOWS};
use crate::output;
use crate::render;
use crate::style::stdout_style;

pub async fn run(
    args: &ListArgs,
    flags: &ConnectionFlags,
    color: ColorChoice,
) -> anyhow::Result<()> {
    let cluster = connect(flags).await?;
    let namespace = (!args.all_namespaces).then(|| cluster.namespace.clone());
    let api: Api<Workflow> = match &namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let mut params = ListParams::default();
    if let Some(selector) = &args.selector {
        params = params.labels(selector);
    }
    let op = Op::new("list", WORKFLOWS, namespace.as_deref());
    let mut workflows = api.list(&params).await.map_err(cluster.fail(op))?.items;
    for wf in &mut workflows {
        // As kubectl: managed fields are noise in output meant for people and scripts.
        wf.metadata.managed_fields = None;
    }

    let empty_table =
        workflows.is_empty() && matches!(args.output, ListOutput::Table | ListOutput::Wide);
    if empty_table {
        match &namespace {
            Some(ns) => output::note(&format!("No resources found in {ns} namespace.")),
            None => output::note("No resources found"),
        }
        return Ok(());
    }
    let style = stdout_style(color, false);
    let now = jiff::Timestamp::now();
    let text = match args.output {
        ListOutput::Table => render::list(&workflows, args.all_namespaces, style, now),
        ListOutput::Wide => {
            let table = render::list(&workflows, args.all_namespaces, style, now);
            let messages: Vec<String> = workflows
                .iter()
                .map(|wf| {
                    let message = wf
                        .status
                        .as_ref()
                        .and_then(|s| s.message.as_deref())
                        .unwrap_or("");
                    crate::errors::one_line(message)
                })
                .collect();
            append_column(&table, "MESSAGE", &messages)
        }
        ListOutput::Name => workflows
            .iter()
            .map(|wf| {
                format!(
                    "{}\n",
                    object_ref(wf.metadata.name.as_deref().unwrap_or_default())
                )
            })
            .collect(),
        ListOutput::Json => {
            let mut text = serde_json::to_string_pretty(&KubeList::new(workflows))?;
            text.push('\n');
            text
        }
        ListOutput::Yaml => serde_saphyr::to_string(&KubeList::new(workflows))
            .map_err(|e| anyhow::anyhow!("cannot write YAML: {e}"))?,
    };
    output::print_block(&text)
}

/// The `List` kubectl prints for `-o json|yaml`, so the output can be applied or piped to jq.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubeList {
    api_version: &'static str,
    kind: &'static str,
    items: Vec<Workflow>,
}

impl KubeList {
    fn new(items: Vec<Workflow>) -> Self {
        KubeList {
            api_version: "v1",
            kind: "List",
            items,
        }
    }
}

/// Appends a last column to an aligned table (header line, then one line per row), padding
/// every line to the widest so the new column lines up; ANSI escapes take no width.
fn append_column(table: &str, header: &str, cells: &[String]) -> String {
    let lines: Vec<&str> = table.lines().collect();
    let width = lines.iter().map(|l| visible_width(l)).max().unwrap_or(0);
    let mut out =
        String::with_capacity(table.len() + cells.iter().map(String::len).sum::<usize>() + 64);
    for (i, line) in lines.iter().enumerate() {
        let cell = if i == 0 {
            header
        } else {
            cells.get(i - 1).map(String::as_str).unwrap_or("")
        };
        out.push_str(line);
        if !cell.is_empty() {
            out.push_str(&" ".repeat(width - visible_width(line) + 3));
            out.push_str(cell);
        }
        out.push('\n');
    }
    out
}

/// Characters a terminal shows: CSI escape sequences (`ESC [ ... letter`) excluded.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_width_ignores_color_codes() {
        assert_eq!(visible_width("\x1b[32mCompleted\x1b[0m"), 9);
        assert_eq!(visible_width("plain"), 5);
    }

    #[test]
    fn an_appended_column_lines_up_after_the_widest_line() {
        let table = "NAME  AGE\nab    5m\nc     \x1b[2m10d\x1b[0m\n";
        let wide = append_column(table, "MESSAGE", &["".into(), "step \"x\" failed".into()]);
        assert_eq!(
            wide,
            "NAME  AGE   MESSAGE\nab    5m\nc     \x1b[2m10d\x1b[0m   step \"x\" failed\n"
        );
    }

    #[test]
    fn json_output_is_a_kubectl_list() {
        let list = KubeList::new(vec![]);
        let value = serde_json::to_value(&list).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": []})
        );
    }
}
