//! The claims of `volumeClaimTemplates`: created before the first step that mounts them, kept
//! to one node when only one node can mount them, and deleted when the spec changes or, by
//! `volumeClaimPolicy`, when the run ends.
//!
//! A step that mounts a claim starts in the decision that creates the claim (claims are created
//! before Jobs), or once a claim of the same name that is being deleted is gone. It does not
//! wait for the claim to be Bound, since a StorageClass that binds on first use binds only once
//! a pod needs it. A claim that cannot bind keeps the pod Pending, and the step's
//! `maxStepTimeout` applies as to any step.
//!
//! A ReadWriteOnce (or ReadWriteOncePod) claim is mounted on one node at a time, so every step
//! that mounts it runs on the node it is on: `podDefaults.nodeName` when given; else the node
//! the scheduler chose for it (`volume.kubernetes.io/selected-node`) or the node of the first
//! step that mounted it. Until that node is known, the first such step runs alone and the others
//! wait for it to be placed. No placeholder pod, and the user's own affinity is kept (narrowed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kwf_api::job::LABEL_GENERATION;
use kwf_api::volumes::{ANNOTATION_SELECTED_NODE, build_claim};
use kwf_api::{
    StepPhase, StepStatus, VolumeClaimPolicy, VolumeClaimTemplate, Workflow, WorkflowPhase,
    claim_name,
};

use super::decide::Plan;

/// How soon to look again while a step waits for another to be placed on a node.
const PLACEMENT_POLL: Duration = Duration::from_secs(1);

/// What the core knows of a claim the controller created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedClaim {
    pub name: String,
    /// The `kwf.dev/generation` label: the Workflow generation it was created for.
    pub generation: i64,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The node the scheduler chose for its volume (`volume.kubernetes.io/selected-node`).
    pub selected_node: Option<String>,
}

impl ObservedClaim {
    /// What decide() needs of a claim; None for one without the generation label (not ours).
    pub fn from_claim(claim: &PersistentVolumeClaim) -> Option<ObservedClaim> {
        let meta = &claim.metadata;
        let generation = meta.labels.as_ref()?.get(LABEL_GENERATION)?.parse().ok()?;
        Some(ObservedClaim {
            name: meta.name.clone().unwrap_or_default(),
            generation,
            deleting: meta.deletion_timestamp.is_some(),
            selected_node: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_SELECTED_NODE))
                .cloned(),
        })
    }
}

/// Whether a ready step may start now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Gate {
    /// Start it, pinned to this node when it has one.
    Open { node: Option<String> },
    /// Not yet: a claim it mounts is being deleted, or the node of a single-node
    /// claim is not known while another step that mounts it is being placed.
    Closed,
}

/// The claims of one decision: the Workflow's templates and the claims seen of them.
pub(super) struct Claims<'a> {
    wf: &'a Workflow,
    wf_name: &'a str,
    generation: i64,
    observed: HashMap<&'a str, &'a ObservedClaim>,
    /// Claims asked for in this decision (each once).
    requested: BTreeSet<String>,
}

impl<'a> Claims<'a> {
    pub fn new(
        wf: &'a Workflow,
        wf_name: &'a str,
        generation: i64,
        observed: &'a [ObservedClaim],
    ) -> Self {
        Claims {
            wf,
            wf_name,
            generation,
            observed: observed.iter().map(|c| (c.name.as_str(), c)).collect(),
            requested: BTreeSet::new(),
        }
    }

    /// Whether the step whose containers mount `mounted` may start; creates the claims it needs
    /// that do not exist yet. `steps` are the status entries (for the nodes of steps that ran),
    /// `mounts` what every step mounts, `pinned` whether the pod already names its node.
    pub fn gate(
        &mut self,
        step: &str,
        mounted: &BTreeSet<String>,
        pinned: bool,
        steps: &[StepStatus],
        mounts: &HashMap<String, BTreeSet<String>>,
        plan: &mut Plan,
    ) -> Gate {
        let templates: Vec<&VolumeClaimTemplate> = self
            .wf
            .spec
            .volume_claim_templates
            .iter()
            .filter(|t| mounted.contains(&t.name))
            .collect();
        let mut open = true;
        for template in &templates {
            let name = claim_name(self.wf_name, &template.name, self.generation);
            match self.observed.get(name.as_str()) {
                Some(claim) if !claim.deleting => {}
                // A claim of this generation being deleted (a run ended and a restart wants it
                // again): create it anew once it is gone.
                Some(_) => open = false,
                // Created in this decision, before the Job (the shell creates claims first), so
                // the step need not wait for it: its pod waits for the claim if it must.
                None => {
                    if self.requested.insert(name) {
                        plan.claim_creates
                            .push(build_claim(self.wf, template, self.generation));
                    }
                }
            }
        }
        if !open {
            return Gate::Closed;
        }
        if pinned {
            return Gate::Open { node: None };
        }
        let mut node = None;
        for template in templates.iter().filter(|t| t.single_node()) {
            match self.node_of(template, steps, mounts) {
                Some(found) => node = node.or(Some(found)),
                None => {
                    let placing = steps.iter().any(|s| {
                        s.name != step
                            && s.phase == StepPhase::Running
                            && s.node.is_none()
                            && mounts_of(mounts, &s.name, &template.name)
                    });
                    if placing {
                        plan.requeue_after = Some(
                            plan.requeue_after
                                .map_or(PLACEMENT_POLL, |d| d.min(PLACEMENT_POLL)),
                        );
                        return Gate::Closed;
                    }
                }
            }
        }
        Gate::Open { node }
    }

