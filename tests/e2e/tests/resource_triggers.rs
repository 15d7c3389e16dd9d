//! Resource triggers (issue 15) against the real control plane, with the real controller: the
//! KubeCI seed's ConfigMap trigger (`my-config`) creates a run on add, update and delete, and none
//! for a label, annotation or status-only change, for the objects there before the template, or
//! for a restart; a change made while the controller was down counts once after it. A trigger on a
//! kind the API server does not serve, and one on a kind the template's service account may not
//! watch (the SubjectAccessReview), each say so in one line in the template's status. Steps run as
//! host processes on the process kubelet. Run as its ServiceAccount with the deployment's RBAC,
//! the controller cannot watch ConfigMaps until the `trigger-read` component is applied.

mod install_support;

use std::collections::BTreeMap;
use std::time::Duration;

use install_support::{
    apply_deploy_manifests, kubectl, run_ok, service_account_kubeconfig, start_as_service_account,
    workspace_dir,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kwf_api::resource_trigger::{
    ANNOTATION_TRIGGER_EVENT, ANNOTATION_TRIGGER_OBJECT, LABEL_TRIGGER_NAME, ResourceTriggerStatus,
};
use kwf_api::workflow_template::{LABEL_TEMPLATE, LABEL_TRIGGER};
use kwf_api::{Workflow, WorkflowPhase, WorkflowTemplate};
use kwf_e2e::Scene;
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(60);

/// Template `watch`: its step echoes `value`; triggers `config` (the seed's: ConfigMap
/// `my-config`, every event, `value` from `data.value`), `web` (Deployment `web`, updates),
/// `secret` (Secrets: the service account may not) and `widget` (a kind nobody serves).
fn template() -> WorkflowTemplate {
    let yaml = r#"apiVersion: kwf.dev/v1alpha1
kind: WorkflowTemplate
metadata:
  name: watch
spec:
  parameters:
    - name: value
      default: none
  workflowSpec:
    containers:
      - stepName: show
        image: busybox
        command: ["sh", "-c", "echo {{params.value}}"]
  resourceTriggers:
    - name: config
      apiVersion: v1
      kind: ConfigMap
      objectName: my-config
      events: [Create, Update, Delete]
      params: {value: /data/value}
    - name: web
      apiVersion: apps/v1
      kind: Deployment
      objectName: web
      events: [Update]
      params: {value: /spec/replicas}
    - name: secret
      apiVersion: v1
      kind: Secret
    - name: widget
      apiVersion: example.com/v1
      kind: Widget
"#;
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("the template parses: {e}"))
}

fn config_map(value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("my-config".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("value".to_owned(), value.to_owned())])),
        ..Default::default()
    }
}

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "busybox"}]}
            }
        }
    }))
    .expect("a Deployment")
}

/// The `default` service account of the namespace may list and watch ConfigMaps and
/// Deployments there (and nothing else).
async fn grant_reads(scene: &Scene) {
    let role = Role {
        metadata: ObjectMeta {
            name: Some("trigger-reader".into()),
            ..Default::default()
        },
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                verbs: vec!["list".into(), "watch".into()],
                ..Default::default()
            },
            PolicyRule {
                api_groups: Some(vec!["apps".into()]),
                resources: Some(vec!["deployments".into()]),
                verbs: vec!["list".into(), "watch".into()],
                ..Default::default()
            },
        ]),
    };
    scene
        .api::<Role>()
        .create(&PostParams::default(), &role)
        .await
        .expect("create the Role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("trigger-reader".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "trigger-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "default".into(),
            namespace: Some(scene.ns.clone()),
            ..Default::default()
        }]),
    };
    scene
        .api::<RoleBinding>()
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the RoleBinding");
}

