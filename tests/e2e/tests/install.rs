//! Shipping end to end: the release archive installed with the real krew and run through the real
//! kubectl; the deployment manifests applied to the real control plane, and the controller run out of
//! cluster as their ServiceAccount, with exactly the permissions they grant; and every command of
//! README.md's "Install in your cluster" section, as written.

mod install_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use install_support::{
    Release, SYSTEM_NAMESPACE, admin_kubeconfig_in, apply_deploy_manifests, can_i,
    documented_commands, krew_dir, kubectl, path_of, release, run_ok, scratch,
    service_account_kubeconfig, start_as_service_account, workspace_dir,
};
use k8s_openapi::api::coordination::v1::Lease;
use kube::ResourceExt;
use kube::api::Api;
use kwf_api::WorkflowPhase;
use kwf_e2e::Scene;
use kwf_testenv::TestEnv;

const RUN: Duration = Duration::from_secs(120);

/// `KREW_ROOT=<root> kubectl krew install --manifest=<manifest> --archive=<archive>` with the real kubectl
/// and krew (the only plugin on PATH).
fn krew_install(env: &TestEnv, root: &Path, args: &[String]) -> String {
    let mut command = kubectl(env);
    command
        .env("KREW_ROOT", root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .env("PATH", path_of(&[krew_dir(), env.bin_dir()]))
        .args(args)
        .current_dir(workspace_dir());
    let output = run_ok(&mut command, &format!("kubectl {}", args.join(" ")));
    String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout)
}

/// kubectl with the plugins krew installed under `root` on PATH (and nothing else).
fn kubectl_with_plugins(env: &TestEnv, root: &Path) -> Command {
    let mut command = kubectl(env);
    command.env("PATH", path_of(&[&root.join("bin"), env.bin_dir()]));
    command
}

fn install_args(release: &Release) -> Vec<String> {
    vec![
        "krew".into(),
        "install".into(),
        format!("--manifest={}", release.manifest.display()),
        format!("--archive={}", release.archive.display()),
    ]
}

#[test]
fn krew_installs_the_release_archive_and_kubectl_runs_the_plugin() {
    let env = TestEnv::shared();
    let release = release();
    let root = scratch("krew-root");
    let said = krew_install(env, &root, &install_args(release));
    assert!(said.contains("Installed plugin: workflow"), "{said}");

    // Installed where krew puts plugins, with its LICENSE.
    let store = root
        .join("store/workflow")
        .join(format!("v{}", release.version));
    assert!(
        store.join("kubectl-workflow").is_file(),
        "{}",
        store.display()
    );
    assert!(store.join("LICENSE").is_file(), "{}", store.display());
    // krew's receipt records the install (`krew list` needs the index, which a --manifest install skips).
    let receipt =
        std::fs::read_to_string(root.join("receipts/workflow.yaml")).expect("krew receipt");
    assert!(
        receipt.contains(&format!("version: v{}", release.version)),
        "{receipt}"
    );

    let version = run_ok(
        kubectl_with_plugins(env, &root).args(["workflow", "version"]),
        "kubectl workflow version",
    );
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("kubectl-workflow {}", release.version)
    );
}

#[test]
fn krew_rejects_an_archive_that_does_not_match_the_manifest() {
    let env = TestEnv::shared();
    let release = release();
    let dir = scratch("krew-tampered");
    // Same name, other bytes: the checksum in the manifest no longer matches.
    let tampered = dir.join(release.archive.file_name().expect("archive name"));
    let mut bytes = std::fs::read(&release.archive).expect("read the archive");
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&tampered, bytes).expect("write the tampered archive");
    let output = kubectl(env)
        .env("KREW_ROOT", dir.join("root"))
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .env("PATH", path_of(&[krew_dir(), env.bin_dir()]))
        .args(["krew", "install"])
        .arg(format!("--manifest={}", release.manifest.display()))
        .arg(format!("--archive={}", tampered.display()))
        .output()
        .expect("run kubectl krew install");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("checksum does not match"), "{said}");
    assert!(!dir.join("root/bin/kubectl-workflow").exists());
}

