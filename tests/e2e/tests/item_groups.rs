//! Item groups and run history of WorkflowTemplates (issue 15) against the real control plane,
//! with the real controller: three items run one at a time in oaat's order, the failing one
//! again only after its cool-off (read from the runs' creation times), the per-item status kept
//! while the history limits delete the oldest runs, and a TTL deleting a finished run. Steps run
//! as host processes.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kwf_api::item_group::{ANNOTATION_ITEM, ItemStatus, TRIGGER_ITEM_GROUP};
use kwf_api::workflow_template::{LABEL_TEMPLATE, LABEL_TRIGGER};
use kwf_api::{Workflow, WorkflowPhase, WorkflowTemplate};
use kwf_e2e::Scene;
use serde_json::json;

const COOL_OFF_SECS: i64 = 12;

/// A template whose one step fails for the item `bad`.
fn group_template(name: &str, items: &[&str], extra: &str) -> WorkflowTemplate {
    let items = items.join(", ");
    let yaml = format!(
        r#"apiVersion: kwf.dev/v1alpha1
kind: WorkflowTemplate
metadata:
  name: {name}
spec:
  parameters:
    - name: item
  workflowSpec:
    maxStepTimeout: -1
    containers:
      - stepName: check
        image: busybox
        command: ["sh", "-c", 'test "$ITEM" != bad']
        env: [{{name: ITEM, value: "{{{{params.item}}}}"}}]
  itemGroup:
    items: [{items}]
    frequency: 1h
    failureCoolOff: {COOL_OFF_SECS}s
{extra}"#
    );
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("the template parses: {e}\n{yaml}"))
}

/// What the test saw of one run, in the order runs appeared.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    item: String,
    created: Timestamp,
}

fn item<'a>(status: &'a [ItemStatus], name: &str) -> &'a ItemStatus {
    status
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no status of item {name}: {status:#?}"))
}

