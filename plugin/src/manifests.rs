//! Workflow files: read (a path or `-` for stdin), parse every YAML document, and check each
//! object offline (the shared `validate()` and `validate_template()`), collecting every problem
//! before reporting. A file of kwf Workflows only is read as it always was; any other file goes
//! through [`crate::convert`], which reads kwf's WorkflowTemplates and JobTemplates too and
//! converts the documents of the systems kwf grows from (each conversion said in a note, each
//! field without a kwf equivalent a problem unless lossy conversions are allowed).

use std::io::Read;
use std::path::Path;

use anyhow::anyhow;
use kwf_api::Workflow;

use crate::convert::{self, Document, KwfObject};
use crate::render::{self, Style};

/// One object of a file, with how to name it in messages.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `file.yaml`, or `file.yaml (document 2)` when the file holds several.
    pub source: String,
    pub object: KwfObject,
}

impl Manifest {
    /// `name`, or `generateName*` for objects the API server names.
    pub fn display_name(&self) -> String {
        self.object.display_name()
    }

    /// The object, when it is a Workflow.
    pub fn workflow(&self) -> Option<&Workflow> {
        match &self.object {
            KwfObject::Workflow(wf) => Some(wf),
            _ => None,
        }
    }
}

/// The objects of a valid file, and the notes to print on stderr (what was converted from what,
/// and with `--allow-lossy` what was left out).
#[derive(Debug, Clone)]
pub struct Checked {
    pub manifests: Vec<Manifest>,
    pub notes: Vec<String>,
}

/// A file that failed the checks: every problem, one per line, ready to print.
#[derive(Debug)]
pub struct InvalidFile {
    pub report: String,
    pub problems: usize,
    /// How many of the problems are fields without a kwf equivalent.
    pub lossy: usize,
    /// The report is one line that can be the error itself.
    pub one_line: bool,
}

impl InvalidFile {
    fn new(report: String, problems: usize) -> InvalidFile {
        InvalidFile {
            report,
            problems,
            lossy: 0,
            one_line: false,
        }
    }

    /// A file that is wrong as a whole (not YAML, empty): one line, the error itself.
    fn line(report: String) -> InvalidFile {
        InvalidFile {
            one_line: true,
            ..InvalidFile::new(report, 1)
        }
    }

    /// What to print before the error (maybe nothing), and the error, ending with `outcome`
    /// (`nothing was created`).
    pub fn explain(&self, file: &str, outcome: &str) -> (String, String) {
        let hint = if self.lossy > 0 {
            " (--allow-lossy converts without the fields it names)"
        } else {
            ""
        };
        if self.one_line {
            return (
                String::new(),
                format!("{}; {outcome}{hint}", self.report.trim_end()),
            );
        }
        let plural = if self.problems == 1 {
            "problem"
        } else {
            "problems"
        };
        (
            self.report.clone(),
            format!(
                "{file} is invalid ({} {plural}); {outcome}{hint}",
                self.problems
            ),
        )
    }
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

/// Parses, converts and validates every document of `text`; `Err` lists all problems of all
/// documents. `allow_lossy`: a field without a kwf equivalent is a note, not a problem.
pub fn check(
    file: &str,
    text: &str,
    style: Style,
    allow_lossy: bool,
) -> Result<Checked, InvalidFile> {
    let documents = match serde_saphyr::from_multiple::<serde_json::Value>(text) {
        Ok(documents) => documents,
        // kwf_api's reader places a syntax error in its document and line.
        Err(err) => {
            let message = match kwf_api::parse_workflows(text) {
                Err(e) => e.to_string(),
                Ok(_) => err.to_string(),
            };
            return Err(InvalidFile::line(format!(
                "{file}: {}",
                crate::errors::one_line(&message)
            )));
        }
    };
    let documents: Vec<Document> = documents
        .into_iter()
        .filter(|value| !value.is_null())
        .map(|value| Document { value })
        .collect();
    if documents.is_empty() {
        return Err(InvalidFile::line(format!(
            "{file}: the file holds no Workflow"
        )));
    }
    if convert::all_workflows(&documents) {
        return check_workflows(file, text, style).map(|manifests| Checked {
            manifests,
            notes: Vec::new(),
        });
    }
    check_documents(file, documents, style, allow_lossy)
}

/// A file of kwf Workflows only, read with line numbers as it always was.
fn check_workflows(file: &str, text: &str, style: Style) -> Result<Vec<Manifest>, InvalidFile> {
    let workflows = kwf_api::parse_workflows(text).map_err(|e| {
        // "document 2, line 19, column 15: ..."
        InvalidFile::line(format!(
            "{file}: {}",
            crate::errors::one_line(&e.to_string())
        ))
    })?;
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
        let object = KwfObject::Workflow(Box::new(workflow));
        problems += object_problems(&source, &object, style, &mut report);
        manifests.push(Manifest { source, object });
    }
    if problems > 0 {
        Err(InvalidFile::new(report, problems))
    } else {
        Ok(manifests)
    }
}