/// The runs of trigger `name` of template `watch`.
async fn runs_of(scene: &Scene, name: &str) -> Vec<Workflow> {
    let params = ListParams::default().labels(&format!(
        "{LABEL_TEMPLATE}=watch,{LABEL_TRIGGER_NAME}={name}"
    ));
    scene
        .workflows()
        .list(&params)
        .await
        .expect("list the runs")
        .items
}

/// Waits until trigger `name` has `count` runs; panics with the template's status otherwise.
async fn wait_runs(scene: &Scene, name: &str, count: usize) -> Vec<Workflow> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let runs = runs_of(scene, name).await;
        if runs.len() >= count {
            assert_eq!(
                runs.len(),
                count,
                "trigger {name}: more runs than expected: {:?}",
                runs.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
            );
            return runs;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "trigger {name}: {} runs, not {count}, within {WITHIN:?}; template status: {:?}\n{}",
                runs.len(),
                trigger_status(scene).await,
                scene.controller_logs(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn trigger_status(scene: &Scene) -> Vec<ResourceTriggerStatus> {
    scene
        .api::<WorkflowTemplate>()
        .get("watch")
        .await
        .expect("get the template")
        .status
        .map(|s| s.resource_triggers)
        .unwrap_or_default()
}

/// Waits until every trigger of the template has a status entry that `ready` accepts.
async fn wait_status(
    scene: &Scene,
    what: &str,
    ready: impl Fn(&[ResourceTriggerStatus]) -> bool,
) -> Vec<ResourceTriggerStatus> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let status = trigger_status(scene).await;
        if ready(&status) {
            return status;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the template's triggers did not reach {what}: {status:#?}\n{}",
                scene.controller_logs(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn entry<'a>(status: &'a [ResourceTriggerStatus], name: &str) -> &'a ResourceTriggerStatus {
    status
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no status of trigger {name}: {status:#?}"))
}

/// The runs among `runs` for `event`.
fn of_event<'a>(runs: &'a [Workflow], event: &str) -> Vec<&'a Workflow> {
    runs.iter()
        .filter(|r| annotation(r, ANNOTATION_TRIGGER_EVENT) == event)
        .collect()
}

fn annotation<'a>(run: &'a Workflow, key: &str) -> &'a str {
    run.annotations()
        .get(key)
        .map(String::as_str)
        .unwrap_or_default()
}

/// Long enough for the watch to show a write and the controller to act on it: what a test waits
/// before it says "no run came".
const SETTLE: Duration = Duration::from_secs(3);

