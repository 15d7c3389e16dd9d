//! Workflow files: read (a path or `-` for stdin), parse every YAML document, and check each
//! Workflow offline with the shared `validate()`, collecting every problem before reporting.

use std::io::Read;
use std::path::Path;

use anyhow::anyhow;
use kwf_api::Workflow;

use crate::render::{self, Style};

/// One Workflow of a file, with how to name it in messages.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `file.yaml`, or `file.yaml (document 2)` when the file holds several.
    pub source: String,
    pub workflow: Workflow,
}

impl Manifest {
    /// `name`, or `generateName*` for objects the API server names.
    pub fn display_name(&self) -> String {
        let meta = &self.workflow.metadata;
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) => name.clone(),
            (None, Some(prefix)) => format!("{prefix}*"),
            (None, None) => "(unnamed)".to_string(),
        }
    }
}

/// A file that failed the checks: every problem, one per line, ready to print.
#[derive(Debug)]
pub struct InvalidFile {
    pub report: String,
    pub problems: usize,
}

/// The display name of `path` and its text; `-` reads standard input.
pub fn read_source(path: &Path) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow!("cannot read standard input: {e}"))?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Parses and validates every document of `text`; `Err` lists all problems of all documents.
pub fn check(file: &str, text: &str, style: Style) -> Result<Vec<Manifest>, InvalidFile> {
    let workflows = kwf_api::parse_workflows(text).map_err(|e| InvalidFile {
        // "document 2, line 19, column 15: ..."
        report: format!("{file}: {}", crate::errors::one_line(&e.to_string())),
        problems: 1,
    })?;
    if workflows.is_empty() {
        return Err(InvalidFile {
            report: format!("{file}: the file holds no Workflow"),
            problems: 1,
        });
    }
    let several = workflows.len() > 1;
    let mut manifests = Vec::with_capacity(workflows.len());
    let mut report = String::new();
    let mut problems = 0;
    for (index, workflow) in workflows.into_iter().enumerate() {
        let source = if several {
            format!("{file} (document {})", index + 1)
        } else {
            file.to_string()
        };
        if let Err(errors) = kwf_api::validate(&workflow.spec) {
            problems += errors.0.len();
            let text = render::problems(&source, &errors, style);
            report.push_str(text.trim_end_matches('\n'));
            report.push('\n');
        }
        if let Some(problem) = metadata_problem(&workflow) {
            problems += 1;
            report.push_str(&format!("{source}: {problem}\n"));
        }
        manifests.push(Manifest { source, workflow });
    }
    if problems > 0 {
        Err(InvalidFile { report, problems })
    } else {
        Ok(manifests)
    }
}

/// What `validate()` cannot see because it only gets the spec.
fn metadata_problem(workflow: &Workflow) -> Option<&'static str> {
    let meta = &workflow.metadata;
    let unnamed = meta.name.as_deref().is_none_or(str::is_empty)
        && meta.generate_name.as_deref().is_none_or(str::is_empty);
    unnamed.then_some(
        "metadata.name is missing: set metadata.name, or metadata.generateName for a generated one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Style = Style {
        color: false,
        ascii: false,
    };

    const GOOD: &str = "apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata:
  name: good
spec:
  containers:
    - stepName: a
      image: busybox
    - stepName: b
      image: busybox
      dependsOn: [a]
";

    #[test]
    fn a_valid_file_yields_its_workflows() {
        let manifests = check("good.yaml", GOOD, PLAIN).unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].source, "good.yaml");
        assert_eq!(manifests[0].display_name(), "good");
    }

    #[test]
    fn every_problem_of_every_document_is_reported() {
        let bad = "apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata:
  generateName: loop-
spec:
  containers:
    - stepName: a
      image: busybox
      dependsOn: [b]
    - stepName: b
      image: busybox
      dependsOn: [a]
    - stepName: c
      dependsOn: [missing]
";
        let text = format!("{GOOD}---\n{bad}");
        let invalid = check("wf.yaml", &text, PLAIN).unwrap_err();
        assert!(invalid.problems >= 3, "{}", invalid.report);
        assert!(
            invalid.report.contains("wf.yaml (document 2)"),
            "{}",
            invalid.report
        );
        assert!(invalid.report.contains("missing"), "{}", invalid.report);
        assert!(
            invalid.report.contains("a -> b -> a") || invalid.report.contains("b -> a -> b"),
            "{}",
            invalid.report
        );
        assert!(!invalid.report.contains("document 1"), "{}", invalid.report);
    }

    #[test]
    fn a_workflow_needs_a_name_or_generate_name() {
        let text = GOOD.replace("  name: good\n", "  labels: {a: b}\n");
        let invalid = check("x.yaml", &text, PLAIN).unwrap_err();
        assert!(
            invalid.report.contains("metadata.name is missing"),
            "{}",
            invalid.report
        );
    }

    #[test]
    fn unparsable_yaml_names_the_file() {
        let invalid = check(
            "x.yaml",
            "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nspec: [\n",
            PLAIN,
        )
        .unwrap_err();
        assert!(invalid.report.starts_with("x.yaml: "), "{}", invalid.report);
        assert_eq!(invalid.report.lines().count(), 1);
    }

    #[test]
    fn an_empty_file_is_an_error() {
        let invalid = check("x.yaml", "# nothing\n", PLAIN).unwrap_err();
        assert!(
            invalid.report.contains("holds no Workflow"),
            "{}",
            invalid.report
        );
    }
}
