//! The part of `validate()` about shared volumes: one name space for `volumes` and
//! `volumeClaimTemplates`, valid claim names, and every mount naming one of them. The CRD's
//! rules (`volume_schema`) catch the same at admission.

use std::collections::BTreeSet;

use crate::names::is_dns1123_label;
use crate::validate::{Problem, ProblemKind};
use crate::volumes::{MAX_CLAIM_NAME_LEN, MAX_VOLUME_MOUNTS, MAX_VOLUMES};
use crate::workflow::WorkflowSpec;

/// The volume problems of `spec`, in spec order: declarations first, then each step's mounts.
pub(crate) fn problems(spec: &WorkflowSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let declared_count = spec.volumes.len() + spec.volume_claim_templates.len();
    if declared_count > MAX_VOLUMES {
        problems.push(Problem::of_spec(
            ProblemKind::TooManyVolumes,
            format!(
                "the workflow declares {declared_count} volumes and claim templates, more than the {MAX_VOLUMES} allowed: share fewer volumes"
            ),
        ));
    }
    let mut declared = BTreeSet::new();
    let names = spec
        .volumes
        .iter()
        .map(|v| v.name.as_str())
        .chain(spec.volume_claim_templates.iter().map(|c| c.name.as_str()));
    for name in names {
        if !declared.insert(name) {
            problems.push(Problem::of_spec(
                ProblemKind::DuplicateVolume,
                format!(
                    "volume {name:?} is declared twice (in volumes or volumeClaimTemplates): give each volume its own name"
                ),
            ));
        }
    }
    for claim in &spec.volume_claim_templates {
        if !is_dns1123_label(&claim.name) || claim.name.len() > MAX_CLAIM_NAME_LEN {
            problems.push(Problem::of_spec(
                ProblemKind::InvalidClaimName,
                format!(
                    "volumeClaimTemplates name {:?} is invalid: use at most {MAX_CLAIM_NAME_LEN} lowercase letters, digits and '-', starting and ending with a letter or digit",
                    claim.name
                ),
            ));
        }
    }
    for step in &spec.containers {
        if step.volume_mounts.len() > MAX_VOLUME_MOUNTS {
            problems.push(Problem::of_step(
                &step.step_name,
                ProblemKind::TooManyVolumes,
                format!(
                    "has {} volumeMounts, more than the {MAX_VOLUME_MOUNTS} allowed",
                    step.volume_mounts.len()
                ),
            ));
        }
        for mount in &step.volume_mounts {
            if !declared.contains(mount.name.as_str()) {
                problems.push(Problem::of_step(
                    &step.step_name,
                    ProblemKind::UnknownVolume,
                    format!(
                        "mounts volume {:?}, which is not declared: add it to spec.volumes or spec.volumeClaimTemplates, or fix the name",
                        mount.name
                    ),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_workflows;

    fn kinds(yaml: &str) -> Vec<(Option<String>, ProblemKind, String)> {
        let wf = parse_workflows(yaml).expect("parses").remove(0);
        problems(&wf.spec)
            .into_iter()
            .map(|p| (p.step, p.kind, p.message))
            .collect()
    }

    const HEAD: &str = "apiVersion: kwf.dev/v1alpha1\nkind: Workflow\nmetadata: {name: v}\nspec:\n";

    #[test]
    fn declared_mounts_are_fine() {
        let yaml = format!(
            "{HEAD}  volumes: [{{name: cfg, configMap: {{name: c}}}}]\n  volumeClaimTemplates: [{{name: data, spec: {{accessModes: [ReadWriteOnce]}}}}]\n  containers:\n    - {{stepName: a, image: x, volumeMounts: [{{name: cfg, mountPath: /c}}, {{name: data, mountPath: /d}}]}}\n"
        );
        assert_eq!(kinds(&yaml), Vec::new());
    }

    #[test]
    fn a_mount_of_no_volume_names_the_step_and_the_volume() {
        let yaml = format!(
            "{HEAD}  containers:\n    - {{stepName: a, image: x, volumeMounts: [{{name: ws, mountPath: /w}}]}}\n"
        );
        let found = kinds(&yaml);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.as_deref(), Some("a"));
        assert_eq!(found[0].1, ProblemKind::UnknownVolume);
        assert!(found[0].2.contains("\"ws\""), "{}", found[0].2);
    }

    #[test]
    fn one_name_for_a_volume_and_a_claim_is_a_duplicate() {
        let yaml = format!(
            "{HEAD}  volumes: [{{name: data, emptyDir: {{}}}}]\n  volumeClaimTemplates: [{{name: data, spec: {{}}}}, {{name: Bad_Name, spec: {{}}}}]\n  containers:\n    - {{stepName: a, image: x}}\n"
        );
        let found: Vec<ProblemKind> = kinds(&yaml).into_iter().map(|p| p.1).collect();
        assert_eq!(
            found,
            [ProblemKind::DuplicateVolume, ProblemKind::InvalidClaimName]
        );
    }
}
