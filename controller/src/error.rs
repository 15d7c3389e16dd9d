//! Errors of the controller library, each one line that says what failed: [`StartError`] ends
//! the process before it reconciles anything; [`ReconcileError`] fails one reconcile, which is
//! retried, and is counted by kind in `kwf_reconcile_errors_total`.

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Workflow CRD is missing from the cluster.
    #[error(
        "the Workflow CRD (workflows.kwf.dev) is not installed: kubectl apply -f crd/workflow.yaml"
    )]
    CrdNotInstalled,
    /// The JobTemplate CRD is missing from the cluster (a CRD of this release not applied).
    #[error(
        "the JobTemplate CRD (jobtemplates.kwf.dev) is not installed: kubectl apply -f crd/jobtemplate.yaml"
    )]
    JobTemplateCrdNotInstalled,
    /// The WorkflowTemplate CRD is missing from the cluster (a CRD of this release not applied).
    #[error(
        "the WorkflowTemplate CRD (workflowtemplates.kwf.dev) is not installed: kubectl apply -f crd/workflowtemplate.yaml"
    )]
    WorkflowTemplateCrdNotInstalled,
    /// The kubeconfig or in-cluster configuration could not be loaded.
    #[error(
        "cannot load the Kubernetes client configuration: {0}; pass --kubeconfig or set KUBECONFIG"
    )]
    Config(String),
    /// The API server could not be reached at start-up.
    #[error("cannot reach the Kubernetes API server: {0}")]
    Connect(#[source] kube::Error),
    /// The label selector flag does not parse.
    #[error("invalid --selector {selector:?}: {reason}")]
    Selector { selector: String, reason: String },
    /// The metrics/health server could not bind its address.
    #[error("cannot listen on {addr} for /metrics: {source}; pick another --metrics-addr")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Why one reconcile of a Workflow failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A request to create a Job failed.
    #[error("creating Job {name}: {source}")]
    CreateJob {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A request to delete a Job failed.
    #[error("deleting Job {name}: {source}")]
    DeleteJob {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A request to create a PersistentVolumeClaim failed.
    #[error("creating PersistentVolumeClaim {name}: {source}")]
    CreateClaim {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A request to delete a PersistentVolumeClaim failed.
    #[error("deleting PersistentVolumeClaim {name}: {source}")]
    DeleteClaim {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A request to relabel a Job failed.
    #[error("relabeling Job {name}: {source}")]
    PatchJob {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Writing the Workflow status failed (a 409 means our view was stale; the next event retries).
    #[error("writing the status of Workflow {name}: {source}")]
    PatchStatus {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Listing a failed Job's pods (for the exit code) failed.
    #[error("listing the pods of Job {name}: {source}")]
    ListPods {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Listing the nodes (for a step fanned out over nodes, as it starts) failed.
    #[error("listing the nodes for a step fanned out over nodes: {0}")]
    ListNodes(#[source] kube::Error),
    /// Reading the WorkflowTemplate a run names failed.
    #[error("reading WorkflowTemplate {name}: {source}")]
    ReadTemplate {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Writing a run's resolved template into its spec failed.
    #[error("writing the template's spec into Workflow {name}: {source}")]
    PatchWorkflow {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A Workflow in the cache lacks a name, namespace or uid (never true of objects from the API server).
    #[error("Workflow without {0} in the cache")]
    MissingMetadata(&'static str),
    /// Serialising a patch failed.
    #[error("serialising a patch: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl ReconcileError {
    /// A short, stable label for the `kwf_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::CreateJob { .. } => "create_job",
            ReconcileError::DeleteJob { .. } => "delete_job",
            ReconcileError::PatchJob { .. } => "patch_job",
            ReconcileError::CreateClaim { .. } => "create_claim",
            ReconcileError::DeleteClaim { .. } => "delete_claim",
            ReconcileError::PatchStatus { source, .. } if is_conflict(source) => "status_conflict",
            ReconcileError::PatchStatus { .. } => "patch_status",
            ReconcileError::ListPods { .. } => "list_pods",
            ReconcileError::ListNodes(_) => "list_nodes",
            ReconcileError::ReadTemplate { .. } => "read_template",
            ReconcileError::PatchWorkflow { .. } => "patch_workflow",
            ReconcileError::MissingMetadata(_) => "missing_metadata",
            ReconcileError::Serialize(_) => "serialize",
        }
    }

    /// True when the error only says our cached view was older than the server's.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ReconcileError::PatchStatus { source, .. } if is_conflict(source))
    }
}

/// True for an API error with the given HTTP status code.
pub(crate) fn has_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == code)
}

fn is_conflict(err: &kube::Error) -> bool {
    has_status(err, 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_message_says_what_to_do() {
        assert_eq!(
            StartError::CrdNotInstalled.to_string(),
            "the Workflow CRD (workflows.kwf.dev) is not installed: kubectl apply -f crd/workflow.yaml"
        );
    }

    #[test]
    fn metric_labels_are_snake_case_words() {
        let api_error = || {
            kube::Error::Api(
                kube::core::Status::failure("gone", "NotFound")
                    .with_code(404)
                    .boxed(),
            )
        };
        let errors = [
            ReconcileError::CreateJob {
                name: "j".into(),
                source: api_error(),
            },
            ReconcileError::PatchStatus {
                name: "wf".into(),
                source: api_error(),
            },
            ReconcileError::MissingMetadata("uid"),
        ];
        for err in errors {
            let label = err.metric_label();
            assert!(
                label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
        }
    }
}
