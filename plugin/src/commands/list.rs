//! `list [-l SELECTOR] [-A] [-o table|wide|name|json|yaml]`.

use crate::cli::{ListArgs, ListOutput};
use crate::render::{self, ListFormat};
use crate::session::Session;

pub async fn execute(args: &ListArgs, session: &Session) -> anyhow::Result<()> {
    let namespace = (!args.all_namespaces).then(|| session.namespace());
    let workflows = session
        .list_workflows(namespace, args.selector.as_deref())
        .await?;
    let listing = render::list(
        &workflows,
        format(args.output),
        namespace,
        session.terminal.stdout_style(),
        jiff::Timestamp::now(),
    )?;
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
