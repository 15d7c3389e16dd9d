//! `describe NAME`: the workflow in detail, with its recent Events (events.k8s.io/v1).

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use kwf_api::Workflow;

use crate::cli::{ColorChoice, ConnectionFlags};
use crate::connect::connect;
use crate::errors::{Op, WORKFLOWS};
use crate::output;
use crate::render;
use crate::style::stdout_style;

pub async fn run(name: &str, flags: &ConnectionFlags, color: ColorChoice) -> anyhow::Result<()> {
    let cluster = connect(flags).await?;
    let namespace = cluster.namespace.clone();
    let api: Api<Workflow> = Api::namespaced(cluster.client.clone(), &namespace);
    let op = Op::new("get", WORKFLOWS, Some(&namespace)).named(name);
    let wf = api.get(name).await.map_err(cluster.fail(op))?;

    let uid = wf.metadata.uid.clone().unwrap_or_default();
    let events_api: Api<Event> = Api::namespaced(cluster.client.clone(), &namespace);
    let params = ListParams::default().fields(&format!("regarding.uid={uid}"));
    let mut events = match events_api.list(&params).await {
        Ok(list) => list.items,
        Err(err) => {
            // The workflow itself is the point; missing events (e.g. no RBAC on events) are a note.
            let op = Op::new("list", "events.events.k8s.io", Some(&namespace));
            output::note(&format!(
                "warning: {}",
                crate::errors::explain(&err, &op, &cluster.endpoint())
            ));
            Vec::new()
        }
    };
    events.sort_by_key(event_time);
    let text = render::describe(
        &wf,
        &events,
        stdout_style(color, false),
        jiff::Timestamp::now(),
    );
    output::print_block(&text)
}

/// When an event last happened, whichever way its producer recorded it.
fn event_time(event: &Event) -> Option<jiff::Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
