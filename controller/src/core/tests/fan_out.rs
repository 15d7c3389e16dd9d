//! Fan-out over items: one Job per instance with the item substituted, `maxParallel` and
//! `parallelism` never exceeded, dependents after the last instance, a compact status, and the
//! instances' Jobs adopted after a lost status write.

use kwf_api::fixtures::StepFixture;
use kwf_api::job::LABEL_INSTANCE;
use kwf_api::retries::{Backoff, RetryPolicy};
use serde_json::json;

use super::*;

fn fan_out(items: usize, max_parallel: Option<i32>) -> Workflow {
    let mut s = step("build", &[]).with_command(&["sh", "-c", "make {{item}}"]);
    s.with_items = Some((0..items).map(|i| json!(format!("t{i}"))).collect());
    s.max_parallel = max_parallel;
    let mut wf = workflow(vec![s, step("ship", &["build"])]);
    wf.spec.max_step_timeout = -1;
    wf
}

fn active_of(world: &World, step: &str) -> usize {
    world
        .jobs
        .iter()
        .filter(|job| job.step == step && job.state == JobState::Active)
        .count()
}

fn finish(world: &mut World, name: &str, when: jiff::Timestamp) {
    let job = world
        .jobs
        .iter_mut()
        .find(|j| j.name == name)
        .expect("the Job exists");
    job.state = JobState::Succeeded {
        finished: Some(when),
    };
}

#[test]
fn instances_run_at_most_max_parallel_at_once_and_the_dependent_waits_for_all() {
    let mut world = World::new(fan_out(7, Some(3)));
    let decision = world.reconcile(at(0));
    assert_eq!(
        created(&decision),
        vec!["wf-build-1-i0", "wf-build-1-i1", "wf-build-1-i2"]
    );
    let mut round = 1;
    while world.step_phase("build") != StepPhase::Succeeded {
        assert!(active_of(&world, "build") <= 3);
        let running: Vec<String> = world
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Active)
            .map(|j| j.name.clone())
            .collect();
        finish(&mut world, &running[0], at(round));
        world.reconcile(at(round));
        assert!(active_of(&world, "build") <= 3);
        if world.step_phase("build") != StepPhase::Succeeded {
            assert!(
                world.status().step("ship").is_none(),
                "ship waits for every instance"
            );
        }
        round += 1;
        assert!(round < 20, "the fan-out finishes");
    }
    assert_eq!(world.step_phase("ship"), StepPhase::Running);
    let instances = world.step("build").instances.clone().unwrap();
    assert_eq!(
        (instances.total, instances.started, instances.succeeded),
        (7, 7, 7)
    );
    assert!(
        instances.active.is_empty(),
        "succeeded instances are counted, not listed"
    );
    assert_eq!(
        world.jobs.len(),
        8,
        "every instance's Job is kept, with ship's"
    );
}

#[test]
fn the_item_is_substituted_and_labelled() {
    let world = World::new(fan_out(2, None));
    let decision = world.decide(at(0));
    let jobs: Vec<&k8s_openapi::api::batch::v1::Job> = decision
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Create(OwnedObject::Job(job)) => Some(&**job),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 2);
    let pod = jobs[1]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.command.as_ref().unwrap()[2], "make t1");
    let env = container.env.as_ref().unwrap();
    assert!(
        env.iter()
            .any(|v| v.name == "KWF_ITEM" && v.value.as_deref() == Some("t1"))
    );
    assert!(
        env.iter()
            .any(|v| v.name == "KWF_INSTANCE" && v.value.as_deref() == Some("1"))
    );
    assert_eq!(
        jobs[1]
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .get(LABEL_INSTANCE)
            .map(String::as_str),
        Some("1")
    );
}

#[test]
fn parallelism_one_runs_everything_one_at_a_time() {
    let mut wf = fan_out(3, None);
    wf.spec.containers.push(step("lint", &[]));
    wf.spec.parallelism = Some(1);
    let mut world = World::new(wf);
    for round in 0..10 {
        world.reconcile(at(round));
        let active: Vec<String> = world
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Active)
            .map(|j| j.name.clone())
            .collect();
        assert!(active.len() <= 1, "round {round}: {active:?}");
        if let Some(name) = active.first() {
            finish(&mut world, name, at(round));
        }
    }
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert_eq!(
        world.created,
        vec![
            "wf-build-1-i0",
            "wf-build-1-i1",
            "wf-build-1-i2",
            "wf-ship-1",
            "wf-lint-1"
        ],
        "topological order (spec order among steps free to go), instances in index order"
    );
}

