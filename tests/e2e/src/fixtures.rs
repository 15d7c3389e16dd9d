//! The workflows of the end-to-end tests, the benchmark and the demo, typed, as a person submits
//! them (name, labels, spec; no namespace or status). Steps run `sh -c <script>`: the test node
//! runs them as host processes.

use kube::ResourceExt;
use kwf_api::{Step, Workflow, WorkflowSpec};

/// The image every step names.
pub const IMAGE: &str = "busybox";

/// A step `name` running `sh -c script` after `deps`.
pub fn step(name: &str, deps: &[&str], script: &str) -> Step {
    Step {
        step_name: name.to_owned(),
        image: Some(IMAGE.to_owned()),
        command: Some(vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]),
        depends_on: deps.iter().map(|dep| (*dep).to_owned()).collect(),
        ..Step::default()
    }
}

/// Workflow `name` of `steps`, each step at most `max_step_timeout` seconds (-1: no limit).
pub fn workflow(name: &str, max_step_timeout: i64, steps: Vec<Step>) -> Workflow {
    Workflow::new(
        name,
        WorkflowSpec {
            max_step_timeout,
            containers: steps,
        },
    )
}

/// The workflow with these labels added.
pub fn with_labels(mut wf: Workflow, labels: &[(&str, &str)]) -> Workflow {
    wf.labels_mut().extend(
        labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    wf
}

/// A chain `s0 -> s1 -> ... -> s<length-1>` (each after the one before): `length - 1` dependent
/// pairs; every step runs `script`.
pub fn chain(name: &str, length: usize, max_step_timeout: i64, script: &str) -> Workflow {
    let names: Vec<String> = (0..length).map(|i| format!("s{i}")).collect();
    let steps = names
        .iter()
        .enumerate()
        .map(|(i, step_name)| {
            let deps: Vec<&str> = names[..i].last().map(String::as_str).into_iter().collect();
            step(step_name, &deps, script)
        })
        .collect();
    workflow(name, max_step_timeout, steps)
}

/// `layers` layers of `width` steps `l<layer>-s<index>`; step `i` of every layer but the first
/// depends on steps `i` and `i + 1` (wrapping) of the layer before. Every step runs `script`.
pub fn layered(
    name: &str,
    layers: usize,
    width: usize,
    max_step_timeout: i64,
    script: &str,
) -> Workflow {
    let width = width.max(1);
    let step_name = |layer: usize, index: usize| format!("l{layer}-s{index}");
    let mut steps = Vec::with_capacity(layers * width);
    for layer in 0..layers {
        for index in 0..width {
            let mut deps = Vec::new();
            if layer > 0 {
                for offset in [0, 1] {
                    let dep = step_name(layer - 1, (index + offset) % width);
                    if !deps.contains(&dep) {
                        deps.push(dep);
                    }
                }
            }
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            steps.push(step(&step_name(layer, index), &deps, script));
        }
    }
    workflow(name, max_step_timeout, steps)
}

/// Five steps: a diamond `a -> (b, c) -> d` and a tail `d -> e`, each running `script`.
pub fn diamond_with_tail(name: &str, max_step_timeout: i64, script: &str) -> Workflow {
    workflow(
        name,
        max_step_timeout,
        vec![
            step("a", &[], script),
            step("b", &["a"], script),
            step("c", &["a"], script),
            step("d", &["b", "c"], script),
            step("e", &["d"], script),
        ],
    )
}

/// The workflow as a YAML manifest, the way a person writes it for `kubectl workflow create -f`.
pub fn manifest(wf: &Workflow) -> String {
    serde_saphyr::to_string(wf).expect("a Workflow serialises to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_are_valid_workflows() {
        for wf in [
            diamond_with_tail("d", 60, "true"),
            layered("l", 40, 50, -1, "true"),
            layered("one-wide", 3, 1, -1, "true"),
            chain("c", 51, -1, "true"),
        ] {
            kwf_api::validate(&wf.spec).unwrap_or_else(|e| panic!("{}: {e}", wf.name_any()));
        }
    }

    #[test]
    fn layers_depend_on_two_steps_of_the_layer_before() {
        let wf = layered("l", 3, 50, -1, "true");
        assert_eq!(wf.spec.containers.len(), 150);
        let last = &wf.spec.containers[149];
        assert_eq!(last.step_name, "l2-s49");
        assert_eq!(last.depends_on, ["l1-s49", "l1-s0"]);
        assert!(wf.spec.containers[49].depends_on.is_empty());
        let one_wide = layered("one", 2, 1, -1, "true");
        assert_eq!(one_wide.spec.containers[1].depends_on, ["l0-s0"]);
    }

    #[test]
    fn a_chain_has_one_dependent_pair_per_step_but_the_first() {
        let wf = chain("c", 51, -1, "true");
        let pairs: usize = wf.spec.containers.iter().map(|s| s.depends_on.len()).sum();
        assert_eq!(pairs, 50);
        assert_eq!(wf.spec.containers[50].depends_on, ["s49"]);
    }

    #[test]
    fn a_manifest_reads_back_as_the_same_workflow() {
        let wf = with_labels(
            workflow(
                "m",
                60,
                vec![
                    step("a", &[], "echo \"quoted\"; exit 3"),
                    step("b", &["a"], "true"),
                ],
            ),
            &[("team", "data")],
        );
        let text = manifest(&wf);
        let parsed = kwf_api::parse_workflows(&text).expect("the manifest parses");
        assert_eq!(parsed, [wf], "{text}");
    }
}