/// Any other file: each document read or converted, then every object checked.
fn check_documents(
    file: &str,
    documents: Vec<Document>,
    style: Style,
    allow_lossy: bool,
) -> Result<Checked, InvalidFile> {
    let mut report = String::new();
    let mut problems = 0;
    let mut lossy = 0;
    let mut notes = Vec::new();
    let mut manifests = Vec::new();
    for outcome in convert::convert_file(file, documents) {
        let converted = match &outcome.result {
            Err(err) => {
                problems += 1;
                match &outcome.converted_from {
                    Some(from) => report.push_str(&format!("{}: {from}: {err}\n", outcome.source)),
                    None => report.push_str(&format!("{}: {err}\n", outcome.source)),
                }
                continue;
            }
            Ok(converted) => converted,
        };
        for line in convert::lossy_lines(&outcome) {
            if allow_lossy {
                notes.push(format!("warning: {line} (left out: --allow-lossy)"));
            } else {
                problems += 1;
                lossy += 1;
                report.push_str(&line);
                report.push('\n');
            }
        }
        notes.extend(convert::converted_note(&outcome).map(|n| format!("note: {n}")));
        for object in &converted.objects {
            problems += object_problems(&outcome.source, object, style, &mut report);
            manifests.push(Manifest {
                source: outcome.source.clone(),
                object: object.clone(),
            });
        }
    }
    if problems > 0 {
        let one_line = problems == 1 && report.trim_end().lines().count() == 1;
        Err(InvalidFile {
            report,
            problems,
            lossy,
            one_line,
        })
    } else {
        Ok(Checked { manifests, notes })
    }
}

/// The problems of one object, appended to `report`; how many.
fn object_problems(source: &str, object: &KwfObject, style: Style, report: &mut String) -> usize {
    let mut problems = 0;
    match object {
        KwfObject::Workflow(workflow) => {
            if let Err(errors) = kwf_api::validate(&workflow.spec) {
                problems += errors.0.len();
                let text = render::problems(source, &errors, style);
                report.push_str(text.trim_end_matches('\n'));
                report.push('\n');
            }
        }
        KwfObject::WorkflowTemplate(template) => {
            if let Err(err) = kwf_api::validate_template(template) {
                problems += err.problems.len();
                for problem in &err.problems {
                    report.push_str(&format!(
                        "{source}: template {:?}: {problem}\n",
                        err.template
                    ));
                }
            }
        }
        KwfObject::JobTemplate(_) => {}
    }
    if let Some(problem) = metadata_problem(object) {
        problems += 1;
        report.push_str(&format!("{source}: {problem}\n"));
    }
    problems
}

/// What `validate()` cannot see because it only gets the spec.
fn metadata_problem(object: &KwfObject) -> Option<String> {
    let meta = object.metadata();
    let unnamed = meta.name.as_deref().is_none_or(str::is_empty)
        && meta.generate_name.as_deref().is_none_or(str::is_empty);
    let generated = meta.name.as_deref().is_none_or(str::is_empty);
    match object {
        KwfObject::Workflow(_) => unnamed.then(|| {
            "metadata.name is missing: set metadata.name, or metadata.generateName for a generated one"
                .to_owned()
        }),
        // Steps and runs name templates, so a template needs a name of its own.
        other => generated.then(|| {
            format!(
                "metadata.name is missing: a {} is named by what uses it, so set metadata.name",
                other.kind()
            )
        }),
    }
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
        let manifests = check("good.yaml", GOOD, PLAIN, false).unwrap().manifests;
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
        let invalid = check("wf.yaml", &text, PLAIN, false).unwrap_err();
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
        let invalid = check("x.yaml", &text, PLAIN, false).unwrap_err();
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
            false,
        )
        .unwrap_err();
        assert!(invalid.report.starts_with("x.yaml: "), "{}", invalid.report);
        assert_eq!(invalid.report.lines().count(), 1);
    }

    #[test]
    fn an_empty_file_is_an_error() {
        let invalid = check("x.yaml", "# nothing\n", PLAIN, false).unwrap_err();
        assert!(
            invalid.report.contains("holds no Workflow"),
            "{}",
            invalid.report
        );
    }

    const KOPF: &str = "apiVersion: workflow.crd.com/v1
