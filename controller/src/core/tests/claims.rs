//! Shared volumes in the core: claims created before the steps that mount them, one node for a
//! ReadWriteOnce claim, claims deleted by `volumeClaimPolicy` and with an old spec, and steps
//! whose JobTemplate is missing.

use k8s_openapi::api::batch::v1::{Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::VolumeMount;
use kwf_api::{PodDefaults, StepPhase, VolumeClaimPolicy, VolumeClaimTemplate, WorkflowPhase};

use super::*;

fn mounting(name: &str, deps: &[&str]) -> Step {
    Step {
        volume_mounts: vec![VolumeMount {
            name: "ws".to_owned(),
            mount_path: "/kubeci".to_owned(),
            ..VolumeMount::default()
        }],
        ..step(name, deps)
    }
}

/// A workflow whose steps share the claim template `ws` (`access`: its access mode).
fn shared(steps: Vec<Step>, access: &str) -> Workflow {
    let mut wf = workflow(steps);
    wf.spec.volume_claim_templates = vec![VolumeClaimTemplate {
        name: "ws".to_owned(),
        spec: k8s_openapi::api::core::v1::PersistentVolumeClaimSpec {
            access_modes: Some(vec![access.to_owned()]),
            ..Default::default()
        },
        ..VolumeClaimTemplate::default()
    }];
    wf
}

fn claims_created(decision: &Decision) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Create(OwnedObject::Claim(claim)) => claim.metadata.name.clone(),
            _ => None,
        })
        .collect()
}

fn claims_deleted(decision: &Decision) -> Vec<String> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Delete(target) if target.kind == OwnedKind::PersistentVolumeClaim => {
                Some(target.name.clone())
            }
            _ => None,
        })
        .collect()
}

fn jobs_created(decision: &Decision) -> Vec<&Job> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Create(OwnedObject::Job(job)) => Some(job.as_ref()),
            _ => None,
        })
        .collect()
}

/// The node a created Job's pod is required to run on (its `metadata.name` field match).
fn required_node(job: &Job) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    let terms = &pod
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms[0].match_fields.as_ref()?[0]
        .values
        .as_ref()?
        .first()
        .cloned()
}

#[test]
fn the_claim_is_created_before_the_first_step_that_mounts_it() {
    let mut world = World::new(shared(
        vec![step("b", &[]), mounting("a", &["b"])],
        "ReadWriteMany",
    ));
    let first = world.reconcile(at(0));
    assert_eq!(
        claims_created(&first),
        Vec::<String>::new(),
        "not before it is needed"
    );
    world.succeed("b", at(1));
    let second = world.reconcile(at(1));
    assert_eq!(claims_created(&second), ["wf-ws-1"]);
    assert_eq!(created(&second), ["wf-a-1"]);
    let order = kinds(&second);
    assert_eq!(&order[..2], ["create", "create"], "{order:?}");
    assert!(matches!(
        second.effects[0],
        Effect::Create(OwnedObject::Claim(_))
    ));
    assert_eq!(
        required_node(jobs_created(&second)[0]),
        None,
        "a ReadWriteMany claim pins nothing"
    );
}

#[test]
fn steps_on_a_read_write_once_claim_follow_the_first_one_s_node() {
    let mut world = World::new(shared(
        vec![
            mounting("a", &[]),
            mounting("b", &[]),
            mounting("c", &["a"]),
        ],
        "ReadWriteOnce",
    ));
    let started = world.reconcile(at(1));
    // Both are ready; the first runs alone until its pod is placed.
    assert_eq!(claims_created(&started), ["wf-ws-1"]);
    assert_eq!(created(&started), ["wf-a-1"]);
    assert_eq!(started.requeue_after, secs(1));
    assert_eq!(world.step_phase("b"), StepPhase::Pending);

    world.job_mut("a").node = Some("node-7".to_owned());
    let placed = world.reconcile(at(2));
    assert_eq!(created(&placed), ["wf-b-1"]);
    assert_eq!(
        required_node(jobs_created(&placed)[0]).as_deref(),
        Some("node-7")
    );
    assert_eq!(world.step("a").node.as_deref(), Some("node-7"));
    assert_eq!(world.step("b").node.as_deref(), Some("node-7"));

    world.succeed("a", at(3));
    let after = world.reconcile(at(3));
    assert_eq!(created(&after), ["wf-c-1"]);
    assert_eq!(
        required_node(jobs_created(&after)[0]).as_deref(),
        Some("node-7")
    );
}

#[test]
fn the_scheduler_s_choice_for_the_claim_pins_the_first_step_too() {
    let mut world = World::new(shared(
        vec![mounting("a", &[]), mounting("b", &[])],
        "ReadWriteOnce",
    ));
    // A claim already bound on a node (a restart after the first run).
    world.claims.push(ObservedClaim {
        name: "wf-ws-1".to_owned(),
        generation: 1,
        deleting: false,
        selected_node: Some("node-2".to_owned()),
    });
    let started = world.reconcile(at(1));
    assert_eq!(created(&started), ["wf-a-1", "wf-b-1"]);
    for job in jobs_created(&started) {
        assert_eq!(required_node(job).as_deref(), Some("node-2"));
    }
}

