//! Waiting on pods and reading their state, for the tests of both runtimes (the process kubelet's and the
//! real node's): one place that says how long a wait may take and what a failed wait prints.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::runtime::wait::await_condition;

/// Waits up to `within` until the pod `name` satisfies `done` and returns it.
///
/// # Panics
/// When it does not, with `what` it never became and the pod's last status: a test's failure message.
pub async fn wait_for(
    pods: &Api<Pod>,
    name: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&Pod) -> bool,
) -> Pod {
    let condition = move |pod: Option<&Pod>| pod.is_some_and(&done);
    match tokio::time::timeout(within, await_condition(pods.clone(), name, condition)).await {
        Ok(Ok(Some(pod))) => pod,
        outcome => {
            let last = pods.get_opt(name).await.ok().flatten();
            panic!(
                "pod {name} never became {what} within {within:?} ({outcome:?}); last: {:#?}",
                last.map(|p| p.status)
            );
        }
    }
}

/// The pod's phase, empty before the API server has set one.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Succeeded or Failed: the pod will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's container statuses, none before the kubelet reported any.
pub fn container_statuses(pod: &Pod) -> Vec<ContainerStatus> {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}
