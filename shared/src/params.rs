//! Template parameters: `{{params.NAME}}` references in text, and their substitution.
//!
//! Only references of exactly that shape are touched (spaces inside the braces allowed:
//! `{{ params.NAME }}`); any other `{{...}}` is left as written, so a step's shell script or Go
//! template keeps its own braces.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

/// The prefix of a parameter reference inside the braces.
const PREFIX: &str = "params.";
/// Longest parameter name (a label name's length, so that a name can always be a label key).
pub const MAX_PARAM_NAME_LEN: usize = 63;
/// Parameters a template may declare.
pub const MAX_PARAMS: usize = 64;
/// The schema's pattern of a parameter name.
pub const PARAM_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_-]*$";

/// True when `name` can be a parameter's name: a letter or `_`, then letters, digits, `_` or
/// `-`, at most [`MAX_PARAM_NAME_LEN`] characters.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_PARAM_NAME_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One `{{params.NAME}}` in a text: where it is (braces included) and the name it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    pub span: Range<usize>,
    pub name: &'a str,
}

/// Every parameter reference in `text`, in order.
pub fn references(text: &str) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| from + i) {
        let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let inner = text[open + 2..close].trim();
        match inner.strip_prefix(PREFIX) {
            Some(name) if is_param_name(name) => {
                found.push(Reference {
                    span: open..close + 2,
                    name,
                });
                from = close + 2;
            }
            // Not ours: look for the next `{{` inside it (`{{{params.a}}` still refers to a).
            _ => from = open + 1,
        }
    }
    found
}

/// `text` with every reference replaced by its value; the first name without a value is the
/// error. Borrowed when there is nothing to replace.
pub fn substitute<'a>(
    text: &'a str,
    values: &BTreeMap<String, String>,
) -> Result<Cow<'a, str>, String> {
    let refs = references(text);
    if refs.is_empty() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in refs {
        let value = values.get(r.name).ok_or_else(|| r.name.to_owned())?;
        out.push_str(&text[last..r.span.start]);
        out.push_str(value);
        last = r.span.end;
    }
    out.push_str(&text[last..]);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn finds_references_with_or_without_spaces() {
        let names: Vec<&str> = references("a {{params.x}} b {{ params.y_2 }} {{params.z-3}}")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["x", "y_2", "z-3"]);
    }

    #[test]
    fn leaves_other_braces_alone() {
        for text in [
            "{{ .Values.x }}",
            "{{params.}}",
            "{{params.1x}}",
            "{{ params.a b }}",
            "{{params.x",
            "echo }} {{",
        ] {
            assert!(references(text).is_empty(), "{text}");
            assert_eq!(substitute(text, &values(&[])).unwrap(), text);
        }
    }

    #[test]
    fn substitutes_every_reference() {
        let v = values(&[("env", "prod"), ("n", "3")]);
        assert_eq!(
            substitute("deploy-{{params.env}} x{{ params.n }}{{params.env}}", &v).unwrap(),
            "deploy-prod x3prod"
        );
        assert_eq!(
            substitute("{{{params.n}}}", &v).unwrap(),
            "{3}",
            "an extra brace stays text"
        );
    }

    #[test]
    fn nothing_to_substitute_borrows() {
        assert!(matches!(
            substitute("plain", &values(&[])).unwrap(),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn a_value_is_not_substituted_again() {
        let v = values(&[("a", "{{params.b}}"), ("b", "no")]);
        assert_eq!(substitute("{{params.a}}", &v).unwrap(), "{{params.b}}");
    }

    #[test]
    fn an_unknown_name_is_the_error() {
        assert_eq!(
            substitute("{{params.a}} {{params.b}}", &values(&[("a", "1")])).unwrap_err(),
            "b"
        );
    }

    #[test]
    fn parameter_names() {
        for ok in ["a", "_x", "env", "A-b_9"] {
            assert!(is_param_name(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a.b", "a b", &"x".repeat(64)] {
            assert!(!is_param_name(bad), "{bad}");
        }
    }

    proptest::proptest! {
        /// Substituting values without braces leaves no reference behind, and text without
        /// `{{` is returned unchanged.
        #[test]
        fn substitution_leaves_no_reference(
            parts in proptest::collection::vec(("[a-z ]{0,6}", "[a-c]"), 0..6),
            value in "[a-z0-9]{0,5}",
        ) {
            let text: String = parts.iter().map(|(t, n)| format!("{t}{{{{params.{n}}}}}")).collect();
            let v = values(&[("a", &value), ("b", &value), ("c", &value)]);
            let out = substitute(&text, &v).unwrap();
            proptest::prop_assert!(references(&out).is_empty());
            let expected: String = parts.iter().map(|(t, _)| format!("{t}{value}")).collect();
            proptest::prop_assert_eq!(out.as_ref(), expected.as_str());
        }
    }
}