#[test]
fn a_failed_instance_retries_without_blocking_the_others_and_fresh_work_goes_first() {
    let mut wf = fan_out(3, None);
    wf.spec.containers[0].retries = Some(RetryPolicy {
        limit: 1,
        backoff: Some(Backoff {
            seconds: Some(0),
            ..Backoff::default()
        }),
        ..RetryPolicy::default()
    });
    wf.spec.parallelism = Some(2);
    let mut world = World::new(wf);
    world.reconcile(at(0));
    assert_eq!(world.created, vec!["wf-build-1-i0", "wf-build-1-i1"]);
    let job = world
        .jobs
        .iter_mut()
        .find(|j| j.name == "wf-build-1-i0")
        .unwrap();
    job.state = JobState::Failed {
        finished: Some(at(1)),
        reason: "BackoffLimitExceeded".into(),
        message: String::new(),
    };
    world.reconcile(at(1));
    assert_eq!(
        world.created.last().unwrap(),
        "wf-build-1-i2",
        "the never-run instance goes before the retry"
    );
    finish(&mut world, "wf-build-1-i1", at(2));
    world.reconcile(at(2));
    assert_eq!(world.created.last().unwrap(), "wf-build-1-i0-a1");
    let instances = world.step("build").instances.clone().unwrap();
    let first = instances.active.iter().find(|i| i.index == 0).unwrap();
    assert_eq!(first.retries.len(), 1);
}

#[test]
fn a_failed_instance_out_of_attempts_fails_the_step() {
    let mut world = World::new(fan_out(3, Some(1)));
    world.reconcile(at(0));
    world.fail("build", at(1), "BackoffLimitExceeded", Some(4));
    world.reconcile(at(1));
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    let entry = world.step("build");
    assert_eq!(entry.phase, StepPhase::Failed);
    assert!(
        entry.message.as_deref().unwrap().contains("build[0]"),
        "{:?}",
        entry.message
    );
    assert_eq!(entry.exit_code, Some(4));
    assert_eq!(world.step_phase("ship"), StepPhase::Skipped);
    assert_eq!(
        world.created.len(),
        1,
        "no instance starts after the failure"
    );
}

#[test]
fn lost_status_writes_never_create_an_instance_twice() {
    let mut world = World::new(fan_out(4, Some(2)));
    let decision = world.decide(at(0));
    for effect in &decision.effects {
        if !matches!(effect, Effect::WriteStatus(_)) {
            world.apply(effect, at(0));
        }
    }
    assert_eq!(world.created.len(), 2);
    let decision = world.reconcile(at(1));
    assert!(created(&decision).is_empty(), "{:?}", created(&decision));
    let instances = world.step("build").instances.clone().unwrap();
    assert_eq!(instances.started, 2);
    assert_eq!(instances.active.len(), 2);
}

#[test]
fn a_gap_left_by_a_failed_create_is_filled() {
    let mut world = World::new(fan_out(3, None));
    let decision = world.decide(at(0));
    // Instance 1's create failed; 0 and 2 landed; the status write never happened.
    for effect in &decision.effects {
        match effect {
            Effect::Create(OwnedObject::Job(job))
                if job.metadata.name.as_deref() == Some("wf-build-1-i1") => {}
            Effect::WriteStatus(_) => {}
            other => world.apply(other, at(0)),
        }
    }
    let decision = world.reconcile(at(1));
    assert_eq!(created(&decision), vec!["wf-build-1-i1"]);
}

