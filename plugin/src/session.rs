//! What every command that talks to the cluster works with: the cluster (client, namespace,
//! and how to name it in errors) and the terminal it writes to. Every request goes through
//! here, so each failure becomes the one-line error of [`crate::errors::explain`].

use std::future::Future;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Resource};
use kwf_api::{Workflow, WorkflowTemplate};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::ConnectionFlags;
use crate::errors::{Op, WORKFLOW_TEMPLATES, WORKFLOWS, explain, explain_watch};
use crate::kubeconfig::{self, Cluster};
use crate::terminal::Terminal;

pub struct Session {
    cluster: Cluster,
    pub terminal: Terminal,
}

impl Session {
    /// Reads the kubeconfig and builds a client. No request is sent yet.
    pub async fn connect(flags: &ConnectionFlags, terminal: Terminal) -> anyhow::Result<Session> {
        Ok(Session {
            cluster: kubeconfig::connect(flags).await?,
            terminal,
        })
    }

    /// `-n`, else the context's namespace, else `default`.
    pub fn namespace(&self) -> &str {
        &self.cluster.namespace
    }

    /// The API of `K` in `namespace`, or across all namespaces for `None`.
    pub fn api<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        let client = self.cluster.client.clone();
        match namespace {
            Some(namespace) => Api::namespaced(client, namespace),
            None => Api::all(client),
        }
    }

    /// Sends one request; its failure becomes the one-line error for `op`.
    pub async fn send<T>(
        &self,
        op: Op<'_>,
        request: impl Future<Output = kube::Result<T>>,
    ) -> anyhow::Result<T> {
        request.await.map_err(|err| self.fail(op, &err))
    }

    /// Workflow `name` of `namespace`.
    pub async fn get_workflow(&self, namespace: &str, name: &str) -> anyhow::Result<Workflow> {
        let op = Op::new("get", WORKFLOWS, Some(namespace)).named(name);
        self.send(op, self.api::<Workflow>(Some(namespace)).get(name))
            .await
    }

    /// The workflows of `namespace` (of all for `None`) that `selector` matches, without their
    /// managed fields: as in kubectl, they are noise in output meant for people and scripts.
    pub async fn list_workflows(
        &self,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> anyhow::Result<Vec<Workflow>> {
        let mut params = ListParams::default();
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        let op = Op::new("list", WORKFLOWS, namespace);
        let api = self.api::<Workflow>(namespace);
        let mut workflows = self.send(op, api.list(&params)).await?.items;
        for wf in &mut workflows {
            wf.metadata.managed_fields = None;
        }
        Ok(workflows)
    }

    /// WorkflowTemplate `name` of `namespace`.
    pub async fn get_template(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<WorkflowTemplate> {
        let op = Op::new("get", WORKFLOW_TEMPLATES, Some(namespace)).named(name);
        self.send(op, self.api::<WorkflowTemplate>(Some(namespace)).get(name))
            .await
    }

    /// The templates of `namespace` (of all for `None`) that `selector` matches, without their
    /// managed fields.
    pub async fn list_templates(
        &self,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> anyhow::Result<Vec<WorkflowTemplate>> {
        let mut params = ListParams::default();
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        let op = Op::new("list", WORKFLOW_TEMPLATES, namespace);
        let api = self.api::<WorkflowTemplate>(namespace);
        let mut templates = self.send(op, api.list(&params)).await?.items;
        for template in &mut templates {
            template.metadata.managed_fields = None;
        }
        Ok(templates)
    }

    /// A JSON merge patch of workflow `name` in the session's namespace, as sent: the caller
    /// decides what a failure means (`relabel` retries conflicts).
    pub async fn merge_patch_workflow(&self, name: &str, patch: &Value) -> kube::Result<Workflow> {
        self.api::<Workflow>(Some(self.namespace()))
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
    }

    /// The same, as a dry run when `dry_run` (the API server checks it, persists nothing).
    pub async fn merge_patch_workflow_dry(
        &self,
        name: &str,
        patch: &Value,
        dry_run: bool,
    ) -> kube::Result<Workflow> {
        let params = PatchParams {
            dry_run,
            ..PatchParams::default()
        };
        self.api::<Workflow>(Some(self.namespace()))
            .patch(name, &params, &Patch::Merge(patch))
            .await
    }

    /// The one-line error for a failed `op`.
    pub fn fail(&self, op: Op<'_>, err: &kube::Error) -> anyhow::Error {
        anyhow::anyhow!(self.explain(op, err))
    }

    /// The one-line explanation of a failed `op`, for warnings that do not end the command.
    pub fn explain(&self, op: Op<'_>, err: &kube::Error) -> String {
        explain(err, &op, &self.cluster.endpoint())
    }

    /// The one-line error for a watcher's failure.
    pub fn fail_watch(&self, op: Op<'_>, err: &kube::runtime::watcher::Error) -> anyhow::Error {
        anyhow::anyhow!(explain_watch(err, &op, &self.cluster.endpoint()))
    }

    /// Lists `K` in `namespace` and decodes them; used for Events, Jobs and pods.
    pub async fn list<K>(
        &self,
        namespace: &str,
        params: &ListParams,
        resource: &str,
    ) -> anyhow::Result<Vec<K>>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let op = Op::new("list", resource, Some(namespace));
        Ok(self
            .send(op, self.api::<K>(Some(namespace)).list(params))
            .await?
            .items)
    }
}
