//! `spec.podDefaults`: what every step's pod gets unless the step says otherwise (JobFlow's
//! `globalParams`, Argo's workflow-level pod fields). How they combine with a step's own fields
//! is [`crate::job`]'s precedence table.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, PodSecurityContext, Toleration,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Defaults for the pod of every step. Every field is optional; a step's own value (its field,
/// or its Job template's) wins, and the controller's own labels win over both.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodDefaults {
    /// Environment variables of every container of every step; a container's own variable of
    /// the same name wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<Vec<EnvVar>>")]
    pub env: Vec<EnvVar>,
    /// Labels of every step's pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of every step's pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Runs every step on this node (bypassing the scheduler), e.g. for node-local data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub node_name: Option<String>,
    /// Node labels every step's pod requires; merged with the step's own, whose keys win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations added to every step's pod (after the step's own, skipping exact repeats).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<Vec<Toleration>>")]
    pub tolerations: Vec<Toleration>,
    /// Affinity of every step's pod that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<Affinity>")]
    pub affinity: Option<Affinity>,
    /// ServiceAccount of every step that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// Secrets for pulling images, added to every step's own (by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<Vec<LocalObjectReference>>")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Pod security context of every step that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<PodSecurityContext>")]
    pub security_context: Option<PodSecurityContext>,
    /// PriorityClass of every step's pod that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub priority_class_name: Option<String>,
}