kind: WorkFlow
metadata:
  name: kopf
spec:
  containers:
    - stepName: a
      image: busybox
      command: [echo, a]
";

    #[test]
    fn a_source_document_is_converted_and_said_once() {
        let text = format!("{GOOD}---\n{KOPF}");
        let checked = check("f.yaml", &text, PLAIN, false).unwrap();
        let kinds: Vec<(&str, String)> = checked
            .manifests
            .iter()
            .map(|m| (m.object.kind(), m.display_name()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("Workflow", "good".to_owned()),
                ("Workflow", "kopf".to_owned())
            ]
        );
        assert_eq!(
            checked.notes,
            [
                "note: f.yaml (document 2): converted WorkFlow kopf (workflow.crd.com/v1) to Workflow kopf"
            ]
        );
    }

    #[test]
    fn a_lossy_field_is_one_line_unless_allowed() {
        let lossy = KOPF.replace(
            "      command: [echo, a]\n",
            "      command: [echo, a]\n      retryCount: 3\n",
        );
        let invalid = check("f.yaml", &lossy, PLAIN, false).unwrap_err();
        assert_eq!(
            (invalid.problems, invalid.lossy, invalid.one_line),
            (1, 1, true)
        );
        let (before, error) = invalid.explain("f.yaml", "nothing was created");
        assert_eq!(before, "");
        assert!(
            error.starts_with("f.yaml: WorkFlow kopf (workflow.crd.com/v1): spec.containers[0].retryCount: not a field kwf knows"),
            "{error}"
        );
        assert!(
            error.ends_with(
                "; nothing was created (--allow-lossy converts without the fields it names)"
            ),
            "{error}"
        );
        let allowed = check("f.yaml", &lossy, PLAIN, true).unwrap();
        assert_eq!(allowed.manifests.len(), 1);
        assert!(
            allowed.notes[0].starts_with("warning: f.yaml: WorkFlow kopf"),
            "{:?}",
            allowed.notes
        );
        assert!(
            allowed.notes[1].starts_with("note: f.yaml: converted"),
            "{:?}",
            allowed.notes
        );
    }

    #[test]
    fn every_problem_of_a_mixed_file_is_reported_and_nothing_is_kept() {
        let bad_template = "apiVersion: kwf.dev/v1alpha1
kind: WorkflowTemplate
metadata: {name: t}
spec:
  workflowSpec:
    containers:
      - {stepName: a, image: busybox, dependsOn: [nope]}
";
        let text =
            format!("{KOPF}---\n{bad_template}---\napiVersion: example.com/v1\nkind: Widget\n");
        let invalid = check("f.yaml", &text, PLAIN, false).unwrap_err();
        assert_eq!(invalid.problems, 2, "{}", invalid.report);
        assert!(!invalid.one_line);
        assert!(
            invalid
                .report
                .contains("f.yaml (document 2): template \"t\": workflowSpec: step \"a\""),
            "{}",
            invalid.report
        );
        assert!(
            invalid
                .report
                .contains("f.yaml (document 3): is example.com/v1 Widget"),
            "{}",
            invalid.report
        );
        let (_, error) = invalid.explain("f.yaml", "nothing was created");
        assert_eq!(error, "f.yaml is invalid (2 problems); nothing was created");
    }

    #[test]
    fn a_template_needs_a_name_of_its_own() {
        let text = "apiVersion: kwf.dev/v1alpha1
kind: JobTemplate
metadata: {generateName: t-}
spec: {}
";
        let invalid = check("f.yaml", text, PLAIN, false).unwrap_err();
        assert!(
            invalid
                .report
                .contains("a JobTemplate is named by what uses it"),
            "{}",
            invalid.report
        );
    }
}