#[tokio::test]
async fn the_controller_runs_a_workflow_as_its_service_account_with_least_privilege() {
    let env = TestEnv::shared();
    let applied = apply_deploy_manifests(env);
    let applied = String::from_utf8_lossy(&applied.stdout).into_owned();
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/workflows.kwf.dev serverside-applied",
        "customresourcedefinition.apiextensions.k8s.io/jobtemplates.kwf.dev serverside-applied",
        "namespace/kwf-system serverside-applied",
        "serviceaccount/workflow-controller serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/kwf-workflow-controller serverside-applied",
        "deployment.apps/workflow-controller serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/kwf-workflow-edit serverside-applied",
    ] {
        assert!(applied.contains(object), "{object} missing in:\n{applied}");
    }
    wait_for_crd(env).await;

    let scene = Scene::new("install-sa").await;
    let ns = scene.ns.clone();
    let kubeconfig = service_account_kubeconfig(&scene).await;

    // What the controller uses, and nothing next to it.
    let allowed = [
        ("list", "workflows.kwf.dev", ns.as_str()),
        ("watch", "workflows.kwf.dev", &ns),
        ("patch", "workflows.kwf.dev/status", &ns),
        ("create", "jobs.batch", &ns),
        ("delete", "jobs.batch", &ns),
        ("patch", "jobs.batch", &ns),
        ("list", "pods", &ns),
        ("watch", "pods", &ns),
        ("list", "nodes", &ns),
        ("list", "persistentvolumeclaims", &ns),
        ("watch", "persistentvolumeclaims", &ns),
        ("create", "persistentvolumeclaims", &ns),
        ("delete", "persistentvolumeclaims", &ns),
        ("list", "jobtemplates.kwf.dev", &ns),
        ("watch", "jobtemplates.kwf.dev", &ns),
        ("create", "workflows.kwf.dev", &ns),
        ("delete", "workflows.kwf.dev", &ns),
        ("patch", "workflows.kwf.dev", &ns),
        ("get", "workflowtemplates.kwf.dev", &ns),
        ("watch", "workflowtemplates.kwf.dev", &ns),
        ("patch", "workflowtemplates.kwf.dev/status", &ns),
        ("create", "events.events.k8s.io", &ns),
        ("create", "leases.coordination.k8s.io", SYSTEM_NAMESPACE),
        ("patch", "leases.coordination.k8s.io", SYSTEM_NAMESPACE),
        ("get", "leases.coordination.k8s.io", SYSTEM_NAMESPACE),
    ];
    let denied = [
        ("get", "secrets", ns.as_str()),
        ("list", "secrets", SYSTEM_NAMESPACE),
        ("update", "workflows.kwf.dev", &ns),
        ("create", "workflowtemplates.kwf.dev", &ns),
        ("patch", "workflowtemplates.kwf.dev", &ns),
        ("create", "deployments.apps", &ns),
        ("create", "pods", &ns),
        ("delete", "pods", &ns),
        ("create", "leases.coordination.k8s.io", &ns),
        ("create", "configmaps", &ns),
        ("patch", "persistentvolumeclaims", &ns),
        ("create", "jobtemplates.kwf.dev", &ns),
        ("get", "persistentvolumes", &ns),
        ("watch", "nodes", &ns),
        ("patch", "nodes", &ns),
        ("create", "rolebindings.rbac.authorization.k8s.io", &ns),
    ];
    for (verb, resource, namespace) in allowed {
        assert!(
            can_i(env, &kubeconfig, verb, resource, namespace),
            "the ServiceAccount should be able to {verb} {resource} in {namespace}"
        );
    }
    for (verb, resource, namespace) in denied {
        assert!(
            !can_i(env, &kubeconfig, verb, resource, namespace),
            "the ServiceAccount must not be able to {verb} {resource} in {namespace}"
        );
    }

    // A real workflow, created by the admin, run by the controller under the ServiceAccount's token.
    run_ok(
        kubectl(env)
            .arg("--kubeconfig")
            .arg(env.kubeconfig())
            .args(["create", "-n", &ns, "-f", "examples/diamond.yaml"])
            .current_dir(workspace_dir()),
        "kubectl create -f examples/diamond.yaml",
    );
    let controller = start_as_service_account(&scene, &kubeconfig).await;
    let wf = scene
        .wait_phase("diamond", WorkflowPhase::Completed, RUN)
        .await;
    assert_eq!(
        wf.status.as_ref().and_then(|s| s.progress.as_deref()),
        Some("5/5")
    );

    // Its Jobs were created by this replica, which leads on its Lease in kwf-system.
    let elected = controller.command().lease().expect("leader election is on");
    let jobs = scene.jobs_of("diamond").await;
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        assert_eq!(
            job.annotations().get("kwf.dev/created-by"),
            Some(&elected.identity),
            "Job {}",
            job.name_any()
        );
    }
    let leases: Api<Lease> = Api::namespaced(scene.client.clone(), SYSTEM_NAMESPACE);
    let lease = leases.get(&elected.name).await.expect("the Lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        Some(elected.identity.clone())
    );
    // No permission error on the way (events, status, leases).
    let log = controller.log_text();
    assert!(!log.contains("forbidden"), "{log}");
}

