//! The Workflow resource (`kwf.dev/v1alpha1`). The spec is the kopf seed's schema field
//! for field, so its manifests apply unchanged; everything added is optional.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fan_out::{InstancesStatus, NodeFanOut};
use crate::job_template::JobTemplateRef;
use crate::pod_defaults::PodDefaults;
use crate::retries::{FailedAttempt, RetryPolicy};
use crate::volumes::{MAX_VOLUMES, VolumeClaimPolicy, VolumeClaimTemplate};
use crate::workflow_template::WorkflowTemplateRef;

/// API group of every kwf resource and the prefix of its labels and annotations.
pub const GROUP: &str = "kwf.dev";
/// The apiVersion of every Workflow, and of every Workflow document in a file.
pub const API_VERSION: &str = "kwf.dev/v1alpha1";
/// Label on every Job: the name of the Workflow that owns it.
pub const LABEL_WORKFLOW: &str = "kwf.dev/workflow";
/// Label on every Job: the step it runs.
pub const LABEL_STEP: &str = "kwf.dev/step";
/// Annotation on a Workflow: any new value asks the controller to rerun it.
pub const ANNOTATION_RESTARTED_AT: &str = "kwf.dev/restartedAt";
/// Annotation on a Workflow: `failed` makes a restart rerun only failed and skipped steps.
pub const ANNOTATION_RESTART_MODE: &str = "kwf.dev/restart-mode";
/// Value of [`ANNOTATION_RESTART_MODE`] that keeps succeeded steps.
pub const RESTART_MODE_FAILED: &str = "failed";
/// Default of `spec.maxStepTimeout`, in seconds (the seed's).
pub const DEFAULT_MAX_STEP_TIMEOUT: i64 = 60;
/// Annotation on a Workflow: a new value stops the current run (its running Jobs are deleted,
/// its running and pending steps recorded `Stopped`, the workflow `Failed`). The value says
/// when and by what (`kubectl workflow stop` writes `<RFC 3339 time> by kubectl workflow stop`).
pub const ANNOTATION_STOP: &str = "kwf.dev/stop";
/// Annotation on a Workflow: [`SUSPEND_TRUE`] keeps new steps from starting; running steps
/// finish. Removing it (or any other value) resumes.
pub const ANNOTATION_SUSPEND: &str = "kwf.dev/suspend";
/// The value of [`ANNOTATION_SUSPEND`] that suspends.
pub const SUSPEND_TRUE: &str = "true";
/// Type of the status condition that is True while the workflow is suspended.
pub const CONDITION_SUSPENDED: &str = "Suspended";