#[tokio::test]
async fn an_item_group_runs_one_at_a_time_in_oaat_order_and_history_limits_delete_the_oldest() {
    let scene = Scene::new("items").await;
    let _controller = scene.controller().await;
    let templates = scene.api::<WorkflowTemplate>();
    let limits = "  successfulRunsHistoryLimit: 1\n  failedRunsHistoryLimit: 1\n";
    templates
        .create(
            &PostParams::default(),
            &group_template("oaat", &["a", "bad", "c"], limits),
        )
        .await
        .expect("create the template");

    let of_group = ListParams::default().labels(&format!(
        "{LABEL_TEMPLATE}=oaat,{LABEL_TRIGGER}={TRIGGER_ITEM_GROUP}"
    ));
    // Poll the runs until the second run of `bad` failed, noting each run as it appears and
    // the template's status while `bad` cools off.
    let mut seen: Vec<Seen> = Vec::new();
    let mut cooling_next: Option<(Timestamp, Option<Timestamp>)> = None;
    let mut max_active = 0;
    let mut finished: std::collections::BTreeMap<String, Timestamp> = Default::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let final_status = loop {
        let runs: Vec<Workflow> = scene
            .workflows()
            .list(&of_group)
            .await
            .expect("list runs")
            .items;
        let active = runs
            .iter()
            .filter(|r| {
                !matches!(
                    r.status.as_ref().and_then(|s| s.phase),
                    Some(WorkflowPhase::Completed | WorkflowPhase::Failed)
                )
            })
            .count();
        max_active = max_active.max(active);
        for run in &runs {
            if let Some(at) = run.status.as_ref().and_then(|s| s.finished_at.as_ref()) {
                finished.entry(run.name_any()).or_insert(at.0);
            }
        }
        let mut fresh: Vec<Seen> = runs
            .iter()
            .filter(|r| !seen.iter().any(|s| s.name == r.name_any()))
            .map(|r| Seen {
                name: r.name_any(),
                item: r
                    .annotations()
                    .get(ANNOTATION_ITEM)
                    .cloned()
                    .unwrap_or_default(),
                created: r.creation_timestamp().expect("a creation time").0,
            })
            .collect();
        fresh.sort_by_key(|s| s.created);
        seen.extend(fresh);
        let status = templates
            .get("oaat")
            .await
            .expect("get the template")
            .status
            .unwrap_or_default();
        if let Some(bad) = status.items.iter().find(|s| s.name == "bad")
            && bad.failures_since_success == 1
            && bad.current_run.is_none()
            && cooling_next.is_none()
        {
            let failed = bad.last_failure.as_ref().expect("a failure time").0;
            cooling_next = Some((failed, status.next_schedule_time.as_ref().map(|t| t.0)));
        }
        if status
            .items
            .iter()
            .any(|s| s.name == "bad" && s.failures_since_success >= 2 && s.current_run.is_none())
        {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bad did not fail twice within 120 s; seen {seen:#?}; status {status:#?}; controller logs:\n{}",
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Stop the group, so no third run of bad races the checks below.
    templates
        .patch(
            "oaat",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"itemGroup": {"suspend": true}}})),
        )
        .await
        .expect("suspend the group");

    // The order: never-run items in list order, then the failed one once it cooled off.
    let order: Vec<&str> = seen.iter().map(|s| s.item.as_str()).collect();
    assert_eq!(order, ["a", "bad", "c", "bad"], "{seen:#?}");
    // One at a time: a poll can miss a run shorter than its period, the runs' times cannot;
    // each run was created once the one before it had finished (times are whole seconds).
    assert!(max_active <= 1, "{max_active} runs were active at once");
    for pair in seen.windows(2) {
        assert!(pair[0].created <= pair[1].created, "{seen:#?}");
        let before = finished
            .get(&pair[0].name)
            .unwrap_or_else(|| panic!("never saw {} finished: {finished:#?}", pair[0].name));
        assert!(
            pair[1].created.as_second() >= before.as_second(),
            "{} was created at {}, before {} finished at {before}",
            pair[1].name,
            pair[1].created,
            pair[0].name
        );
    }
    let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
    let hash = kwf_api::item_group::item_hash("bad");
    assert_eq!(names[1], format!("oaat-{hash}-1"));
    assert_eq!(
        names[3],
        format!("oaat-{hash}-2"),
        "named from the item and its count"
    );

    // The cool-off, from the creation times: the second run of bad is created no sooner than
    // its first failure plus the cool-off, though nothing else was left to run.
    let (first_failure, next_while_cooling) = cooling_next.expect("saw bad cooling off");
    let cooled = first_failure
        .checked_add(SignedDuration::from_secs(COOL_OFF_SECS))
        .unwrap();
    assert!(
        seen[3].created >= cooled,
        "bad ran again at {} before its cool-off ended at {cooled}",
        seen[3].created
    );
    assert!(
        seen[3].created.duration_since(cooled).as_secs() <= 10,
        "bad ran again long after its cool-off: {} vs {cooled}",
        seen[3].created
    );
    assert_eq!(
        next_while_cooling,
        Some(cooled),
        "the next scheduled time is the end of bad's cool-off"
    );

    // The per-item status.
    let items = &final_status.items;
    let names_in_status: Vec<&str> = items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names_in_status, ["a", "bad", "c"]);
    for ok in ["a", "c"] {
        let st = item(items, ok);
        assert!(
            st.last_success.is_some() && st.last_failure.is_none(),
            "{st:?}"
        );
        assert_eq!((st.failures_since_success, st.runs), (0, 1), "{st:?}");
    }
    let bad = item(items, "bad");
    assert!(bad.last_success.is_none(), "{bad:?}");
    assert_eq!((bad.failures_since_success, bad.runs), (2, 2));
    assert!(bad.last_failure.as_ref().unwrap().0 >= seen[3].created);

    // The history limits (one success, one failure kept) deleted the oldest of each: a's run
    // and bad's first; the status still knows a succeeded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (left, status) = loop {
        let mut left: Vec<String> = scene
            .workflows()
            .list(&ListParams::default().labels(&format!("{LABEL_TEMPLATE}=oaat")))
            .await
            .expect("list runs")
            .items
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .map(|r| r.name_any())
            .collect();
        left.sort();
        let status = templates
            .get("oaat")
            .await
            .expect("get the template")
            .status
            .unwrap_or_default();
        if left.len() == 2 && status.recent_runs.len() == 2 {
            break (left, status);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the history limits did not delete down to 2 runs: {left:?}, recent {:?}; logs:\n{}",
            status.recent_runs,
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut expected = vec![seen[2].name.clone(), seen[3].name.clone()];
    expected.sort();
    assert_eq!(left, expected, "c's run and bad's second are kept");
    assert_eq!(
        status.recent_runs,
        [seen[3].name.clone(), seen[2].name.clone()],
        "newest first"
    );
    assert!(
        item(&status.items, "a").last_success.is_some(),
        "the status outlives the deleted run"
    );
    assert_eq!(item(&status.items, "bad").failures_since_success, 2);
    assert_eq!(status.next_schedule_time, None, "suspended: nothing due");
}

