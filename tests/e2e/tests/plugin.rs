//! End-to-end tests of `kubectl workflow`: the real kubectl (built with the test control plane)
//! finds the plugin on PATH and runs it against the real API server, with the real controller
//! running the workflows (its Jobs run as host processes on the test kubelet).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{ObjectMeta, PostParams};
use kwf_api::fixtures::WorkflowFixture;
use kwf_api::retries::{Backoff, RetryPolicy};
use kwf_api::{StepPhase, Workflow};
use kwf_e2e::fixtures::{manifest, shell_step, workflow};
use kwf_e2e::plugin::PluginRun as Run;
use kwf_e2e::{Controller, Scene, service_account};

/// A scene with its own controller, and a way to run `kubectl workflow ...` in its namespace.
struct Harness {
    scene: Scene,
    _controller: Controller,
}

impl Deref for Harness {
    type Target = Scene;

    fn deref(&self) -> &Scene {
        &self.scene
    }
}

impl Harness {
    async fn new(prefix: &str) -> Harness {
        let scene = Scene::new(prefix).await;
        let controller = scene.controller().await;
        Harness {
            scene,
            _controller: controller,
        }
    }

    /// `kubectl workflow ARGS -n NS` with the admin kubeconfig from KUBECONFIG.
    async fn plugin(&self, args: &[&str]) -> Run {
        kwf_e2e::plugin::run(&self.scene, args).await
    }

    /// `kubectl workflow ARGS` with the given environment.
    async fn plugin_with(&self, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Run {
        kwf_e2e::plugin::run_with(&self.scene, args, envs).await
    }

    /// Writes a file into the scene's directory; its path, for a command line.
    fn write(&self, file: &str, text: &str) -> String {
        self.scene.write(file, text).display().to_string()
    }

    /// Writes the workflow's YAML manifest into the scene's directory; its path.
    fn write_workflow(&self, file: &str, wf: &Workflow) -> String {
        self.write(file, &manifest(wf))
    }
}

#[tokio::test]
async fn create_watch_exits_zero_when_the_workflow_completes_and_one_when_it_fails() {
    let h = Harness::new("plugin-create").await;
    let good = h.write_workflow(
        "good.yaml",
        &workflow(
            "good",
            60,
            vec![
                shell_step("fetch", &[], "echo fetch"),
                shell_step("build", &["fetch"], "echo build"),
                shell_step("test", &["fetch"], "echo test"),
                shell_step("ship", &["build", "test"], "echo ship"),
            ],
        ),
    );
    let run = h.plugin(&["create", "-f", &good, "--watch"]).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("workflow.kwf.dev/good created"),
        "{run}"
    );
    assert!(run.stdout.contains("Completed"), "{run}");
    assert!(
        run.stdout.contains("ship") && run.stdout.contains("Succeeded"),
        "{run}"
    );

    let run = h.plugin(&["list", "--color=never"]).await;
    run.expect_code(0);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("good "))
        .unwrap_or_default();
    assert!(row.contains("Completed") && row.contains("4/4"), "{run}");
    let run = h.plugin(&["list", "-o", "name"]).await;
    assert_eq!(run.stdout, "workflow.kwf.dev/good\n", "{run}");
    let run = h.plugin(&["describe", "good", "--color=never"]).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("Completed") && run.stdout.contains("build,test"),
        "{run}"
    );

    let bad = h.write_workflow(
        "bad.yaml",
        &workflow(
            "bad",
            60,
            vec![
                shell_step("boom", &[], "echo boom; exit 3"),
                shell_step("after", &["boom"], "true"),
            ],
        ),
    );
    let run = h.plugin(&["create", "-f", &bad, "--watch"]).await;
    run.expect_code(1);
    assert!(
        run.error_line()
            .starts_with("error: workflow \"bad\" failed"),
        "{run}"
    );
    assert!(
        run.stdout.contains("Failed") && run.stdout.contains("Skipped"),
        "{run}"
    );

    // The server dry run validates without creating.
    let dry = h.write_workflow(
        "dry.yaml",
        &workflow("dry", 60, vec![shell_step("a", &[], "true")]),
    );
    let run = h.plugin(&["create", "-f", &dry, "--dry-run=server"]).await;
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("workflow.kwf.dev/dry created (server dry run)"),
        "{run}"
    );
    let dry_exists = h.workflows().get_opt("dry").await.expect("get");
    assert!(dry_exists.is_none(), "a dry run created the workflow");
}

