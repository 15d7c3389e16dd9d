//! The resource trigger reconciler: for each leadership term, kube's Controller over
//! WorkflowTemplates that, for every `spec.resourceTriggers` entry, keeps one watch of the
//! chosen objects and applies the trigger's decision (`core::resource_trigger`): create the runs
//! (AlreadyExists is success: names come from their cause), then write the trigger's record into
//! the template's status.
//!
//! A watch starts only after two checks, redone every `RECHECK`:
//! - **discovery**: the API server serves apiVersion/kind (else the trigger's status message says
//!   so, naming them), which also gives the resource's plural and scope;
//! - **a SubjectAccessReview**: the template's service account
//!   (`workflowSpec.podDefaults.serviceAccountName`, else `default`) may `list` and `watch` the
//!   resource in the watched namespace. The controller watches with its own credentials, so
//!   without this check a template could read, through its runs' parameters, what its own
//!   account may not. Denied: the message says what is missing, and nothing is watched.
//!
//! The controller's own read access to a kind comes from the kustomize component
//! `deploy/components/trigger-read` (its default RBAC has only `subjectaccessreviews create`
//! for triggers); a watch the controller may not make shows in the trigger's message.
//!
//! In memory, per term: the watches (stripped objects, the last state of deleted ones, when each
//! last changed: the debounce clock), the check results, and the record last written per
//! template, used instead of the template's status until the template watch shows it (a stale
//! record would count a change twice under different names).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{self, BoxFuture};
use jiff::Timestamp;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kwf_api::WorkflowTemplate;
use kwf_api::resource_trigger::{ResourceTrigger, ResourceTriggerStatus, trigger_problems};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::config::MANAGER;
use crate::core::resource_trigger::{
    SeenObject, TriggerInput, decide_trigger, denied_message, not_served_message, service_account,
    triggered_run, watch_failed_message,
};
use crate::error::has_status;
use crate::term::Reconciler;

/// How often discovery and the SubjectAccessReview are redone for a trigger (a kind installed,
/// a permission granted or revoked since), and a failed reconcile retried.
const RECHECK: Duration = Duration::from_secs(30);

/// What the resource trigger reconciler needs across terms.
pub struct ResourceTriggerReconciler {
    pub client: Client,
    /// Only templates in this namespace (None: all).
    pub namespace: Option<String>,
}

