//! Helpers of tests/install.rs: the release archive from `cargo xtask dist`, krew, the deployment
//! manifests, a kubeconfig for the controller's ServiceAccount, and the controller run as that identity.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kube::config::Kubeconfig;
pub use kwf_e2e::run_ok;
use kwf_e2e::{Controller, Lease, Scene, service_account};
pub use kwf_testenv::state::workspace_dir;
use kwf_testenv::{TestEnv, workspace_bin};

/// Namespace and ServiceAccount of the controller in controller/deploy.
pub const SYSTEM_NAMESPACE: &str = "kwf-system";
pub const SERVICE_ACCOUNT: &str = "workflow-controller";

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("install")
        .join(format!("{name}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// What `cargo xtask dist` produced for this host.
pub struct Release {
    pub manifest: PathBuf,
    pub archive: PathBuf,
    /// The version without `v`.
    pub version: String,
}

/// The release archive of the debug kubectl-workflow and its rendered krew manifest, made once per test
/// process by `cargo xtask dist --out <tmp> --manifest <tmp>/workflow.yaml --binary <debug build>`.
pub fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let dir = scratch("dist");
        let manifest = dir.join("workflow.yaml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["xtask", "dist", "--out"])
            .arg(&dir)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--binary")
            .arg(workspace_bin("kubectl-workflow"))
            .current_dir(workspace_dir());
        run_ok(&mut command, "cargo xtask dist");
        let archive = std::fs::read_dir(&dir)
            .expect("dist dir")
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with(".tar.gz"))
            .expect("cargo xtask dist wrote an archive");
        let version = env!("CARGO_PKG_VERSION").to_owned();
        Release {
            manifest,
            archive,
            version,
        }
    })
}

/// The directory holding `kubectl-krew`, built from tests/testenv/krew (cached).
pub fn krew_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = workspace_dir().join("tests/testenv/krew/build.sh");
        let output = run_ok(
            Command::new("bash").arg(&script),
            &format!("bash {}", script.display()),
        );
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        assert!(
            dir.join("kubectl-krew").is_file(),
            "no kubectl-krew in {}",
            dir.display()
        );
        dir
    })
}

/// A PATH of these directories only (kubectl finds plugins on PATH: nothing else may leak in).
pub fn path_of(dirs: &[&Path]) -> OsString {
    std::env::join_paths(dirs).expect("PATH")
}

/// The directory of the real kubectl built with the control plane.
pub fn kubectl_dir(env: &TestEnv) -> &Path {
    env.bin_dir()
}

/// The real kubectl, with no kubeconfig flag (set KUBECONFIG or pass --kubeconfig).
pub fn kubectl(env: &TestEnv) -> Command {
    let mut command = Command::new(env.bin_dir().join("kubectl"));
    command.env_remove("KUBECONFIG");
    command
}

/// `kubectl apply --server-side -k controller/deploy` as the cluster admin.
pub fn apply_deploy_manifests(env: &TestEnv) -> Output {
    let mut command = kubectl(env);
    command
        .env("KUBECONFIG", env.kubeconfig())
        .args(["apply", "--server-side", "-k", "controller/deploy"])
        .current_dir(workspace_dir());
    run_ok(
        &mut command,
        "kubectl apply --server-side -k controller/deploy",
    )
}

/// A kubeconfig in the scene's directory that authenticates as kwf-system/workflow-controller.
pub async fn service_account_kubeconfig(scene: &Scene) -> PathBuf {
    let path = scene.dir.join("service-account.kubeconfig");
    service_account::write_kubeconfig(
        &scene.client,
        scene.env.kubeconfig(),
        SYSTEM_NAMESPACE,
        SERVICE_ACCOUNT,
        &path,
    )
    .await
    .expect("a kubeconfig for kwf-system/workflow-controller");
    path
}

/// Writes a copy of the admin kubeconfig whose current context uses `namespace`.
pub fn admin_kubeconfig_in(env: &TestEnv, namespace: &str, dir: &Path) -> PathBuf {
    let mut admin = Kubeconfig::read_from(env.kubeconfig()).expect("admin kubeconfig");
    let current = admin.current_context.clone();
    for named in &mut admin.contexts {
        if Some(&named.name) == current.as_ref()
            && let Some(context) = named.context.as_mut()
        {
            context.namespace = Some(namespace.to_owned());
        }
    }
    let path = dir.join("admin.kubeconfig");
    let text = serde_json::to_string(&admin).expect("serialize the kubeconfig");
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

/// `kubectl auth can-i VERB RESOURCE [--subresource S] -n NAMESPACE` with a kubeconfig: the answer.
pub fn can_i(
    env: &TestEnv,
    kubeconfig: &Path,
    verb: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub)),
        None => (resource, None),
    };
    let mut command = kubectl(env);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["auth", "can-i", verb, resource, "-n", namespace]);
    if let Some(sub) = subresource {
        command.args(["--subresource", sub]);
    }
    let output = command.output().expect("run kubectl auth can-i");
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match (output.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "kubectl auth can-i {verb} {resource} answered {answer:?} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The controller out of cluster as the ServiceAccount of `kubeconfig`, on the scene's namespace,
/// with leader election on a Lease in kwf-system; ready when this returns.
pub async fn start_as_service_account(scene: &Scene, kubeconfig: &Path) -> Controller {
    let command = scene
        .controller_command("service-account")
        .kubeconfig(kubeconfig)
        // A Lease of its own: a controller killed by an earlier run holds the default one until it expires.
        .leader_election(Lease {
            name: format!("workflow-controller-{}", scene.ns),
            namespace: SYSTEM_NAMESPACE.to_owned(),
            identity: format!("install-test-{}", scene.ns),
        });
    scene.start(command).await
}

/// The shell commands of a Markdown section (`## title` up to the next `## `), from its ```sh blocks.
pub fn documented_commands(markdown: &str, title: &str) -> Vec<String> {
    let heading = format!("## {title}");
    let mut in_section = false;
    let mut in_block = false;
    let mut commands = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("## ") {
            in_section = line.trim() == heading;
            continue;
        }
        if !in_section {
            continue;
        }
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        let command = line.trim();
        if in_block && !command.is_empty() && !command.starts_with('#') {
            commands.push(command.to_owned());
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_from_the_sh_blocks_of_the_section_only() {
        let doc = "## Other\n```sh\nkubectl nope\n```\n## Install\ntext\n```sh\n# a comment\nkubectl a\n\nkubectl b\n```\n\
                   ```yaml\nkind: X\n```\n### Sub\n```sh\nkubectl c\n```\n## Next\n```sh\nkubectl d\n```\n";
        assert_eq!(
            documented_commands(doc, "Install"),
            ["kubectl a", "kubectl b", "kubectl c"]
        );
    }
}