#[tokio::test]
async fn graph_shows_the_live_state_and_follows_it_to_the_end() {
    let h = Harness::new("plugin-graph").await;
    let file = h.write_workflow(
        "live.yaml",
        &workflow(
            "live",
            60,
            vec![
                shell_step("slow", &[], "sleep 4; echo done"),
                shell_step("next", &["slow"], "echo next"),
            ],
        ),
    );
    h.plugin(&["create", "-f", &file]).await.expect_code(0);

    // While `slow` runs, `next` waits: both states show as words on their lines.
    let mut seen = None;
    for _ in 0..100 {
        let run = h.plugin(&["graph", "live", "--color=never"]).await;
        run.expect_code(0);
        let line = |step: &str| {
            run.stdout
                .lines()
                .find(|l| l.contains(step))
                .unwrap_or("")
                .to_string()
        };
        if line("slow").contains("Running") {
            assert!(line("next").contains("Pending"), "{run}");
            seen = Some(run.stdout.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen.is_some(), "never saw step slow Running");

    let run = h
        .plugin(&["graph", "live", "--watch", "--color=never"])
        .await;
    run.expect_code(0);
    assert!(run.stdout.contains("Completed"), "{run}");

    let run = h.plugin(&["graph", "live", "-o", "json"]).await;
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("graph -o json is JSON");
    assert_eq!(doc["phase"], "Completed", "{run}");
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(2), "{run}");
}

#[tokio::test]
async fn restart_failed_reruns_only_what_failed() {
    let h = Harness::new("plugin-restart").await;
    let marker = h.dir.join("marker");
    let flaky = format!(
        "test -f {0} || {{ touch {0}; echo first try fails; exit 1; }}",
        marker.display()
    );
    let file = h.write_workflow(
        "flaky.yaml",
        &workflow(
            "flaky",
            60,
            vec![
                shell_step("first", &[], "echo first"),
                shell_step("flaky", &["first"], &flaky),
                shell_step("last", &["flaky"], "echo last"),
            ],
        ),
    );
    h.plugin(&["create", "-f", &file, "--watch"])
        .await
        .expect_code(1);
    let before = h.workflow("flaky").await;
    let status = before.status.as_ref().expect("status");
    assert_eq!(status.step_phase("flaky"), StepPhase::Failed);
    assert_eq!(status.step_phase("last"), StepPhase::Skipped);
    let first_job = status
        .step("first")
        .and_then(|s| s.job_name.clone())
        .expect("first ran");

    let run = h
        .plugin(&["restart", "flaky", "--failed", "--watch", "--color=never"])
        .await;
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("workflow.kwf.dev/flaky restarted (failed and skipped steps only)"),
        "{run}"
    );

    let after = h.workflow("flaky").await;
    let status = after.status.as_ref().expect("status");
    assert_eq!(status.step_phase("flaky"), StepPhase::Succeeded);
    assert_eq!(status.step_phase("last"), StepPhase::Succeeded);
    // `first` kept its Job: it was not rerun.
    assert_eq!(
        status.step("first").and_then(|s| s.job_name.clone()),
        Some(first_job.clone())
    );
    let jobs = h.jobs_of("flaky").await;
    let first_jobs = jobs
        .iter()
        .filter(|j| j.metadata.name.as_deref() == Some(first_job.as_str()))
        .count();
    assert_eq!(first_jobs, 1);
    assert!(
        !jobs.iter().any(|j| {
            let labels = j.metadata.labels.as_ref();
            labels
                .and_then(|l| l.get("kwf.dev/step"))
                .map(String::as_str)
                == Some("first")
                && j.metadata.name.as_deref() != Some(first_job.as_str())
        }),
        "step first got a second Job"
    );
}

