//! The workflows of the end-to-end tests and the benchmark: the workspace's one set of builders,
//! [`kwf_api::fixtures`], made ready for a real control plane. Every step runs `sh -c <script>`
//! (the test node runs it), and every workflow is as a person submits it (name, labels, spec; no
//! namespace, uid or status), so the API server accepts it in any namespace.

use kube::ResourceExt;
use kwf_api::fixtures::{self as shared, StepFixture, WorkflowFixture};
use kwf_api::{Step, Workflow};

/// A step `name` after `deps` that runs `sh -c script`.
pub fn shell_step(name: &str, deps: &[&str], script: &str) -> Step {
    shared::step(name, deps).with_command(&["sh", "-c", script])
}

/// Workflow `name` of `steps`, each step at most `max_step_timeout` seconds (-1: no limit).
pub fn workflow(name: &str, max_step_timeout: i64, steps: Vec<Step>) -> Workflow {
    shared::workflow_of(name, steps)
        .with_max_step_timeout(max_step_timeout)
        .into_manifest()
}

/// A chain of `length` steps, each after the one before (`length - 1` dependent pairs), each
/// running `script`: the shared layered DAG one step wide.
pub fn chain(name: &str, length: usize, max_step_timeout: i64, script: &str) -> Workflow {
    submitted(
        shared::layered(name, length, 1, &[0]),
        max_step_timeout,
        script,
    )
}

/// `layers` layers of `width` steps; step `i` of every layer but the first depends on steps `i`
/// and `i + 1` (wrapping) of the layer before. Every step runs `script`.
pub fn layered(
    name: &str,
    layers: usize,
    width: usize,
    max_step_timeout: i64,
    script: &str,
) -> Workflow {
    submitted(
        shared::layered(name, layers, width.max(1), &[0, 1]),
        max_step_timeout,
        script,
    )
}

/// Workflow `name`: a diamond `a -> (b, c) -> d` and a tail `d -> e`, each step running `script`.
pub fn diamond_with_tail(name: &str, max_step_timeout: i64, script: &str) -> Workflow {
    let mut wf = shared::diamond_with_tail();
    wf.metadata.name = Some(name.to_owned());
    submitted(wf, max_step_timeout, script)
}

/// The workflow as a YAML manifest, the way a person writes it for `kubectl workflow create -f`.
pub fn manifest(wf: &Workflow) -> String {
    serde_saphyr::to_string(wf).expect("a Workflow serialises to YAML")
}

/// A shared fixture with every step running `script`, as submitted.
fn submitted(wf: Workflow, max_step_timeout: i64, script: &str) -> Workflow {
    let name = wf.name_any();
    let steps = wf
        .spec
        .containers
        .into_iter()
        .map(|step| step.with_command(&["sh", "-c", script]))
        .collect();
    let mut shaped = workflow(&name, max_step_timeout, steps);
    shaped.metadata.labels = wf.metadata.labels;
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_are_valid_workflows_as_submitted() {
        for wf in [
            diamond_with_tail("d", 60, "true"),
            layered("l", 40, 50, -1, "true"),
            layered("one-wide", 3, 1, -1, "true"),
            chain("c", 51, -1, "true"),
        ] {
            kwf_api::validate(&wf.spec).unwrap_or_else(|e| panic!("{}: {e}", wf.name_any()));
            assert_eq!(wf.metadata.namespace, None);
            assert_eq!(wf.metadata.uid, None);
            let commands: Vec<_> = wf.spec.containers.iter().map(|s| &s.command).collect();
            assert!(
                commands
                    .iter()
                    .all(|c| c.as_deref() == Some(&["sh".into(), "-c".into(), "true".into()][..])),
                "{commands:?}"
            );
        }
        assert_eq!(diamond_with_tail("d", 60, "true").name_any(), "d");
    }

    #[test]
    fn layers_depend_on_two_steps_of_the_layer_before() {
        let wf = layered("l", 3, 50, -1, "true");
        assert_eq!(wf.spec.containers.len(), 150);
        assert_eq!(wf.spec.max_step_timeout, -1);
        let last = &wf.spec.containers[149];
        assert_eq!(last.depends_on.len(), 2);
        assert!(wf.spec.containers[49].depends_on.is_empty());
    }

    #[test]
    fn a_chain_has_one_dependent_pair_per_step_but_the_first() {
        let wf = chain("c", 51, -1, "true");
        let pairs: usize = wf.spec.containers.iter().map(|s| s.depends_on.len()).sum();
        assert_eq!(pairs, 50);
        let names: Vec<&str> = wf
            .spec
            .containers
            .iter()
            .map(|s| s.step_name.as_str())
            .collect();
        assert_eq!(wf.spec.containers[50].depends_on, [names[49]]);
    }

    #[test]
    fn a_manifest_reads_back_as_the_same_workflow() {
        let wf = workflow(
            "m",
            60,
            vec![
                shell_step("a", &[], "echo \"quoted\"; exit 3"),
                shell_step("b", &["a"], "true"),
            ],
        )
        .with_label("team", "data");
        let text = manifest(&wf);
        let parsed = kwf_api::parse_workflows(&text).expect("the manifest parses");
        assert_eq!(parsed, [wf], "{text}");
    }
}
