//! The object a command names, as kubectl writes it: `NAME` or `workflow/NAME` for a Workflow,
//! `template/NAME` (also `workflowtemplate/`, `workflowtemplates/`, `kwft/`) for a
//! WorkflowTemplate. Parsing only, so a typo is a usage error before any request.

use anyhow::bail;

/// What `graph`, `describe` and `submit --from` act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Workflow(&'a str),
    Template(&'a str),
}

/// The kind words accepted before `/` for a WorkflowTemplate.
const TEMPLATE_WORDS: [&str; 4] = ["template", "workflowtemplate", "workflowtemplates", "kwft"];
/// The kind words accepted before `/` for a Workflow.
const WORKFLOW_WORDS: [&str; 4] = ["workflow", "workflows", "wf", "kwf"];

/// `arg` as a Workflow or a WorkflowTemplate; `NAME` alone is a Workflow.
pub fn parse(arg: &str) -> anyhow::Result<Target<'_>> {
    let Some((kind, name)) = arg.split_once('/') else {
        return Ok(Target::Workflow(arg));
    };
    if name.is_empty() || name.contains('/') {
        bail!("{arg:?}: expected NAME, workflow/NAME or template/NAME");
    }
    if TEMPLATE_WORDS.contains(&kind) {
        Ok(Target::Template(name))
    } else if WORKFLOW_WORDS.contains(&kind) {
        Ok(Target::Workflow(name))
    } else {
        bail!("{arg:?}: unknown kind {kind:?}; expected NAME, workflow/NAME or template/NAME")
    }
}

/// `template/NAME` -> NAME, for flags that take only a template (`submit --from`).
pub fn template_name<'a>(flag: &str, arg: &'a str) -> anyhow::Result<&'a str> {
    match parse(arg) {
        Ok(Target::Template(name)) if arg.contains('/') => Ok(name),
        _ => bail!("{flag} {arg:?}: expected template/NAME, the name of a WorkflowTemplate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_and_workflow_words_name_a_workflow() {
        for arg in ["ci", "workflow/ci", "workflows/ci", "wf/ci", "kwf/ci"] {
            assert_eq!(parse(arg).unwrap(), Target::Workflow("ci"), "{arg}");
        }
    }

    #[test]
    fn template_words_name_a_template() {
        for arg in [
            "template/ci",
            "workflowtemplate/ci",
            "workflowtemplates/ci",
            "kwft/ci",
        ] {
            assert_eq!(parse(arg).unwrap(), Target::Template("ci"), "{arg}");
        }
    }

    #[test]
    fn bad_arguments_are_one_line_naming_the_forms() {
        assert_eq!(
            parse("job/ci").unwrap_err().to_string(),
            "\"job/ci\": unknown kind \"job\"; expected NAME, workflow/NAME or template/NAME"
        );
        for bad in ["template/", "template/a/b", "/"] {
            assert_eq!(
                parse(bad).unwrap_err().to_string(),
                format!("{bad:?}: expected NAME, workflow/NAME or template/NAME")
            );
        }
    }

    #[test]
    fn a_template_only_flag_refuses_workflows_and_bare_names() {
        assert_eq!(template_name("--from", "template/ci").unwrap(), "ci");
        for bad in ["ci", "template/", "workflow/ci", "template/a/b"] {
            assert_eq!(
                template_name("--from", bad).unwrap_err().to_string(),
                format!("--from {bad:?}: expected template/NAME, the name of a WorkflowTemplate")
            );
        }
    }
}
