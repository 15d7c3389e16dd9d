//! The Job that runs a step ([`build_job`]), and the labels and annotation through which the
//! controller recognises its Jobs and cascades the Workflow's labels.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, Step, Workflow, job_name, label_value};

/// Label on every Job: the Workflow's `metadata.generation` it was created for.
pub const LABEL_GENERATION: &str = "kwf.dev/generation";
/// Label on every Job: the Workflow's `status.run` (restart counter) it was created for.
pub const LABEL_RUN: &str = "kwf.dev/run";
/// Annotation on every Job: comma-separated sorted keys of the labels copied from the Workflow.
pub const ANNOTATION_INHERITED_LABELS: &str = "kwf.dev/inherited-labels";

/// Labels the controller sets itself; a Workflow label with one of these keys is not copied.
const OWN_LABELS: [&str; 4] = [LABEL_WORKFLOW, LABEL_STEP, LABEL_GENERATION, LABEL_RUN];

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

/// The Job that runs `step` of `wf` for this generation and run.
///
/// From the step's `jobTemplate` when it has one, else a single container built from the step's
/// fields. Either way the controller forces what its logic relies on: the name, labels and
/// annotation, the controller ownerReference, `restartPolicy: Never`, `backoffLimit: 0` (a
/// failed step fails the workflow; reruns are explicit restarts) and `activeDeadlineSeconds`
/// from `maxStepTimeout` (a template's own deadline is kept only when the timeout is unlimited).
pub fn build_job(wf: &Workflow, step: &Step, generation: i64, run: u32) -> Job {
    let wf_name = wf.metadata.name.as_deref().unwrap_or_default();
    let template = step.job_template.clone().unwrap_or_default();
    let JobTemplateSpec {
        metadata: template_meta,
        spec: template_spec,
    } = template;
    let template_meta = template_meta.unwrap_or_default();
    let from_template = step.job_template.is_some();

    let inherited = inherited_labels(wf);
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.extend(inherited.clone());
    labels.insert(LABEL_WORKFLOW.to_owned(), label_value(wf_name));
    labels.insert(LABEL_STEP.to_owned(), step.step_name.clone());
    labels.insert(LABEL_GENERATION.to_owned(), generation.to_string());
    labels.insert(LABEL_RUN.to_owned(), run.to_string());

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

    let pod_meta = spec
        .template
        .metadata
        .get_or_insert_with(ObjectMeta::default);
    let pod_labels = pod_meta.labels.get_or_insert_with(BTreeMap::new);
    pod_labels.insert(LABEL_WORKFLOW.to_owned(), label_value(wf_name));
    pod_labels.insert(LABEL_STEP.to_owned(), step.step_name.clone());
    let pod_spec = spec.template.spec.get_or_insert_with(PodSpec::default);
    pod_spec.restart_policy = Some("Never".to_owned());
    if step.service_account_name.is_some() {
        pod_spec.service_account_name = step.service_account_name.clone();
    }

    Job {
        metadata: ObjectMeta {
            name: Some(job_name(wf_name, &step.step_name, generation, run)),
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

/// The Workflow as the Job's controlling owner: deleting the Workflow deletes its Jobs (and
/// their Pods) through the garbage collector, and the Controller maps Job events to it.
fn owner_reference(wf: &Workflow) -> OwnerReference {
    OwnerReference {
        api_version: Workflow::api_version(&()).into_owned(),
        kind: Workflow::kind(&()).into_owned(),
        name: wf.metadata.name.clone().unwrap_or_default(),
        uid: wf.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