#[tokio::test]
async fn the_config_map_trigger_runs_on_add_update_and_delete_only() {
    let scene = Scene::new("trig").await;
    grant_reads(&scene).await;
    let config_maps = scene.api::<ConfigMap>();
    // There before the template: the baseline, no run.
    config_maps
        .create(&PostParams::default(), &config_map("v0"))
        .await
        .expect("create my-config");
    let deployments = scene.api::<Deployment>();
    deployments
        .create(&PostParams::default(), &deployment())
        .await
        .expect("create the Deployment");
    let mut controller = scene.controller().await;
    scene
        .api::<WorkflowTemplate>()
        .create(&PostParams::default(), &template())
        .await
        .expect("create the template");

    let status = wait_status(&scene, "their first list or a message", |s| {
        s.len() == 4 && s.iter().all(|t| t.source.is_some() || t.message.is_some())
    })
    .await;
    assert_eq!(
        entry(&status, "widget").message.as_deref(),
        Some(
            "resourceTriggers \"widget\": the API server does not serve kind Widget in apiVersion example.com/v1: fix apiVersion and kind (kubectl api-resources lists what it serves), or install its CRD"
        )
    );
    assert_eq!(
        entry(&status, "secret").message.as_deref(),
        Some(
            format!(
                "resourceTriggers \"secret\": service account {ns}/default may not list, watch secrets in namespace {ns}: grant it (a Role or ClusterRole with verbs list, watch, bound to it) or set workflowSpec.podDefaults.serviceAccountName to an account that may",
                ns = scene.ns
            )
            .as_str()
        )
    );
    let config = entry(&status, "config");
    assert_eq!(config.message, None);
    assert_eq!(config.objects.len(), 1, "my-config is the baseline");
    assert_eq!(config.objects[0].name, "my-config");
    tokio::time::sleep(SETTLE).await;
    assert!(
        runs_of(&scene, "config").await.is_empty(),
        "no run for the baseline"
    );

    // Labels and annotations only: no run.
    config_maps
        .patch(
            "my-config",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"touched": "yes"}, "annotations": {"note": "x"}}}),
            ),
        )
        .await
        .expect("relabel my-config");
    tokio::time::sleep(SETTLE).await;
    assert!(
        runs_of(&scene, "config").await.is_empty(),
        "a metadata-only write makes no run"
    );

    // Update: one run, with the new value.
    config_maps
        .patch(
            "my-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"value": "v1"}})),
        )
        .await
        .expect("update my-config");
    let runs = wait_runs(&scene, "config", 1).await;
    let update = &runs[0];
    assert!(
        update.name_any().starts_with("watch-config-"),
        "{}",
        update.name_any()
    );
    assert_eq!(annotation(update, ANNOTATION_TRIGGER_EVENT), "Update");
    assert_eq!(
        annotation(update, ANNOTATION_TRIGGER_OBJECT),
        format!("v1/ConfigMap {}/my-config", scene.ns)
    );
    assert_eq!(update.labels()[LABEL_TRIGGER], "resource");
    assert_eq!(update.spec.params["value"], "v1");

    // Delete, then add again: one run each.
    config_maps
        .delete("my-config", &DeleteParams::default())
        .await
        .expect("delete my-config");
    let runs = wait_runs(&scene, "config", 2).await;
    let delete = of_event(&runs, "Delete");
    assert_eq!(delete.len(), 1);
    assert_eq!(
        delete[0].spec.params["value"], "v1",
        "the deleted object's last value"
    );
    config_maps
        .create(&PostParams::default(), &config_map("v2"))
        .await
        .expect("create my-config again");
    let runs = wait_runs(&scene, "config", 3).await;
    let create = of_event(&runs, "Create");
    assert_eq!(create.len(), 1);
    assert_eq!(create[0].spec.params["value"], "v2");

    // A kind with a generation: a status-only write makes no run, a spec change one.
    deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            // A condition of its own: valid whatever the Deployment controller wrote.
            &Patch::Merge(json!({"status": {"conditions": [{
                "type": "KwfProbe", "status": "True", "reason": "Test", "message": "a status-only write"
            }]}})),
        )
        .await
        .expect("write the Deployment's status");
    tokio::time::sleep(SETTLE).await;
    assert!(
        runs_of(&scene, "web").await.is_empty(),
        "a status-only write makes no run"
    );
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("scale the Deployment");
    let web = wait_runs(&scene, "web", 1).await;
    assert_eq!(web[0].spec.params["value"], "3", "a number, as JSON text");

    // A restart re-lists everything: no run. A change while it is down: one, after it.
    controller.restart().expect("restart the controller");
    controller
        .wait_ready()
        .await
        .expect("the controller is ready again");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        runs_of(&scene, "config").await.len(),
        3,
        "a re-list makes no run"
    );
    controller.kill();
    config_maps
        .patch(
            "my-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"value": "v3"}})),
        )
        .await
        .expect("update my-config while the controller is down");
    controller.restart().expect("start the controller again");
    let runs = wait_runs(&scene, "config", 4).await;
    let updates = of_event(&runs, "Update");
    assert_eq!(updates.len(), 2);
    assert!(
        updates.iter().any(|r| r.spec.params["value"] == "v3"),
        "the change made while it was down"
    );
    tokio::time::sleep(SETTLE).await;
    assert_eq!(runs_of(&scene, "config").await.len(), 4, "counted once");

    // The runs run.
    for run in runs_of(&scene, "config").await {
        scene
            .wait_phase(&run.name_any(), WorkflowPhase::Completed, WITHIN)
            .await;
    }
}