/// A DAG of steps; each step runs as a Kubernetes Job once all of its dependencies succeeded.
// kube's printcolumn(..) repeats `type_` by design: not a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kwf.dev",
    version = "v1alpha1",
    kind = "Workflow",
    plural = "workflows",
    shortname = "kwf",
    namespaced,
    status = "WorkflowStatus",
    derive = "PartialEq",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.progress"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(crate::volume_schema::mounts_declared_rule())
        .message(crate::volume_schema::MOUNTS_DECLARED_MESSAGE)
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = kube::core::Rule::new(crate::volume_schema::NAMES_UNIQUE_RULE)
        .message(crate::volume_schema::NAMES_UNIQUE_MESSAGE)
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = kube::core::Rule::new("has(self.containers) || has(self.workflowTemplateRef)")
        .message("the workflow has no steps: add at least one entry to spec.containers, or name a template in spec.workflowTemplateRef")
        .reason(kube::core::Reason::FieldValueRequired),
    validation = kube::core::Rule::new("!has(self.params) || has(self.workflowTemplateRef)")
        .message("params are for a workflow run from a template: name it in spec.workflowTemplateRef, or remove params")
        .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct WorkflowSpec {
    /// Seconds a step may run, counted from its Job's creation, before the step and the
    /// workflow fail. `-1` means unlimited.
    #[serde(default = "default_max_step_timeout")]
    #[x_kube(validation = kube::core::Rule::new("self == -1 || self > 0")
        .message("maxStepTimeout must be -1 (no limit) or a positive number of seconds")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub max_step_timeout: i64,
    /// The steps, one Job each; `stepName` is unique. Required, except in a Workflow that
    /// names a template (`workflowTemplateRef`), whose steps the controller copies from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = crate::limits::MAX_STEPS), transform = crate::dependencies_exist::dependencies_exist)]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["stepName".into()]))]
    pub containers: Vec<Step>,
    /// Defaults for every step's pod: env, labels, annotations, placement, ServiceAccount,
    /// pull secrets, security context, priority. A step's own value wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_defaults: Option<PodDefaults>,
    /// Volumes steps may mount by name (any core/v1 volume source: an existing claim, a
    /// ConfigMap, a hostPath, ...). A step's pod gets those its containers mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::volume_schema::volumes")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub volumes: Vec<Volume>,
    /// Claims the controller creates for each generation of the spec, before the first step
    /// that mounts them; steps mount them by `name` like `volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_VOLUMES))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub volume_claim_templates: Vec<VolumeClaimTemplate>,
    /// When the claims of `volumeClaimTemplates` are deleted: DeleteOnSuccess (the default),
    /// DeleteOnFinish or Retain (until the Workflow is deleted or its spec changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim_policy: Option<VolumeClaimPolicy>,
    /// Retries for every step without its own `retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetryPolicy>,
    /// Most Jobs of this workflow that run at once, over all steps and instances (1 runs
    /// them one at a time); a step waiting to retry holds no place. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1")
        .message("parallelism must be 1 or more")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub parallelism: Option<i32>,
    /// Run a WorkflowTemplate of this namespace: without `containers`, the controller copies
    /// the template's spec, with `params` substituted, into this spec once, when the run
    /// starts, so later edits of the template never change it. With `containers` (as
    /// `kubectl workflow submit` and schedules create runs) it only records the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_template_ref: Option<WorkflowTemplateRef>,
    /// Values of the template's parameters (`{{params.NAME}}`); after the run started, the
    /// value of every parameter it ran with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = crate::params::MAX_PARAMS))]
    pub params: BTreeMap<String, String>,
}

impl Default for WorkflowSpec {
    /// No steps (not valid on its own), the default timeout, nothing else.
    fn default() -> Self {
        WorkflowSpec {
            max_step_timeout: DEFAULT_MAX_STEP_TIMEOUT,
            containers: Vec::new(),
            pod_defaults: None,
            volumes: Vec::new(),
            volume_claim_templates: Vec::new(),
            volume_claim_policy: None,
            retries: None,
            parallelism: None,
            workflow_template_ref: None,
            params: BTreeMap::new(),
        }
    }
}

/// `dependsOn: null` (which the API server prunes) reads as no dependencies in files too.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn default_max_step_timeout() -> i64 {
    DEFAULT_MAX_STEP_TIMEOUT
}

