//! The watches a Workflow's volumes and templates need, for the life of the process like the
//! Job watch: the claims the controller created (a cache for decide(), and a reconcile of the
//! owning Workflow when one appears, is placed on a node or goes), and the JobTemplates steps
//! refer to (a cache read when a step's Job is created; a change triggers nothing, since a
//! template is read only then).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use kwf_api::volumes::ANNOTATION_SELECTED_NODE;
use kwf_api::{JobTemplate, LABEL_WORKFLOW, Workflow};
use tokio::sync::mpsc;

use crate::core::ObservedClaim;

/// Where the running Workflow reconciler takes its claim triggers; None while this replica
/// stands by.
#[derive(Clone, Default)]
pub struct ClaimTriggers(Arc<Mutex<Option<mpsc::UnboundedSender<Arc<PersistentVolumeClaim>>>>>);

impl ClaimTriggers {
    /// Points the slot at a reconciler's channel (Some) or empties it (None).
    pub fn set(&self, sender: Option<mpsc::UnboundedSender<Arc<PersistentVolumeClaim>>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = sender;
    }

    fn send(&self, claim: &PersistentVolumeClaim) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(sender) = sender {
            // kube's Controller maps the claim to its owning Workflow.
            let _ = sender.send(Arc::new(claim.clone()));
        }
    }
}

/// The caches of claims and JobTemplates, read by every reconcile.
#[derive(Clone)]
pub struct VolumeCaches {
    pub claims: Store<PersistentVolumeClaim>,
    pub templates: Store<JobTemplate>,
}

impl VolumeCaches {
    /// Caches that no watch fills (empty), for tests of the shell.
    pub fn unwatched() -> Self {
        VolumeCaches {
            claims: reflector::store().0,
            templates: reflector::store().0,
        }
    }

    /// Resolves once both caches hold their first list.
    pub async fn ready(&self) {
        let _ = self.claims.wait_until_ready().await;
        let _ = self.templates.wait_until_ready().await;
    }

    /// The claims controlled by the Workflow with this uid.
    pub fn claims_of(&self, owner: &str) -> Vec<ObservedClaim> {
        self.claims
            .state()
            .iter()
            .filter(|claim| controlled_by(claim.as_ref(), owner))
            .filter_map(|claim| ObservedClaim::from_claim(claim))
            .collect()
    }

    /// The JobTemplates the Workflow's steps refer to that exist in its namespace, by name.
    pub fn templates_of(
        &self,
        wf: &Workflow,
        namespace: &str,
    ) -> BTreeMap<String, JobTemplateSpec> {
        wf.spec
            .containers
            .iter()
            .filter_map(|step| step.job_template_ref.as_ref())
            .filter_map(|reference| {
                let key = ObjectRef::new(&reference.name).within(namespace);
                let template = self.templates.get(&key)?;
                Some((reference.name.clone(), template.spec.0.clone()))
            })
            .collect()
    }
}

fn controlled_by(claim: &PersistentVolumeClaim, owner: &str) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner)
}

/// Starts both watches; they run for the life of the process.
pub fn start(client: &Client, namespace: Option<&str>, triggers: ClaimTriggers) -> VolumeCaches {
    let (claims, claim_writer) = reflector::store();
    let (templates, template_writer) = reflector::store();
    let claim_api: Api<PersistentVolumeClaim> = scoped(client, namespace);
    let template_api: Api<JobTemplate> = scoped(client, namespace);
    tokio::spawn(async move {
        // Only claims carrying the workflow label are ours to look at.
        let config = watcher::Config::default().labels(LABEL_WORKFLOW);
        let mut events = std::pin::pin!(
            watcher(claim_api, config)
                .default_backoff()
                .modify(strip_claim)
                .reflect(claim_writer)
        );
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(claim) | watcher::Event::Delete(claim)) => {
                    triggers.send(&claim)
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "watching PersistentVolumeClaims failed; retrying")
                }
            }
        }
        tracing::error!("the PersistentVolumeClaim watch ended");
    });
    tokio::spawn(async move {
        let mut events = std::pin::pin!(
            watcher(template_api, watcher::Config::default())
                .default_backoff()
                .modify(|template: &mut JobTemplate| template.metadata.managed_fields = None)
                .reflect(template_writer)
        );
        while let Some(event) = events.next().await {
            if let Err(err) = event {
                tracing::warn!(error = %err, "watching JobTemplates failed; retrying");
            }
        }
        tracing::error!("the JobTemplate watch ended");
    });
    VolumeCaches { claims, templates }
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Keeps only what [`ObservedClaim::from_claim`] and the owner mapping read.
fn strip_claim(claim: &mut PersistentVolumeClaim) {
    let meta = &mut claim.metadata;
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key == ANNOTATION_SELECTED_NODE);
    }
    claim.spec = None;
    claim.status = None;
}
