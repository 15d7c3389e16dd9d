//! WorkflowTemplates (issue 15) against the real control plane, with the real controller and
//! plugin: a run that names a template is resolved once with its parameters, and a template
//! edit made while it runs does not change it; `kubectl workflow submit` runs the edited
//! template; a missing template and an undeclared parameter are one clear line; an
//! every-minute schedule creates its run, named from the minute; `list templates`, `describe
//! template/NAME` and `graph template/NAME` show it. Steps run as host processes.

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kwf_api::workflow_template::{
    ANNOTATION_SCHEDULED_TIME, LABEL_TEMPLATE, LABEL_TRIGGER, TRIGGER_SCHEDULE,
};
use kwf_api::{Workflow, WorkflowPhase, WorkflowTemplate, WorkflowTemplateRef};
use kwf_e2e::Scene;
use kwf_e2e::plugin::run;
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(60);

/// Template `greet`: step `wait` holds until `<dir>/gate` exists, then `say` writes the
/// parameter `word` (default `hello`) into `<dir>/said-<run>`.
fn greet(scene: &Scene, schedule: Option<&str>) -> WorkflowTemplate {
    let dir = scene.dir.display();
    let schedule = schedule
        .map(|cron| format!("  schedule:\n    cron: \"{cron}\"\n    params: {{word: cron}}\n"))
        .unwrap_or_default();
    let yaml = format!(
        r#"apiVersion: kwf.dev/v1alpha1
kind: WorkflowTemplate
metadata:
  name: greet
spec:
  parameters:
    - name: word
      default: hello
    - name: run
      description: file suffix
      default: "default"
  workflowMetadata:
    labels: {{greeting: "{{{{params.word}}}}"}}
  workflowSpec:
    maxStepTimeout: -1
    containers:
      - stepName: wait
        image: busybox
        command: ["sh", "-c", "while [ ! -f {dir}/gate ]; do sleep 0.1; done"]
      - stepName: say
        image: busybox
        dependsOn: [wait]
        command: ["sh", "-c", "echo $WORD > {dir}/said-{{{{params.run}}}}"]
        env: [{{name: WORD, value: "{{{{ params.word }}}}"}}]
{schedule}"#
    );
    serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("the template parses: {e}\n{yaml}"))
}

fn run_of(name: &str, template: &str, params: &[(&str, &str)]) -> Workflow {
    let mut wf = Workflow::new(name, Default::default());
    wf.spec.workflow_template_ref = Some(WorkflowTemplateRef {
        name: template.to_owned(),
    });
    wf.spec.params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wf
}