#[tokio::test]
async fn a_finished_run_is_deleted_after_its_ttl_and_the_item_status_stays() {
    let scene = Scene::new("items-ttl").await;
    let _controller = scene.controller().await;
    let templates = scene.api::<WorkflowTemplate>();
    templates
        .create(
            &PostParams::default(),
            &group_template("ttl", &["x"], "  ttlSecondsAfterFinished: 3\n"),
        )
        .await
        .expect("create the template");

    let of_template = ListParams::default().labels(&format!("{LABEL_TEMPLATE}=ttl"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut finished: BTreeMap<String, Timestamp> = BTreeMap::new();
    let gone_at = loop {
        let runs = scene
            .workflows()
            .list(&of_template)
            .await
            .expect("list runs")
            .items;
        for r in &runs {
            if let Some(at) = r.status.as_ref().and_then(|s| s.finished_at.as_ref()) {
                finished.insert(r.name_any(), at.0);
            }
        }
        let live = runs
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .count();
        if !finished.is_empty() && live == 0 {
            break Timestamp::now();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run was not deleted after its TTL: {runs:#?}; logs:\n{}",
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(finished.len(), 1, "{finished:?}");
    let at = *finished.values().next().unwrap();
    assert!(
        gone_at.duration_since(at).as_secs_f64() >= 2.0,
        "deleted {}s after it finished, before its 3 s TTL",
        gone_at.duration_since(at).as_secs_f64()
    );
    let status = templates
        .get("ttl")
        .await
        .expect("get the template")
        .status
        .unwrap_or_default();
    let x = item(&status.items, "x");
    assert_eq!(x.last_success.as_ref().map(|t| t.0), Some(at));
    assert_eq!(x.runs, 1);
    assert!(
        status.next_schedule_time.as_ref().is_some_and(|t| t.0 > at),
        "{status:?}"
    );
}

/// The API server's message of a rejected create.
fn rejection<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn admission_refuses_an_undeclared_item_parameter_duplicate_items_and_bad_limits() {
    let scene = Scene::new("items-admit").await;
    let templates = scene.api::<WorkflowTemplate>();
    let post = PostParams::default();

    let mut undeclared = group_template("undeclared", &["a"], "");
    undeclared.spec.parameters.clear();
    let message = rejection(templates.create(&post, &undeclared).await);
    assert!(
        message
            .contains("itemGroup.parameter names no declared parameter: add it to spec.parameters"),
        "{message}"
    );
    let message = rejection(
        templates
            .create(&post, &group_template("twice", &["a", "a"], ""))
            .await,
    );
    assert!(message.contains("Duplicate value"), "{message}");
    let mut none = group_template("none", &["a"], "  ttlSecondsAfterFinished: -1\n");
    if let Some(g) = none.spec.item_group.as_mut() {
        g.concurrency = 0;
    }
    let message = rejection(templates.create(&post, &none).await);
    assert!(message.contains("concurrency"), "{message}");
    assert!(message.contains("ttlSecondsAfterFinished"), "{message}");
    let message = rejection(
        templates
            .create(
                &post,
                &group_template("many", &["a"], "  failedRunsHistoryLimit: 1001\n"),
            )
            .await,
    );
    assert!(message.contains("failedRunsHistoryLimit"), "{message}");
    templates
        .create(&post, &group_template("fine", &["a", "b"], ""))
        .await
        .expect("a valid item group is admitted");
}
