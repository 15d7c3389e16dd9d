//! Relabel cascade: labels added, changed and removed on the Workflow follow on its Jobs;
//! labels others put on a Job stay.

use std::collections::BTreeMap;

use super::*;

fn labeled(labels: &[(&str, &str)]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn label_patches(decision: &Decision) -> Vec<(String, BTreeMap<String, Option<String>>, String)> {
    decision
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Relabel {
                target,
                labels,
                inherited,
            } => Some((target.name.clone(), labels.clone(), inherited.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn new_jobs_carry_the_workflows_labels() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.metadata.labels = Some(labeled(&[("team", "data"), ("tier", "gold")]));
    let mut world = World::new(wf);
    let decision = world.reconcile(at(0));
    assert!(label_patches(&decision).is_empty());
    let job = world.job("a");
    assert_eq!(job.labels.get("team").map(String::as_str), Some("data"));
    assert_eq!(job.inherited_labels.len(), 2);
}

#[test]
fn relabeling_the_workflow_adds_changes_and_removes_job_labels_but_not_foreign_ones() {
    let mut wf = workflow(vec![step("a", &[]), step("b", &[])]);
    wf.metadata.labels = Some(labeled(&[("team", "data"), ("old", "x")]));
    let mut world = World::new(wf);
    world.reconcile(at(0));
    for job in &mut world.jobs {
        job.labels.insert("foreign".to_owned(), "kept".to_owned());
    }

    world.wf.metadata.labels = Some(labeled(&[("team", "ml"), ("new", "y")]));
    let decision = world.reconcile(at(1));

    let expected: BTreeMap<String, Option<String>> = [
        ("new".to_owned(), Some("y".to_owned())),
        ("old".to_owned(), None),
        ("team".to_owned(), Some("ml".to_owned())),
    ]
    .into();
    assert_eq!(
        label_patches(&decision),
        [
            ("wf-a-1".to_owned(), expected.clone(), "new,team".to_owned()),
            ("wf-b-1".to_owned(), expected, "new,team".to_owned()),
        ]
    );
    for job in &world.jobs {
        assert_eq!(job.labels.get("team").map(String::as_str), Some("ml"));
        assert_eq!(job.labels.get("new").map(String::as_str), Some("y"));
        assert!(!job.labels.contains_key("old"));
        assert_eq!(job.labels.get("foreign").map(String::as_str), Some("kept"));
        assert_eq!(job.labels.get("kwf.dev/step"), Some(&job.step));
    }
    assert!(
        decision
            .effects
            .iter()
            .all(|e| !matches!(e, Effect::WriteStatus(_)))
    );
}

#[test]
fn removing_every_workflow_label_clears_the_record() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.metadata.labels = Some(labeled(&[("team", "data")]));
    let mut world = World::new(wf);
    world.reconcile(at(0));
    world.wf.metadata.labels = None;
    let decision = world.reconcile(at(1));
    let patches = label_patches(&decision);
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].1, [("team".to_owned(), None)].into());
    assert_eq!(patches[0].2, "");
    assert!(!world.job("a").labels.contains_key("team"));
}

#[test]
fn finished_jobs_follow_relabels_too() {
    let mut world = World::new(workflow(vec![step("a", &[]), step("b", &["a"])]));
    world.reconcile(at(0));
    world.succeed("a", at(1));
    world.reconcile(at(1));
    world.wf.metadata.labels = Some(labeled(&[("team", "data")]));
    let decision = world.reconcile(at(2));
    let names: Vec<String> = label_patches(&decision).into_iter().map(|p| p.0).collect();
    assert_eq!(names, ["wf-a-1", "wf-b-1"]);
}

#[test]
fn the_controllers_own_labels_are_never_taken_from_the_workflow() {
    let mut wf = workflow(vec![step("a", &[])]);
    wf.metadata.labels = Some(labeled(&[("kwf.dev/step", "evil"), ("team", "x")]));
    let mut world = World::new(wf);
    world.reconcile(at(0));
    let job = world.job("a");
    assert_eq!(
        job.labels.get("kwf.dev/step").map(String::as_str),
        Some("a")
    );
    assert_eq!(job.inherited_labels.iter().collect::<Vec<_>>(), ["team"]);
}

#[test]
fn jobs_being_deleted_are_not_relabeled() {
    let mut world = World::new(workflow(vec![step("a", &[])]));
    world.reconcile(at(0));
    world.jobs[0].deleting = true;
    world.wf.metadata.labels = Some(labeled(&[("team", "x")]));
    let decision = decide_jobs(&world.wf, &world.jobs, at(1));
    assert!(label_patches(&decision).is_empty());
}