fn said(scene: &Scene, run: &str) -> String {
    std::fs::read_to_string(scene.dir.join(format!("said-{run}")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_template_run_is_resolved_once_and_a_template_edit_does_not_change_it() {
    let scene = Scene::new("tpl-run").await;
    let _controller = scene.controller().await;
    let templates = scene.api::<WorkflowTemplate>();
    templates
        .create(&PostParams::default(), &greet(&scene, None))
        .await
        .expect("create the template");

    // A run by reference, as a user writes it: no steps, a template and parameters.
    scene
        .create(&run_of(
            "r1",
            "greet",
            &[("word", "bonjour"), ("run", "r1")],
        ))
        .await;
    let resolved = scene
        .wait_for("r1", WITHIN, "the wait step running", |wf| {
            wf.status
                .as_ref()
                .is_some_and(|s| s.step_phase("wait") == kwf_api::StepPhase::Running)
        })
        .await;
    assert_eq!(
        resolved.spec.containers.len(),
        2,
        "the template's steps were written into the run"
    );
    assert_eq!(resolved.labels()[LABEL_TEMPLATE], "greet");
    assert_eq!(resolved.labels()["greeting"], "bonjour");
    assert_eq!(
        resolved.spec.params.get("word").map(String::as_str),
        Some("bonjour")
    );

    // Edit the template while r1 runs: say now writes something else.
    let mut edited = templates.get("greet").await.expect("get the template");
    edited.spec.workflow_spec.containers[1].command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!(
            "echo edited-$WORD > {}/said-{{{{params.run}}}}",
            scene.dir.display()
        ),
    ]);
    templates
        .replace("greet", &PostParams::default(), &edited)
        .await
        .expect("edit the template");

    std::fs::write(scene.dir.join("gate"), "").expect("open the gate");
    let done = scene
        .wait_phase("r1", WorkflowPhase::Completed, WITHIN)
        .await;
    assert_eq!(
        said(&scene, "r1"),
        "bonjour",
        "the run kept the spec it started with"
    );
    assert_eq!(done.spec, resolved.spec);

    // submit runs the template as it is now, with a generated name by default.
    let submitted = run(
        &scene,
        &[
            "submit",
            "--from",
            "template/greet",
            "-p",
            "run=r2",
            "--watch",
        ],
    )
    .await;
    submitted.expect_code(0);
    let created = submitted
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("workflow.kwf.dev/")?
                .strip_suffix(" created")
        })
        .unwrap_or_else(|| panic!("no created line: {submitted}"))
        .to_owned();
    assert!(created.starts_with("greet-"), "{created}");
    assert_eq!(said(&scene, "r2"), "edited-hello", "the default of word");
    let r2 = scene.workflow(&created).await;
    assert_eq!(r2.labels()[LABEL_TEMPLATE], "greet");
    assert_eq!(
        r2.metadata.generation,
        Some(1),
        "submit writes the resolved spec at creation"
    );

    // The plugin's views of the template: its line in `list templates`, `describe` with its
    // parameters and both runs, and its DAG.
    let listed = run(&scene, &["list", "templates"]).await;
    listed.expect_code(0);
    let line = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("greet "))
        .unwrap_or_else(|| panic!("no line for greet: {listed}"));
    assert!(line.contains(" 2 "), "two steps: {line}");
    let described = run(&scene, &["describe", "template/greet"]).await;
    described.expect_code(0);
    for expected in [
        "word (default \"hello\")",
        "run (default \"default\"): file suffix",
        "  r1 ",
        &created,
    ] {
        assert!(
            described.stdout.contains(expected),
            "{expected:?} in {described}"
        );
    }
    let graph = run(&scene, &["graph", "template/greet"]).await;
    graph.expect_code(0);
    assert!(
        graph.stdout.contains("wait") && graph.stdout.contains("say"),
        "{graph}"
    );
    let unknown = run(&scene, &["describe", "template/nope"]).await;
    unknown.expect_code(1);
    assert!(
        unknown.error_line().contains("\"nope\" not found"),
        "{unknown}"
    );

    // Bad input: one line each.
    let undeclared = run(
        &scene,
        &["submit", "--from", "template/greet", "-p", "colour=red"],
    )
    .await;
    undeclared.expect_code(1);
    assert_eq!(
        undeclared.error_line(),
        "error: template \"greet\": parameter \"colour\" is not declared (it declares word, run): remove it or declare it in spec.parameters"
    );
    let missing = run(&scene, &["submit", "--from", "template/nope"]).await;
    missing.expect_code(1);
    assert!(
        missing.error_line().contains("\"nope\" not found"),
        "{missing}"
    );
    scene.create(&run_of("r3", "nope", &[])).await;
    let failed = scene.wait_phase("r3", WorkflowPhase::Failed, WITHIN).await;
    assert_eq!(
        failed.status.and_then(|s| s.message).as_deref(),
        Some(format!(
            "workflowTemplateRef: no WorkflowTemplate \"nope\" in namespace \"{}\": create it, then kubectl workflow restart r3",
            scene.ns
        ).as_str())
    );
}

