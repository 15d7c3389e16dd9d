//! The Node object this kubelet registers, and keeping it Ready.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::Error;
use crate::status::LOOPBACK_IP;

/// The Kubernetes release of the test control plane this kubelet stands in for.
const KUBELET_VERSION: &str = "v1.35.4";

/// How often the Ready condition's heartbeat is refreshed (nothing requires it; it keeps `kubectl get
/// nodes` honest about the kubelet being alive).
const HEARTBEAT: Duration = Duration::from_secs(30);

/// A Ready Node named `name` whose kubelet endpoint is 127.0.0.1:`port`, generous enough for any test.
pub fn node_object(name: &str, port: u16, now: Timestamp) -> Node {
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", "64"),
        ("memory", "256Gi"),
        ("pods", "1000"),
        ("ephemeral-storage", "1Ti"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                [
                    ("kubernetes.io/hostname", name),
                    ("kubernetes.io/os", "linux"),
                    ("kubernetes.io/arch", go_arch()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            conditions: Some(vec![ready_condition(now)]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_string(),
                    address: LOOPBACK_IP.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".to_string(),
                    address: name.to_string(),
                },
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(port),
                }),
            }),
            capacity: Some(resources.clone()),
            allocatable: Some(resources),
            node_info: Some(NodeSystemInfo {
                architecture: go_arch().to_string(),
                operating_system: "linux".to_string(),
                os_image: "kwf process runtime (host processes, images ignored)".to_string(),
                kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default(),
                container_runtime_version: concat!("kwf-process://", env!("CARGO_PKG_VERSION"))
                    .to_string(),
                kubelet_version: KUBELET_VERSION.to_string(),
                kube_proxy_version: String::new(),
                boot_id: String::new(),
                machine_id: String::new(),
                system_uuid: String::new(),
                swap: None,
            }),
            ..NodeStatus::default()
        }),
    }
}

/// Adds `labels` to the Node's and sets its taints.
pub fn customize(node: &mut Node, labels: &BTreeMap<String, String>, taints: &[Taint]) {
    node.metadata
        .labels
        .get_or_insert_default()
        .extend(labels.clone());
    node.spec.get_or_insert_default().taints = (!taints.is_empty()).then(|| taints.to_vec());
}

fn ready_condition(now: Timestamp) -> NodeCondition {
    NodeCondition {
        type_: "Ready".to_string(),
        status: "True".to_string(),
        reason: Some("KubeletReady".to_string()),
        message: Some("kwf process kubelet is posting ready status".to_string()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Architecture names as Go (and so Kubernetes) spells them.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Creates the Node, or brings an existing one of that name (an earlier run) to this kubelet's state.
pub async fn register(client: &kube::Client, node: &Node) -> Result<(), Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let nodes: Api<Node> = Api::all(client.clone());
    let failed = |source| Error::RegisterNode {
        node: name.clone(),
        source,
    };
    match nodes.create(&PostParams::default(), node).await {
        Ok(_) => return Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => return Err(failed(e)),
    }
    let params = PatchParams::default();
    let metadata = json!({
        "metadata": { "labels": node.metadata.labels },
        "spec": {
            "taints": node.spec.as_ref().and_then(|spec| spec.taints.clone()),
            "unschedulable": null,
        },
    });
    nodes
        .patch(&name, &params, &Patch::Merge(&metadata))
        .await
        .map_err(failed)?;
    nodes
        .patch_status(
            &name,
            &params,
            &Patch::Merge(&json!({ "status": node.status })),
        )
        .await
        .map_err(failed)?;
    Ok(())
}

/// Refreshes the Ready heartbeat forever; failures are logged and retried at the next beat.
pub async fn keep_ready(client: kube::Client, name: String) {
    let nodes: Api<Node> = Api::all(client);
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let now = Timestamp::now();
        let mut condition = ready_condition(now);
        condition.last_transition_time = None;
        let patch = json!({ "status": { "conditions": [condition] } });
        if let Err(e) = nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            tracing::warn!(node = %name, error = %e, "kubelet: node heartbeat failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customize_adds_labels_and_sets_taints() {
        let mut node = node_object("kwf-node-2", 1, Timestamp::UNIX_EPOCH);
        let taint = Taint {
            key: "kwf.dev/node".into(),
            value: Some("kwf-node-2".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let labels = [("kwf.dev/zone".to_string(), "b".to_string())].into();
        customize(&mut node, &labels, std::slice::from_ref(&taint));
        let got = node.metadata.labels.as_ref().expect("labels");
        assert_eq!(got.get("kwf.dev/zone").map(String::as_str), Some("b"));
        assert_eq!(
            got.get("kubernetes.io/hostname").map(String::as_str),
            Some("kwf-node-2")
        );
        assert_eq!(node.spec.and_then(|s| s.taints), Some(vec![taint]));
    }

    #[test]
    fn node_is_ready_on_loopback_with_the_bound_port() {
        let node = node_object("kwf-node", 10250, Timestamp::UNIX_EPOCH);
        let labels = node.metadata.labels.as_ref().expect("labels");
        assert_eq!(
            labels.get("kubernetes.io/hostname").map(String::as_str),
            Some("kwf-node")
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        let status = node.status.as_ref().expect("status");
        let ready = &status.conditions.as_ref().expect("conditions")[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
        let addresses = status.addresses.as_ref().expect("addresses");
        assert!(
            addresses
                .iter()
                .any(|a| a.type_ == "InternalIP" && a.address == LOOPBACK_IP)
        );
        assert!(
            addresses
                .iter()
                .any(|a| a.type_ == "Hostname" && a.address == "kwf-node")
        );
        let port = status
            .daemon_endpoints
            .as_ref()
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .map(|e| e.port);
        assert_eq!(port, Some(10250));
        let pods = status.allocatable.as_ref().and_then(|a| a.get("pods"));
        assert_eq!(pods, Some(&Quantity("1000".to_string())));
        assert_eq!(
            status
                .node_info
                .as_ref()
                .map(|i| i.operating_system.as_str()),
            Some("linux")
        );
    }
}
