//! The chart (`controller/chart`) installed, upgraded and uninstalled with the real helm (built from
//! `helm.sh/helm/v4` by `tests/testenv/helm/build.sh`) into the test plane: the CRDs from its `crds/`, the
//! namespace it labels, the RBAC, and the controller Deployment running on the real node from the image
//! `cargo xtask image` builds, reaching the API server through in-cluster config, running a workflow; then
//! `helm upgrade` with an extra flag rolls the pod and the new controller behaves by that flag; `helm
//! uninstall` removes the release and keeps the namespace and the CRDs.

mod helm_support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use kwf_api::WorkflowPhase;
use kwf_e2e::{Scene, fixtures, manifests, run_ok};
use kwf_testenv::TestEnv;
use kwf_testenv::state::workspace_dir;
use serde_json::{Value, json};

use helm_support::{CHART, in_cluster_values};
use kwf_e2e::in_cluster::{apiserver_port, free_port, image_archive, import_into_node};

/// The release namespace: fixed, so that what an aborted run left is found and removed first.
const RELEASE_NAMESPACE: &str = "kwf-helm";
/// Not the README's `workflow-controller`: the objects' names (`helm-e2e-workflow-controller`, ClusterRole
/// `kwf-helm-e2e-workflow-controller`) must not collide with the kustomize base's, which other tests apply
/// on the same plane.
const RELEASE: &str = "helm-e2e";
const FULLNAME: &str = "helm-e2e-workflow-controller";
const APP_SELECTOR: &str = "app.kubernetes.io/name=workflow-controller";
/// The controller's default Lease name, in the release namespace (`--lease-namespace=$(POD_NAMESPACE)`).
const LEASE: &str = "workflow-controller";
/// The annotation naming the controller replica that created a Job.
const CREATED_BY: &str = "kwf.dev/created-by";
const HELM_TIMEOUT: &str = "4m";
const RUN: Duration = Duration::from_secs(120);
const WITHIN: Duration = Duration::from_secs(120);

/// `helm ARGS` against the plane, from the workspace (the chart's path is relative to it).
fn helm(env: &TestEnv, args: &[&str]) -> Output {
    let what = format!("helm {}", args.join(" "));
    run_ok(env.helm().args(args).current_dir(workspace_dir()), &what)
}

/// `helm status RELEASE -o json`: the release's revision and state.
fn release_status(env: &TestEnv) -> (u64, String) {
    let output = helm(
        env,
        &["status", RELEASE, "-n", RELEASE_NAMESPACE, "-o", "json"],
    );
    let status: Value = serde_json::from_slice(&output.stdout).expect("helm status -o json");
    (
        status["version"].as_u64().unwrap_or_default(),
        status["info"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The values of this plane: the in-cluster values (real node, host network, pull policy Never) plus what
/// only this plane knows, the API server's port and a free metrics port; the controller handles only the
/// scene's namespace (other tests' Workflows are theirs); Recreate, since the new pod of a roll cannot bind
/// the old one's port; and no user roles (cluster-wide names the kustomize base already created here).
fn plane_values(env: &TestEnv, scene_namespace: &str, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(in_cluster_values()).expect("read the in-cluster values");
    let mut values: Value = serde_saphyr::from_str(&text).expect("the in-cluster values are YAML");
    values["metrics"] = json!({"host": "127.0.0.1", "port": free_port()});
    values["strategy"] = json!({"type": "Recreate"});
    values["userRoles"] = json!({"create": false});
    let env_vars = values["extraEnv"]
        .as_array_mut()
        .expect("the in-cluster values set extraEnv");
    env_vars
        .push(json!({"name": "KUBERNETES_SERVICE_PORT", "value": apiserver_port(env).to_string()}));
    env_vars.push(json!({"name": "WORKFLOW_CONTROLLER_NAMESPACE", "value": scene_namespace}));
    let path = dir.join("plane-values.json");
    std::fs::write(&path, values.to_string()).expect("write the values");
    path
}

/// The CRDs in the chart's crds/, by name.
fn chart_crd_names() -> Vec<String> {
    let dir = workspace_dir().join(CHART).join("crds");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .expect("read the chart's crds/")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("read a CRD");
        let objects = manifests::parse(&text).expect("a CRD file is YAML");
        names.extend(objects.keys().map(|key| key.name.clone()));
    }
    names
}

/// Deletes the chart's CRDs (and with them every custom resource), so that `helm install` installs them.
async fn delete_crds(client: &Client, names: &[String]) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names {
        let Some(crd) = crds.get_opt(name).await.expect("get a CRD") else {
            continue;
        };
        crds.delete(name, &DeleteParams::default())
            .await
            .expect("delete a CRD");
        let uid = crd.uid().unwrap_or_default();
        let gone = await_condition(crds.clone(), name, conditions::is_deleted(&uid));
        tokio::time::timeout(Duration::from_secs(60), gone)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} was not deleted within 60 s"))
            .expect("watch the CRD");
    }
}