#[tokio::test]
async fn relabel_reaches_the_jobs() {
    let h = Harness::new("plugin-relabel").await;
    let file = h.write_workflow(
        "labels.yaml",
        &workflow(
            "labels",
            60,
            vec![
                shell_step("a", &[], "echo a"),
                shell_step("b", &["a"], "echo b"),
            ],
        )
        .with_label("team", "data")
        .with_label("tier", "silver"),
    );
    h.plugin(&["create", "-f", &file, "--watch"])
        .await
        .expect_code(0);

    let run = h.plugin(&["relabel", "labels", "team=web"]).await;
    run.expect_code(1);
    assert!(
        run.error_line()
            .contains("already has the value \"data\"; pass --overwrite"),
        "{run}"
    );

    let run = h
        .plugin(&[
            "relabel",
            "labels",
            "team=web",
            "owner=ana",
            "tier-",
            "--overwrite",
            "--wait",
        ])
        .await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("workflow.kwf.dev/labels labeled"),
        "{run}"
    );
    let jobs = h.jobs_of("labels").await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        let labels: BTreeMap<String, String> = job.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("team").map(String::as_str),
            Some("web"),
            "{:?}",
            job.metadata.name
        );
        assert_eq!(
            labels.get("owner").map(String::as_str),
            Some("ana"),
            "{:?}",
            job.metadata.name
        );
        assert!(!labels.contains_key("tier"), "{:?}", job.metadata.name);
    }

    let run = h.plugin(&["relabel", "labels", "kwf.dev/workflow=x"]).await;
    run.expect_code(1);
    assert!(run.error_line().contains("managed by kwf"), "{run}");
}

#[tokio::test]
async fn logs_show_each_steps_output_in_dependency_order() {
    let h = Harness::new("plugin-logs").await;
    let file = h.write_workflow(
        "logs.yaml",
        &workflow(
            "logs",
            60,
            vec![
                shell_step("second", &["first"], "echo hello-from-second"),
                shell_step("first", &[], "echo hello-from-first; echo line-two"),
            ],
        ),
    );
    h.plugin(&["create", "-f", &file, "--watch"])
        .await
        .expect_code(0);

    let run = h.plugin(&["logs", "logs", "first", "--color=never"]).await;
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run}");
    assert!(
        lines[0].contains("first") && lines[0].ends_with("hello-from-first"),
        "{run}"
    );
    assert!(lines[1].ends_with("line-two"), "{run}");

    // All steps: `first` before `second` although the spec lists `second` first.
    let run = h.plugin(&["logs", "logs", "--color=never"]).await;
    run.expect_code(0);
    let first = run.stdout.find("hello-from-first").expect("first's output");
    let second = run
        .stdout
        .find("hello-from-second")
        .expect("second's output");
    assert!(first < second, "{run}");

    let run = h
        .plugin(&["logs", "logs", "second", "-f", "--color=never"])
        .await;
    run.expect_code(0);
    assert!(run.stdout.contains("hello-from-second"), "{run}");

    let run = h.plugin(&["logs", "logs", "third"]).await;
    run.expect_code(1);
    assert!(
        run.error_line()
            .contains("has no step \"third\"; its steps are: second, first"),
        "{run}"
    );
}