#[tokio::test]
async fn install_in_your_cluster_works_as_documented() {
    let env = TestEnv::shared();
    let doc_path = workspace_dir().join("README.md");
    let doc = std::fs::read_to_string(&doc_path).expect("README.md");
    let commands = documented_commands(&doc, "Install in your cluster");
    let [apply, install, create] = commands.as_slice() else {
        panic!(
            "expected the three commands this test runs in {}, found {commands:?}",
            doc_path.display()
        );
    };
    let release = release();

    // 1. The manifests, as the cluster admin.
    assert_eq!(apply, "kubectl apply --server-side -k controller/deploy");
    apply_deploy_manifests(env);
    wait_for_crd(env).await;

    // 2. The plugin: the documented manifest and archive are this run's `cargo xtask dist` output.
    let args = documented_args(install, "kubectl krew install ");
    let archive_name = release
        .archive
        .file_name()
        .and_then(|name| name.to_str())
        .expect("archive name");
    let documented_archive = format!("--archive=dist/{archive_name}");
    assert_eq!(
        args,
        ["--manifest=krew/workflow.yaml", documented_archive.as_str()],
        "the documented krew install must name this version's archive ({archive_name})"
    );
    let root = scratch("doc-krew-root");
    krew_install(env, &root, &install_args(release));

    // 3. The first workflow, in the user's current namespace, through kubectl and the installed plugin;
    // the controller runs as its ServiceAccount (the Deployment's Pods cannot run here).
    let scene = Scene::new("install-doc").await;
    let kubeconfig = service_account_kubeconfig(&scene).await;
    let controller = start_as_service_account(&scene, &kubeconfig).await;
    let user_kubeconfig: PathBuf = admin_kubeconfig_in(env, &scene.ns, &scene.dir);
    let args = documented_args(create, "kubectl ");
    let output = kubectl_with_plugins(env, &root)
        .env("KUBECONFIG", &user_kubeconfig)
        .args(&args)
        .current_dir(workspace_dir())
        .output()
        .expect("run kubectl workflow create");
    assert!(
        output.status.success(),
        "{create} failed ({}):\nstdout:\n{}\nstderr:\n{}\ncontroller log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        controller.log_text()
    );
    let wf = scene.workflow("diamond").await;
    assert_eq!(
        wf.status.and_then(|s| s.phase),
        Some(WorkflowPhase::Completed)
    );
}

/// The arguments after `prefix` of a documented command (the docs use no quoting).
fn documented_args(command: &str, prefix: &str) -> Vec<String> {
    let rest = command
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected `{prefix}...` in README.md, found `{command}`"));
    rest.split_whitespace().map(str::to_owned).collect()
}

async fn wait_for_crd(env: &TestEnv) {
    run_ok(
        kubectl(env)
            .arg("--kubeconfig")
            .arg(env.kubeconfig())
            .args([
                "wait",
                "--for=condition=Established",
                "--timeout=30s",
                "crd/workflows.kwf.dev",
            ]),
        "kubectl wait for the Workflow CRD",
    );
}