/// One step of a Workflow: a container to run as a Job, and the steps it waits for.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!has(self.dependsOn) || !(self.stepName in self.dependsOn)")
        .message(kube::core::Message::Expression(
            "'step \"' + self.stepName + '\": depends on itself: remove it from its own dependsOn'".into()))
        .reason(kube::core::Reason::FieldValueInvalid),
    validation = kube::core::Rule::new("(has(self.image) && self.image != '') || has(self.jobTemplate) || has(self.jobTemplateRef)")
        .message(kube::core::Message::Expression("'step \"' + self.stepName + '\": no image: set image (or a jobTemplate or jobTemplateRef)'".into()))
        .reason(kube::core::Reason::FieldValueRequired),
    validation = kube::core::Rule::new("!(has(self.jobTemplate) && has(self.jobTemplateRef))")
        .message(kube::core::Message::Expression("'step \"' + self.stepName + '\": both jobTemplate and jobTemplateRef: keep one of them'".into()))
        .reason(kube::core::Reason::FieldValueInvalid)
)]
// Not a CEL rule for "withItems or withNodes, not both": CEL cannot see `withItems`, whose items
// have no declared type; `validate()` reports it, and the controller fails such a workflow.
pub struct Step {
    /// The step's name: a DNS-1123 label of at most 40 characters (room for the workflow
    /// name, generation and run in the 63-character Job name), unique in the workflow.
    #[schemars(length(min = 1, max = crate::limits::MAX_STEP_NAME_LEN), regex(pattern = crate::names::DNS1123_LABEL_PATTERN))]
    pub step_name: String,
    /// Container image. Required unless `jobTemplate` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub image: Option<String>,
    /// Entrypoint; the image's when null or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Names of the steps that must succeed before this one starts (each at most once).
    // An atomic list, not a `set`: server-side apply would otherwise record every entry in
    // managedFields, about 300 KB more for 2,000 steps of three dependencies each.
    // `validate()` reports repeats.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = crate::limits::MAX_DEPENDENCIES), inner(length(max = crate::limits::MAX_STEP_NAME_LEN)))]
    pub depends_on: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Environment variables of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Compute resources of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Always, Never or IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// ServiceAccount the step's pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Escape hatch: a full batch/v1 JobTemplateSpec for steps that need more than one
    /// container's fields. The controller still sets `restartPolicy: Never`, the labels
    /// and the deadline; `image`, `command`, `args` and `env` then apply to no container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::embedded_schema::stripped::<JobTemplateSpec>")]
    pub job_template: Option<JobTemplateSpec>,
    /// A stored JobTemplate (in the Workflow's namespace) to run, read when the step's Job is
    /// created; the step's `image`, `command`, `args`, `env`, `resources` and `volumeMounts`
    /// then apply to its first container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template_ref: Option<JobTemplateRef>,
    /// Volumes of the workflow (`volumes`, `volumeClaimTemplates`) mounted into the step's
    /// container (the first container of a Job template).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::volume_schema::volume_mounts")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Runs a failed step again, a new Job per attempt, after a growing wait; overrides the
    /// workflow's `retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetryPolicy>,
    /// Fans the step out: one instance (a Job) per item, a string or an object, with
    /// `{{item}}` and `{{item.FIELD}}` replaced in `command`, `args` and `env` values and
    /// `KWF_ITEM` set. The steps after it wait for every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::fan_out::items_schema")]
    pub with_items: Option<Vec<serde_json::Value>>,
    /// Fans the step out over nodes: one instance per eligible node, pinned to it (see
    /// `NodeFanOut`); `{{item}}` and `KWF_ITEM` are the node's name. Not with `withItems`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_nodes: Option<NodeFanOut>,
    /// Most instances of a fanned-out step that run at once (default: no limit but the
    /// workflow's `parallelism`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1")
        .message("maxParallel must be 1 or more")
        .reason(kube::core::Reason::FieldValueInvalid))]
    pub max_parallel: Option<i32>,
}

/// Phase of a Workflow, in the seed's vocabulary.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WorkflowPhase {
    /// Seen but not yet validated and started.
    #[default]
    Created,
    /// Valid and running its steps.
    Started,
    /// Every step succeeded.
    Completed,
    /// Invalid, or a step failed or timed out.
    Failed,
}

/// Phase of one step.
#[derive(JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StepPhase {
    /// Waiting for its dependencies (also the phase of a step absent from `status.steps`).
    #[default]
    Pending,
    /// Its Job exists and has not finished.
    Running,
    /// Its Job completed.
    Succeeded,
    /// Its Job failed or timed out.
    Failed,
    /// It can never run because a step it depends on failed.
    Skipped,
    /// The workflow was stopped (`kwf.dev/stop`) while it ran or before it could start.
    Stopped,
}