#[tokio::test]
async fn an_every_minute_schedule_creates_one_run_named_from_its_minute() {
    let scene = Scene::new("tpl-cron").await;
    let _controller = scene.controller().await;
    std::fs::write(scene.dir.join("gate"), "").expect("open the gate");
    let templates = scene.api::<WorkflowTemplate>();
    templates
        .create(&PostParams::default(), &greet(&scene, Some("* * * * *")))
        .await
        .expect("create the template");

    let scheduled = ListParams::default().labels(&format!("{LABEL_TRIGGER}={TRIGGER_SCHEDULE}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(75);
    let first = loop {
        let runs = scene
            .workflows()
            .list(&scheduled)
            .await
            .expect("list runs")
            .items;
        if let Some(run) = runs.into_iter().next() {
            break run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no scheduled run within 75 s; controller logs:\n{}",
            scene.controller_logs(40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let at: jiff::Timestamp = first.annotations()[ANNOTATION_SCHEDULED_TIME]
        .parse()
        .expect("an RFC 3339 time");
    assert_eq!(at.as_second() % 60, 0, "on the minute");
    assert_eq!(first.name_any(), format!("greet-{}", at.as_second() / 60));
    assert_eq!(first.labels()[LABEL_TEMPLATE], "greet");
    assert_eq!(first.labels()["greeting"], "cron", "the schedule's params");
    scene
        .wait_phase(&first.name_any(), WorkflowPhase::Completed, WITHIN)
        .await;
    let template = templates.get("greet").await.expect("get the template");
    let status = template.status.expect("a status");
    assert_eq!(status.last_run.as_deref(), Some(first.name_any().as_str()));
    assert_eq!(status.last_schedule_time.map(|t| t.0), Some(at));
    let next = status.next_schedule_time.expect("the next time").0;
    assert!(next > at && next.as_second() % 60 == 0, "{next}");

    // Suspended, it creates nothing more (the run of this minute exists at most once).
    templates
        .patch(
            "greet",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"schedule": {"suspend": true}}})),
        )
        .await
        .expect("suspend");
    let runs = scene
        .workflows()
        .list(&scheduled)
        .await
        .expect("list runs")
        .items;
    let names: Vec<String> = runs.iter().map(|r| r.name_any()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique);
    assert!(names.len() <= 2, "one run per minute at most: {names:?}");

    // An invalid expression or zone: one line in the template's status, and no run.
    let mut bad = greet(&scene, Some("61 * * * *"));
    bad.metadata.name = Some("bad".into());
    if let Some(s) = bad.spec.schedule.as_mut() {
        s.time_zone = Some("Mars/Olympus".into());
    }
    templates
        .create(&PostParams::default(), &bad)
        .await
        .expect("create the bad template");
    let deadline = tokio::time::Instant::now() + WITHIN;
    let message = loop {
        let t = templates.get("bad").await.expect("get the bad template");
        if let Some(message) = t.status.and_then(|s| s.message) {
            break message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no status message on the bad template"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        message.starts_with("schedule.cron: invalid cron expression \"61 * * * *\""),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

/// The API server's message of a rejected create.
fn rejection<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn admission_refuses_a_run_without_steps_or_template_and_a_template_naming_one() {
    let scene = Scene::new("tpl-admit").await;
    let post = PostParams::default();
    let empty = Workflow::new("empty", Default::default());
    let message = rejection(scene.workflows().create(&post, &empty).await);
    assert!(
        message.contains("the workflow has no steps: add at least one entry to spec.containers, or name a template in spec.workflowTemplateRef"),
        "{message}"
    );
    let mut stray = Workflow::new("stray", Default::default());
    stray.spec.containers = vec![kwf_e2e::fixtures::shell_step("a", &[], "true")];
    stray.spec.params = [("x".to_owned(), "1".to_owned())].into();
    let message = rejection(scene.workflows().create(&post, &stray).await);
    assert!(
        message.contains("params are for a workflow run from a template"),
        "{message}"
    );

    let mut nested = greet(&scene, None);
    nested.spec.workflow_spec.workflow_template_ref =
        Some(WorkflowTemplateRef { name: "x".into() });
    let message = rejection(scene.api::<WorkflowTemplate>().create(&post, &nested).await);
    assert!(
        message.contains("a template's workflowSpec cannot name another template"),
        "{message}"
    );
    let mut bad_deadline = greet(&scene, Some("* * * * *"));
    if let Some(s) = bad_deadline.spec.schedule.as_mut() {
        s.starting_deadline_seconds = Some(0);
    }
    let message = rejection(
        scene
            .api::<WorkflowTemplate>()
            .create(&post, &bad_deadline)
            .await,
    );
    assert!(
        message.contains("startingDeadlineSeconds must be a positive number of seconds"),
        "{message}"
    );
}
