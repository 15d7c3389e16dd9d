//! Runs of a WorkflowTemplate, decided purely: resolving a Workflow that names a template but
//! has no steps yet, and building the Workflow a schedule creates.
//!
//! **Why the resolved spec is written into the run's spec, once.** A run names its template
//! (`spec.workflowTemplateRef`) and gives `params`; the first reconcile copies the template's
//! substituted spec into the run's own `spec` (one merge patch, conditional on the version it
//! read). From then on the run is an ordinary Workflow: the core, `graph`, `describe`,
//! `validate --jobs` and restarts read its spec and never the template, so an edit of the
//! template cannot change a run in flight, and the run shows exactly what it runs. The price is
//! one more generation (its Jobs are named `-2`). `kubectl workflow submit` and schedules write
//! the resolved spec at creation, so their runs start at generation 1 without this step.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kwf_api::workflow_template::{
    ANNOTATION_SCHEDULED_TIME, LABEL_TEMPLATE, LABEL_TRIGGER, TRIGGER_SCHEDULE,
};
use kwf_api::{
    Instance, TemplateError, Workflow, WorkflowPhase, WorkflowSpec, WorkflowStatus,
    WorkflowTemplate, instantiate,
};
use serde_json::{Map, Value, json};

/// True for a Workflow that names a template and has no steps yet: it must be resolved before
/// anything else happens to it.
pub fn awaits_template(wf: &Workflow) -> bool {
    wf.spec.workflow_template_ref.is_some() && wf.spec.containers.is_empty()
}

/// What to do with a Workflow that awaits its template.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Merge-patch the Workflow with this (its spec, labels and annotations from the template).
    Patch(Value),
    /// Write this status: the run failed (no template, bad parameters).
    Fail(Box<WorkflowStatus>),
    /// Its status already says why it failed.
    Unchanged,
}

/// The resolution of `wf` (which [`awaits_template`]) given its template, if it exists.
pub fn resolve(wf: &Workflow, template: Option<&WorkflowTemplate>, now: Timestamp) -> Resolution {
    let Some(reference) = &wf.spec.workflow_template_ref else {
        return Resolution::Unchanged;
    };
    let namespace = wf.metadata.namespace.as_deref().unwrap_or_default();
    let outcome = match template {
        None => Err(format!(
            "workflowTemplateRef: no WorkflowTemplate {:?} in namespace {namespace:?}: create it, then kubectl workflow restart {}",
            reference.name,
            wf.metadata.name.as_deref().unwrap_or_default()
        )),
        Some(t) => instantiate(t, &wf.spec.params).map_err(|e: TemplateError| {
            format!(
                "{e}; fix the run's params, then kubectl workflow restart {}",
                wf.metadata.name.as_deref().unwrap_or_default()
            )
        }),
    };
    match outcome {
        Ok(instance) => Resolution::Patch(resolution_patch(wf, &instance)),
        Err(message) => failure(wf, message, now),
    }
}

/// The merge patch that turns `wf` into the run of `instance`: the template's spec replaces the
/// run's (a field the run set that the template lacks is removed), the template's labels and
/// annotations are added where the run has none of that key, and `kwf.dev/template` is set.
/// Conditional on the version read, so a run is resolved from one view only.
pub fn resolution_patch(wf: &Workflow, instance: &Instance) -> Value {
    let mut spec = match serde_json::to_value(&instance.spec) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Ok(Value::Object(current)) = serde_json::to_value(&wf.spec) {
        for key in current.keys() {
            spec.entry(key.clone()).or_insert(Value::Null);
        }
    }
    let own_labels = wf.metadata.labels.clone().unwrap_or_default();
    let own_annotations = wf.metadata.annotations.clone().unwrap_or_default();
    let labels: BTreeMap<&String, &String> = instance
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() == LABEL_TEMPLATE || !own_labels.contains_key(*k))
        .collect();
    let annotations: BTreeMap<&String, &String> = instance
        .annotations
        .iter()
        .filter(|(k, _)| !own_annotations.contains_key(*k))
        .collect();
    json!({
        "metadata": {
            "resourceVersion": wf.metadata.resource_version,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    })
}

