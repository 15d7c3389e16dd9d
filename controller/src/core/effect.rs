//! What the core asks the shell to do: [`Effect`]s, collected in a [`Decision`].
//!
//! The vocabulary names objects by kind ([`OwnedKind`]) rather than being about Jobs, so that
//! further kinds the Workflow owns (PersistentVolumeClaims, child Workflows) are one variant
//! more in [`OwnedKind`] and [`OwnedObject`], not a new effect each.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kwf_api::WorkflowStatus;

/// A kind of object the Workflow owns (controller ownerReference) and the shell writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedKind {
    /// batch/v1 Job: one per step run.
    Job,
    /// core/v1 PersistentVolumeClaim: one per claim template and generation.
    PersistentVolumeClaim,
}

impl OwnedKind {
    /// `apiVersion` of objects of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            OwnedKind::Job => "batch/v1",
            OwnedKind::PersistentVolumeClaim => "v1",
        }
    }

    /// `kind` of objects of this kind.
    pub fn kind(self) -> &'static str {
        match self {
            OwnedKind::Job => "Job",
            OwnedKind::PersistentVolumeClaim => "PersistentVolumeClaim",
        }
    }
}

/// An owned object by kind and name, in the Workflow's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnedRef {
    pub kind: OwnedKind,
    pub name: String,
}

impl OwnedRef {
    /// The Job named `name`.
    pub fn job(name: impl Into<String>) -> Self {
        Self {
            kind: OwnedKind::Job,
            name: name.into(),
        }
    }

    /// The PersistentVolumeClaim named `name`.
    pub fn claim(name: impl Into<String>) -> Self {
        Self {
            kind: OwnedKind::PersistentVolumeClaim,
            name: name.into(),
        }
    }
}

/// A whole object to create, built by the core with its owner reference and labels.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedObject {
    Job(Box<Job>),
    Claim(Box<PersistentVolumeClaim>),
}

impl OwnedObject {
    /// Kind and name of the object.
    pub fn reference(&self) -> OwnedRef {
        match self {
            OwnedObject::Job(job) => OwnedRef::job(job.metadata.name.clone().unwrap_or_default()),
            OwnedObject::Claim(claim) => {
                OwnedRef::claim(claim.metadata.name.clone().unwrap_or_default())
            }
        }
    }
}

/// One thing for the shell to do. The order in which a [`Decision`] lists them is a contract:
/// see the [core's documentation](super).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Create the object; AlreadyExists counts as success (names are deterministic).
    Create(OwnedObject),
    /// Write this status through the status subresource (only emitted when it changed).
    WriteStatus(Box<WorkflowStatus>),
    /// Delete the object with propagation Background; NotFound counts as success.
    Delete(OwnedRef),
    /// Merge-patch the object's labels (None removes a label) and set its
    /// `kwf.dev/inherited-labels` annotation to `inherited` (the relabel cascade); NotFound
    /// counts as success.
    Relabel {
        target: OwnedRef,
        labels: BTreeMap<String, Option<String>>,
        inherited: String,
    },
    /// Record a Kubernetes Event regarding the Workflow.
    Event(WorkflowEvent),
}

/// An Event regarding the Workflow. Reasons: StepStarted, StepSucceeded, StepFailed,
/// StepTimedOut, WorkflowCompleted, WorkflowFailed, WorkflowRestarted.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowEvent {
    pub reason: String,
    pub note: String,
    pub warning: bool,
    /// The object a step event concerns (its Job): recorded as the Event's related object, so
    /// `kubectl describe job` shows it too.
    pub related: Option<OwnedRef>,
}

/// Everything decide() wants done for one Workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// In the contract order (creates, status, deletes, relabels, events).
    pub effects: Vec<Effect>,
    /// Reconcile again after this long even if nothing changes: the earliest step deadline.
    pub requeue_after: Option<Duration>,
}
