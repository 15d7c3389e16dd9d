//! The fast binder: every unbound pod that does not ask for placement is bound to this one Node.

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

/// Tolerations every pod gets from the DefaultTolerationSeconds admission plugin: they ask for nothing.
const DEFAULT_TOLERATION_KEYS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Whether a pod asks where it runs (a nodeSelector, an affinity, a topology spread, a toleration of its own,
/// or a scheduler other than the default): such pods are placed by kube-scheduler, every other one is bound
/// at once by the process kubelet, which keeps ordinary test pods (and the scale bench) on the fast path.
pub fn needs_placement(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let own_toleration = spec.tolerations.iter().flatten().any(|toleration| {
        !toleration
            .key
            .as_deref()
            .is_some_and(|key| DEFAULT_TOLERATION_KEYS.contains(&key))
    });
    let other_scheduler = spec
        .scheduler_name
        .as_deref()
        .is_some_and(|name| name != "default-scheduler");
    spec.node_selector.as_ref().is_some_and(|s| !s.is_empty())
        || spec.affinity.is_some()
        || spec
            .topology_spread_constraints
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        || own_toleration
        || other_scheduler
}

async fn bind(client: &kube::Client, pod: &Pod, node: &str) {
    let unbound = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.node_name.as_deref().unwrap_or_default().is_empty());
    if !unbound || pod.metadata.deletion_timestamp.is_some() || needs_placement(pod) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": "p" },
            "spec": spec,
        }))
        .expect("valid pod")
    }

    #[test]
    fn an_ordinary_pod_with_the_default_tolerations_needs_no_placement() {
        let ordinary = pod(json!({
            "containers": [{ "name": "c" }],
            "schedulerName": "default-scheduler",
            "tolerations": [
                { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
                { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
            ],
        }));
        assert!(!needs_placement(&ordinary));
        assert!(!needs_placement(&pod(
            json!({ "containers": [], "nodeSelector": {} })
        )));
    }

    #[test]
    fn selectors_affinity_spread_own_tolerations_and_other_schedulers_need_placement() {
        for spec in [
            json!({ "containers": [], "nodeSelector": { "kwf.dev/runtime": "containers" } }),
            json!({ "containers": [], "affinity": { "nodeAffinity": {} } }),
            json!({ "containers": [], "topologySpreadConstraints": [{ "maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule" }] }),
            json!({ "containers": [], "tolerations": [{ "key": "kwf.dev/runtime", "operator": "Exists" }] }),
            json!({ "containers": [], "tolerations": [{ "operator": "Exists" }] }),
            json!({ "containers": [], "schedulerName": "other" }),
        ] {
            assert!(needs_placement(&pod(spec.clone())), "{spec}");
        }
    }
}
