//! Admission of Workflows by the real API server with the generated CRD: what users apply
//! with kubectl is accepted or rejected with a message naming the offending step; what CEL
//! cannot see (a cycle) is caught by `validate()`.

use std::io::Write;
use std::process::{Output, Stdio};

use kube::api::{Patch, PatchParams};
use kwf_api::{ProblemKind, StepPhase, StepStatus, WorkflowStatus, validate};
use kwf_e2e::Scene;

/// The repository's example manifests, applied as users would.
const SEED_EXAMPLE: &str = include_str!("../../../examples/seed-example.yaml");
const DIAMOND: &str = include_str!("../../../examples/diamond.yaml");

/// `kubectl apply -n <ns> -f -` with `yaml` on stdin.
fn kubectl_apply(scene: &Scene, yaml: &str) -> Output {
    kubectl_apply_with(scene, yaml, &[])
}

/// `kubectl apply -n <ns> <extra..> -f -` with `yaml` on stdin.
fn kubectl_apply_with(scene: &Scene, yaml: &str, extra: &[&str]) -> Output {
    let mut child = scene
        .env
        .kubectl()
        .args(["apply", "-n", &scene.ns])
        .args(extra)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .expect("kubectl stdin")
        .write_all(yaml.as_bytes())
        .expect("write the manifest to kubectl");
    child.wait_with_output().expect("wait for kubectl")
}

fn assert_applied(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} was rejected: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Applies `yaml`, expects a rejection, and returns kubectl's error output.
fn rejection(scene: &Scene, yaml: &str) -> String {
    let output = kubectl_apply(scene, yaml);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the API server accepted a manifest it must reject:\n{yaml}"
    );
    println!("{stderr}");
    stderr
}

/// A Workflow manifest named `name` with the given `maxStepTimeout` and steps (YAML lines).
fn manifest(name: &str, max_step_timeout: i64, steps: &[&str]) -> String {
    let steps: String = steps.iter().map(|s| format!("    - {s}\n")).collect();
    format!(
        "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata:\n  name: {name}\n\
         spec:\n  maxStepTimeout: {max_step_timeout}\n  containers:\n{steps}"
    )
}

#[tokio::test]
async fn seed_example_and_diamond_apply_unchanged() {
    let scene = Scene::new("admit-examples").await;
    assert_applied(&kubectl_apply(&scene, SEED_EXAMPLE), "the seed example");
    assert_applied(&kubectl_apply(&scene, DIAMOND), "the five-step diamond");

    let workflows = scene.workflows();
    let diamond = workflows
        .get("diamond")
        .await
        .expect("read the diamond back");
    assert_eq!(diamond.spec.containers.len(), 5);
    validate(&diamond.spec).expect("the diamond is valid");
    let seed = workflows
        .get("seed-example")
        .await
        .expect("read the seed back");
    assert_eq!(seed.spec.max_step_timeout, 60);
    validate(&seed.spec).expect("the seed example is valid");
}

#[tokio::test]
async fn the_seed_shape_with_nulls_and_defaults_applies() {
    let scene = Scene::new("admit-seed-shape").await;
    let yaml = concat!(
        "apiVersion: kwf.dev/v1alpha1\n",
        "kind: Workflow\n",
        "metadata:\n",
        "  name: bare\n",
        "spec:\n",
        "  containers:\n",
        "    - stepName: only\n",
        "      image: busybox\n",
        "      command: null\n",
        "      dependsOn: null\n",
    );
    assert_applied(&kubectl_apply(&scene, yaml), "null command and dependsOn");
    let bare = scene.workflows().get("bare").await.expect("read it back");
    assert_eq!(bare.spec.max_step_timeout, 60, "the default is applied");
    assert_eq!(bare.spec.containers[0].command, None);
    assert!(bare.spec.containers[0].depends_on.is_empty());
}