/// Why one reconcile of a template's triggers failed.
#[derive(Debug, thiserror::Error)]
pub enum TriggerReconcileError {
    #[error("creating run {name}: {source}")]
    CreateRun {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the trigger status of WorkflowTemplate {name}: {source}")]
    PatchStatus {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// A trigger is one (template namespace, template name, trigger name).
type TriggerId = (String, String, String);

struct TriggerContext {
    client: Client,
    /// Wakes the template of a watch that saw a change.
    wake: mpsc::UnboundedSender<ObjectRef<WorkflowTemplate>>,
    triggers: Mutex<HashMap<TriggerId, TriggerState>>,
    /// Template uid -> the trigger status entries written last.
    written: Mutex<HashMap<String, Vec<ResourceTriggerStatus>>>,
}

/// One trigger's checks and watch.
struct TriggerState {
    /// What the checks and the watch were made for (template uid, trigger, service account).
    key: String,
    checked: Instant,
    outcome: Checked,
}

enum Checked {
    /// The trigger cannot watch: this message.
    Refused(String),
    Watching(Watch),
}

/// A running watch: its task ends when this is dropped.
struct Watch {
    /// The watched namespace (None: a cluster-scoped kind).
    namespace: Option<String>,
    plural: String,
    state: Arc<Mutex<WatchState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct WatchState {
    /// The first list is in.
    listed: bool,
    present: BTreeMap<String, SeenObject>,
    /// The last state of objects seen deleted, until the record forgets them.
    gone: BTreeMap<String, SeenObject>,
    /// Objects of a re-list in progress.
    relisting: Option<BTreeMap<String, SeenObject>>,
    /// The watch's last error (cleared by the next successful list).
    error: Option<String>,
}

impl Reconciler for ResourceTriggerReconciler {
    fn name(&self) -> &'static str {
        "resourcetriggers"
    }

    fn lead(&self, stop: watch::Receiver<bool>) -> BoxFuture<'static, ()> {
        let templates: Api<WorkflowTemplate> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let client = self.client.clone();
        Box::pin(async move {
            let (wake, woken) = mpsc::unbounded_channel();
            let ctx = Arc::new(TriggerContext {
                client,
                wake,
                triggers: Mutex::default(),
                written: Mutex::default(),
            });
            let woken =
                futures::stream::unfold(
                    woken,
                    |mut rx| async move { rx.recv().await.map(|r| (r, rx)) },
                );
            let mut graceful = stop;
            let forget = Arc::clone(&ctx);
            Controller::new(templates, watcher::Config::default())
                .reconcile_on(woken)
                .graceful_shutdown_on(async move {
                    let _ = graceful.wait_for(|stopped| *stopped).await;
                })
                .run(reconcile, error_policy, ctx)
                .for_each(move |result| {
                    match result {
                        Err(controller::Error::ObjectNotFound(obj)) => {
                            // The template is gone: so are its watches.
                            forget.forget_template(
                                obj.namespace.as_deref().unwrap_or_default(),
                                &obj.name,
                            );
                        }
                        Err(controller::Error::ReconcilerFailed(..)) | Ok(_) => {}
                        Err(other) => tracing::warn!(error = %other, "resource trigger controller"),
                    }
                    future::ready(())
                })
                .await;
        })
    }
}

impl TriggerContext {
    fn forget_template(&self, namespace: &str, name: &str) {
        lock(&self.triggers).retain(|(ns, n, _), _| !(ns == namespace && n == name));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn reconcile(
    template: Arc<WorkflowTemplate>,
    ctx: Arc<TriggerContext>,
) -> Result<Action, TriggerReconcileError> {
    let name = template.name_any();
    let namespace = template.namespace().unwrap_or_default();
    let uid = template.uid().unwrap_or_default();
    let triggers = &template.spec.resource_triggers;
    // Watches of triggers no longer in the template (or of a template being deleted) stop.
    let deleting = template.metadata.deletion_timestamp.is_some();
    lock(&ctx.triggers).retain(|(ns, n, t), _| {
        !(ns == &namespace && n == &name) || (!deleting && triggers.iter().any(|x| &x.name == t))
    });
    let previous: Vec<ResourceTriggerStatus> =
        lock(&ctx.written).get(&uid).cloned().unwrap_or_else(|| {
            template
                .status
                .as_ref()
                .map(|s| s.resource_triggers.clone())
                .unwrap_or_default()
        });
    if deleting || (triggers.is_empty() && previous.is_empty()) {
        return Ok(Action::await_change());
    }

    let account = service_account(&template);
    let now = Timestamp::now();
    let mut entries = Vec::new();
    let mut requeue = RECHECK;
    let workflows: Api<kwf_api::Workflow> = Api::namespaced(ctx.client.clone(), &namespace);
    for trigger in triggers {
        let recorded = previous.iter().find(|s| s.name == trigger.name);
        let keep = |message: String| ResourceTriggerStatus {
            name: trigger.name.clone(),
            message: Some(message),
            ..recorded.cloned().unwrap_or_default()
        };
        let offline = trigger_problems(std::slice::from_ref(trigger), &template.spec.parameters);
        if let Some(problem) = offline.first() {
            entries.push(keep(problem.clone()));
            continue;
        }
        let id = (namespace.clone(), name.clone(), trigger.name.clone());
        let key = format!(
            "{uid}\n{account}\n{}",
            serde_json::to_string(trigger).unwrap_or_default()
        );
        ensure_checked(&ctx, &template, trigger, &id, &key, &account).await;
        let view = {
            let triggers = lock(&ctx.triggers);
            match triggers.get(&id).map(|s| &s.outcome) {
                Some(Checked::Watching(w)) => {
                    let state = lock(&w.state);
                    if let Some(error) = &state.error {
                        Err(watch_failed_message(
                            trigger,
                            &w.plural,
                            w.namespace.as_deref(),
                            error,
                        ))
                    } else if !state.listed {
                        Ok(None)
                    } else {
                        Ok(Some((
                            w.namespace.clone(),
                            state.present.values().cloned().collect::<Vec<_>>(),
                            state.gone.values().cloned().collect::<Vec<_>>(),
                        )))
                    }
                }
                Some(Checked::Refused(message)) => Err(message.clone()),
                None => Err(format!(
                    "resourceTriggers {:?}: not checked yet",
                    trigger.name
                )),
            }
        };
        let (watched_ns, present, gone) = match view {
            Err(message) => {
                entries.push(keep(message));
                continue;
            }
            // The first list is not in: its InitDone wakes this template.
            Ok(None) => {
                entries.extend(recorded.cloned());
                continue;
            }
            Ok(Some(view)) => view,
        };
        let source = trigger.source(&namespace);
        let decision = decide_trigger(TriggerInput {
            template: &name,
            trigger,
            source: &source,
            recorded,
            present: &present,
            gone: &gone,
            now,
        });
        let mut status = decision.status;
        for run in &decision.runs {
            match triggered_run(&template, trigger, watched_ns.as_deref(), run) {
                Ok(wf) => match workflows.create(&PostParams::default(), &wf).await {
                    Ok(_) => {
                        tracing::info!(template = %name, trigger = %trigger.name, run = %run.name, event = run.event.as_str(), object = %run.object_name, "created a triggered run");
                    }
                    // The same cause, created before: done.
                    Err(err) if has_status(&err, 409) => {}
                    Err(source) => {
                        return Err(TriggerReconcileError::CreateRun {
                            name: run.name.clone(),
                            source,
                        });
                    }
                },
                // The event is consumed either way: the message says why it made no run.
                Err(err) => {
                    status.message = Some(format!(
                        "resourceTriggers {:?}: {} of {}: no run: {err}",
                        trigger.name,
                        run.event.as_str(),
                        run.object_name
                    ))
                }
            }
        }
        if let Some(after) = decision.requeue_after {
            requeue = requeue.min(after);
        }
        entries.push(status);
    }
    write_status(&ctx, &template, &uid, &previous, entries).await?;
    Ok(Action::requeue(requeue))
}

/// Runs discovery and the SubjectAccessReview for `trigger`, and starts its watch, unless done
/// for the same key within `RECHECK`.
async fn ensure_checked(
    ctx: &Arc<TriggerContext>,
    template: &WorkflowTemplate,
    trigger: &ResourceTrigger,
    id: &TriggerId,
    key: &str,
    account: &str,
) {
    let fresh = lock(&ctx.triggers)
        .get(id)
        .is_some_and(|s| s.key == key && s.checked.elapsed() < RECHECK);
    if fresh {
        return;
    }
    let namespace = template.namespace().unwrap_or_default();
    let (group, version) = trigger.group_version();
    let gvk = GroupVersionKind::gvk(group, version, &trigger.kind);
    let outcome = match discovery::pinned_kind(&ctx.client, &gvk).await {
        Err(err) => {
            tracing::debug!(template = %template.name_any(), trigger = %trigger.name, error = %err, "discovery");
            Err(not_served_message(trigger))
        }
        Ok((resource, caps)) => {
            let watched_ns = match caps.scope {
                Scope::Namespaced => Some(
                    trigger
                        .namespace
                        .clone()
                        .unwrap_or_else(|| namespace.clone()),
                ),
                Scope::Cluster => None,
            };
            match may_watch(
                &ctx.client,
                &namespace,
                account,
                &resource,
                watched_ns.as_deref(),
            )
            .await
            {
                Ok(missing) if missing.is_empty() => Ok((resource, watched_ns)),
                Ok(missing) => Err(denied_message(
                    trigger,
                    &namespace,
                    account,
                    &missing,
                    &resource.plural,
                    watched_ns.as_deref(),
                )),
                Err(err) => Err(format!(
                    "resourceTriggers {:?}: cannot check the permissions of service account {account}: {err}",
                    trigger.name
                )),
            }
        }
    };
    let mut triggers = lock(&ctx.triggers);
    let same_watch = triggers.get(id).is_some_and(|s| {
        s.key == key
            && matches!((&s.outcome, &outcome), (Checked::Watching(w), Ok((_, ns))) if &w.namespace == ns)
    });
    if same_watch {
        // Still allowed: the running watch goes on.
        if let Some(s) = triggers.get_mut(id) {
            s.checked = Instant::now();
        }
        return;
    }
    let outcome = match outcome {
        Err(message) => Checked::Refused(message),
        Ok((resource, watched_ns)) => {
            Checked::Watching(start_watch(ctx, template, trigger, &resource, watched_ns))
        }
    };
    triggers.insert(
        id.clone(),
        TriggerState {
            key: key.to_owned(),
            checked: Instant::now(),
            outcome,
        },
    );
}

/// The verbs of `list` and `watch` that the service account may not use on `resource` in
/// `namespace` (None: cluster-wide).
async fn may_watch(
    client: &Client,
    account_namespace: &str,
    account: &str,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Result<Vec<&'static str>, kube::Error> {
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for verb in ["list", "watch"] {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(format!(
                    "system:serviceaccount:{account_namespace}:{account}"
                )),
                // The groups the API server gives every service account token.
                groups: Some(vec![
                    "system:serviceaccounts".to_owned(),
                    format!("system:serviceaccounts:{account_namespace}"),
                    "system:authenticated".to_owned(),
                ]),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(resource.group.clone()),
                    version: Some(resource.version.clone()),
                    resource: Some(resource.plural.clone()),
                    namespace: namespace.map(str::to_owned),
                    verb: Some(verb.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = reviews.create(&PostParams::default(), &review).await?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(verb);
        }
    }
    Ok(missing)
}

/// Starts the watch of `trigger`'s objects; every change that can matter wakes the template.
fn start_watch(
    ctx: &Arc<TriggerContext>,
    template: &WorkflowTemplate,
    trigger: &ResourceTrigger,
    resource: &ApiResource,
    namespace: Option<String>,
) -> Watch {
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, resource),
        None => Api::all_with(ctx.client.clone(), resource),
    };
    let mut config = watcher::Config::default();
    if let Some(object) = &trigger.object_name {
        config = config.fields(&format!("metadata.name={object}"));
    }
    if let Ok(Some(selector)) = trigger.label_selector() {
        config = config.labels(&selector);
    }
    let state = Arc::new(Mutex::new(WatchState::default()));
    let template_ref = ObjectRef::from_obj(template);
    let task = tokio::spawn(follow(
        api,
        config,
        trigger.clone(),
        Arc::clone(&state),
        ctx.wake.clone(),
        template_ref,
    ));
    tracing::info!(template = %template.name_any(), trigger = %trigger.name, kind = %trigger.kind, namespace = namespace.as_deref().unwrap_or("(cluster)"), "watching");
    Watch {
        namespace,
        plural: resource.plural.clone(),
        state,
        task,
    }
}

/// The watch loop: keeps `state` (stripped objects, when each changed) and wakes the template.
async fn follow(
    api: Api<DynamicObject>,
    config: watcher::Config,
    trigger: ResourceTrigger,
    state: Arc<Mutex<WatchState>>,
    wake: mpsc::UnboundedSender<ObjectRef<WorkflowTemplate>>,
    template: ObjectRef<WorkflowTemplate>,
) {
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        let woke = {
            let mut state = lock(&state);
            on_event(&trigger, &mut state, event, Timestamp::now())
        };
        if woke {
            let _ = wake.send(template.clone());
        }
    }
}

/// Applies one watch event to `state`; true when the template should look again.
fn on_event(
    trigger: &ResourceTrigger,
    state: &mut WatchState,
    event: Result<watcher::Event<DynamicObject>, watcher::Error>,
    now: Timestamp,
) -> bool {
    let observe = |obj: &DynamicObject, changed_at| {
        let value = serde_json::to_value(obj).unwrap_or_default();
        SeenObject::observe(trigger, &value, changed_at)
    };
    match event {
        Err(err) => {
            let text = err.to_string();
            let changed = state.error.as_deref() != Some(text.as_str());
            tracing::warn!(trigger = %trigger.name, error = %text, "watching the trigger's objects failed; retrying");
            state.error = Some(text);
            changed
        }
        Ok(watcher::Event::Init) => {
            state.relisting = Some(BTreeMap::new());
            false
        }
        Ok(watcher::Event::InitApply(obj)) => {
            let seen = observe(&obj, None);
            state
                .relisting
                .get_or_insert_with(BTreeMap::new)
                .insert(seen.uid.clone(), seen);
            false
        }
        Ok(watcher::Event::InitDone) => {
            let listed = state.relisting.take().unwrap_or_default();
            // On a re-list, what changed in the gap changed now (the debounce clock); on the
            // first list nothing is known to have changed.
            let relist = state.listed;
            let mut present = BTreeMap::new();
            for (uid, mut seen) in listed {
                seen.changed_at = match state.present.get(&uid) {
                    Some(before) if before.fingerprint == seen.fingerprint => before.changed_at,
                    _ if relist => Some(now),
                    _ => None,
                };
                present.insert(uid, seen);
            }
            if relist {
                for (uid, mut before) in std::mem::take(&mut state.present) {
                    if !present.contains_key(&uid) {
                        before.changed_at = Some(now);
                        state.gone.insert(uid, before);
                    }
                }
            }
            state.present = present;
            state.listed = true;
            state.error = None;
            true
        }
        Ok(watcher::Event::Apply(obj)) => {
            let mut seen = observe(&obj, Some(now));
            let changed = match state.present.get(&seen.uid) {
                Some(before) if before.fingerprint == seen.fingerprint => {
                    seen.changed_at = before.changed_at;
                    false
                }
                _ => true,
            };
            state.error = None;
            state.present.insert(seen.uid.clone(), seen);
            changed
        }
        Ok(watcher::Event::Delete(obj)) => {
            let mut seen = observe(&obj, Some(now));
            if let Some(before) = state.present.remove(&seen.uid) {
                // Its last content as the watch saw it, its parameters as deleted.
                seen.fingerprint = before.fingerprint;
            }
            state.gone.insert(seen.uid.clone(), seen);
            true
        }
    }
}

/// Writes the trigger entries of the status when they changed, remembers them, and lets each
/// watch forget the deleted objects the record no longer holds.
async fn write_status(
    ctx: &TriggerContext,
    template: &WorkflowTemplate,
    uid: &str,
    previous: &[ResourceTriggerStatus],
    entries: Vec<ResourceTriggerStatus>,
) -> Result<(), TriggerReconcileError> {
    let name = template.name_any();
    let namespace = template.namespace().unwrap_or_default();
    if entries.as_slice() != previous {
        let api: Api<WorkflowTemplate> = Api::namespaced(ctx.client.clone(), &namespace);
        let value = if entries.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::to_value(&entries).unwrap_or_default()
        };
        let patch = json!({ "status": { "resourceTriggers": value } });
        let params = PatchParams {
            field_manager: Some(MANAGER.to_owned()),
            ..Default::default()
        };
        match api
            .patch_status(&name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(err) if has_status(&err, 404) => return Ok(()),
            Err(source) => return Err(TriggerReconcileError::PatchStatus { name, source }),
        }
    }
    let triggers = lock(&ctx.triggers);
    for entry in &entries {
        let id = (namespace.clone(), name.clone(), entry.name.clone());
        if let Some(TriggerState {
            outcome: Checked::Watching(w),
            ..
        }) = triggers.get(&id)
        {
            lock(&w.state)
                .gone
                .retain(|uid, _| entry.objects.iter().any(|o| &o.uid == uid));
        }
    }
    drop(triggers);
    lock(&ctx.written).insert(uid.to_owned(), entries);
    Ok(())
}

