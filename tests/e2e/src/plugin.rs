//! Running the `kubectl workflow` plugin in a test: the real kubectl finds the debug build's
//! `kubectl-workflow` on PATH, in a scene's namespace, with the admin kubeconfig; the result
//! keeps everything a failed assertion needs to explain itself.

use std::process::Output;
use std::time::Duration;

use kwf_testenv::workspace_bin;

use crate::Scene;

/// Longest a single plugin invocation may take (a watch or a wait included).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// `kubectl workflow ARGS -n <scene's namespace>` with the admin kubeconfig.
///
/// # Panics
/// If kubectl cannot be run or does not finish within [`COMMAND_TIMEOUT`].
pub async fn run(scene: &Scene, args: &[&str]) -> PluginRun {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-n", &scene.ns]);
    let kubeconfig = scene.env.kubeconfig();
    run_with(scene, &all, &[("KUBECONFIG", kubeconfig.as_os_str())]).await
}

/// `kubectl workflow ARGS` as given, with these environment variables (kubectl takes no flags
/// before a plugin's name, so the connection comes from KUBECONFIG or flags after it).
///
/// # Panics
/// If kubectl cannot be run or does not finish within [`COMMAND_TIMEOUT`].
pub async fn run_with(
    scene: &Scene,
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
) -> PluginRun {
    let kubectl = scene.env.kubectl().get_program().to_owned();
    let plugin_dir = workspace_bin("kubectl-workflow")
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(plugin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let mut command = tokio::process::Command::new(kubectl);
    command
        .arg("workflow")
        .args(args)
        .env("PATH", path)
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!("kubectl workflow {args:?} did not finish within {COMMAND_TIMEOUT:?}")
        })
        .expect("run kubectl");
    PluginRun::from(args, output)
}

/// The result of one invocation.
pub struct PluginRun {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl PluginRun {
    fn from(args: &[&str], output: Output) -> PluginRun {
        PluginRun {
            what: format!("kubectl workflow {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// # Panics
    /// Unless it exited with `code`, with the whole run.
    pub fn expect_code(&self, code: i32) -> &PluginRun {
        assert_eq!(self.code, Some(code), "{self}");
        self
    }

    /// The error line the plugin prints: exactly one line, starting with `error: `.
    ///
    /// # Panics
    /// If standard error is not one such line.
    pub fn error_line(&self) -> &str {
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("error: ") && !line.contains('\n'),
            "not one error line: {self}"
        );
        assert!(
            !line.contains("panicked") && !line.contains("Error {"),
            "debug output leaked: {self}"
        );
        line
    }
}

impl std::fmt::Display for PluginRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}