#[tokio::test]
async fn graph_logs_and_describe_show_instances_and_attempts() {
    let h = Harness::new("plugin-fanout").await;
    let mut build = shell_step("build", &[], "echo building-{{item}}");
    build.with_items = Some(vec!["alpha".into(), "beta".into(), "gamma".into()]);
    // Fails its first attempt (exit 3), succeeds its second: the marker survives between them.
    let marker = std::env::temp_dir().join(format!("{}-flaky", h.ns));
    let _ = std::fs::remove_file(&marker);
    let mut flaky = shell_step(
        "flaky",
        &[],
        &format!(
            "if [ -e {m} ]; then echo second-try; else touch {m}; echo first-try; exit 3; fi",
            m = marker.display()
        ),
    );
    flaky.retries = Some(RetryPolicy {
        limit: 2,
        backoff: Some(Backoff {
            seconds: Some(1),
            ..Backoff::default()
        }),
        ..RetryPolicy::default()
    });
    let file = h.write_workflow("fan.yaml", &workflow("fan", 60, vec![build, flaky]));
    h.plugin(&["create", "-f", &file, "--watch"])
        .await
        .expect_code(0);
    let _ = std::fs::remove_file(&marker);

    let run = h.plugin(&["graph", "fan", "--color=never"]).await;
    run.expect_code(0);
    let line = |step: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!(" {step} ")))
            .unwrap_or_else(|| panic!("no line of {step}: {run}"))
            .to_owned()
    };
    assert!(
        line("build").contains("build ×3") && line("build").contains("3 ✔"),
        "{run}"
    );
    assert!(line("flaky").contains("attempt 2/3"), "{run}");
    assert!(run.stdout.contains("Progress:   2/2"), "{run}");

    // A fan-out asks for an instance; each instance's log is its own item's.
    let run = h.plugin(&["logs", "fan", "build", "--color=never"]).await;
    run.expect_code(1);
    assert!(
        run.error_line()
            .contains("fans out over 3 instances (0 to 2); choose one with --instance N"),
        "{run}"
    );
    let run = h
        .plugin(&["logs", "fan", "build", "--instance", "1", "--color=never"])
        .await;
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "build[1] │ building-beta", "{run}");
    let run = h.plugin(&["logs", "fan", "build", "--instance", "3"]).await;
    run.expect_code(1);
    assert!(run.error_line().contains("there is no instance 3"), "{run}");

    // The latest attempt by default, an earlier one on request, a missing one in one line.
    let run = h.plugin(&["logs", "fan", "flaky", "--color=never"]).await;
    run.expect_code(0);
    assert!(run.stdout.ends_with("second-try\n"), "{run}");
    let run = h
        .plugin(&["logs", "fan", "flaky", "--attempt", "1", "--color=never"])
        .await;
    run.expect_code(0);
    assert!(run.stdout.ends_with("first-try\n"), "{run}");
    let run = h.plugin(&["logs", "fan", "flaky", "--attempt", "3"]).await;
    run.expect_code(1);
    assert!(
        run.error_line()
            .contains("has had 2 attempts, so there is no attempt 3"),
        "{run}"
    );

    // Every step: the instances one by one, in index order.
    let run = h.plugin(&["logs", "fan", "--color=never"]).await;
    run.expect_code(0);
    let at = |text: &str| {
        run.stdout
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {run}"))
    };
    assert!(
        at("building-alpha") < at("building-beta") && at("building-beta") < at("building-gamma")
    );
    assert!(run.stdout.contains("second-try"), "{run}");

    let run = h.plugin(&["describe", "fan", "--color=never"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains("Failed Attempts:"), "{run}");
    let failed = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("flaky ") && l.contains("1/3"))
        .unwrap_or_else(|| panic!("flaky's failed attempt: {run}"));
    assert!(
        failed.contains("fan-flaky-1 ") && failed.contains(" 3 "),
        "{failed}"
    );
    assert!(
        run.stdout.contains("build:  3 in all: 3 succeeded"),
        "{run}"
    );
}

