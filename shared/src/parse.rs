//! Reading Workflows from YAML files (several documents per file), with errors that say
//! which document and line is wrong.

use std::fmt;

use serde::Deserialize;
use serde_saphyr::{Location, SnippetMode, Spanned};

use crate::workflow::{API_VERSION, Workflow};

/// What is wrong with a YAML input, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based number of the (non-empty) document, when known.
    pub document: Option<usize>,
    /// 1-based line in the whole input, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong and what to do, on one line.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.document, self.line) {
            (Some(document), Some(line)) => write!(f, "document {document}, line {line}")?,
            (Some(document), None) => write!(f, "document {document}")?,
            (None, Some(line)) => write!(f, "line {line}")?,
            (None, None) => return f.write_str(&self.message),
        }
        if let (Some(_), Some(column)) = (self.line, self.column) {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Just enough of a document to tell whether it is a Workflow.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeHeader {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

/// Every Workflow of a multi-document YAML string, in order; empty documents are skipped.
/// Fails on the first document that is not valid YAML, not a `kwf.dev/v1alpha1` Workflow, or
/// does not match the Workflow schema.
pub fn parse_workflows(yaml: &str) -> Result<Vec<Workflow>, ParseError> {
    // First pass: where each document starts, and whether it is a Workflow at all.
    let headers: Vec<Spanned<TypeHeader>> =
        serde_saphyr::from_multiple(yaml).map_err(|err| from_yaml_error(&err, &[]))?;
    let starts: Vec<u64> = headers.iter().map(|h| h.referenced.line()).collect();
    for (i, header) in headers.iter().enumerate() {
        let header_kind = header.value.kind.as_deref();
        let header_version = header.value.api_version.as_deref();
        if header_kind != Some("Workflow") || header_version != Some(API_VERSION) {
            return Err(ParseError {
                document: Some(i + 1),
                line: Some(header.referenced.line()),
                column: None,
                message: format!(
                    "is {} {}, not a Workflow: give it `apiVersion: {API_VERSION}` and `kind: Workflow`, or remove it",
                    header_version.unwrap_or("(no apiVersion)"),
                    header_kind.unwrap_or("(no kind)"),
                ),
            });
        }
    }
    // Second pass: the Workflows themselves.
    serde_saphyr::from_multiple(yaml).map_err(|err| from_yaml_error(&err, &starts))
}

/// A serde-saphyr error as one line, placed in its document by the documents' start lines.
fn from_yaml_error(err: &serde_saphyr::Error, starts: &[u64]) -> ParseError {
    let options = serde_saphyr::render_options! { snippets: SnippetMode::Off };
    let rendered = err.render_with_options(options);
    let location = err.location().filter(|l: &Location| l.line() > 0);
    let line = location.map(|l| l.line());
    let column = location.map(|l| l.column());
    let document = line.and_then(|line| {
        let before = starts.iter().take_while(|&&start| start <= line).count();
        (before > 0).then_some(before)
    });
    let mut message = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // The location is part of the Display prefix: do not repeat it.
    if let Some(l) = location {
        let suffix = format!(" at line {}, column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    ParseError {
        document,
        line,
        column,
        message: format!(
            "{}: fix the YAML and retry",
            without_library_hints(&message)
        ),
    }
}

/// serde-saphyr's message without its advice to the program (", set DuplicateKeyPolicy in
/// Options if acceptable"): a user cannot set options. A repeated `apiVersion` or `kind` is
/// almost always two documents without the `---` between them, so that is said instead.
fn without_library_hints(message: &str) -> String {
    let mut message = message.to_owned();
    if let Some(start) = message.find(", set ")
        && let Some(len) = message[start..].find(" in Options if acceptable")
    {
        message.replace_range(start..start + len + " in Options if acceptable".len(), "");
    }
    for key in ["apiVersion", "kind"] {
        if message.ends_with(&format!("duplicate mapping key: {key}")) {
            message.push_str(" (two documents without `---` between them?)");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_names_the_likely_cause_not_the_library_s_options() {
        let yaml = "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata: {name: a}\nspec: {containers: [{stepName: a, image: busybox}]}\napiVersion: kwf.dev/v1alpha1\n";
        let err = parse_workflows(yaml).unwrap_err();
        assert!(!err.message.contains("Options"), "{err}");
        assert!(
            err.message.ends_with(
                "duplicate mapping key: apiVersion (two documents without `---` between them?): fix the YAML and retry"
            ),
            "{err}"
        );
    }

    const TWO: &str = "\
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: one}
spec:
  containers:
    - {stepName: a, image: busybox}
---
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: two}
spec:
  maxStepTimeout: -1
  containers:
    - stepName: a
      image: busybox
      command: null
      dependsOn: null
    - {stepName: b, image: busybox, dependsOn: [a]}
";

    #[test]
    fn reads_every_document() {
        let workflows = parse_workflows(TWO).expect("both documents are Workflows");
        assert_eq!(workflows.len(), 2);
        assert_eq!(workflows[0].metadata.name.as_deref(), Some("one"));
        assert_eq!(workflows[0].spec.max_step_timeout, 60, "the seed's default");
        assert_eq!(workflows[1].spec.max_step_timeout, -1);
        assert_eq!(
            workflows[1].spec.containers[0].depends_on,
            Vec::<String>::new()
        );
        assert_eq!(workflows[1].spec.containers[0].command, None);
        assert_eq!(workflows[1].spec.containers[1].depends_on, vec!["a"]);
    }

    #[test]
    fn names_the_document_and_line_of_a_schema_error() {
        let yaml = TWO.replace(
            "- {stepName: b, image: busybox, dependsOn: [a]}",
            "- {image: busybox}",
        );
        let err = parse_workflows(&yaml).unwrap_err();
        println!("{err}");
        assert_eq!(err.document, Some(2));
        assert!(err.line.is_some_and(|l| l >= 14), "{err:?}");
        assert!(err.to_string().contains("stepName"), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    #[test]
    fn names_a_document_that_is_not_a_workflow() {
        let yaml = format!("{TWO}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n");
        let err = parse_workflows(&yaml).unwrap_err();
        println!("{err}");
        assert_eq!(err.document, Some(3));
        assert_eq!(err.line, Some(20));
        assert!(
            err.message.contains("v1 ConfigMap, not a Workflow"),
            "{err}"
        );
    }

    #[test]
    fn reports_the_line_of_a_syntax_error() {
        let err = parse_workflows("kind: Workflow\nspec: [unclosed\n").unwrap_err();
        println!("{err}");
        assert!(err.line.is_some(), "{err:?}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    #[test]
    fn empty_input_has_no_workflows() {
        assert_eq!(parse_workflows("").unwrap(), Vec::<Workflow>::new());
        assert_eq!(
            parse_workflows("---\n# nothing\n").unwrap(),
            Vec::<Workflow>::new()
        );
    }
}
