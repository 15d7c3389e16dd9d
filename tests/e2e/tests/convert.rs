//! `kubectl workflow convert` and `create -f` of the four seed systems' documents (issue 19),
//! against the real control plane with the real controller and plugin: the kopf example, the
//! JobFlow (five flows) and the DaemonJob are created from their own files and run to
//! completion; oaat's type and group become a template whose item group runs both items, one at
//! a time; KubeCI's Workflow becomes a template with its ConfigMap trigger, admitted by the API
//! server, and run: a ConfigMap created after its trigger listed runs the five steps on the real
//! node, sharing the run's claim (its `alpine` image swapped for the busybox built here). The
//! other steps run as host processes on the process kubelet.
//!
//! What the test plane lacks is changed in the documents before they are created, and said
//! where it is: a node named `minikube` (JobFlow's `nodeName`), minutes of `sleep`, oaat's random
//! exit. Bad
//! input: an unknown kind, a field of the wrong type and a lossy conversion are one line each,
//! and nothing is created.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use kwf_api::item_group::ANNOTATION_ITEM;
use kwf_api::workflow_template::LABEL_TEMPLATE;
use kwf_api::{JobTemplate, LABEL_WORKFLOW, WorkflowPhase, WorkflowTemplate};
use kwf_e2e::Scene;
use kwf_e2e::plugin::run;
use kwf_testenv::TestEnv;
use kwf_testenv::node::BUSYBOX_IMAGE;

const WITHIN: Duration = Duration::from_secs(120);

const KOPF: &str = include_str!("../../../examples/convert/kopf-workflow.yaml");
const KUBECI: &str = include_str!("../../../examples/convert/kubeci-workflow.yaml");
const JOBFLOW: &str = include_str!("../../../examples/convert/jobflow.yaml");
const DAEMONJOB: &str = include_str!("../../../examples/convert/daemonjob.yaml");
const OAAT_TYPE: &str = include_str!("../../../examples/convert/oaat-type.yaml");
const OAAT_GROUP: &str = include_str!("../../../examples/convert/oaat-group.yaml");

/// `text` with `from` replaced, which must be there (so a changed example fails loudly).
fn changed(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the example");
    text.replace(from, to)
}

/// The stderr lines that say what was converted.
fn converted_notes(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("note: ") && l.contains(": converted "))
        .collect()
}

async fn pods_of(scene: &Scene, workflow: &str) -> Vec<Pod> {
    scene
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={workflow}")))
        .await
        .expect("list pods")
        .items
}

#[tokio::test]
async fn the_kopf_example_is_created_from_its_own_file_and_completes() {
    let scene = Scene::new("conv-kopf").await;
    let _controller = scene.controller().await;
    let file = scene.write("kopf.yaml", KOPF);
    let file = file.to_str().expect("utf-8 path");

    let converted = run(&scene, &["convert", "-f", file]).await;
    converted.expect_code(0);
    assert!(
        converted
            .stdout
            .starts_with("apiVersion: kwf.dev/v1alpha1\nkind: Workflow\n"),
        "{converted}"
    );
    assert_eq!(converted_notes(&converted.stderr).len(), 1, "{converted}");
    let validated = run(&scene, &["validate", "-f", file]).await;
    validated.expect_code(0);

    let created = run(&scene, &["create", "-f", file, "--watch"]).await;
    created.expect_code(0);
    assert_eq!(
        converted_notes(&created.stderr),
        [format!(
            "note: {file}: converted WorkFlow kopf-example (workflow.crd.com/v1) to Workflow kopf-example"
        )],
        "once per document: {created}"
    );
    let wf = scene
        .wait_phase("kopf-example", WorkflowPhase::Completed, WITHIN)
        .await;
    assert_eq!(wf.labels()["team"], "data");
    assert_eq!(wf.annotations()["owner"], "data-eng");
    assert_eq!(wf.spec.max_step_timeout, -1);
    assert_eq!(wf.status.and_then(|s| s.progress).as_deref(), Some("3/3"));
}