#[test]
fn a_2000_step_workflow_of_20_instance_fan_outs_keeps_a_small_status() {
    let steps: Vec<Step> = (0..2000)
        .map(|i| {
            let name = |i: usize| format!("layer-{:02}-step-{:02}", i / 40, i % 40);
            let mut s = step(&name(i), &[]);
            if i >= 40 {
                s.depends_on = vec![name(i - 40)];
            }
            s.with_items = Some((0..20).map(|n| json!(format!("item-{n}"))).collect());
            s
        })
        .collect();
    let mut wf = workflow(steps);
    wf.spec.max_step_timeout = -1;
    wf.spec.retries = Some(RetryPolicy {
        limit: 2,
        backoff: Some(Backoff {
            seconds: Some(0),
            ..Backoff::default()
        }),
        ..RetryPolicy::default()
    });
    let mut world = World::new(wf);
    // Every instance 0 fails its first attempt and is retried; the rest succeed.
    let mut now = 0;
    let mut largest = 0;
    let mut largest_status = 0;
    while world.wf.status.as_ref().and_then(|s| s.phase) != Some(WorkflowPhase::Completed) {
        world.reconcile_once(at(now));
        largest = largest.max(serde_json::to_vec(&world.wf).unwrap().len());
        largest_status = largest_status.max(serde_json::to_vec(&world.wf.status).unwrap().len());
        for job in world
            .jobs
            .iter_mut()
            .filter(|j| j.state == JobState::Active)
        {
            job.state = if job.instance == Some(0) && job.attempt == 0 {
                JobState::Failed {
                    finished: Some(at(now)),
                    reason: "BackoffLimitExceeded".into(),
                    message: String::new(),
                }
            } else {
                JobState::Succeeded {
                    finished: Some(at(now)),
                }
            };
        }
        now += 1;
        assert!(now < 400, "the workflow completes");
    }
    let spec = serde_json::to_vec(&world.wf.spec).unwrap().len();
    println!(
        "a 2,000-step workflow of 20-instance fan-outs: at most {largest} bytes, of which the spec is {spec} and the status at most {largest_status}"
    );
    assert_eq!(
        world.jobs.len(),
        2000 * 21,
        "one Job per instance and attempt"
    );
    // The status is what kwf adds; the spec (here 20 item names per step) is the author's.
    assert!(
        largest_status < 512 * 1024,
        "status of {largest_status} bytes"
    );
    assert!(
        largest < 1_400_000,
        "{largest} bytes: too close to etcd's 1.5 MiB limit"
    );
}

fn node(name: &str, taint: Option<&str>) -> super::super::ObservedNode {
    super::super::ObservedNode {
        name: name.to_owned(),
        labels: [("pool".to_owned(), "work".to_owned())].into(),
        unschedulable: false,
        taints: taint
            .into_iter()
            .map(|key| k8s_openapi::api::core::v1::Taint {
                key: key.to_owned(),
                value: None,
                effect: "NoSchedule".to_owned(),
                time_added: None,
            })
            .collect(),
    }
}

fn daemon(exclude: &[&str]) -> Workflow {
    let mut s = step("agent", &[]).with_command(&["sh", "-c", "echo on {{item}}"]);
    s.with_nodes = Some(kwf_api::fan_out::NodeFanOut {
        selector: [("pool".to_owned(), "work".to_owned())].into(),
        exclude: exclude.iter().map(|n| (*n).to_owned()).collect(),
    });
    let mut wf = workflow(vec![s]);
    wf.spec.max_step_timeout = -1;
    wf
}

#[test]
fn a_fan_out_over_nodes_runs_one_instance_pinned_to_each_eligible_node() {
    let mut world = World::new(daemon(&["n3"]));
    world.nodes = vec![
        node("n2", None),
        node("n1", None),
        node("n3", None),
        node("n4", Some("gpu")),
    ];
    let decision = world.reconcile(at(0));
    assert_eq!(created(&decision), vec!["wf-agent-1-i0", "wf-agent-1-i1"]);
    let instances = world.step("agent").instances.clone().unwrap();
    assert_eq!(
        instances.nodes,
        vec!["n1", "n2"],
        "excluded and untolerated nodes are left out"
    );
    let job = decision
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Create(OwnedObject::Job(job)) => Some(job),
            _ => None,
        })
        .unwrap();
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let terms = &pod
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    assert_eq!(
        terms[0].match_fields.as_ref().unwrap()[0].values,
        Some(vec!["n1".to_owned()])
    );
    assert_eq!(pod.containers[0].command.as_ref().unwrap()[2], "echo on n1");
    // A node that joins later is not taken: the set was fixed when the step started.
    world.nodes.push(node("n0", None));
    for name in ["wf-agent-1-i0", "wf-agent-1-i1"] {
        finish(&mut world, name, at(1));
    }
    world.reconcile(at(1));
    assert_eq!(world.phase(), WorkflowPhase::Completed);
    assert!(
        !super::super::needs_nodes(&world.wf),
        "the nodes are in the status now"
    );
}

#[test]
fn a_fan_out_over_nodes_matching_none_fails_with_what_to_check() {
    let mut world = World::new(daemon(&["n1"]));
    world.nodes = vec![node("n1", None)];
    assert!(super::super::needs_nodes(&world.wf));
    world.reconcile(at(0));
    assert_eq!(world.phase(), WorkflowPhase::Failed);
    let message = world.step("agent").message.clone().unwrap();
    assert!(message.starts_with("step \"agent\": withNodes matches none of the 1 nodes (selector pool=work, excluded n1;"), "{message}");
    assert!(world.created.is_empty());
}