fn failure(wf: &Workflow, message: String, now: Timestamp) -> Resolution {
    let current = wf.status.clone().unwrap_or_default();
    if current.phase == Some(WorkflowPhase::Failed) && current.message.as_deref() == Some(&message)
    {
        return Resolution::Unchanged;
    }
    Resolution::Fail(Box::new(WorkflowStatus {
        phase: Some(WorkflowPhase::Failed),
        last_transition_time: Some(Time(now)),
        message: Some(message),
        observed_generation: wf.metadata.generation,
        observed_restart: wf
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(kwf_api::ANNOTATION_RESTARTED_AT))
            .cloned(),
        ..current
    }))
}

/// The Workflow a schedule creates for `at`, named `name`: the template's run with the
/// schedule's parameters, labelled with the template and `kwf.dev/trigger: schedule`, annotated
/// with the scheduled time, owned by the template (deleting the template deletes its runs).
pub fn scheduled_run(
    template: &WorkflowTemplate,
    name: &str,
    at: Timestamp,
) -> Result<Workflow, TemplateError> {
    let params = template
        .spec
        .schedule
        .as_ref()
        .map(|s| s.params.clone())
        .unwrap_or_default();
    let instance = instantiate(template, &params)?;
    let mut labels = instance.labels;
    labels.insert(LABEL_TRIGGER.to_owned(), TRIGGER_SCHEDULE.to_owned());
    let mut annotations = instance.annotations;
    annotations.insert(
        ANNOTATION_SCHEDULED_TIME.to_owned(),
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    Ok(owned_run(
        template,
        name,
        instance.spec,
        labels,
        annotations,
    ))
}

/// A run a trigger of `template` creates: named `name`, with `labels` and `annotations` (the
/// instance's and the trigger's), owned by the template so that deleting the template deletes
/// its runs; not blocking the template's deletion on them.
pub fn owned_run(
    template: &WorkflowTemplate,
    name: &str,
    spec: WorkflowSpec,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Workflow {
    let owner = template.controller_owner_ref(&()).map(|o| OwnerReference {
        block_owner_deletion: Some(false),
        ..o
    });
    Workflow {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: template.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec,
        status: None,
    }
}

/// The scheduled time a run records, if a schedule created it.
pub fn scheduled_time(wf: &Workflow) -> Option<Timestamp> {
    wf.metadata
        .annotations
        .as_ref()?
        .get(ANNOTATION_SCHEDULED_TIME)?
        .parse()
        .ok()
}

/// True while the run has not Completed or Failed.
pub fn is_active(wf: &Workflow) -> bool {
    !matches!(
        wf.status.as_ref().and_then(|s| s.phase),
        Some(WorkflowPhase::Completed | WorkflowPhase::Failed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kwf_api::fixtures::{StepFixture, WorkflowFixture, step, workflow_of};
    use kwf_api::workflow_template::{Parameter, Schedule, WorkflowMetadata};
    use kwf_api::{WorkflowSpec, WorkflowTemplateRef, WorkflowTemplateSpec};

    fn template() -> WorkflowTemplate {
        let mut t = WorkflowTemplate::new(
            "greet",
            WorkflowTemplateSpec {
                parameters: vec![Parameter {
                    name: "who".into(),
                    default: Some("world".into()),
                    description: None,
                }],
                workflow_metadata: Some(WorkflowMetadata {
                    labels: [("team".to_owned(), "a".to_owned())].into(),
                    annotations: Default::default(),
                }),
                workflow_spec: WorkflowSpec {
                    containers: vec![
                        step("hello", &[]).with_command(&["echo", "hello {{params.who}}"]),
                    ],
                    ..Default::default()
                },
                schedule: Some(Schedule {
                    cron: "* * * * *".into(),
                    params: [("who".to_owned(), "cron".to_owned())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("ns".into());
        t.metadata.uid = Some("t-uid".into());
        t
    }

    fn run_of(params: &[(&str, &str)]) -> Workflow {
        let mut wf = workflow_of("r", vec![]).with_label("team", "mine");
        wf.spec.workflow_template_ref = Some(WorkflowTemplateRef {
            name: "greet".into(),
        });
        wf.spec.params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wf.spec.max_step_timeout = 5;
        wf.metadata.resource_version = Some("7".into());
        wf
    }

    fn now() -> Timestamp {
        "2026-05-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn only_a_run_without_steps_awaits_its_template() {
        assert!(awaits_template(&run_of(&[])));
        let mut resolved = run_of(&[]);
        resolved.spec.containers = vec![step("a", &[])];
        assert!(!awaits_template(&resolved));
        assert!(!awaits_template(&workflow_of(
            "plain",
            vec![step("a", &[])]
        )));
    }

    #[test]
    fn the_patch_writes_the_substituted_spec_once_conditionally() {
        let Resolution::Patch(patch) =
            resolve(&run_of(&[("who", "kwf")]), Some(&template()), now())
        else {
            panic!("a patch")
        };
        assert_eq!(patch["metadata"]["resourceVersion"], "7");
        assert_eq!(
            patch["spec"]["containers"][0]["command"],
            json!(["echo", "hello kwf"])
        );
        assert_eq!(patch["spec"]["params"], json!({"who": "kwf"}));
        assert_eq!(
            patch["spec"]["workflowTemplateRef"],
            json!({"name": "greet"})
        );
        assert_eq!(
            patch["spec"]["maxStepTimeout"], 60,
            "the template's spec replaces the run's"
        );
        assert_eq!(
            patch["metadata"]["labels"],
            json!({"kwf.dev/template": "greet"}),
            "the run's own label team=mine wins over the template's"
        );
        // The patched run is a valid, resolved workflow.
        let mut wf = serde_json::to_value(run_of(&[("who", "kwf")])).unwrap();
        merge(&mut wf, &patch);
        let wf: Workflow = serde_json::from_value(wf).unwrap();
        assert!(!awaits_template(&wf));
        kwf_api::validate(&wf.spec).unwrap();
    }

    /// RFC 7386 merge patch, as the API server applies it.
    fn merge(target: &mut Value, patch: &Value) {
        match (target, patch) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (t, p) => *t = p.clone(),
        }
    }

    #[test]
    fn a_field_only_the_run_set_is_removed() {
        let mut wf = run_of(&[]);
        wf.spec.volume_claim_policy = Some(kwf_api::VolumeClaimPolicy::Retain);
        let Resolution::Patch(patch) = resolve(&wf, Some(&template()), now()) else {
            panic!("a patch")
        };
        assert_eq!(patch["spec"]["volumeClaimPolicy"], Value::Null);
    }

    #[test]
    fn a_missing_template_fails_the_run_once_with_what_to_do() {
        let wf = run_of(&[]);
        let Resolution::Fail(status) = resolve(&wf, None, now()) else {
            panic!("a failure")
        };
        assert_eq!(status.phase, Some(WorkflowPhase::Failed));
        assert_eq!(
            status.message.as_deref(),
            Some(
                "workflowTemplateRef: no WorkflowTemplate \"greet\" in namespace \"default\": create it, then kubectl workflow restart r"
            )
        );
        let failed = wf.with_status(WorkflowPhase::Failed, status.message.as_deref(), vec![]);
        assert_eq!(resolve(&failed, None, now()), Resolution::Unchanged);
    }

    #[test]
    fn an_undeclared_parameter_fails_the_run() {
        let Resolution::Fail(status) =
            resolve(&run_of(&[("colour", "red")]), Some(&template()), now())
        else {
            panic!("a failure")
        };
        assert_eq!(
            status.message.as_deref(),
            Some(
                "template \"greet\": parameter \"colour\" is not declared (it declares who): remove it or declare it in spec.parameters; fix the run's params, then kubectl workflow restart r"
            )
        );
    }

    #[test]
    fn a_scheduled_run_is_labelled_annotated_and_owned() {
        let at: Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
        let wf = scheduled_run(&template(), "greet-29625960", at).unwrap();
        let labels = wf.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_TEMPLATE], "greet");
        assert_eq!(labels[LABEL_TRIGGER], "schedule");
        assert_eq!(labels["team"], "a");
        assert_eq!(scheduled_time(&wf), Some(at));
        assert_eq!(wf.metadata.namespace.as_deref(), Some("ns"));
        let owner = &wf.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("WorkflowTemplate", "t-uid")
        );
        assert_eq!(
            wf.spec.containers[0].command.as_deref().unwrap(),
            ["echo", "hello cron"]
        );
        assert!(is_active(&wf));
    }
}