fn error_policy(
    template: Arc<WorkflowTemplate>,
    err: &TriggerReconcileError,
    _ctx: Arc<TriggerContext>,
) -> Action {
    tracing::warn!(template = %template.name_any(), error = %err, "resource trigger reconcile failed; retrying");
    Action::requeue(RECHECK.min(Duration::from_secs(5)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn trigger() -> ResourceTrigger {
        ResourceTrigger {
            name: "config".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            ..Default::default()
        }
    }

    fn cm(uid: &str, data: &str) -> DynamicObject {
        let mut obj = DynamicObject {
            types: None,
            metadata: ObjectMeta {
                name: Some(format!("cm-{uid}")),
                uid: Some(uid.to_owned()),
                ..Default::default()
            },
            data: json!({"data": {"k": data}}),
        };
        obj.metadata.labels = Some([("a".to_owned(), data.to_owned())].into());
        obj
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s as i64).unwrap()
    }

    #[test]
    fn the_first_list_has_no_change_times_and_a_relist_dates_the_gap() {
        let t = trigger();
        let mut state = WatchState::default();
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(cm("a", "1")),
            watcher::Event::InitApply(cm("b", "1")),
        ] {
            assert!(!on_event(&t, &mut state, Ok(event), at(0)));
        }
        assert!(on_event(
            &t,
            &mut state,
            Ok(watcher::Event::InitDone),
            at(0)
        ));
        assert!(state.listed);
        assert!(state.present.values().all(|o| o.changed_at.is_none()));

        // A label-only write: no wake-up, and the change time stays.
        assert!(!on_event(
            &t,
            &mut state,
            Ok(watcher::Event::Apply(cm_relabel("a", "1"))),
            at(1)
        ));
        assert_eq!(state.present["a"].changed_at, None);
        assert!(on_event(
            &t,
            &mut state,
            Ok(watcher::Event::Apply(cm("a", "2"))),
            at(2)
        ));
        assert_eq!(state.present["a"].changed_at, Some(at(2)));

        // A re-list: b changed in the gap, a did not, c is new, nothing was deleted.
        on_event(&t, &mut state, Ok(watcher::Event::Init), at(5));
        for obj in [cm("a", "2"), cm("b", "9"), cm("c", "1")] {
            on_event(&t, &mut state, Ok(watcher::Event::InitApply(obj)), at(5));
        }
        on_event(&t, &mut state, Ok(watcher::Event::InitDone), at(5));
        assert_eq!(state.present["a"].changed_at, Some(at(2)));
        assert_eq!(state.present["b"].changed_at, Some(at(5)));
        assert_eq!(state.present["c"].changed_at, Some(at(5)));

        // A re-list without c: c is gone, as of the re-list.
        on_event(&t, &mut state, Ok(watcher::Event::Init), at(7));
        for obj in [cm("a", "2"), cm("b", "9")] {
            on_event(&t, &mut state, Ok(watcher::Event::InitApply(obj)), at(7));
        }
        on_event(&t, &mut state, Ok(watcher::Event::InitDone), at(7));
        assert_eq!(state.gone["c"].changed_at, Some(at(7)));

        assert!(on_event(
            &t,
            &mut state,
            Ok(watcher::Event::Delete(cm("b", "9"))),
            at(8)
        ));
        assert!(!state.present.contains_key("b"));
        assert_eq!(state.gone["b"].changed_at, Some(at(8)));
    }

    fn cm_relabel(uid: &str, data: &str) -> DynamicObject {
        let mut obj = cm(uid, data);
        obj.metadata.labels = Some([("other".to_owned(), "x".to_owned())].into());
        obj.metadata.annotations = Some([("n".to_owned(), "1".to_owned())].into());
        obj
    }
}