/// Observed state of a Workflow, written by the controller through the status subresource.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStatus {
    /// Created, Started, Completed or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<WorkflowPhase>,
    /// When `phase` last changed (the seed's "status-changed").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// What a person should know about the phase: the validation problem, the failed step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The `kwf.dev/restartedAt` annotation value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_restart: Option<String>,
    /// Runs of this generation so far: 0 for the first, incremented by each restart. Part
    /// of Job names so that a rerun never collides with the Jobs of the run before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: u32,
    /// When the current run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the current run completed or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Succeeded steps over all steps, such as `3/5` (a printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Standard conditions: `Ready` (True once Completed) and `Failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// State of each step that has left Pending, in the order they did; a step not listed
    /// is Pending. Kept compact so a 2,000-step workflow stays far below etcd's limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStatus>,
    /// The `kwf.dev/stop` annotation value last acted on: a run stops once per value, so a
    /// restart is not stopped again by the value that stopped the run before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_stop: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Observed state of one step.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// The step's `stepName`.
    pub name: String,
    /// Pending, Running, Succeeded, Failed, Skipped or Stopped.
    pub phase: StepPhase,
    /// The Job that runs (or ran) the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// When the step's Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the step's Job finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Exit code of the step's container, where its pod shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why the step failed, timed out or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The node the step's pod ran on, where the controller needed to know it (a step that
    /// mounts a ReadWriteOnce claim: the steps after it that mount the claim go there too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The failed attempts before the current one, oldest first (a step with `retries`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<FailedAttempt>,
    /// When the step's next attempt starts, while it waits to retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<Time>,
    /// A fanned-out step's instances (`withItems`, `withNodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstancesStatus>,
}

impl WorkflowStatus {
    /// The state of `step`, if it has left Pending.
    pub fn step(&self, step: &str) -> Option<&StepStatus> {
        self.steps.iter().find(|s| s.name == step)
    }

    /// Phase of `step` (Pending when it is not listed).
    pub fn step_phase(&self, step: &str) -> StepPhase {
        self.step(step).map(|s| s.phase).unwrap_or_default()
    }

    /// The seed's list of started steps: every step whose Job was created.
    pub fn started_steps(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.phase != StepPhase::Skipped && s.phase != StepPhase::Pending)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// The seed's list of executed steps: every step that succeeded.
    pub fn executed_steps(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.phase == StepPhase::Succeeded)
            .map(|s| s.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{
        StepFixture, StepStatusFixture, WorkflowFixture, layered_steps_named, step_status,
        workflow_of,
    };

    /// `layers` layers of `width` steps with long names and a long image, each depending on
    /// three steps of the layer before, every step Succeeded with its Job name, times and exit
    /// code in the status.
    fn finished_workflow(layers: usize, width: usize) -> Workflow {
        let name = |layer: usize, i: usize| format!("layer-{layer:02}-step-{i:02}");
        let steps = layered_steps_named(layers, width, &[0, 1, 2], name)
            .into_iter()
            .map(|s| s.with_image("registry.example.com/team/tool:1.2.3"))
            .collect();
        let wf = workflow_of("nightly-data-pipeline", steps)
            .with_namespace("data-platform")
            .with_max_step_timeout(600);
        let steps = wf
            .spec
            .containers
            .iter()
            .map(|s| {
                step_status(&wf, &s.step_name, StepPhase::Succeeded)
                    .with_started(0)
                    .with_finished(0)
            })
            .collect();
        let message = format!("all {} steps succeeded", layers * width);
        wf.with_status(WorkflowPhase::Completed, Some(&message), steps)
    }

    #[test]
    fn a_finished_2000_step_workflow_stays_under_1_mib() {
        let workflow = finished_workflow(50, 40);
        assert_eq!(workflow.spec.containers.len(), 2000);
        crate::validate(&workflow.spec).expect("the workflow is valid");
        let size = serde_json::to_vec(&workflow).expect("serializes").len();
        println!("a finished 2,000-step workflow is {size} bytes of JSON");
        assert!(
            size < 1024 * 1024,
            "{size} bytes: too close to etcd's 1.5 MiB limit"
        );
    }

    #[test]
    fn seed_lists_derive_from_step_states() {
        use crate::fixtures::workflow;
        use StepPhase::*;
        let wf = workflow("abc", &[("a", &[]), ("b", &["a"]), ("c", &["a"])]);
        let steps = vec![
            step_status(&wf, "a", Succeeded),
            step_status(&wf, "b", Running),
            step_status(&wf, "c", Skipped),
        ];
        let status = wf
            .with_status(WorkflowPhase::Started, None, steps)
            .status
            .expect("a status");
        assert_eq!(status.started_steps(), vec!["a", "b"]);
        assert_eq!(status.executed_steps(), vec!["a"]);
        assert_eq!(status.step_phase("b"), StepPhase::Running);
        assert_eq!(status.step_phase("zzz"), StepPhase::Pending);
    }
}