#[tokio::test]
async fn duplicate_step_names_are_rejected_naming_the_step() {
    let scene = Scene::new("admit-duplicate").await;
    let stderr = rejection(
        &scene,
        &manifest(
            "dup",
            60,
            &[
                "{stepName: fetch, image: busybox}",
                "{stepName: fetch, image: busybox}",
            ],
        ),
    );
    assert!(stderr.contains("Duplicate value"), "{stderr}");
    assert!(stderr.contains(r#"{"stepName":"fetch"}"#), "{stderr}");
}

#[tokio::test]
async fn a_dependency_on_a_missing_step_is_rejected_naming_the_step() {
    let scene = Scene::new("admit-missing").await;
    let stderr = rejection(
        &scene,
        &manifest(
            "missing",
            60,
            &[
                "{stepName: fetch, image: busybox}",
                "{stepName: build, image: busybox, dependsOn: [fetch, compile]}",
            ],
        ),
    );
    assert!(
        stderr.contains(
            r#"step "build": depends on "compile", which is not a step of this workflow: fix the name or remove it from dependsOn"#
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_self_dependency_is_rejected_naming_the_step() {
    let scene = Scene::new("admit-self").await;
    let stderr = rejection(
        &scene,
        &manifest(
            "self",
            60,
            &[
                "{stepName: fetch, image: busybox}",
                "{stepName: build, image: busybox, dependsOn: [fetch, build]}",
            ],
        ),
    );
    assert!(
        stderr.contains(r#"step "build": depends on itself: remove it from its own dependsOn"#),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_invalid_step_name_is_rejected_naming_the_step() {
    let scene = Scene::new("admit-name").await;
    let stderr = rejection(
        &scene,
        &manifest("badname", 60, &["{stepName: Build_Step, image: busybox}"]),
    );
    assert!(stderr.contains("stepName"), "{stderr}");
    assert!(stderr.contains(r#""Build_Step""#), "{stderr}");
    let long = "s".repeat(41);
    let stderr = rejection(
        &scene,
        &manifest(
            "longname",
            60,
            &[&format!("{{stepName: {long}, image: busybox}}")],
        ),
    );
    assert!(
        stderr.contains("stepName") && stderr.contains("40"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_zero_max_step_timeout_is_rejected() {
    let scene = Scene::new("admit-timeout").await;
    let stderr = rejection(
        &scene,
        &manifest("zero", 0, &["{stepName: fetch, image: busybox}"]),
    );
    assert!(
        stderr.contains(
            "spec.maxStepTimeout: Invalid value: 0: maxStepTimeout must be -1 (no limit) or a positive number of seconds"
        ),
        "{stderr}"
    );
    assert_applied(
        &kubectl_apply(
            &scene,
            &manifest("unlimited", -1, &["{stepName: fetch, image: busybox}"]),
        ),
        "maxStepTimeout: -1",
    );
}

#[tokio::test]
async fn retries_and_fan_outs_out_of_range_are_rejected_with_what_to_do() {
    let scene = Scene::new("admit-retries").await;
    let stderr = rejection(
        &scene,
        &manifest(
            "negative",
            60,
            &["{stepName: flaky, image: busybox, retries: {limit: -1}}"],
        ),
    );
    assert!(
        stderr.contains(
            "retries.limit must be between 0 and 20: the number of retries after the first attempt"
        ),
        "{stderr}"
    );
    let stderr = rejection(
        &scene,
        &manifest(
            "empty",
            60,
            &["{stepName: fan, image: busybox, withItems: []}"],
        ),
    );
    assert!(stderr.contains("withItems"), "{stderr}");
    assert!(stderr.contains("should have at least 1 items"), "{stderr}");
    let stderr = rejection(
        &scene,
        &manifest(
            "zero",
            60,
            &["{stepName: fan, image: busybox, withItems: [a], maxParallel: 0}"],
        ),
    );
    assert!(stderr.contains("maxParallel must be 1 or more"), "{stderr}");
    assert_applied(
        &kubectl_apply(
            &scene,
            &manifest(
                "fine",
                60,
                &[
                    "{stepName: fan, image: busybox, withItems: [a, {x: 1}], maxParallel: 2, retries: {limit: 2, backoff: {seconds: 1}}}",
                ],
            ),
        ),
        "a fan-out with retries",
    );
}

#[tokio::test]
async fn a_step_without_image_is_rejected_naming_the_step() {
    let scene = Scene::new("admit-image").await;
    let stderr = rejection(&scene, &manifest("noimage", 60, &["{stepName: fetch}"]));
    assert!(
        stderr
            .contains(r#"step "fetch": no image: set image (or a jobTemplate or jobTemplateRef)"#),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_cycle_is_admitted_but_caught_by_validate_with_its_path() {
    let scene = Scene::new("admit-cycle").await;
    let yaml = manifest(
        "cycle",
        60,
        &[
            "{stepName: a, image: busybox, dependsOn: [c]}",
            "{stepName: b, image: busybox, dependsOn: [a]}",
            "{stepName: c, image: busybox, dependsOn: [b]}",
        ],
    );
    assert_applied(&kubectl_apply(&scene, &yaml), "a cycle (CEL cannot see it)");
    let cycle = scene
        .workflows()
        .get("cycle")
        .await
        .expect("read the cycle back");
    let problems = validate(&cycle.spec).expect_err("validate() finds the cycle");
    let cycles: Vec<String> = problems
        .of_kind(ProblemKind::Cycle)
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        cycles,
        vec![
            r#"step "a": is part of the dependency cycle a -> c -> b -> a ("->" reads "depends on"): remove one of these dependencies"#
        ]
    );
}

/// The largest workflow the CRD admits (2,000 steps with 40-character names, three
/// dependencies each) passes the CEL rules within the API server's runtime cost budget,
/// and stays below the API server's and etcd's limits once every step has succeeded.
#[tokio::test]
async fn a_2000_step_workflow_is_admitted_and_its_finished_status_fits() {
    let scene = Scene::new("admit-large").await;
    // 40-character names, the longest allowed: `step-0007-xxx…x`.
    let name = |i: usize| format!("{:x<40}", format!("step-{i:04}-"));
    let steps: Vec<String> = (0..2000usize)
        .map(|i| {
            let deps: Vec<String> = (i.saturating_sub(3)..i).map(name).collect();
            format!(
                "{{stepName: {}, image: busybox, command: [sh, -c, 'echo {i}'], dependsOn: [{}]}}",
                name(i),
                deps.join(", ")
            )
        })
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let yaml = manifest("large", 600, &steps);
    // Server-side: client-side apply would keep a copy of this 500 KB manifest in an
    // annotation, beyond its 256 KiB limit (true of any manifest that large).
    assert_applied(
        &kubectl_apply_with(&scene, &yaml, &["--server-side"]),
        "a 2,000-step workflow",
    );

    let workflows = scene.workflows();
    let large = workflows.get("large").await.expect("read it back");
    assert_eq!(large.spec.containers.len(), 2000);
    validate(&large.spec).expect("the large workflow is valid");

    let at =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let status = WorkflowStatus {
        progress: Some("2000/2000".into()),
        steps: large
            .spec
            .containers
            .iter()
            .map(|s| StepStatus {
                name: s.step_name.clone(),
                phase: StepPhase::Succeeded,
                job_name: Some(kwf_api::job_name("large", &s.step_name, 1, 0)),
                started_at: Some(at.clone()),
                finished_at: Some(at.clone()),
                exit_code: Some(0),
                ..StepStatus::default()
            })
            .collect(),
        ..WorkflowStatus::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "kwf.dev/v1alpha1",
        "kind": "Workflow",
        "status": status,
    });
    let finished = workflows
        .patch_status(
            "large",
            &PatchParams::apply("kwf-e2e-admission").force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("the finished status of 2,000 steps is stored");
    let stored = serde_json::to_vec(&finished).expect("serializes").len();
    println!("stored 2,000-step workflow with a finished status and managedFields: {stored} bytes");
    // etcd refuses requests over 1.5 MiB; "well under" leaves a quarter MiB for labels,
    // annotations and longer messages.
    assert!(
        stored < 1280 * 1024,
        "{stored} bytes: too close to etcd's 1.5 MiB request limit"
    );
}
