//! Pod defaults, shared volumes and Job templates by reference (issue 13), against the real
//! control plane: the JobFlow seed's `globalParams` on every pod, KubeCI's five steps sharing one
//! claim on the real node (step-5 lists what steps 1-4 wrote), a claim that lives as long as the
//! run needs it, a step run from a stored JobTemplate, and bad input refused with one line.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::{Resource, ResourceExt};
use kwf_api::{JobTemplate, LABEL_STEP, LABEL_WORKFLOW, StepPhase, Workflow, WorkflowPhase};
use kwf_e2e::Scene;
use kwf_testenv::TestEnv;
use kwf_testenv::node::{BUSYBOX_IMAGE, REAL_NODE_NAME};

const RUN: Duration = Duration::from_secs(120);

fn parse(yaml: &str) -> Workflow {
    kwf_api::parse_workflows(yaml)
        .expect("a valid manifest")
        .remove(0)
}

/// The pods of the workflow's Jobs, by step.
async fn pods_by_step(scene: &Scene, workflow: &str) -> Vec<(String, Pod)> {
    let pods: Api<Pod> = scene.api();
    let listed = pods
        .list(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={workflow}")))
        .await
        .expect("pods listed");
    let mut by_step: Vec<(String, Pod)> = listed
        .items
        .into_iter()
        .map(|pod| {
            (
                pod.labels().get(LABEL_STEP).cloned().unwrap_or_default(),
                pod,
            )
        })
        .collect();
    by_step.sort_by(|a, b| a.0.cmp(&b.0));
    by_step
}

/// The JobFlow seed's example (`globalParams` with env, labels, annotations and nodeName; five
/// flows of jobTemplates), with kwf's names: every pod carries the env, labels and annotations,
/// and runs on the named node.
const JOBFLOW: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata:
  name: jobflow-example
spec:
  podDefaults:
    nodeName: kwf-node-2
    env:
      - {name: FOO, value: bar}
      - {name: QUE, value: pasa}
    annotations: {key1: value1, key2: value2}
    labels: {key1: value1, key2: value2}
  containers:
    - stepName: job1
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - {name: nginx, image: busybox:1.28, command: [sh, -c, "test \"$FOO$QUE\" = barpasa"]}
    - stepName: job2
      dependsOn: [job1]
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - {name: nginx, image: busybox:1.28, command: [sh, -c, "echo job2"]}
    - stepName: job3
      dependsOn: [job1, job2]
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - {name: nginx, image: busybox:1.28, command: [sh, -c, "echo job3"]}
    - stepName: job4
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - {name: nginx, image: busybox:1.28, command: [sh, -c, "echo job4"]}
    - stepName: job5
      dependsOn: [job4, job2]
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - {name: nginx, image: busybox:1.28, command: [sh, -c, "echo job5"]}
"#;

#[tokio::test]
async fn the_jobflow_global_params_reach_every_pod_on_the_named_node() {
    let scene = Scene::new("pod-defaults").await;
    let _controller = scene.controller().await;
    scene.create(&parse(JOBFLOW)).await;
    scene
        .wait_phase("jobflow-example", WorkflowPhase::Completed, RUN)
        .await;
    let pods = pods_by_step(&scene, "jobflow-example").await;
    let steps: Vec<&str> = pods.iter().map(|(step, _)| step.as_str()).collect();
    assert_eq!(steps, ["job1", "job2", "job3", "job4", "job5"]);
    for (step, pod) in &pods {
        let labels = pod.labels();
        let annotations = pod.annotations();
        for key in ["key1", "key2"] {
            assert!(labels.contains_key(key), "step {step}: label {key}");
            assert!(
                annotations.contains_key(key),
                "step {step}: annotation {key}"
            );
        }
        let spec = pod.spec.as_ref().expect("a pod spec");
        assert_eq!(spec.node_name.as_deref(), Some("kwf-node-2"), "step {step}");
        let env: Vec<(String, Option<String>)> = spec.containers[0]
            .env
            .iter()
            .flatten()
            .map(|var| (var.name.clone(), var.value.clone()))
            .collect();
        assert_eq!(
            env,
            [
                ("FOO".to_owned(), Some("bar".to_owned())),
                ("QUE".to_owned(), Some("pasa".to_owned()))
            ],
            "step {step}"
        );
    }
}

/// KubeCI's example: five steps, one shared volume at /kubeci (a claim of the run), on the real
/// node through `podDefaults` (its selector and toleration). Retained, so it can be looked at.
fn kubeci(policy: &str) -> String {
    let step = |name: &str, deps: &str, script: &str| {
        format!(
            "    - stepName: {name}\n      image: {BUSYBOX_IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, '{script}']\n      dependsOn: [{deps}]\n      volumeMounts: [{{name: kubeci, mountPath: /kubeci}}]\n"
        )
    };
    let mut yaml = format!(
        r#"apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata:
  name: my-workflow
spec:
  volumeClaimPolicy: {policy}
  podDefaults:
    nodeSelector: {{kwf.dev/runtime: containers}}
    tolerations: [{{key: kwf.dev/runtime, operator: Exists, effect: NoSchedule}}]
  volumeClaimTemplates:
    - name: kubeci
      spec:
        accessModes: [ReadWriteOnce]
        resources: {{requests: {{storage: 1Mi}}}}
  containers:
"#
    );
    yaml += &step("step-1", "", "touch /kubeci/file-1");
    yaml += &step("step-2", "step-1", "touch /kubeci/file-2");
    yaml += &step("step-3", "step-1", "touch /kubeci/file-3");
    yaml += &step("step-4", "step-2, step-3", "touch /kubeci/file-4");
    yaml += &step("step-5", "step-1, step-4", "echo step-5; ls /kubeci");
    yaml
}

#[tokio::test]
async fn kubeci_s_five_steps_share_one_claim_and_step_5_lists_what_the_others_wrote() {
    TestEnv::shared().real_node().await;
    let scene = Scene::new("shared-claim").await;
    let _controller = scene.controller().await;
    scene.create(&parse(&kubeci("Retain"))).await;
    let wf = scene
        .wait_phase("my-workflow", WorkflowPhase::Completed, RUN)
        .await;
    let status = wf.status.expect("a status");
    assert_eq!(status.progress.as_deref(), Some("5/5"));
    // Every step that mounts the ReadWriteOnce claim ran where the first one did.
    for step in &status.steps {
        assert_eq!(step.node.as_deref(), Some(REAL_NODE_NAME), "{step:?}");
    }

    let pods: Api<Pod> = scene.api();
    let step5 = pods_by_step(&scene, "my-workflow")
        .await
        .into_iter()
        .find(|(step, _)| step == "step-5")
        .map(|(_, pod)| pod.name_any())
        .expect("step-5 has a pod");
    let log = pods
        .logs(&step5, &LogParams::default())
        .await
        .expect("step-5's log");
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["step-5", "file-1", "file-2", "file-3", "file-4"]
    );

    // Retained: the claim outlives the run, and goes with the Workflow.
    let claims: Api<PersistentVolumeClaim> = scene.api();
    let claim = claims
        .get("my-workflow-kubeci-1")
        .await
        .expect("the run's claim exists after it");
    assert_eq!(
        claim.labels().get("kwf.dev/claim").map(String::as_str),
        Some("kubeci")
    );
    scene
        .workflows()
        .delete("my-workflow", &DeleteParams::foreground())
        .await
        .expect("workflow deleted");
    let deadline = tokio::time::Instant::now() + RUN;
    loop {
        match claims
            .get_opt("my-workflow-kubeci-1")
            .await
            .expect("get claim")
        {
            None => break,
            Some(_) if tokio::time::Instant::now() > deadline => {
                panic!("the claim outlived its Workflow")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test]
async fn a_claim_is_deleted_when_its_run_completes_by_default() {
    TestEnv::shared().real_node().await;
    let scene = Scene::new("claim-gc").await;
    let _controller = scene.controller().await;
    scene.create(&parse(&kubeci("DeleteOnSuccess"))).await;
    scene
        .wait_phase("my-workflow", WorkflowPhase::Completed, RUN)
        .await;
    let claims: Api<PersistentVolumeClaim> = scene.api();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let claim = claims
            .get_opt("my-workflow-kubeci-1")
            .await
            .expect("get claim");
        match claim {
            None => break,
            Some(claim) if claim.metadata.deletion_timestamp.is_some() => break,
            Some(_) if tokio::time::Instant::now() > deadline => {
                panic!("the completed run's claim was not deleted")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

const BUILDER: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: JobTemplate
metadata:
  name: builder
spec:
  metadata:
    labels: {made-by: template}
  spec:
    template:
      spec:
        containers:
          - name: make
            image: busybox:1.28
            command: [sh, -c]
            args: ["exit 3"]
            env: [{name: TARGET, value: default}]
"#;

const USES_BUILDER: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata:
  name: from-template
spec:
  containers:
    - stepName: build
      jobTemplateRef: {name: builder}
      args: ['test "$TARGET" = all']
      env: [{name: TARGET, value: all}]
    - stepName: ship
      dependsOn: [build]
      jobTemplateRef: {name: builder}
      args: ["exit 0"]
"#;

#[tokio::test]
async fn a_step_runs_a_stored_job_template_with_its_own_fields_on_top() {
    let scene = Scene::new("job-template").await;
    let _controller = scene.controller().await;
    let template: JobTemplate = serde_saphyr::from_str(BUILDER).expect("a JobTemplate");
    scene
        .api::<JobTemplate>()
        .create(&PostParams::default(), &template)
        .await
        .expect("JobTemplate created");
    scene.create(&parse(USES_BUILDER)).await;
    scene
        .wait_phase("from-template", WorkflowPhase::Completed, RUN)
        .await;
    let jobs = scene.jobs_of("from-template").await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(
            job.labels().get("made-by").map(String::as_str),
            Some("template")
        );
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.containers[0].name, "make");
    }
}

#[tokio::test]
async fn a_step_naming_a_missing_job_template_fails_with_its_name_and_no_job() {
    let scene = Scene::new("no-template").await;
    let _controller = scene.controller().await;
    scene.create(&parse(USES_BUILDER)).await;
    let wf = scene
        .wait_phase("from-template", WorkflowPhase::Failed, RUN)
        .await;
    let status = wf.status.expect("a status");
    let build = status.step("build").expect("build has a status");
    assert_eq!(build.phase, StepPhase::Failed);
    let message = build.message.clone().unwrap_or_default();
    assert!(
        message.contains("JobTemplate \"builder\"") && message.contains(&scene.ns),
        "{message}"
    );
    assert_eq!(status.step_phase("ship"), StepPhase::Skipped);
    assert!(scene.jobs_of("from-template").await.is_empty());
}

/// The API server's one-line refusal of `yaml`.
async fn refusal(scene: &Scene, yaml: &str) -> String {
    let wf: Workflow = serde_saphyr::from_str(yaml).expect("parses as a Workflow");
    match scene.workflows().create(&PostParams::default(), &wf).await {
        Ok(_) => panic!("the API server admitted:\n{yaml}"),
        Err(kube::Error::Api(status)) => status.message.clone(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn bad_volumes_and_pod_defaults_are_refused_at_admission() {
    let scene = Scene::new("volume-admission").await;
    let head = "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata: {name: bad}\nspec:\n";
    let unknown = refusal(
        &scene,
        &format!("{head}  containers:\n    - {{stepName: a, image: x, volumeMounts: [{{name: ws, mountPath: /w}}]}}\n"),
    )
    .await;
    assert!(
        unknown.contains("every volumeMounts name must be a volume or volumeClaimTemplate"),
        "{unknown}"
    );
    let twice = refusal(
        &scene,
        &format!("{head}  volumes: [{{name: ws, emptyDir: {{}}}}]\n  volumeClaimTemplates: [{{name: ws, spec: {{}}}}]\n  containers:\n    - {{stepName: a, image: x}}\n"),
    )
    .await;
    assert!(
        twice.contains("a volumeClaimTemplates name repeats a volumes name"),
        "{twice}"
    );
    let repeated = refusal(
        &scene,
        &format!("{head}  volumes: [{{name: ws, emptyDir: {{}}}}, {{name: ws, emptyDir: {{}}}}]\n  containers:\n    - {{stepName: a, image: x}}\n"),
    )
    .await;
    assert!(repeated.contains("Duplicate value"), "{repeated}");
    let wrong_type = {
        let wf = serde_json::json!({
            "apiVersion": "kwf.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "bad"},
            "spec": {"podDefaults": {"nodeSelector": ["not", "a", "map"]}, "containers": [{"stepName": "a", "image": "x"}]},
        });
        let request = kube::core::Request::new(Workflow::url_path(&(), Some(&scene.ns)))
            .create(&PostParams::default(), serde_json::to_vec(&wf).unwrap())
            .expect("a request");
        match scene.client.request::<serde_json::Value>(request).await {
            Ok(_) => panic!("a podDefaults.nodeSelector list was admitted"),
            Err(kube::Error::Api(status)) => status.message.clone(),
            Err(other) => panic!("unexpected error: {other}"),
        }
    };
    assert!(
        wrong_type.contains("spec.podDefaults.nodeSelector"),
        "{wrong_type}"
    );
}
