//! `describe NAME`: the workflow in detail, with its recent Events (events.k8s.io/v1).

use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kwf_api::workflow_template::LABEL_TEMPLATE;

use crate::errors::Op;
use crate::object_arg::{self, Target};
use crate::render;
use crate::session::Session;

pub async fn execute(arg: &str, session: &Session) -> anyhow::Result<()> {
    let namespace = session.namespace();
    let name = match object_arg::parse(arg)? {
        Target::Workflow(name) => name,
        Target::Template(name) => return describe_template(name, session).await,
    };
    let wf = session.get_workflow(namespace, name).await?;

    let uid = wf.metadata.uid.as_deref().unwrap_or_default();
    let params = ListParams::default().fields(&format!("regarding.uid={uid}"));
    let events = match session.api::<Event>(Some(namespace)).list(&params).await {
        Ok(list) => list.items,
        Err(err) => {
            // The workflow itself is the point; missing events (e.g. no RBAC on events) are a note.
            let op = Op::new("list", "events.events.k8s.io", Some(namespace));
            session
                .terminal
                .note(&format!("warning: {}", session.explain(op, &err)));
            Vec::new()
        }
    };
    let tails = super::logs::failed_tails(session, &wf, render::TAIL_LINES).await;
    // The renderer orders the events (oldest first), as kubectl describe does.
    let text = render::describe(
        &wf,
        &events,
        &tails,
        session.terminal.stdout_style(),
        jiff::Timestamp::now(),
    );
    session.terminal.print_block(&text)
}

/// `describe template/NAME`: the template and its runs (Workflows labelled with its name).
async fn describe_template(name: &str, session: &Session) -> anyhow::Result<()> {
    let namespace = session.namespace();
    let template = session.get_template(namespace, name).await?;
    let selector = format!("{LABEL_TEMPLATE}={name}");
    let runs = session
        .list_workflows(Some(namespace), Some(&selector))
        .await?;
    let text = render::describe_template(
        &template,
        &runs,
        session.terminal.stdout_style(),
        jiff::Timestamp::now(),
    );
    session.terminal.print_block(&text)
}
