//! The scheduler: every unbound pod is bound to this one Node.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const BIND_ATTEMPTS: u32 = 5;

/// Watches unbound pods and binds each to `node` until dropped. Watch errors are retried with backoff.
pub async fn run(client: kube::Client, node: String) {
    let pods: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default().fields("spec.nodeName=");
    let mut events = watcher(pods, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(pod) => bind(&client, &pod, &node).await,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: watching unbound pods failed; retrying")
            }
        }
    }
}

async fn bind(client: &kube::Client, pod: &Pod, node: &str) {
    let unbound = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.node_name.as_deref().unwrap_or_default().is_empty());
    if !unbound || pod.metadata.deletion_timestamp.is_some() {
        return;
    }
    let (Some(name), Some(namespace)) = (&pod.metadata.name, &pod.metadata.namespace) else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": { "name": name, "namespace": namespace },
        "target": { "apiVersion": "v1", "kind": "Node", "name": node },
    });
    for attempt in 1..=BIND_ATTEMPTS {
        match pods
            .create_subresource::<_, serde_json::Value>(
                "binding",
                name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => {
                tracing::debug!(%namespace, pod = %name, %node, "scheduler: bound");
                return;
            }
            // Already bound (an earlier attempt or event) or deleted meanwhile: nothing to do.
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => return,
            Err(e) => {
                tracing::warn!(%namespace, pod = %name, attempt, error = %e, "scheduler: binding failed");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
}
