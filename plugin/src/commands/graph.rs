//! `graph NAME`: the DAG with live state, once or (`--watch`) redrawn until the workflow ends.

use kube::Api;
use kwf_api::Workflow;

use crate::cli::{ColorChoice, ConnectionFlags, GraphArgs, GraphOutput};
use crate::connect::connect;
use crate::errors::{Op, WORKFLOWS};
use crate::output;
use crate::render::{self, GraphFormat};
use crate::style::stdout_style;
use crate::watch::{Display, follow};

pub async fn run(
    args: &GraphArgs,
    flags: &ConnectionFlags,
    color: ColorChoice,
) -> anyhow::Result<()> {
    let cluster = connect(flags).await?;
    let namespace = cluster.namespace.clone();
    let display = Display {
        format: format(args.output),
        style: stdout_style(color, args.ascii),
    };
    if args.watch {
        return follow(&cluster, &namespace, &args.name, &|_| true, display)
            .await?
            .into_result(&args.name);
    }
    let api: Api<Workflow> = Api::namespaced(cluster.client.clone(), &namespace);
    let op = Op::new("get", WORKFLOWS, Some(&namespace)).named(&args.name);
    let wf = api.get(&args.name).await.map_err(cluster.fail(op))?;
    output::print_block(&render::graph(
        &wf,
        display.format,
        display.style,
        jiff::Timestamp::now(),
    ))
}

fn format(output: GraphOutput) -> GraphFormat {
    match output {
        GraphOutput::Tree => GraphFormat::Tree,
        GraphOutput::Json => GraphFormat::Json,
        GraphOutput::Yaml => GraphFormat::Yaml,
        GraphOutput::Dot => GraphFormat::Dot,
        GraphOutput::Mermaid => GraphFormat::Mermaid,
    }
}
