//! `submit --from template/NAME [-p KEY=VALUE]... [--name NAME] [--watch] [--dry-run]`: read a
//! WorkflowTemplate, make its run here (the parameters substituted, as the controller would:
//! `kwf_api::instantiate`), and create it, labelled `kwf.dev/template`, named `--name` or
//! `<template>-<5 random characters>` by the API server (generateName).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kwf_api::{Workflow, WorkflowTemplate, instantiate};

use crate::cli::{ConnectionFlags, DryRun, SubmitArgs, SubmitOutput};
use crate::errors::{Op, WORKFLOWS};
use crate::render::{GraphFormat, object_ref};
use crate::session::Session;
use crate::terminal::Terminal;
use crate::watch::follow;

/// The resource of WorkflowTemplates, for messages.
const WORKFLOW_TEMPLATES: &str = "workflowtemplates.kwf.dev";

pub async fn execute(
    args: &SubmitArgs,
    flags: &ConnectionFlags,
    terminal: Terminal,
) -> anyhow::Result<()> {
    // Usage errors before the kubeconfig is read.
    let template_name = parse_from(&args.from)?;
    let params = parse_params(&args.params)?;
    let session = Session::connect(flags, terminal).await?;
    let namespace = session.namespace().to_owned();
    let op = Op::new("get", WORKFLOW_TEMPLATES, Some(&namespace)).named(template_name);
    let template = session
        .send(
            op,
            session
                .api::<WorkflowTemplate>(Some(&namespace))
                .get(template_name),
        )
        .await?;
    let run = build_run(&template, &params, args.name.as_deref())?;
    let shown = display_name(&run);

    if args.dry_run == DryRun::Client {
        return print(
            &session,
            &run,
            args.output,
            &format!("{} created (dry run)\n", object_ref(&shown)),
        );
    }
    let post = PostParams {
        dry_run: args.dry_run == DryRun::Server,
        field_manager: Some("kubectl-workflow".to_owned()),
    };
    let op = Op::new("create", WORKFLOWS, Some(&namespace)).named(&shown);
    let created = session
        .send(
            op,
            session
                .api::<Workflow>(Some(&namespace))
                .create(&post, &run),
        )
        .await?;
    let name = created.metadata.name.clone().unwrap_or(shown);
    let suffix = if args.dry_run == DryRun::Server {
        " (server dry run)"
    } else {
        ""
    };
    print(
        &session,
        &created,
        args.output,
        &format!("{} created{suffix}\n", object_ref(&name)),
    )?;
    if args.follow.watch {
        return follow(&session, &namespace, &name, &|_| true, GraphFormat::Tree)
            .await?
            .into_result(&name);
    }
    Ok(())
}

fn print(
    session: &Session,
    run: &Workflow,
    output: Option<SubmitOutput>,
    line: &str,
) -> anyhow::Result<()> {
    let text = match output {
        None => line.to_owned(),
        Some(SubmitOutput::Yaml) => serde_saphyr::to_string(run)?,
        Some(SubmitOutput::Json) => format!("{}\n", serde_json::to_string_pretty(run)?),
    };
    session.terminal.print(&text)
}

/// `template/NAME` (also `workflowtemplate/NAME`, `workflowtemplates/NAME`, `kwft/NAME`) -> NAME.
fn parse_from(from: &str) -> anyhow::Result<&str> {
    match from.split_once('/') {
        Some(("template" | "workflowtemplate" | "workflowtemplates" | "kwft", name))
            if !name.is_empty() && !name.contains('/') =>
        {
            Ok(name)
        }
        _ => bail!("--from {from:?}: expected template/NAME, the name of a WorkflowTemplate"),
    }
}

/// `-p KEY=VALUE` flags as a map (the value may contain `=`; a key given twice is an error).
fn parse_params(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for flag in flags {
        let (key, value) = flag
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| anyhow!("-p {flag:?}: expected KEY=VALUE"))?;
        if params.insert(key.to_owned(), value.to_owned()).is_some() {
            bail!("-p {key}: given twice; keep one value");
        }
    }
    Ok(params)
}

