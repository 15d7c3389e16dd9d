//! Errors of the controller library, each one line that says what failed.

/// Why a reconcile or the start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Workflow CRD is missing from the cluster.
    #[error(
        "the Workflow CRD (workflows.kwf.dev) is not installed: kubectl apply -f crd/workflow.yaml"
    )]
    CrdNotInstalled,
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
    /// Leader election failed in a way it cannot recover from.
    #[error("leader election on Lease {lease}: {reason}")]
    Lease { lease: String, reason: String },
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
    /// A Workflow in the cache lacks a name, namespace or uid (never true of objects from the API server).
    #[error("Workflow without {0} in the cache")]
    MissingMetadata(&'static str),
    /// The watch of Jobs or Workflows ended.
    #[error("watching {0} stopped: {1}")]
    Watch(&'static str, String),
    /// Serialising a patch failed.
    #[error("serialising a patch: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// A short, stable label for the `kwf_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::CrdNotInstalled => "crd_not_installed",
            Error::Config(_) => "config",
            Error::Connect(_) => "connect",
            Error::Selector { .. } => "selector",
            Error::Bind { .. } => "bind",
            Error::Lease { .. } => "lease",
            Error::CreateJob { .. } => "create_job",
            Error::DeleteJob { .. } => "delete_job",
            Error::PatchJob { .. } => "patch_job",
            Error::PatchStatus { source, .. } if is_conflict(source) => "status_conflict",
            Error::PatchStatus { .. } => "patch_status",
            Error::ListPods { .. } => "list_pods",
            Error::MissingMetadata(_) => "missing_metadata",
            Error::Watch(..) => "watch",
            Error::Serialize(_) => "serialize",
        }
    }

    /// True when the error only says our cached view was older than the server's.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::PatchStatus { source, .. } if is_conflict(source))
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
            Error::CrdNotInstalled.to_string(),
            "the Workflow CRD (workflows.kwf.dev) is not installed: kubectl apply -f crd/workflow.yaml"
        );
    }

    #[test]
    fn metric_labels_are_snake_case_words() {
        let errors = [
            Error::CrdNotInstalled,
            Error::MissingMetadata("uid"),
            Error::Watch("jobs", "gone".into()),
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