    /// The node a single-node claim is on: the scheduler's choice, else the node of a step that
    /// mounted it.
    fn node_of(
        &self,
        template: &VolumeClaimTemplate,
        steps: &[StepStatus],
        mounts: &HashMap<String, BTreeSet<String>>,
    ) -> Option<String> {
        let name = claim_name(self.wf_name, &template.name, self.generation);
        if let Some(node) = self
            .observed
            .get(name.as_str())
            .and_then(|c| c.selected_node.clone())
        {
            return Some(node);
        }
        steps
            .iter()
            .filter(|s| s.node.is_some() && mounts_of(mounts, &s.name, &template.name))
            .find_map(|s| s.node.clone())
    }
}

/// Whether step `step` mounts the volume or claim `volume`.
fn mounts_of(mounts: &HashMap<String, BTreeSet<String>>, step: &str, volume: &str) -> bool {
    mounts.get(step).is_some_and(|names| names.contains(volume))
}

/// The claims to delete: those of older generations, and this generation's once the run has
/// ended the way `volumeClaimPolicy` says.
pub(super) fn collect(
    wf: &Workflow,
    phase: Option<WorkflowPhase>,
    observed: &[ObservedClaim],
    generation: i64,
    plan: &mut Plan,
) {
    let policy = wf.spec.volume_claim_policy.unwrap_or_default();
    let run_over = match (policy, phase) {
        (VolumeClaimPolicy::Retain, _) => false,
        (_, Some(WorkflowPhase::Completed)) => true,
        (VolumeClaimPolicy::DeleteOnFinish, Some(WorkflowPhase::Failed)) => true,
        _ => false,
    };
    for claim in observed.iter().filter(|c| !c.deleting) {
        let outdated = claim.generation < generation;
        let done = claim.generation == generation && run_over;
        if outdated || done {
            plan.claim_deletes.push(claim.name.clone());
        }
    }
}

/// The names of the workflow volumes and claims that each step's containers mount, by step.
pub(super) fn mounts_by_step(
    wf: &Workflow,
    templates: &BTreeMap<String, k8s_openapi::api::batch::v1::JobTemplateSpec>,
) -> HashMap<String, BTreeSet<String>> {
    wf.spec
        .containers
        .iter()
        .map(|step| {
            let referenced = step
                .job_template_ref
                .as_ref()
                .and_then(|r| templates.get(&r.name));
            let template = step.job_template.as_ref().or(referenced);
            let from_template = template
                .and_then(|t| t.spec.as_ref())
                .and_then(|spec| spec.template.spec.as_ref())
                .into_iter()
                .flat_map(|pod| {
                    pod.containers
                        .iter()
                        .chain(pod.init_containers.iter().flatten())
                })
                .flat_map(|c| c.volume_mounts.iter().flatten())
                .map(|m| m.name.clone());
            let names = step
                .volume_mounts
                .iter()
                .map(|m| m.name.clone())
                .chain(from_template)
                .collect();
            (step.step_name.clone(), names)
        })
        .collect()
}

/// The steps that mount a single-node claim: the shell reads the node their pods run on.
pub fn steps_on_single_node_claims(
    wf: &Workflow,
    templates: &BTreeMap<String, k8s_openapi::api::batch::v1::JobTemplateSpec>,
) -> BTreeSet<String> {
    let single: BTreeSet<&str> = wf
        .spec
        .volume_claim_templates
        .iter()
        .filter(|t| t.single_node())
        .map(|t| t.name.as_str())
        .collect();
    mounts_by_step(wf, templates)
        .into_iter()
        .filter(|(_, mounts)| mounts.iter().any(|m| single.contains(m.as_str())))
        .map(|(step, _)| step)
        .collect()
}