/// The run of `template` with `params`, named `name` or generated from the template's name.
fn build_run(
    template: &WorkflowTemplate,
    params: &BTreeMap<String, String>,
    name: Option<&str>,
) -> anyhow::Result<Workflow> {
    let instance = instantiate(template, params).map_err(|e| anyhow!("{e}"))?;
    let template_name = template.metadata.name.clone().unwrap_or_default();
    Ok(Workflow {
        metadata: ObjectMeta {
            name: name.map(str::to_owned),
            generate_name: name.is_none().then(|| format!("{template_name}-")),
            namespace: template.metadata.namespace.clone(),
            labels: Some(instance.labels),
            annotations: (!instance.annotations.is_empty()).then_some(instance.annotations),
            ..Default::default()
        },
        spec: instance.spec,
        status: None,
    })
}

fn display_name(run: &Workflow) -> String {
    run.metadata
        .name
        .clone()
        .or_else(|| {
            run.metadata
                .generate_name
                .as_ref()
                .map(|g| format!("{g}(generated)"))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::{StepFixture, step};
    use kwf_api::workflow_template::{LABEL_TEMPLATE, Parameter};
    use kwf_api::{WorkflowSpec, WorkflowTemplateSpec};

    fn template() -> WorkflowTemplate {
        let mut t = WorkflowTemplate::new(
            "ci",
            WorkflowTemplateSpec {
                parameters: vec![Parameter {
                    name: "branch".into(),
                    default: None,
                    description: None,
                }],
                workflow_metadata: None,
                workflow_spec: WorkflowSpec {
                    containers: vec![step("build", &[]).with_command(&[
                        "git",
                        "checkout",
                        "{{params.branch}}",
                    ])],
                    ..Default::default()
                },
                schedule: None,
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("dev".into());
        t
    }

    #[test]
    fn from_takes_template_slash_name() {
        assert_eq!(parse_from("template/ci").unwrap(), "ci");
        assert_eq!(parse_from("kwft/ci").unwrap(), "ci");
        for bad in ["ci", "template/", "workflow/ci", "template/a/b"] {
            assert_eq!(
                parse_from(bad).unwrap_err().to_string(),
                format!("--from {bad:?}: expected template/NAME, the name of a WorkflowTemplate")
            );
        }
    }

    #[test]
    fn params_are_key_value_pairs() {
        let p = parse_params(&["a=1".into(), "b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "x=y");
        assert_eq!(p["c"], "");
        assert_eq!(
            parse_params(&["a".into()]).unwrap_err().to_string(),
            "-p \"a\": expected KEY=VALUE"
        );
        assert_eq!(
            parse_params(&["a=1".into(), "a=2".into()])
                .unwrap_err()
                .to_string(),
            "-p a: given twice; keep one value"
        );
    }

    #[test]
    fn the_run_is_generated_from_the_template_name_and_labelled() {
        let params = parse_params(&["branch=main".into()]).unwrap();
        let run = build_run(&template(), &params, None).unwrap();
        assert_eq!(run.metadata.generate_name.as_deref(), Some("ci-"));
        assert_eq!(run.metadata.name, None);
        assert_eq!(run.metadata.namespace.as_deref(), Some("dev"));
        assert_eq!(run.metadata.labels.as_ref().unwrap()[LABEL_TEMPLATE], "ci");
        assert_eq!(
            run.spec.containers[0].command.as_deref().unwrap(),
            ["git", "checkout", "main"]
        );
        assert_eq!(display_name(&run), "ci-(generated)");
        let named = build_run(&template(), &params, Some("ci-main")).unwrap();
        assert_eq!(named.metadata.name.as_deref(), Some("ci-main"));
        assert_eq!(named.metadata.generate_name, None);
    }

    #[test]
    fn a_missing_parameter_is_one_line() {
        let err = build_run(&template(), &BTreeMap::new(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template \"ci\": parameter \"branch\" has no default and no value: pass one (-p branch=VALUE, or params in the Workflow)"
        );
    }
}