#[tokio::test]
async fn the_jobflow_and_the_daemonjob_run_to_completion() {
    let scene = Scene::new("conv-jobflow").await;
    let _controller = scene.controller().await;
    // The test plane has no node `minikube`; and two minutes of sleep prove nothing more.
    let jobflow = changed(JOBFLOW, "nodeName: minikube", "nodeName: kwf-node");
    let jobflow = changed(&jobflow, "sleep 100s", "sleep 1");
    let jobflow = changed(&jobflow, "sleep 10s", "sleep 1");
    let daemonjob = changed(DAEMONJOB, "sleep 100s", "sleep 1");
    let file = scene.write("jobflow.yaml", &format!("{jobflow}---\n{daemonjob}"));
    let file = file.to_str().expect("utf-8 path");

    let created = run(&scene, &["create", "-f", file, "--watch"]).await;
    created.expect_code(0);
    assert_eq!(converted_notes(&created.stderr).len(), 2, "{created}");

    let wf = scene
        .wait_phase("jobflow-example", WorkflowPhase::Completed, WITHIN)
        .await;
    let status = wf.status.clone().expect("a status");
    assert_eq!(status.progress.as_deref(), Some("5/5"));
    // job5 waited for job2 and job4; job3 for job1 and job2.
    let started = |step: &str| {
        status
            .step(step)
            .and_then(|s| s.started_at.clone())
            .expect("started")
            .0
    };
    let finished = |step: &str| {
        status
            .step(step)
            .and_then(|s| s.finished_at.clone())
            .expect("finished")
            .0
    };
    assert!(started("job5") >= finished("job2") && started("job5") >= finished("job4"));
    assert!(started("job3") >= finished("job2") && started("job2") >= finished("job1"));
    // globalParams reached every pod: node, env, labels, annotations.
    let pods = pods_of(&scene, "jobflow-example").await;
    assert_eq!(pods.len(), 5);
    for pod in &pods {
        let spec = pod.spec.as_ref().expect("a pod spec");
        assert_eq!(spec.node_name.as_deref(), Some("kwf-node"));
        let env: Vec<(&str, Option<&str>)> = spec.containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert!(env.contains(&("FOO", Some("bar"))) && env.contains(&("QUE", Some("pasa"))));
        assert_eq!(pod.labels()["key1"], "value1");
        assert_eq!(pod.annotations()["key2"], "value2");
    }

    // The DaemonJob: one pod on each node it may run on, node1 and node2 excluded (no such
    // nodes here) and the tainted ones left out, as for any pod without tolerations.
    let daemon = scene
        .wait_phase("daemonjob-example", WorkflowPhase::Completed, WITHIN)
        .await;
    let nodes = kube::Api::<Node>::all(scene.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list nodes")
        .items;
    let mut untainted: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_none_or(|t| t.iter().all(|t| t.effect == "PreferNoSchedule"))
        })
        .map(|n| n.name_any())
        .collect();
    untainted.sort();
    let instances = daemon
        .status
        .as_ref()
        .and_then(|s| s.step("job"))
        .and_then(|s| s.instances.clone())
        .expect("the fan-out's instances");
    assert_eq!(instances.nodes, untainted);
    let mut ran_on: Vec<String> = pods_of(&scene, "daemonjob-example")
        .await
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    ran_on.sort();
    assert_eq!(ran_on, untainted);
}

