//! Relabel cascade: each Job carries the Workflow's labels. The Job's
//! `kwf.dev/inherited-labels` annotation records which keys came from the Workflow, so a label
//! removed from the Workflow is removed from its Jobs while labels others put on a Job stay.

use std::collections::{BTreeMap, HashSet};

use super::effect::{Effect, OwnedRef};
use super::observed::ObservedJob;
use kwf_api::job::inherited_annotation;

/// One Relabel per live Job whose labels or record differ from the Workflow's labels
/// `wanted`. Jobs in `leaving` (being deleted by this decision) are not worth a patch.
pub(super) fn drift(
    wanted: &BTreeMap<String, String>,
    jobs: &[ObservedJob],
    leaving: &HashSet<&str>,
) -> Vec<Effect> {
    let record = inherited_annotation(wanted.keys());
    jobs.iter()
        .filter(|job| !job.deleting && !leaving.contains(job.name.as_str()))
        .filter_map(|job| patch(wanted, &record, job))
        .collect()
}

fn patch(wanted: &BTreeMap<String, String>, record: &str, job: &ObservedJob) -> Option<Effect> {
    let mut labels: BTreeMap<String, Option<String>> = wanted
        .iter()
        .filter(|(key, value)| job.labels.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    for key in &job.inherited_labels {
        if !wanted.contains_key(key) && job.labels.contains_key(key) {
            labels.insert(key.clone(), None);
        }
    }
    let record_current = job.inherited_labels.iter().eq(wanted.keys());
    if labels.is_empty() && record_current {
        return None;
    }
    Some(Effect::Relabel {
        target: OwnedRef::job(&job.name),
        labels,
        inherited: record.to_owned(),
    })
}