/// What an earlier, aborted run left: its release, then its namespace.
async fn remove_leftovers(env: &TestEnv, client: &Client) {
    let _ = env
        .helm()
        .args(["uninstall", RELEASE, "-n", RELEASE_NAMESPACE])
        .args(["--ignore-not-found", "--wait", "--timeout", HELM_TIMEOUT])
        .output();
    wait_namespace_gone(client).await;
}

/// Deletes the release namespace and waits until it is gone.
async fn wait_namespace_gone(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(namespace) = namespaces
        .get_opt(RELEASE_NAMESPACE)
        .await
        .expect("get the namespace")
    else {
        return;
    };
    let _ = namespaces
        .delete(RELEASE_NAMESPACE, &DeleteParams::default())
        .await;
    let uid = namespace.uid().unwrap_or_default();
    let gone = await_condition(namespaces, RELEASE_NAMESPACE, conditions::is_deleted(&uid));
    tokio::time::timeout(WITHIN, gone)
        .await
        .unwrap_or_else(|_| {
            panic!("namespace {RELEASE_NAMESPACE} was not deleted within {WITHIN:?}")
        })
        .expect("watch the namespace");
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// The one live controller pod, Ready on `node` (helm --wait has waited for the Deployment already).
async fn the_ready_pod(pods: &Api<Pod>, node: &str) -> Pod {
    let deadline = Instant::now() + WITHIN;
    loop {
        let live: Vec<Pod> = pods
            .list(&ListParams::default().labels(APP_SELECTOR))
            .await
            .expect("list the controller pods")
            .items
            .into_iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .collect();
        if let [pod] = live.as_slice()
            && is_ready(pod)
        {
            let placed = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            assert_eq!(
                placed,
                Some(node),
                "{} runs on the real node",
                pod.name_any()
            );
            return pod.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no single Ready controller pod within {WITHIN:?}: {:?}",
            live.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the Lease names `identity`.
async fn wait_leader(leases: &Api<Lease>, identity: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let holder = leases
            .get_opt(LEASE)
            .await
            .expect("get the Lease")
            .and_then(|lease| lease.spec?.holder_identity);
        if holder.as_deref() == Some(identity) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{identity} did not take the Lease {RELEASE_NAMESPACE}/{LEASE} (holder: {holder:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn args_of(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.containers.first())
        .and_then(|container| container.args.clone())
        .unwrap_or_default()
}

/// Runs a 3-step chain to completion and returns how many of its Events are per-step progress
/// (StepStarted, StepSucceeded), once its WorkflowCompleted Event is there; every Job was created by
/// `identity`, the controller pod.
async fn run_workflow(scene: &Scene, name: &str, identity: &str) -> usize {
    scene
        .create(&fixtures::chain(name, 3, 60, "echo step"))
        .await;
    scene.wait_phase(name, WorkflowPhase::Completed, RUN).await;
    let jobs = scene.jobs_of(name).await;
    assert_eq!(jobs.len(), 3, "one Job per step of {name}");
    for job in &jobs {
        assert_eq!(
            job.annotations().get(CREATED_BY).map(String::as_str),
            Some(identity),
            "Job {} of {name} was created by the controller pod",
            job.name_any()
        );
    }
    // Events are published in the background, WorkflowCompleted last.
    let events: Api<Event> = Api::namespaced(scene.client.clone(), &scene.ns);
    let params = ListParams::default().fields(&format!("regarding.name={name}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = events.list(&params).await.expect("list Events").items;
        let reasons: Vec<&str> = listed.iter().filter_map(|e| e.reason.as_deref()).collect();
        if reasons.contains(&"WorkflowCompleted") {
            return reasons
                .iter()
                .filter(|reason| ["StepStarted", "StepSucceeded"].contains(reason))
                .count();
        }
        assert!(
            Instant::now() < deadline,
            "no WorkflowCompleted Event for {name} within 30 s (saw {reasons:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn helm_installs_upgrades_and_uninstalls_the_controller_which_runs_workflows_in_the_cluster()
{
    let env = TestEnv::shared();
    let node = env.real_node().await;
    import_into_node(env, &image_archive());
    let scene = Scene::new("helm").await;
    remove_leftovers(env, &scene.client).await;
    // helm installs the CRDs of crds/ only where they are missing: remove them to see it install them.
    let crd_names = chart_crd_names();
    delete_crds(&scene.client, &crd_names).await;
    let values = plane_values(env, &scene.ns, &scene.dir);
    let values = values.to_string_lossy();

    // The README's install, with this plane's values.
    let installed_at = Instant::now();
    helm(
        env,
        &[
            "install",
            RELEASE,
            CHART,
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--values",
            &values,
            "--wait",
            "--timeout",
            HELM_TIMEOUT,
        ],
    );
    eprintln!(
        "helm: installed and available {:.1} s after helm install",
        installed_at.elapsed().as_secs_f64()
    );
    assert_eq!(release_status(env), (1, "deployed".to_owned()));

    // The CRDs, from the chart, served.
    let crds: Api<CustomResourceDefinition> = Api::all(scene.client.clone());
    for name in &crd_names {
        let crd = crds.get(name).await.expect("helm installed the CRD");
        let managers: Vec<String> = crd
            .managed_fields()
            .iter()
            .filter_map(|entry| entry.manager.clone())
            .collect();
        assert!(
            managers.iter().any(|manager| manager == "helm"),
            "CRD {name} was written by helm (managers: {managers:?})"
        );
    }
    // The release namespace, made by --create-namespace, labelled and owned by the chart.
    let namespace = Api::<Namespace>::all(scene.client.clone())
        .get(RELEASE_NAMESPACE)
        .await
        .expect("the release namespace");
    let labels = namespace.labels();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("privileged")
    );
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("Helm")
    );
    assert_eq!(
        namespace
            .annotations()
            .get("meta.helm.sh/release-name")
            .map(String::as_str),
        Some(RELEASE)
    );

    // The Deployment available, its one pod on the real node from the image, leading, running a workflow.
    let deployments: Api<Deployment> = Api::namespaced(scene.client.clone(), RELEASE_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), RELEASE_NAMESPACE);
    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), RELEASE_NAMESPACE);
    let deployment = deployments.get(FULLNAME).await.expect("the Deployment");
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True")
        });
    assert!(
        available,
        "helm --wait returned with the Deployment available"
    );
    let first = the_ready_pod(&pods, node).await;
    let spec = first.spec.as_ref().expect("a pod spec");
    assert_eq!(spec.service_account_name.as_deref(), Some(FULLNAME));
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(
            format!(
                "ghcr.io/kwf-dev/workflow-controller:v{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
    wait_leader(&leases, &first.name_any()).await;
    let progress_events = run_workflow(&scene, "before-upgrade", &first.name_any()).await;
    assert_eq!(
        progress_events, 6,
        "StepStarted and StepSucceeded for each of the 3 steps (--step-events defaults to true)"
    );

    // helm upgrade with one more flag: a new pod with it, and the controller behaves by it.
    let upgraded_at = Instant::now();
    helm(
        env,
        &[
            "upgrade",
            RELEASE,
            CHART,
            "--namespace",
            RELEASE_NAMESPACE,
            "--values",
            &values,
            "--set",
            "extraArgs[0]=--step-events=false",
            "--wait",
            "--timeout",
            HELM_TIMEOUT,
        ],
    );
    eprintln!(
        "helm: upgraded and available {:.1} s after helm upgrade",
        upgraded_at.elapsed().as_secs_f64()
    );
    assert_eq!(release_status(env), (2, "deployed".to_owned()));
    let second = the_ready_pod(&pods, node).await;
    assert_ne!(
        second.name_any(),
        first.name_any(),
        "the upgrade rolled the pod"
    );
    assert_eq!(
        args_of(&second).last().map(String::as_str),
        Some("--step-events=false"),
        "the new pod has the extra flag: {:?}",
        args_of(&second)
    );
    wait_leader(&leases, &second.name_any()).await;
    let progress_events = run_workflow(&scene, "after-upgrade", &second.name_any()).await;
    assert_eq!(
        progress_events, 0,
        "with --step-events=false the controller publishes no per-step progress Events"
    );

    // helm uninstall: the release's objects go; the namespace (resource-policy keep) and the CRDs (and so
    // every Workflow) stay.
    helm(
        env,
        &[
            "uninstall",
            RELEASE,
            "--namespace",
            RELEASE_NAMESPACE,
            "--wait",
            "--timeout",
            HELM_TIMEOUT,
        ],
    );
    assert!(
        deployments
            .get_opt(FULLNAME)
            .await
            .expect("get the Deployment")
            .is_none(),
        "helm uninstall removed the Deployment"
    );
    let cluster_roles: Api<ClusterRole> = Api::all(scene.client.clone());
    assert!(
        cluster_roles
            .get_opt(&format!("kwf-{FULLNAME}"))
            .await
            .expect("get the ClusterRole")
            .is_none(),
        "helm uninstall removed the controller's ClusterRole"
    );
    let kept = Api::<Namespace>::all(scene.client.clone())
        .get(RELEASE_NAMESPACE)
        .await
        .expect("helm uninstall keeps the release namespace");
    assert!(kept.metadata.deletion_timestamp.is_none());
    wait_namespace_gone(&scene.client).await;
    for name in &crd_names {
        assert!(
            crds.get_opt(name).await.expect("get a CRD").is_some(),
            "helm uninstall keeps CRD {name}"
        );
    }
    assert_eq!(
        scene
            .workflow("after-upgrade")
            .await
            .status
            .and_then(|s| s.phase),
        Some(WorkflowPhase::Completed),
        "the Workflows outlive the release"
    );
}