#[tokio::test]
async fn oaat_s_type_and_group_become_an_item_group_whose_items_run_one_at_a_time() {
    let scene = Scene::new("conv-oaat").await;
    let _controller = scene.controller().await;
    // The seed's item sleeps up to 3 minutes and fails half the time, at random: here it
    // writes what it was given instead.
    let out = scene.dir.join("items");
    let oaat_type = changed(
        OAAT_TYPE,
        "          sleep $(shuf -i 10-180 -n 1)\n          exit $(shuf -i 0-1 -n 1)\n",
        &format!(
            "          echo \"%%oaat_item%% $OAAT_ITEM\" >> {}\n",
            out.display()
        ),
    );
    let file = scene.write("oaat.yaml", &format!("{oaat_type}---\n{OAAT_GROUP}"));
    let file = file.to_str().expect("utf-8 path");

    let created = run(&scene, &["create", "-f", file]).await;
    created.expect_code(0);
    assert!(
        created
            .stdout
            .contains("workflowtemplate.kwf.dev/testsimple-oaat created"),
        "{created}"
    );
    assert_eq!(
        converted_notes(&created.stderr).len(),
        1,
        "the group's: {created}"
    );

    // Both items run by themselves (every 5 minutes), one at a time.
    let of_group = ListParams::default().labels(&format!("{LABEL_TEMPLATE}=testsimple-oaat"));
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut most_active = 0;
    let runs = loop {
        let runs = scene
            .workflows()
            .list(&of_group)
            .await
            .expect("list runs")
            .items;
        let done = |r: &&kwf_api::Workflow| {
            matches!(
                r.status.as_ref().and_then(|s| s.phase),
                Some(WorkflowPhase::Completed | WorkflowPhase::Failed)
            )
        };
        most_active = most_active.max(runs.iter().filter(|r| !done(r)).count());
        if runs.len() == 2 && runs.iter().all(|r| done(&r)) {
            break runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two items did not run within {WITHIN:?}: {:?}\n{}",
            runs.iter()
                .map(|r| (r.name_any(), r.status.clone()))
                .collect::<Vec<_>>(),
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Polling can miss a run that is over in less than a poll; the runs' own times cannot:
    // the run that finished first had finished when the other was created (times are whole
    // seconds, so two short runs can share a creation second: order them by finish time).
    assert!(
        most_active <= 1,
        "one at a time, but {most_active} were active at once"
    );
    let finished_at = |r: &kwf_api::Workflow| {
        r.status
            .as_ref()
            .and_then(|s| s.finished_at.as_ref())
            .map(|t| t.0)
            .unwrap_or_else(|| panic!("{} has no finish time", r.name_any()))
    };
    let mut by_finish: Vec<&kwf_api::Workflow> = runs.iter().collect();
    by_finish.sort_by_key(|r| finished_at(r));
    let first_finished = finished_at(by_finish[0]);
    let second_created = by_finish[1]
        .metadata
        .creation_timestamp
        .as_ref()
        .expect("a creation time")
        .0;
    assert!(
        second_created.as_second() >= first_finished.as_second(),
        "{} was created at {second_created}, before {} finished at {first_finished}",
        by_finish[1].name_any(),
        by_finish[0].name_any()
    );
    let mut items: Vec<String> = runs
        .iter()
        .map(|r| {
            assert_eq!(
                r.status.as_ref().and_then(|s| s.phase),
                Some(WorkflowPhase::Completed),
                "{}",
                r.name_any()
            );
            r.annotations()[ANNOTATION_ITEM].clone()
        })
        .collect();
    items.sort();
    assert_eq!(items, ["item1", "item2"]);
    let mut written: Vec<String> = std::fs::read_to_string(&out)
        .expect("the items ran")
        .lines()
        .map(str::to_owned)
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["item1 item1", "item2 item2"],
        "%%oaat_item%% and OAAT_ITEM"
    );
}

#[tokio::test]
async fn kubeci_s_workflow_becomes_a_template_with_its_configmap_trigger() {
    let scene = Scene::new("conv-kubeci").await;
    // The example names namespace `default`, for the object and the trigger; this test has its own.
    let kubeci = changed(KUBECI, "  namespace: default\nspec:", "spec:");
    let kubeci = changed(&kubeci, "    namespace: default\n", "");
    let file = scene.write("kubeci.yaml", &kubeci);
    let file = file.to_str().expect("utf-8 path");

    let validated = run(&scene, &["validate", "-f", file]).await;
    validated.expect_code(0);
    let dry = run(&scene, &["create", "-f", file, "--dry-run=server"]).await;
    dry.expect_code(0);
    let created = run(&scene, &["create", "-f", file]).await;
    created.expect_code(0);
    assert!(
        created
            .stdout
            .contains("workflowtemplate.kwf.dev/my-workflow created"),
        "{created}"
    );
    let template = scene
        .api::<WorkflowTemplate>()
        .get("my-workflow")
        .await
        .expect("the template was created");
    let spec = &template.spec.workflow_spec;
    assert_eq!(spec.containers.len(), 5);
    assert_eq!(spec.volume_claim_templates[0].name, "kubeci");
    assert!(
        spec.containers
            .iter()
            .all(|s| s.volume_mounts[0].mount_path == "/kubeci")
    );
    let [trigger] = template.spec.resource_triggers.as_slice() else {
        panic!("one trigger: {:?}", template.spec.resource_triggers)
    };
    assert_eq!(
        (trigger.kind.as_str(), trigger.object_name.as_deref()),
        ("ConfigMap", Some("my-config"))
    );
    assert_eq!(trigger.events.as_ref().map(Vec::len), Some(3));
}

/// Lets the namespace's `default` service account list and watch ConfigMaps: what a KubeCI
/// template's trigger needs (the controller checks it with a SubjectAccessReview).
async fn grant_config_map_reads(scene: &Scene) {
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "config-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}],
    }))
    .expect("a Role");
    scene
        .api::<Role>()
        .create(&PostParams::default(), &role)
        .await
        .expect("create the Role");
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "config-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "config-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": scene.ns}],
    }))
    .expect("a RoleBinding");
    scene
        .api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the RoleBinding");
}

