//! The Job that runs a step ([`build_job`]), and the labels and annotation through which the
//! controller recognises its Jobs and cascades the Workflow's labels. Shared by the controller,
//! which creates these Jobs, and the plugin, which shows them before a run (`validate --jobs`).
//!
//! # Precedence
//!
//! One fixed order for every field of a step's pod: **the controller's own fields > the step's
//! own fields > its Job template's (inline `jobTemplate` or `jobTemplateRef`) > the Workflow's
//! `podDefaults`**.
//!
//! | field | result |
//! |---|---|
//! | pod labels | `podDefaults.labels`, then the template's pod labels over them, then the controller's `kwf.dev/workflow` and `kwf.dev/step` |
//! | pod annotations | `podDefaults.annotations`, then the template's over them |
//! | env (every container) | the container's own variables; `podDefaults.env` adds those of other names |
//! | nodeName, priorityClassName, securityContext, affinity | the template's when set, else `podDefaults`' |
//! | serviceAccountName | the step's, else the template's, else `podDefaults`' |
//! | nodeSelector | merged; the template's keys win |
//! | tolerations, imagePullSecrets | the template's, then `podDefaults`' that are not already there |
//! | volumes | the template's own, then the workflow's `volumes` and claims its containers mount |
//! | the step's container | a plain step: its one container from `image`, `command`, `args`, `env`, `resources`, `imagePullPolicy`; with `jobTemplateRef`, those of the step's fields that are set replace the first container's; `volumeMounts` are added to the first container either way |
//!
//! The controller always sets the Job's name, labels and owner, `restartPolicy: Never`,
//! `backoffLimit: 0` and `activeDeadlineSeconds` from `maxStepTimeout`. A step that mounts a
//! ReadWriteOnce claim whose node is known gets a required node affinity to that node.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, PodSpec, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::fan_out;
use crate::pod_defaults::PodDefaults;
use crate::volumes::claim_name;
use crate::{LABEL_STEP, LABEL_WORKFLOW, Step, Workflow, attempt_job_name, label_value};

/// Label on every Job: the Workflow's `metadata.generation` it was created for.
pub const LABEL_GENERATION: &str = "kwf.dev/generation";
/// Label on every Job: the Workflow's `status.run` (restart counter) it was created for.
pub const LABEL_RUN: &str = "kwf.dev/run";
/// Label on the Job (and pod) of a fanned-out step's instance: its index, from 0.
pub const LABEL_INSTANCE: &str = "kwf.dev/instance";
/// Label on the Job (and pod) of a retry: its attempt, from 1 (the first attempt has none).
pub const LABEL_ATTEMPT: &str = "kwf.dev/attempt";
/// Annotation on every Job: comma-separated sorted keys of the labels copied from the Workflow.
pub const ANNOTATION_INHERITED_LABELS: &str = "kwf.dev/inherited-labels";

/// Labels the controller sets itself; a Workflow label with one of these keys is not copied.
const OWN_LABELS: [&str; 6] = [
    LABEL_WORKFLOW,
    LABEL_STEP,
    LABEL_GENERATION,
    LABEL_RUN,
    LABEL_INSTANCE,
    LABEL_ATTEMPT,
];

/// What a step's Job needs beyond the Workflow, known only when it is created.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobInputs<'a> {
    /// The JobTemplate the step's `jobTemplateRef` names, as read from the cluster.
    pub referenced_template: Option<&'a JobTemplateSpec>,
    /// The node the step must run on: where the ReadWriteOnce claims it mounts are.
    pub node: Option<&'a str>,
    /// The instance of a fanned-out step this Job runs.
    pub instance: Option<Instance<'a>>,
    /// The attempt this Job is: 0 for the first, 1 for the first retry, ...
    pub attempt: u32,
}

/// One instance of a fanned-out step: its index and its item.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub index: u32,
    pub item: &'a serde_json::Value,
}

/// Name of the container of a step without `jobTemplate`: the step's name, so that
/// `kubectl logs` and `kubectl describe` say which step they show.
pub fn container_name(step: &Step) -> &str {
    &step.step_name
}

