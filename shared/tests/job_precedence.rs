//! build_job(): the precedence table of `kwf_api::job`, field by field, and the shared volumes.

use k8s_openapi::api::batch::v1::{Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use kwf_api::job::{JobInputs, build_job};
use kwf_api::volumes::build_claim;
use kwf_api::{LABEL_STEP, LABEL_WORKFLOW, Workflow};

fn workflow(yaml: &str) -> Workflow {
    let mut wf: Workflow = serde_saphyr::from_str(yaml).expect("a Workflow");
    wf.metadata.generation = Some(1);
    wf.metadata.uid = Some("uid-1".to_owned());
    wf
}

/// The JobFlow seed's globalParams on two steps: a plain one and one with its own jobTemplate.
const DEFAULTS: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: flow, namespace: data}
spec:
  podDefaults:
    nodeName: node-a
    env:
      - {name: FOO, value: bar}
      - {name: QUE, value: pasa}
    labels: {key1: value1, kwf.dev/step: not-ours-to-set}
    annotations: {key1: value1}
    nodeSelector: {disk: ssd, zone: a}
    tolerations:
      - {key: dedicated, operator: Exists}
    serviceAccountName: runner
    imagePullSecrets: [{name: regcred}]
    securityContext: {runAsNonRoot: true}
    priorityClassName: batch-low
  containers:
    - stepName: plain
      image: busybox:1
      env: [{name: FOO, value: mine}]
    - stepName: templated
      serviceAccountName: own-sa
      jobTemplate:
        spec:
          template:
            metadata:
              labels: {key1: template}
            spec:
              nodeSelector: {zone: b}
              tolerations:
                - {key: dedicated, operator: Exists}
                - {key: gpu, operator: Exists}
              imagePullSecrets: [{name: other}]
              priorityClassName: batch-high
              containers:
                - {name: main, image: busybox:1}
                - {name: side, image: busybox:1, env: [{name: QUE, value: side}]}
"#;

fn job_of(wf: &Workflow, step: &str, inputs: JobInputs<'_>) -> Job {
    let step = wf
        .spec
        .containers
        .iter()
        .find(|s| s.step_name == step)
        .expect("the step");
    build_job(wf, step, 1, 0, inputs)
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec")
}

fn env(container: &Container) -> Vec<(String, String)> {
    container
        .env
        .iter()
        .flatten()
        .map(|var| (var.name.clone(), var.value.clone().unwrap_or_default()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn pod_defaults_reach_a_plain_step_and_its_own_env_wins() {
    let wf = workflow(DEFAULTS);
    let job = job_of(&wf, "plain", JobInputs::default());
    let pod = pod(&job);
    assert_eq!(pod.node_name.as_deref(), Some("node-a"));
    assert_eq!(
        env(&pod.containers[0]),
        pairs(&[("FOO", "mine"), ("QUE", "pasa")])
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("runner"));
    assert_eq!(pod.priority_class_name.as_deref(), Some("batch-low"));
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true)
    );
    let selector = pod.node_selector.as_ref().expect("a node selector");
    assert_eq!(selector.get("zone").map(String::as_str), Some("a"));
    let meta = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap();
    let labels = meta.labels.as_ref().unwrap();
    assert_eq!(labels.get("key1").map(String::as_str), Some("value1"));
    // The controller's own labels always win.
    assert_eq!(labels.get(LABEL_STEP).map(String::as_str), Some("plain"));
    assert_eq!(labels.get(LABEL_WORKFLOW).map(String::as_str), Some("flow"));
    assert_eq!(
        meta.annotations
            .as_ref()
            .unwrap()
            .get("key1")
            .map(String::as_str),
        Some("value1")
    );
}

#[test]
fn a_template_s_own_values_win_over_the_defaults_and_lists_merge() {
    let wf = workflow(DEFAULTS);
    let job = job_of(&wf, "templated", JobInputs::default());
    let pod = pod(&job);
    // Every container gets the default env, under its own.
    assert_eq!(
        env(&pod.containers[0]),
        pairs(&[("FOO", "bar"), ("QUE", "pasa")])
    );
    assert_eq!(
        env(&pod.containers[1]),
        pairs(&[("QUE", "side"), ("FOO", "bar")])
    );
    // The step's field beats the template's and the default.
    assert_eq!(pod.service_account_name.as_deref(), Some("own-sa"));
    assert_eq!(pod.priority_class_name.as_deref(), Some("batch-high"));
    let selector = pod.node_selector.as_ref().unwrap();
    assert_eq!(selector.get("zone").map(String::as_str), Some("b"));
    assert_eq!(selector.get("disk").map(String::as_str), Some("ssd"));
    let tolerations: Vec<&str> = pod
        .tolerations
        .iter()
        .flatten()
        .filter_map(|t| t.key.as_deref())
        .collect();
    assert_eq!(
        tolerations,
        ["dedicated", "gpu"],
        "no repeat of an equal toleration"
    );
    let secrets: Vec<&str> = pod
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(secrets, ["other", "regcred"]);
    let labels = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(labels.get("key1").map(String::as_str), Some("template"));
}

#[test]
fn a_workflow_without_defaults_builds_the_job_it_always_did() {
    let wf = workflow(
        "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata: {name: plain}\nspec:\n  containers:\n    - {stepName: a, image: busybox:1}\n",
    );
    let pod = pod(&job_of(&wf, "a", JobInputs::default())).clone();
    assert_eq!(
        pod,
        PodSpec {
            containers: vec![Container {
                name: "a".to_owned(),
                image: Some("busybox:1".to_owned()),
                ..Container::default()
            }],
            restart_policy: Some("Never".to_owned()),
            ..PodSpec::default()
        }
    );
}

/// KubeCI's shared workspace: one claim for the run, and a ConfigMap volume.
const SHARED: &str = r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: ci, namespace: dev}
spec:
  volumes:
    - name: scripts
      configMap: {name: ci-scripts}
  volumeClaimTemplates:
    - name: workspace
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Mi}}
  containers:
    - stepName: write
      image: busybox:1
      volumeMounts: [{name: workspace, mountPath: /kubeci}]
    - stepName: both
      image: busybox:1
      dependsOn: [write]
      volumeMounts:
        - {name: workspace, mountPath: /kubeci}
        - {name: scripts, mountPath: /scripts, readOnly: true}
    - stepName: none
      image: busybox:1
