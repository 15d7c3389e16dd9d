//! `list [workflows|templates] [-l SELECTOR] [-A] [-o table|wide|name|json|yaml]`.

use crate::cli::{ListArgs, ListKind, ListOutput};
use crate::render::{self, ListFormat};
use crate::session::Session;

pub async fn execute(args: &ListArgs, session: &Session) -> anyhow::Result<()> {
    let namespace = (!args.all_namespaces).then(|| session.namespace());
    let style = session.terminal.stdout_style();
    let now = jiff::Timestamp::now();
    let listing = match args.kind {
        ListKind::Workflows => {
            let workflows = session
                .list_workflows(namespace, args.selector.as_deref())
                .await?;
            render::list(&workflows, format(args.output), namespace, style, now)?
        }
        ListKind::Templates => {
            let templates = session
                .list_templates(namespace, args.selector.as_deref())
                .await?;
            render::list_templates(&templates, format(args.output), namespace, style, now)?
        }
    };
    if let Some(note) = &listing.note {
        session.terminal.note(note);
    }
    session.terminal.print_block(&listing.text)
}

fn format(output: ListOutput) -> ListFormat {
    match output {
        ListOutput::Table => ListFormat::Table,
        ListOutput::Wide => ListFormat::Wide,
        ListOutput::Name => ListFormat::Name,
        ListOutput::Json => ListFormat::Json,
        ListOutput::Yaml => ListFormat::Yaml,
    }
}
