//! `convert -f FILE|- [-o yaml|json] [--allow-lossy]`: the kwf objects of every document of a
//! file, in order, as `create -f` would create them: the documents of the systems kwf grows
//! from converted ([`crate::convert`]), kwf's own as they are. Offline, like `validate`.

use anyhow::bail;
use serde::Serialize;

use crate::cli::{ConvertArgs, ObjectOutput};
use crate::convert::KwfObject;
use crate::manifests::{check, read_source};
use crate::render::ExportError;
use crate::terminal::Terminal;

pub fn execute(args: &ConvertArgs, terminal: Terminal) -> anyhow::Result<()> {
    let (file, text) = read_source(&args.file.path)?;
    let checked = match check(&file, &text, terminal.stderr_style(), args.allow_lossy) {
        Ok(checked) => checked,
        Err(invalid) => {
            let (report, error) = invalid.explain(&file, "nothing was converted");
            eprint!("{report}");
            bail!(error);
        }
    };
    for note in &checked.notes {
        terminal.note(note);
    }
    let objects: Vec<KwfObject> = checked.manifests.into_iter().map(|m| m.object).collect();
    terminal.print(&render_objects(&objects, args.output)?)
}

/// The objects as YAML documents (separated by `---`), or as JSON: the object, or a kubectl
/// `List` of several (which `create -f` reads back). Fields in each type's own order.
pub fn render_objects(objects: &[KwfObject], format: ObjectOutput) -> Result<String, ExportError> {
    match format {
        ObjectOutput::Yaml => {
            let mut out = String::new();
            for (index, object) in objects.iter().enumerate() {
                if index > 0 {
                    out.push_str("---\n");
                }
                let text = serde_saphyr::to_string(object)
                    .map_err(|e| ExportError::Yaml(e.to_string()))?;
                out.push_str(&text);
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            Ok(out)
        }
        ObjectOutput::Json => {
            let text = match objects {
                [one] => serde_json::to_string_pretty(one)?,
                several => serde_json::to_string_pretty(&List {
                    api_version: "v1",
                    kind: "List",
                    items: several,
                })?,
            };
            Ok(format!("{text}\n"))
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [KwfObject],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::check;
    use crate::render::Style;

    const FILE: &str = "\
apiVersion: workflow.crd.com/v1
kind: WorkFlow
metadata: {name: a, labels: {team: x}}
spec:
  containers:
    - {stepName: s, image: busybox, command: [echo, a]}
---
apiVersion: api.practice.com/v1alpha1
kind: JobTemplate
metadata: {name: t}
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
";

    fn objects(text: &str) -> Vec<KwfObject> {
        check("f.yaml", text, Style::default(), false)
            .expect("valid")
            .manifests
            .into_iter()
            .map(|m| m.object)
            .collect()
    }

    #[test]
    fn yaml_output_reads_back_as_the_same_objects() {
        let converted = objects(FILE);
        assert_eq!(converted.len(), 2);
        let yaml = render_objects(&converted, ObjectOutput::Yaml).unwrap();
        assert!(yaml.contains("apiVersion: kwf.dev/v1alpha1"), "{yaml}");
        assert_eq!(objects(&yaml), converted);
    }

    #[test]
    fn json_output_is_a_list_of_several_that_reads_back() {
        let converted = objects(FILE);
        let json = render_objects(&converted, ObjectOutput::Json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["kind"], "List");
        assert_eq!(value["items"][0]["kind"], "Workflow");
        assert_eq!(value["items"][1]["kind"], "JobTemplate");
        assert_eq!(objects(&json), converted);
        let one = render_objects(&converted[..1], ObjectOutput::Json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(value["kind"], "Workflow");
        assert_eq!(value["metadata"]["labels"]["team"], "x");
    }
}