/// The Workflow's labels that its Jobs carry (all but the controller's own keys).
pub fn inherited_labels(wf: &Workflow) -> BTreeMap<String, String> {
    wf.metadata
        .labels
        .iter()
        .flatten()
        .filter(|(key, _)| !OWN_LABELS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Value of [`ANNOTATION_INHERITED_LABELS`] for these labels: their keys, sorted, comma-separated.
pub fn inherited_annotation<'a>(keys: impl IntoIterator<Item = &'a String>) -> String {
    let keys: BTreeSet<&String> = keys.into_iter().collect();
    keys.into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The Job that runs `step` of `wf` for this generation and run, by the precedence table of
/// this module. `backoffLimit: 0`: a failed step fails the workflow; reruns are explicit
/// restarts. A template's own deadline is kept only when `maxStepTimeout` is unlimited.
pub fn build_job(
    wf: &Workflow,
    step: &Step,
    generation: i64,
    run: u32,
    inputs: JobInputs<'_>,
) -> Job {
    let instantiated;
    let step = match inputs.instance {
        Some(instance) => {
            instantiated = fan_out::instantiate(step, instance.item, instance.index as usize);
            &instantiated
        }
        None => step,
    };
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let referenced = inputs
        .referenced_template
        .filter(|_| step.job_template_ref.is_some());
    let template = referenced.or(step.job_template.as_ref()).cloned();
    let from_template = template.is_some();
    let JobTemplateSpec {
        metadata: template_meta,
        spec: template_spec,
    } = template.unwrap_or_default();
    let template_meta = template_meta.unwrap_or_default();

    let inherited = inherited_labels(wf);
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.extend(inherited.clone());
    labels.insert(LABEL_WORKFLOW.to_owned(), label_value(wf_name));
    labels.insert(LABEL_STEP.to_owned(), step.step_name.clone());
    labels.insert(LABEL_GENERATION.to_owned(), generation.to_string());
    labels.insert(LABEL_RUN.to_owned(), run.to_string());
    let identity = attempt_labels(&inputs);
    labels.extend(identity.clone());

    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(
        ANNOTATION_INHERITED_LABELS.to_owned(),
        inherited_annotation(inherited.keys()),
    );

    let mut spec = if from_template {
        template_spec.unwrap_or_default()
    } else {
        JobSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![container_of(step)],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }
    };
    spec.backoff_limit = Some(0);
    let max_step_timeout = wf.spec.max_step_timeout;
    if max_step_timeout > 0 {
        spec.active_deadline_seconds = Some(max_step_timeout);
    }

    let no_defaults = PodDefaults::default();
    let defaults = wf.spec.pod_defaults.as_ref().unwrap_or(&no_defaults);
    let pod_meta = spec
        .template
        .metadata
        .get_or_insert_with(ObjectMeta::default);
    merge_pod_meta(pod_meta, defaults);
    let pod_labels = pod_meta.labels.get_or_insert_with(BTreeMap::new);
    pod_labels.insert(LABEL_WORKFLOW.to_owned(), label_value(wf_name));
    pod_labels.insert(LABEL_STEP.to_owned(), step.step_name.clone());
    pod_labels.extend(identity);

    let pod_spec = spec.template.spec.get_or_insert_with(PodSpec::default);
    pod_spec.restart_policy = Some("Never".to_owned());
    if referenced.is_some() {
        overlay_first_container(pod_spec, step);
    }
    if let Some(first) = pod_spec.containers.first_mut()
        && !step.volume_mounts.is_empty()
    {
        first
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .extend(step.volume_mounts.iter().cloned());
    }
    if step.service_account_name.is_some() {
        pod_spec.service_account_name = step.service_account_name.clone();
    }
    merge_pod_spec(pod_spec, defaults);
    if let Some(instance) = inputs.instance {
        let own = fan_out::instance_env(instance.item, instance.index as usize);
        for container in &mut pod_spec.containers {
            let env = container.env.take().unwrap_or_default();
            container.env = Some(merged_env(&own, &env));
        }
    }
    add_workflow_volumes(pod_spec, wf, generation);
    if let Some(node) = inputs.node
        && pod_spec.node_name.is_none()
    {
        require_node(pod_spec, node);
    }

    Job {
        metadata: ObjectMeta {
            name: Some(attempt_job_name(
                wf_name,
                &step.step_name,
                generation,
                run,
                inputs.instance.map(|i| i.index),
                inputs.attempt,
            )),
            namespace: wf.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(wf)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The instance and attempt labels of a Job and its pod (none for a first attempt of a step
/// that does not fan out, so its Job is labelled as before these existed).
fn attempt_labels(inputs: &JobInputs<'_>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Some(instance) = inputs.instance {
        labels.insert(LABEL_INSTANCE.to_owned(), instance.index.to_string());
    }
    if inputs.attempt > 0 {
        labels.insert(LABEL_ATTEMPT.to_owned(), inputs.attempt.to_string());
    }
    labels
}

fn container_of(step: &Step) -> Container {
    Container {
        name: container_name(step).to_owned(),
        image: step.image.clone(),
        command: step.command.clone(),
        args: step.args.clone(),
        env: step.env.clone(),
        resources: step.resources.clone(),
        image_pull_policy: step.image_pull_policy.clone(),
        ..Container::default()
    }
}

/// A referenced template's first container takes the step's fields that are set.
fn overlay_first_container(pod_spec: &mut PodSpec, step: &Step) {
    let Some(first) = pod_spec.containers.first_mut() else {
        return;
    };
    if step.image.is_some() {
        first.image = step.image.clone();
    }
    if step.command.is_some() {
        first.command = step.command.clone();
    }
    if step.args.is_some() {
        first.args = step.args.clone();
    }
    if step.resources.is_some() {
        first.resources = step.resources.clone();
    }
    if step.image_pull_policy.is_some() {
        first.image_pull_policy = step.image_pull_policy.clone();
    }
    if let Some(env) = &step.env {
        let own: Vec<EnvVar> = first.env.take().unwrap_or_default();
        first.env = Some(merged_env(env, &own));
    }
}

/// `first`'s variables, then those of `second` with other names.
fn merged_env(first: &[EnvVar], second: &[EnvVar]) -> Vec<EnvVar> {
    let names: BTreeSet<&str> = first.iter().map(|var| var.name.as_str()).collect();
    first
        .iter()
        .chain(
            second
                .iter()
                .filter(|var| !names.contains(var.name.as_str())),
        )
        .cloned()
        .collect()
}

fn merge_pod_meta(meta: &mut ObjectMeta, defaults: &PodDefaults) {
    if !defaults.labels.is_empty() {
        let own = meta.labels.take().unwrap_or_default();
        let mut labels = defaults.labels.clone();
        labels.extend(own);
        meta.labels = Some(labels);
    }
    if !defaults.annotations.is_empty() {
        let own = meta.annotations.take().unwrap_or_default();
        let mut annotations = defaults.annotations.clone();
        annotations.extend(own);
        meta.annotations = Some(annotations);
    }
}

fn merge_pod_spec(pod: &mut PodSpec, defaults: &PodDefaults) {
    if !defaults.env.is_empty() {
        for container in &mut pod.containers {
            let own = container.env.take().unwrap_or_default();
            container.env = Some(merged_env(&own, &defaults.env));
        }
    }
    fill(&mut pod.node_name, &defaults.node_name);
    fill(&mut pod.priority_class_name, &defaults.priority_class_name);
    fill(
        &mut pod.service_account_name,
        &defaults.service_account_name,
    );
    fill(&mut pod.security_context, &defaults.security_context);
    fill(&mut pod.affinity, &defaults.affinity);
    if !defaults.node_selector.is_empty() {
        let own = pod.node_selector.take().unwrap_or_default();
        let mut selector = defaults.node_selector.clone();
        selector.extend(own);
        pod.node_selector = Some(selector);
    }
    if !defaults.tolerations.is_empty() {
        let tolerations = pod.tolerations.get_or_insert_with(Vec::new);
        for toleration in &defaults.tolerations {
            if !tolerations.contains(toleration) {
                tolerations.push(toleration.clone());
            }
        }
    }
    if !defaults.image_pull_secrets.is_empty() {
        let secrets = pod.image_pull_secrets.get_or_insert_with(Vec::new);
        for secret in &defaults.image_pull_secrets {
            if !secrets.iter().any(|s| s.name == secret.name) {
                secrets.push(secret.clone());
            }
        }
    }
}

/// Sets `own` to `default` when it is unset.
fn fill<T: Clone>(own: &mut Option<T>, default: &Option<T>) {
    if own.is_none() {
        own.clone_from(default);
    }
}

/// Adds the workflow's volumes and claims that the pod's containers mount and the pod does not
/// declare itself. A claim template becomes a volume of this generation's claim.
fn add_workflow_volumes(pod: &mut PodSpec, wf: &Workflow, generation: i64) {
    let mounted: BTreeSet<&str> = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|mount| mount.name.as_str())
        .collect();
    let declared: BTreeSet<String> = pod
        .volumes
        .iter()
        .flatten()
        .map(|volume| volume.name.clone())
        .collect();
    let wanted = |name: &str| mounted.contains(name) && !declared.contains(name);
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let mut added: Vec<Volume> = wf
        .spec
        .volumes
        .iter()
        .filter(|volume| wanted(&volume.name))
        .cloned()
        .collect();
    added.extend(
        wf.spec
            .volume_claim_templates
            .iter()
            .filter(|claim| wanted(&claim.name))
            .map(|claim| Volume {
                name: claim.name.clone(),
                persistent_volume_claim: Some(
                    k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                        claim_name: claim_name(wf_name, &claim.name, generation),
                        read_only: None,
                    },
                ),
                ..Volume::default()
            }),
    );
    if !added.is_empty() {
        pod.volumes.get_or_insert_with(Vec::new).extend(added);
    }
}

/// Requires the pod to run on `node`: a `metadata.name` field match (what a DaemonSet uses)
/// added to every required node selector term, so it narrows the pod's own affinity.
fn require_node(pod: &mut PodSpec, node: &str) {
    let requirement = NodeSelectorRequirement {
        key: "metadata.name".to_owned(),
        operator: "In".to_owned(),
        values: Some(vec![node.to_owned()]),
    };
    let affinity = pod.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields
            .get_or_insert_with(Vec::new)
            .push(requirement.clone());
    }
}

/// The Workflow as the Job's controlling owner: deleting the Workflow deletes its Jobs (and
/// their Pods) through the garbage collector, and the Controller maps Job events to it.
pub fn owner_reference(wf: &Workflow) -> OwnerReference {
    OwnerReference {
        api_version: Workflow::api_version(&()).into_owned(),
        kind: Workflow::kind(&()).into_owned(),
        name: wf.metadata.name.clone().unwrap_or_default(),
        uid: wf.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