"#;

#[test]
fn a_step_gets_the_volumes_it_mounts_and_no_others() {
    let wf = workflow(SHARED);
    let volumes = |step: &str| -> Vec<String> {
        pod(&job_of(&wf, step, JobInputs::default()))
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect()
    };
    assert_eq!(volumes("write"), ["workspace"]);
    assert_eq!(volumes("both"), ["scripts", "workspace"]);
    assert!(volumes("none").is_empty());
    let job = job_of(&wf, "both", JobInputs::default());
    let claim = pod(&job)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "workspace")
        .and_then(|v| v.persistent_volume_claim.as_ref())
        .expect("the claim's volume");
    assert_eq!(claim.claim_name, "ci-workspace-1");
    let mounts: Vec<&str> = pod(&job).containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(mounts, ["/kubeci", "/scripts"]);
}

#[test]
fn a_claim_is_named_labelled_and_owned_for_its_generation() {
    let wf = workflow(SHARED);
    let claim = build_claim(&wf, &wf.spec.volume_claim_templates[0], 4);
    assert_eq!(claim.metadata.name.as_deref(), Some("ci-workspace-4"));
    assert_eq!(claim.metadata.namespace.as_deref(), Some("dev"));
    let labels = claim.metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels.get("kwf.dev/claim").map(String::as_str),
        Some("workspace")
    );
    assert_eq!(
        labels.get("kwf.dev/generation").map(String::as_str),
        Some("4")
    );
    let owner = &claim.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Workflow", "uid-1")
    );
    assert!(wf.spec.volume_claim_templates[0].single_node());
}

#[test]
fn a_known_node_narrows_the_pod_s_own_affinity() {
    let wf = workflow(SHARED);
    let job = job_of(
        &wf,
        "both",
        JobInputs {
            node: Some("node-b"),
            ..JobInputs::default()
        },
    );
    let terms = &pod(&job)
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .expect("a required node affinity")
        .node_selector_terms;
    assert_eq!(terms.len(), 1);
    let fields = terms[0].match_fields.as_ref().unwrap();
    assert_eq!(fields[0].key, "metadata.name");
    assert_eq!(
        fields[0].values.as_deref(),
        Some(&["node-b".to_owned()][..])
    );
}

#[test]
fn a_referenced_template_takes_the_step_s_fields_on_its_first_container() {
    let wf = workflow(
        r#"
apiVersion: kwf.dev/v1alpha1
kind: Workflow
metadata: {name: ref}
spec:
  containers:
    - stepName: build
      jobTemplateRef: {name: builder}
      args: ["make", "all"]
      env: [{name: TARGET, value: all}]
"#,
    );
    let template: JobTemplateSpec = serde_saphyr::from_str(
        r#"
metadata: {labels: {team: build}}
spec:
  parallelism: 1
  template:
    spec:
      containers:
        - name: builder
          image: builder:2
          args: ["make"]
          env: [{name: TARGET, value: default}, {name: CC, value: gcc}]
        - {name: cache, image: cache:1}
"#,
    )
    .expect("a template");
    let job = job_of(
        &wf,
        "build",
        JobInputs {
            referenced_template: Some(&template),
            ..JobInputs::default()
        },
    );
    assert_eq!(
        job.metadata
            .labels
            .as_ref()
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("build")
    );
    assert_eq!(job.spec.as_ref().unwrap().parallelism, Some(1));
    let pod = pod(&job);
    let first = &pod.containers[0];
    assert_eq!(first.name, "builder");
    assert_eq!(
        first.image.as_deref(),
        Some("builder:2"),
        "the template's image stays"
    );
    assert_eq!(
        first.args.as_deref(),
        Some(&["make".to_owned(), "all".to_owned()][..])
    );
    assert_eq!(env(first), pairs(&[("TARGET", "all"), ("CC", "gcc")]));
    assert_eq!(
        pod.containers[1].args, None,
        "other containers are the template's"
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
}