#[test]
fn a_workflow_node_name_needs_no_pinning_and_no_waiting() {
    let mut wf = shared(
        vec![mounting("a", &[]), mounting("b", &[])],
        "ReadWriteOnce",
    );
    wf.spec.pod_defaults = Some(PodDefaults {
        node_name: Some("node-1".to_owned()),
        ..PodDefaults::default()
    });
    let mut world = World::new(wf);
    let started = world.reconcile(at(1));
    assert_eq!(created(&started), ["wf-a-1", "wf-b-1"]);
    let pod = jobs_created(&started)[1]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap();
    assert_eq!(pod.node_name.as_deref(), Some("node-1"));
    assert_eq!(pod.affinity, None);
}

fn run_to_end(policy: Option<VolumeClaimPolicy>, fail: bool) -> (World, Decision) {
    let mut wf = shared(vec![mounting("a", &[])], "ReadWriteMany");
    wf.spec.volume_claim_policy = policy;
    let mut world = World::new(wf);
    world.reconcile(at(1));
    if fail {
        world.fail("a", at(2), "BackoffLimitExceeded", Some(1));
    } else {
        world.succeed("a", at(2));
    }
    let end = world.reconcile(at(2));
    (world, end)
}

#[test]
fn claims_go_when_the_run_ends_as_the_policy_says() {
    let cases = [
        (None, false, true),
        (None, true, false),
        (Some(VolumeClaimPolicy::DeleteOnFinish), true, true),
        (Some(VolumeClaimPolicy::DeleteOnFinish), false, true),
        (Some(VolumeClaimPolicy::Retain), false, false),
        (Some(VolumeClaimPolicy::Retain), true, false),
    ];
    for (policy, fail, deleted) in cases {
        let (world, end) = run_to_end(policy, fail);
        let expected = if fail {
            WorkflowPhase::Failed
        } else {
            WorkflowPhase::Completed
        };
        assert_eq!(world.phase(), expected);
        let want: Vec<String> = if deleted {
            vec!["wf-ws-1".to_owned()]
        } else {
            Vec::new()
        };
        assert_eq!(claims_deleted(&end), want, "{policy:?}, failed: {fail}");
        // The status that ends the run is written before the claim goes.
        if deleted {
            let order = kinds(&end);
            let status = order.iter().position(|k| *k == "status").unwrap();
            let delete = order.iter().rposition(|k| *k == "delete").unwrap();
            assert!(status < delete, "{order:?}");
        }
    }
}

#[test]
fn a_new_spec_gets_a_fresh_claim_and_the_old_one_goes() {
    let (mut world, _) = run_to_end(Some(VolumeClaimPolicy::Retain), false);
    world.change_spec(vec![mounting("a", &[]), step("z", &[])]);
    let next = world.reconcile(at(5));
    assert_eq!(claims_created(&next), ["wf-ws-2"]);
    assert_eq!(claims_deleted(&next), ["wf-ws-1"]);
}

#[test]
fn a_restart_waits_for_a_claim_being_deleted_then_makes_it_anew() {
    let (mut world, _) = run_to_end(None, false);
    // The claim went with the completed run; its deletion is still under way when a restart
    // asks for the step again.
    world.claims.push(ObservedClaim {
        name: "wf-ws-1".to_owned(),
        generation: 1,
        deleting: true,
        selected_node: None,
    });
    world.annotate(kwf_api::ANNOTATION_RESTARTED_AT, "again");
    let waiting = world.reconcile(at(6));
    assert_eq!(created(&waiting), Vec::<String>::new());
    assert_eq!(claims_created(&waiting), Vec::<String>::new());
    world.claims.clear();
    let recreated = world.reconcile(at(7));
    assert_eq!(claims_created(&recreated), ["wf-ws-1"]);
}

#[test]
fn a_missing_job_template_fails_its_step_with_its_name_and_creates_no_job() {
    let referencing = Step {
        job_template_ref: Some(kwf_api::JobTemplateRef {
            name: "builder".to_owned(),
        }),
        image: None,
        ..step("build", &[])
    };
    let mut world = World::new(workflow(vec![referencing, step("after", &["build"])]));
    let decision = world.reconcile(at(0));
    assert_eq!(created(&decision), Vec::<String>::new());
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    assert_eq!(world.step_phase("build"), StepPhase::Failed);
    assert_eq!(world.step_phase("after"), StepPhase::Skipped);
    let message = world.step("build").message.clone().unwrap_or_default();
    assert!(
        message.contains("JobTemplate \"builder\"") && message.contains("namespace ns"),
        "{message}"
    );
    assert!(events(&decision).contains(&"StepFailed".to_owned()));
}

#[test]
fn an_existing_job_template_is_used_for_the_step_s_job() {
    let referencing = Step {
        job_template_ref: Some(kwf_api::JobTemplateRef {
            name: "builder".to_owned(),
        }),
        image: None,
        ..step("build", &[])
    };
    let mut world = World::new(workflow(vec![referencing]));
    let template: JobTemplateSpec = serde_json::from_value(serde_json::json!({
        "spec": {"template": {"spec": {"containers": [{"name": "make", "image": "builder:1"}]}}}
    }))
    .unwrap();
    world.job_templates.insert("builder".to_owned(), template);
    let decision = world.reconcile(at(0));
    let job = jobs_created(&decision)[0];
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some("builder:1"));
    assert_eq!(world.step_phase("build"), StepPhase::Running);
}
