//! build_job() and ObservedJob::from_job(): the Job the controller creates, and reading Jobs back.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kwf_api::fixtures::{self, StepFixture, WorkflowFixture};
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, Step, Workflow};

use super::{at, step};
use crate::core::{JobState, ObservedJob};
use kwf_api::job::{
    ANNOTATION_INHERITED_LABELS, JobInputs, LABEL_GENERATION, LABEL_RUN, build_job,
    inherited_annotation,
};

/// Workflow `etl` (generation 3) in `data`, with two labels of its own and one of the
/// controller's, which is not copied.
fn labeled_workflow(timeout: i64) -> Workflow {
    fixtures::workflow("etl", &[])
        .with_namespace("data")
        .with_uid("uid-1")
        .with_generation(3)
        .with_label("team", "data")
        .with_label("app", "etl")
        .with_label(LABEL_STEP, "not-copied")
        .with_max_step_timeout(timeout)
}

/// A step using every plain field.
fn plain_step() -> Step {
    Step {
        args: Some(vec!["echo hi".to_owned()]),
        env: Some(vec![EnvVar {
            name: "MODE".to_owned(),
            value: Some("full".to_owned()),
            value_from: None,
        }]),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        service_account_name: Some("loader".to_owned()),
        ..step("load", &[])
            .with_image("busybox:1.36")
            .with_command(&["sh", "-c"])
    }
}

fn labels(job: &Job) -> &BTreeMap<String, String> {
    job.metadata.labels.as_ref().expect("labels")
}

#[test]
fn a_step_becomes_a_job_with_one_container() {
    let job = build_job(
        &labeled_workflow(60),
        &plain_step(),
        3,
        0,
        JobInputs::default(),
    );
    assert_eq!(job.metadata.name.as_deref(), Some("etl-load-3"));
    assert_eq!(job.metadata.namespace.as_deref(), Some("data"));
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.active_deadline_seconds, Some(60));
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.service_account_name.as_deref(), Some("loader"));
    assert_eq!(pod.containers.len(), 1);
    let container = &pod.containers[0];
    assert_eq!(container.name, "load");
    assert_eq!(container.image.as_deref(), Some("busybox:1.36"));
    assert_eq!(container.command, plain_step().command);
    assert_eq!(container.args, plain_step().args);
    assert_eq!(container.env, plain_step().env);
    assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
}