#[tokio::test]
async fn a_trigger_with_both_a_name_and_a_selector_is_refused_at_admission() {
    let scene = Scene::new("trig-bad").await;
    let mut bad = template();
    bad.spec.resource_triggers.truncate(1);
    bad.spec.resource_triggers[0].selector = Some(Default::default());
    let err = scene
        .api::<WorkflowTemplate>()
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("the API server refuses it");
    let said = err.to_string();
    assert!(
        said.contains("a resource trigger names one object (objectName) or selects by labels (selector), not both: remove one"),
        "{said}"
    );
    assert!(!said.contains('\n'), "{said}");
}

fn cluster_roles(scene: &Scene) -> kube::Api<ClusterRole> {
    kube::Api::all(scene.client.clone())
}

fn cluster_roles_bindings(scene: &Scene) -> kube::Api<ClusterRoleBinding> {
    kube::Api::all(scene.client.clone())
}

/// The ClusterRole and binding of the component controller/deploy/components/trigger-read.
const TRIGGER_READ: &str = "kwf-workflow-controller-trigger-read";

#[tokio::test]
async fn the_deployments_controller_reads_a_kind_only_once_the_component_allows_it() {
    let scene = Scene::new("trig-rbac").await;
    let env = scene.env;
    apply_deploy_manifests(env);
    // A component applied by an earlier run of this test is taken away again.
    let _ = cluster_roles_bindings(&scene)
        .delete(TRIGGER_READ, &DeleteParams::default())
        .await;
    let _ = cluster_roles(&scene)
        .delete(TRIGGER_READ, &DeleteParams::default())
        .await;
    grant_reads(&scene).await;
    let kubeconfig = service_account_kubeconfig(&scene).await;
    let _controller = start_as_service_account(&scene, &kubeconfig).await;
    let mut only_config = template();
    only_config.spec.resource_triggers.truncate(1);
    scene
        .api::<WorkflowTemplate>()
        .create(&PostParams::default(), &only_config)
        .await
        .expect("create the template");

    // The template's account may, the controller may not: the message says where to allow it.
    let status = wait_status(&scene, "a message", |s| {
        s.first().is_some_and(|t| t.message.is_some())
    })
    .await;
    let message = status[0].message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "resourceTriggers \"config\": the controller may not watch configmaps in namespace {}: allow the kind in the trigger-read component (controller/deploy/components/trigger-read)",
            scene.ns
        )),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    run_ok(
        kubectl(env)
            .env("KUBECONFIG", env.kubeconfig())
            .args([
                "apply",
                "--server-side",
                "-k",
                "tests/e2e/overlays/trigger-read",
            ])
            .current_dir(workspace_dir()),
        "kubectl apply --server-side -k tests/e2e/overlays/trigger-read",
    );
    wait_status(&scene, "the first list", |s| {
        s.first()
            .is_some_and(|t| t.message.is_none() && t.source.is_some())
    })
    .await;
    scene
        .api::<ConfigMap>()
        .create(&PostParams::default(), &config_map("v1"))
        .await
        .expect("create my-config");
    let runs = wait_runs(&scene, "config", 1).await;
    assert_eq!(annotation(&runs[0], ANNOTATION_TRIGGER_EVENT), "Create");

    // Leave the plane's RBAC as the deployment's alone.
    for result in [
        cluster_roles_bindings(&scene)
            .delete(TRIGGER_READ, &DeleteParams::default())
            .await
            .map(|_| ()),
        cluster_roles(&scene)
            .delete(TRIGGER_READ, &DeleteParams::default())
            .await
            .map(|_| ()),
    ] {
        result.expect("remove the component's ClusterRole and binding");
    }
}