#[tokio::test]
async fn errors_are_one_line_that_says_what_to_do() {
    let h = Harness::new("plugin-errors").await;

    // Not found, with the namespace searched.
    let run = h.plugin(&["graph", "nosuch"]).await;
    run.expect_code(1);
    assert_eq!(
        run.error_line(),
        format!(
            "error: workflow \"nosuch\" not found in namespace \"{0}\"; list them with `kubectl workflow list -n {0}`",
            h.ns
        )
    );

    // Invalid file: every problem with file and step; nothing sent.
    let bad = h.write(
        "invalid.yaml",
        concat!(
            "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata:\n  name: invalid\nspec:\n  containers:\n",
            "    - stepName: a\n      image: busybox\n      dependsOn: [b]\n",
            "    - stepName: b\n      image: busybox\n      dependsOn: [a]\n",
            "    - stepName: c\n      image: busybox\n      dependsOn: [nope]\n",
        ),
    );
    let run = h.plugin(&["create", "-f", &bad]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains("invalid.yaml")
            && run.stderr.contains("\"c\"")
            && run.stderr.contains("nope"),
        "{run}"
    );
    assert!(
        run.stderr.contains("a -> b -> a") || run.stderr.contains("b -> a -> b"),
        "{run}"
    );
    assert!(
        run.stderr
            .trim_end()
            .lines()
            .last()
            .unwrap_or("")
            .contains("nothing was created"),
        "{run}"
    );
    let created = h.workflows().get_opt("invalid").await.expect("get");
    assert!(created.is_none());

    // validate is offline: a kubeconfig that does not exist is never read.
    let missing = h.dir.join("no-such-kubeconfig");
    let run = h
        .plugin_with(
            &["validate", "-f", &bad],
            &[("KUBECONFIG", missing.as_os_str())],
        )
        .await;
    run.expect_code(1);
    assert!(run.stdout.contains("nope"), "{run}");
    assert!(run.error_line().contains("is invalid"), "{run}");
    let good = h.write_workflow(
        "valid.yaml",
        &workflow("valid", 60, vec![shell_step("a", &[], "true")]),
    );
    let run = h
        .plugin_with(
            &["validate", "-f", &good],
            &[("KUBECONFIG", missing.as_os_str())],
        )
        .await;
    run.expect_code(0);

    // Usage errors exit 2.
    h.plugin(&["graph"]).await.expect_code(2);

    // Unreachable: KUBECONFIG lists a file whose current context points at a closed port
    // first, and the admin one second (merged, first wins).
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dead = h.write(
        "dead-kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: https://127.0.0.1:{closed_port}\n\
             users:\n- name: nobody\n  user:\n    token: x\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: nobody\n\
             current-context: dead\n"
        ),
    );
    let merged = std::env::join_paths([Path::new(&dead), h.env.kubeconfig()]).expect("join");
    let run = h
        .plugin_with(
            &["list", "-n", &h.ns],
            &[("KUBECONFIG", merged.as_os_str())],
        )
        .await;
    run.expect_code(1);
    let line = run.error_line();
    assert!(
        line.starts_with(&format!("error: cannot reach the API server at https://127.0.0.1:{closed_port} (context \"dead\")")),
        "{run}"
    );
    // The second file's context is there too: --context picks it.
    let admin_context = "kwf-testenv";
    let run = h
        .plugin_with(
            &["list", "-n", &h.ns, "--context", admin_context],
            &[("KUBECONFIG", merged.as_os_str())],
        )
        .await;
    run.expect_code(0);

    // Forbidden: a ServiceAccount token without any RBAC.
    let kubeconfig = service_account_kubeconfig(&h, "nobody").await;
    let run = h
        .plugin_with(
            &["graph", "x", "-n", &h.ns],
            &[("KUBECONFIG", kubeconfig.as_ref())],
        )
        .await;
    run.expect_code(1);
    assert!(
        run.error_line().starts_with(&format!(
            "error: forbidden: system:serviceaccount:{0}:nobody cannot get workflows.kwf.dev in namespace \"{0}\"",
            h.ns
        )),
        "{run}"
    );
}

/// A kubeconfig that authenticates as a new ServiceAccount `name` with no Role bound; its path.
async fn service_account_kubeconfig(h: &Harness, name: &str) -> String {
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    h.api::<ServiceAccount>()
        .create(&PostParams::default(), &account)
        .await
        .expect("create service account");
    let path = h.dir.join(format!("{name}.kubeconfig"));
    service_account::write_kubeconfig(&h.client, h.env.kubeconfig(), &h.ns, name, &path)
        .await
        .expect("a kubeconfig for the service account");
    path.display().to_string()
}