#[test]
fn a_job_carries_the_controllers_labels_and_the_workflows() {
    let job = build_job(
        &labeled_workflow(60),
        &plain_step(),
        3,
        2,
        JobInputs::default(),
    );
    assert_eq!(job.metadata.name.as_deref(), Some("etl-load-3-r2"));
    let expected: BTreeMap<String, String> = [
        ("app", "etl"),
        ("kwf.dev/generation", "3"),
        ("kwf.dev/run", "2"),
        ("kwf.dev/step", "load"),
        ("kwf.dev/workflow", "etl"),
        ("team", "data"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(labels(&job), &expected);
    let annotations = job.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        annotations
            .get(ANNOTATION_INHERITED_LABELS)
            .map(String::as_str),
        Some("app,team")
    );
    let pod_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .expect("pod template labels");
    assert_eq!(
        pod_labels.get(LABEL_WORKFLOW).map(String::as_str),
        Some("etl")
    );
    assert_eq!(pod_labels.get(LABEL_STEP).map(String::as_str), Some("load"));
}

#[test]
fn a_job_is_controlled_by_its_workflow() {
    let job = build_job(
        &labeled_workflow(60),
        &plain_step(),
        3,
        0,
        JobInputs::default(),
    );
    let owners = job
        .metadata
        .owner_references
        .as_ref()
        .expect("owner references");
    assert_eq!(owners.len(), 1);
    let owner = &owners[0];
    assert_eq!(owner.api_version, "kwf.dev/v1alpha1");
    assert_eq!(owner.kind, "Workflow");
    assert_eq!(owner.name, "etl");
    assert_eq!(owner.uid, "uid-1");
    assert_eq!(owner.controller, Some(true));
    assert_eq!(owner.block_owner_deletion, Some(true));
}

#[test]
fn an_unlimited_timeout_sets_no_deadline() {
    let job = build_job(
        &labeled_workflow(-1),
        &plain_step(),
        1,
        0,
        JobInputs::default(),
    );
    assert_eq!(
        job.spec.as_ref().and_then(|s| s.active_deadline_seconds),
        None
    );
}

#[test]
fn a_long_workflow_name_gets_a_valid_label_and_job_name() {
    let mut wf = labeled_workflow(60);
    let long = "w".repeat(100);
    wf.metadata.name = Some(long.clone());
    let job = build_job(&wf, &plain_step(), 1, 0, JobInputs::default());
    let name = job.metadata.name.clone().unwrap_or_default();
    assert!(
        name.len() <= 63 && kwf_api::is_dns1123_label(&name),
        "{name}"
    );
    let label = labels(&job)
        .get(LABEL_WORKFLOW)
        .cloned()
        .unwrap_or_default();
    assert_eq!(label, kwf_api::label_value(&long));
    assert!(label.len() <= 63);
}

#[test]
fn a_job_template_is_used_with_the_controllers_fields_forced() {
    let template = JobTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("extra".to_owned(), "yes".to_owned())].into()),
            annotations: Some([("note".to_owned(), "kept".to_owned())].into()),
            ..ObjectMeta::default()
        }),
        spec: Some(JobSpec {
            backoff_limit: Some(6),
            active_deadline_seconds: Some(999),
            parallelism: Some(1),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("OnFailure".to_owned()),
                    containers: vec![
                        Container {
                            name: "main".to_owned(),
                            image: Some("app".to_owned()),
                            ..Container::default()
                        },
                        Container {
                            name: "sidecar".to_owned(),
                            image: Some("proxy".to_owned()),
                            ..Container::default()
                        },
                    ],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
    };
    let step = Step {
        step_name: "train".to_owned(),
        job_template: Some(template),
        ..Step::default()
    };
    let job = build_job(&labeled_workflow(30), &step, 1, 0, JobInputs::default());
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.active_deadline_seconds, Some(30));
    assert_eq!(
        spec.parallelism,
        Some(1),
        "the template's other fields are kept"
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["main", "sidecar"]);
    assert_eq!(labels(&job).get("extra").map(String::as_str), Some("yes"));
    assert_eq!(
        labels(&job).get(LABEL_STEP).map(String::as_str),
        Some("train")
    );
    let annotations = job.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(annotations.get("note").map(String::as_str), Some("kept"));
    assert!(annotations.contains_key(ANNOTATION_INHERITED_LABELS));

    let unlimited = build_job(&labeled_workflow(-1), &step, 1, 0, JobInputs::default());
    assert_eq!(
        unlimited
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds),
        Some(999),
        "with no workflow timeout the template's own deadline stays"
    );
}

fn job_condition(kind: &str, status: &str, reason: &str, when: i64) -> JobCondition {
    JobCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(format!("{reason} happened")),
        last_transition_time: Some(Time(at(when))),
        last_probe_time: None,
    }
}

fn with_conditions(mut job: Job, conditions: Vec<JobCondition>) -> Job {
    job.status = Some(JobStatus {
        conditions: Some(conditions),
        ..JobStatus::default()
    });
    job
}

fn created_job() -> Job {
    let mut job = build_job(
        &labeled_workflow(60),
        &plain_step(),
        3,
        1,
        JobInputs::default(),
    );
    job.metadata.uid = Some("job-uid".to_owned());
    job.metadata.creation_timestamp = Some(Time(at(0)));
    job
}