#[tokio::test]
async fn kubeci_s_converted_template_runs_its_five_steps_on_the_real_node_when_its_config_map_appears()
 {
    TestEnv::shared().real_node().await;
    let scene = Scene::new("conv-kubeci-run").await;
    grant_config_map_reads(&scene).await;
    let _controller = scene.controller().await;
    let kubeci = changed(KUBECI, "  namespace: default\nspec:", "spec:");
    let kubeci = changed(&kubeci, "    namespace: default\n", "");
    let file = scene.write("kubeci.yaml", &kubeci);
    let converted = run(
        &scene,
        &["convert", "-f", file.to_str().expect("utf-8 path")],
    )
    .await;
    converted.expect_code(0);
    let mut template: WorkflowTemplate = serde_saphyr::from_str(&converted.stdout)
        .unwrap_or_else(|e| panic!("convert prints a WorkflowTemplate: {e}\n{converted}"));
    // What the test plane lacks: the `alpine` image (busybox is built here) and a node chosen
    // for containers (the real node, by its label and taint).
    let spec = &mut template.spec.workflow_spec;
    for step in &mut spec.containers {
        assert_eq!(step.image.as_deref(), Some("alpine"));
        step.image = Some(BUSYBOX_IMAGE.to_owned());
        step.image_pull_policy = Some("Never".to_owned());
    }
    spec.pod_defaults = Some(
        serde_json::from_value(serde_json::json!({
            "nodeSelector": {"kwf.dev/runtime": "containers"},
            "tolerations": [{"key": "kwf.dev/runtime", "operator": "Exists", "effect": "NoSchedule"}],
        }))
        .expect("pod defaults"),
    );
    let templates = scene.api::<WorkflowTemplate>();
    templates
        .create(&PostParams::default(), &template)
        .await
        .expect("create the converted template");

    // The trigger's first list is its baseline; the ConfigMap made after it is a Create.
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let status = templates
            .get("my-workflow")
            .await
            .expect("get the template")
            .status;
        let triggers = status.map(|s| s.resource_triggers).unwrap_or_default();
        if let Some(message) = triggers.iter().find_map(|t| t.message.clone()) {
            panic!("the trigger does not watch: {message}");
        }
        if triggers.first().is_some_and(|t| t.source.is_some()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trigger never listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "my-config"}, "data": {"key": "value"},
    }))
    .expect("a ConfigMap");
    scene
        .api::<ConfigMap>()
        .create(&PostParams::default(), &config_map)
        .await
        .expect("create my-config");

    let runs = ListParams::default().labels(&format!("{LABEL_TEMPLATE}=my-workflow"));
    let deadline = tokio::time::Instant::now() + WITHIN;
    let run_name = loop {
        let found = scene
            .workflows()
            .list(&runs)
            .await
            .expect("list runs")
            .items;
        if let Some(run) = found.first() {
            break run.name_any();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run after my-config was created; controller logs:\n{}",
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let done = scene
        .wait_phase(&run_name, WorkflowPhase::Completed, WITHIN)
        .await;
    assert_eq!(done.status.and_then(|s| s.progress).as_deref(), Some("5/5"));
    let logs = run(&scene, &["logs", &run_name, "step-5"]).await;
    logs.expect_code(0);
    let lines: Vec<&str> = logs
        .stdout
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap_or(l))
        .collect();
    for file in ["file-1", "file-2", "file-3", "file-4"] {
        assert!(lines.contains(&file), "step-5 lists {file}: {logs}");
    }
}

