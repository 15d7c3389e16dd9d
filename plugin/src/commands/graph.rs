//! `graph NAME`: the DAG with live state, once or (`--watch`) redrawn until the workflow ends.

use anyhow::bail;

use crate::cli::{GraphArgs, GraphOutput};
use crate::object_arg::{self, Target};
use crate::render::{self, GraphFormat};
use crate::session::Session;
use crate::watch::{Outcome, follow};

use super::logs;

pub async fn execute(args: &GraphArgs, session: &Session) -> anyhow::Result<()> {
    let namespace = session.namespace();
    let format = format(args.output, args.instances);
    let name = match object_arg::parse(&args.workflow.name)? {
        Target::Workflow(name) => name,
        Target::Template(name) => {
            if args.follow.watch {
                bail!(
                    "graph template/{name} --watch: a template does not run; drop --watch, or follow one of its runs"
                );
            }
            let template = session.get_template(namespace, name).await?;
            let wf = render::template_workflow(&template);
            let style = session.terminal.stdout_style();
            let text = render::graph(&wf, format, style, jiff::Timestamp::now());
            return session.terminal.print_block(&text);
        }
    };
    if args.follow.watch {
        let outcome = follow(session, namespace, name, &|_| true, format).await?;
        let tree = matches!(format, GraphFormat::Tree | GraphFormat::TreeWithInstances);
        if tree && matches!(outcome, Outcome::Failed { .. }) {
            // The failure at hand: the failed steps' last lines under the final frame.
            let wf = session.get_workflow(namespace, name).await?;
            let tails = logs::failed_tails(session, &wf, render::TAIL_LINES).await;
            let text = render::failed_logs(&tails, session.terminal.stdout_style());
            if !text.is_empty() {
                session.terminal.print(&format!("\n{text}"))?;
            }
        }
        return outcome.into_result(name);
    }
    let wf = session.get_workflow(namespace, name).await?;
    let style = session.terminal.stdout_style();
    session
        .terminal
        .print_block(&render::graph(&wf, format, style, jiff::Timestamp::now()))
}

fn format(output: GraphOutput, instances: bool) -> GraphFormat {
    match output {
        GraphOutput::Tree if instances => GraphFormat::TreeWithInstances,
        GraphOutput::Tree => GraphFormat::Tree,
        GraphOutput::Json => GraphFormat::Json,
        GraphOutput::Yaml => GraphFormat::Yaml,
        GraphOutput::Dot => GraphFormat::Dot,
        GraphOutput::Mermaid => GraphFormat::Mermaid,
    }
}