#[test]
fn reading_a_fresh_job_reads_its_labels() {
    let observed = ObservedJob::from_job(&created_job()).expect("one of ours");
    assert_eq!(observed.name, "etl-load-3-r1");
    assert_eq!(observed.uid, "job-uid");
    assert_eq!(observed.step, "load");
    assert_eq!(observed.generation, 3);
    assert_eq!(observed.run, 1);
    assert_eq!(observed.created, Some(at(0)));
    assert_eq!(observed.state, JobState::Active);
    assert!(!observed.deleting);
    assert_eq!(observed.exit, None);
    let inherited: Vec<&str> = observed
        .inherited_labels
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(inherited, ["app", "team"]);
    assert_eq!(
        observed.labels.get("team").map(String::as_str),
        Some("data")
    );
}

#[test]
fn a_complete_job_succeeded_at_its_completion_time() {
    let mut job = with_conditions(
        created_job(),
        vec![job_condition("Complete", "True", "", 5)],
    );
    assert_eq!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Succeeded {
            finished: Some(at(5))
        })
    );
    job.status.as_mut().expect("status").completion_time = Some(Time(at(4)));
    assert_eq!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Succeeded {
            finished: Some(at(4))
        })
    );
}

#[test]
fn success_criteria_met_already_counts_as_succeeded() {
    let job = with_conditions(
        created_job(),
        vec![job_condition("SuccessCriteriaMet", "True", "", 3)],
    );
    assert_eq!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Succeeded {
            finished: Some(at(3))
        })
    );
}

#[test]
fn a_failed_job_carries_its_reason_and_message() {
    let job = with_conditions(
        created_job(),
        vec![
            job_condition("FailureTarget", "True", "DeadlineExceeded", 6),
            job_condition("Failed", "True", "DeadlineExceeded", 7),
        ],
    );
    assert_eq!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Failed {
            finished: Some(at(7)),
            reason: "DeadlineExceeded".to_owned(),
            message: "DeadlineExceeded happened".to_owned(),
        })
    );
}

#[test]
fn failure_target_already_counts_as_failed() {
    let job = with_conditions(
        created_job(),
        vec![job_condition(
            "FailureTarget",
            "True",
            "BackoffLimitExceeded",
            6,
        )],
    );
    assert!(matches!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Failed { reason, .. }) if reason == "BackoffLimitExceeded"
    ));
}

#[test]
fn conditions_that_do_not_hold_are_ignored() {
    let job = with_conditions(
        created_job(),
        vec![
            job_condition("Failed", "False", "BackoffLimitExceeded", 6),
            job_condition("Suspended", "True", "JobSuspended", 6),
        ],
    );
    assert_eq!(
        ObservedJob::from_job(&job).map(|o| o.state),
        Some(JobState::Active)
    );
}

#[test]
fn a_job_being_deleted_says_so() {
    let mut job = created_job();
    job.metadata.deletion_timestamp = Some(Time(at(9)));
    assert!(ObservedJob::from_job(&job).is_some_and(|o| o.deleting));
}

#[test]
fn jobs_without_the_controllers_labels_are_not_read() {
    let mut job = created_job();
    job.metadata
        .labels
        .as_mut()
        .expect("labels")
        .remove(LABEL_STEP);
    assert_eq!(ObservedJob::from_job(&job), None);
    let mut job = created_job();
    job.metadata
        .labels
        .as_mut()
        .expect("labels")
        .insert(LABEL_GENERATION.to_owned(), "x".to_owned());
    assert_eq!(ObservedJob::from_job(&job), None);
}

#[test]
fn a_job_without_a_run_label_is_of_the_first_run() {
    let mut job = created_job();
    job.metadata
        .labels
        .as_mut()
        .expect("labels")
        .remove(LABEL_RUN);
    assert_eq!(ObservedJob::from_job(&job).map(|o| o.run), Some(0));
}

#[test]
fn the_inherited_record_is_sorted_and_comma_separated() {
    let keys = ["b".to_owned(), "a".to_owned(), "c".to_owned()];
    assert_eq!(inherited_annotation(keys.iter()), "a,b,c");
    assert_eq!(inherited_annotation([].iter()), "");
}