#[tokio::test]
async fn unknown_kinds_wrong_types_and_lossy_fields_are_one_line_and_create_nothing() {
    let scene = Scene::new("conv-errors").await;
    let kopf = scene.write("kopf.yaml", KOPF);
    let kopf = kopf.to_str().expect("utf-8 path");

    // An unknown kind next to a good document: nothing at all is created.
    let unknown = scene.write(
        "unknown.yaml",
        &format!("{KOPF}---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w}}\n"),
    );
    let result = run(&scene, &["create", "-f", unknown.to_str().unwrap()]).await;
    result.expect_code(1);
    let line = result.error_line();
    assert!(
        line.contains(
            "(document 2): is example.com/v1 Widget, which kwf neither runs nor converts"
        ) && line.ends_with("; nothing was created"),
        "{result}"
    );

    // A field of the wrong type, named by its path.
    let wrong = scene.write(
        "wrong.yaml",
        &changed(
            JOBFLOW,
            "      dependencies:\n        - job1  #",
            "      dependencies: job1\n        #",
        ),
    );
    for command in ["create", "convert", "validate"] {
        let result = run(&scene, &[command, "-f", wrong.to_str().unwrap()]).await;
        result.expect_code(1);
        let line = result.error_line();
        assert!(
            line.contains(
                "JobFlow jobflow-example (api.practice.com/v1alpha1): spec.flows[1].dependencies: invalid type: string \"job1\", expected a sequence"
            ),
            "{result}"
        );
        assert!(result.stdout.is_empty(), "{result}");
    }

    // A lossy field: one line naming the document, the field and what to do.
    let lossy = scene.write(
        "lossy.yaml",
        &changed(
            KOPF,
            "      dependsOn: [\"first\"]\n",
            "      dependsOn: [\"first\"]\n      retryCount: 3\n",
        ),
    );
    let result = run(&scene, &["create", "-f", lossy.to_str().unwrap()]).await;
    result.expect_code(1);
    let line = result.error_line();
    assert!(
        line.contains("WorkFlow kopf-example (workflow.crd.com/v1): spec.containers[1].retryCount: not a field kwf knows"),
        "{result}"
    );
    let converted = run(&scene, &["convert", "-f", lossy.to_str().unwrap()]).await;
    converted.expect_code(1);
    assert!(converted.stdout.is_empty(), "{converted}");

    let left = scene
        .workflows()
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(
        left.items.is_empty(),
        "nothing was created: {:?}",
        left.items
    );
    let templates = scene
        .api::<JobTemplate>()
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(templates.items.is_empty());
    // The good file alone still converts.
    run(&scene, &["convert", "-f", kopf]).await.expect_code(0);
}
