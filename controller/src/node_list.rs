//! The cluster's nodes for a step fanned out over nodes (`withNodes`): one list when such a
//! step is about to start, no watch (its nodes are taken once and kept in its status, so a
//! cache of every node would cost memory for nothing the rest of the time).

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::core::ObservedNode;
use crate::error::ReconcileError;

/// Every node, as the core reads them.
pub async fn list(client: &Client) -> Result<Vec<ObservedNode>, ReconcileError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let listed = nodes
        .list(&ListParams::default())
        .await
        .map_err(ReconcileError::ListNodes)?;
    Ok(listed.items.iter().map(ObservedNode::from_node).collect())
}
