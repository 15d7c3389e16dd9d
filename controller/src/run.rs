//! Wiring: client, start-up checks, the Job watch, leader election, the Controller, the HTTP
//! server, and shutdown on SIGTERM/SIGINT.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, future};
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kwf_api::{LABEL_WORKFLOW, Workflow};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::context::Context;
use crate::error::{ReconcileError, StartError, has_status};
use crate::events::Events;
use crate::job_cache::{self, JobCache};
use crate::leader::{Leadership, LeaseSettings};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimitLayer;
use crate::reconcile::{error_policy, reconcile};
use crate::server::{self, Readiness};

/// In-flight reconciles get this long to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where the running Controller's trigger channel is, so the Job watch can feed it; None while
/// this replica stands by (the events are then only cached).
type TriggerSlot = Arc<Mutex<Option<mpsc::UnboundedSender<Arc<Job>>>>>;

/// Runs the controller until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), StartError> {
    let metrics = Metrics::new();
    let kube_config = kube_config(&config).await?;
    let client = rate_limited_client(kube_config.clone(), config.qps, config.burst, &metrics)?;
    check_api(&client, &config).await?;

    let readiness = Readiness::default();
    let (addr, http) =
        server::bind(config.metrics_addr, metrics.clone(), readiness.clone()).await?;
    tracing::info!(address = %addr, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        if let Err(err) = http.await {
            tracing::error!(error = %err, "the metrics server stopped");
        }
    });

    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });

    let (store, writer) = reflector::store();
    let jobs = JobCache::new(store);
    let triggers: TriggerSlot = Arc::default();
    tokio::spawn(watch_jobs(
        client.clone(),
        config.namespace.clone(),
        writer,
        jobs.clone(),
        triggers.clone(),
        readiness,
    ));

    let identity = config.identity();
    let leadership = if config.leader_elect {
        Leadership::elect(
            client.clone(),
            LeaseSettings {
                name: config.lease_name.clone(),
                namespace: config.lease_namespace(),
                identity: identity.clone(),
                duration_seconds: config.lease_duration,
                grace_seconds: config.lease_grace(),
            },
        )
    } else {
        Leadership::always()
    };
    tracing::info!(identity = %identity, namespace = config.namespace.as_deref().unwrap_or("(all)"), leader_elect = config.leader_elect, "workflow-controller started");

    let event_client =
        rate_limited_client(kube_config, config.event_qps, config.event_burst, &metrics)?;
    let events = Events::start(
        event_client,
        identity.clone(),
        config.step_events,
        metrics.clone(),
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        events,
        metrics.clone(),
        jobs.clone(),
        identity,
    ));
    let mut leading = leadership.subscribe();
    let mut stop = shutdown.clone();
    loop {
        // Stand by until this replica leads (or is asked to stop).
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            led = leading.wait_for(|leads| *leads) => if led.is_err() { break },
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = jobs.store().wait_until_ready() => {}
        }
        let finished = lead(
            &config,
            &client,
            &triggers,
            &ctx,
            &metrics,
            &mut leading,
            shutdown.clone(),
        )
        .await;
        if finished {
            break;
        }
    }
    leadership.release().await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs the Controller while this replica leads. True when it ended for shutdown, false when
/// the leadership was lost (then every in-flight reconcile is dropped at once).
#[allow(clippy::too_many_arguments)]
async fn lead(
    config: &Config,
    client: &Client,
    triggers: &TriggerSlot,
    ctx: &Arc<Context>,
    metrics: &Metrics,
    leading: &mut watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) -> bool {
    let (trigger_tx, mut trigger_rx) = mpsc::unbounded_channel();
    set_triggers(triggers, Some(trigger_tx));
    let owned_jobs = futures::stream::poll_fn(move |cx| trigger_rx.poll_recv(cx));

    let mut wf_watch = watcher::Config::default();
    if let Some(selector) = &config.selector {
        wf_watch = wf_watch.labels(selector);
    }
    // The Workflow cache is ours (not Controller::new's) so that what is never read is dropped
    // before it is stored: managed fields and kubectl's last-applied copy of the spec.
    let (wf_store, wf_writer) = reflector::store();
    let workflows = watcher(workflows_api(client, config), wf_watch)
        .default_backoff()
        .modify(job_cache::strip_workflow)
        .reflect(wf_writer)
        .inspect_ok({
            let ctx = ctx.clone();
            let store = wf_store.clone();
            move |event| follow_workflow(&ctx, &store, event)
        })
        .applied_objects();
    let controller = Controller::for_stream(workflows, wf_store)
        .owns_shared_stream(owned_jobs)
        .with_config(controller::Config::default().concurrency(config.concurrency));
    // Reconcile every cached Workflow whose Job changed while we stood by: covered by the
    // Controller's initial list, which reconciles every Workflow once.
    metrics.set_workflow_store(Some(controller.store()));
    let mut graceful = shutdown.clone();
    let controller = controller
        .graceful_shutdown_on(async move {
            let _ = graceful.wait_for(|stopped| *stopped).await;
        })
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| {
            if let Err(err) = result {
                log_controller_error(&err);
            }
            future::ready(())
        });
    tracing::info!("leading: reconciling Workflows");

    let mut stop = shutdown;
    let ended_for_shutdown = tokio::select! {
        _ = controller => true,
        _ = leading.wait_for(|leads| !*leads) => false,
        // Bound the graceful shutdown: after the grace, in-flight reconciles are dropped.
        _ = async {
            let _ = stop.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => true,
    };
    set_triggers(triggers, None);
    metrics.set_workflow_store(None);
    if !ended_for_shutdown {
        tracing::warn!("standing by: the leadership was lost");
    }
    ended_for_shutdown
}

/// Keeps what the reconciler remembers per Workflow in step with the Workflow watch: a status
/// write seen back is dropped, and so is everything kept for a Workflow that is gone.
fn follow_workflow(
    ctx: &Context,
    store: &reflector::Store<Workflow>,
    event: &watcher::Event<Workflow>,
) {
    match event {
        watcher::Event::Apply(wf) | watcher::Event::InitApply(wf) => ctx.status_writes.seen(wf),
        watcher::Event::Delete(wf) => {
            if let Some(uid) = wf.metadata.uid.as_deref() {
                ctx.forget_workflow(uid);
            }
        }
        // The store has just swapped in the new list: what it lacks was deleted meanwhile.
        watcher::Event::InitDone => {
            let live = store
                .state()
                .iter()
                .filter_map(|wf| wf.metadata.uid.clone())
                .collect();
            ctx.retain_workflows(&live);
        }
        watcher::Event::Init => {}
    }
}

fn set_triggers(slot: &TriggerSlot, sender: Option<mpsc::UnboundedSender<Arc<Job>>>) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = sender;
}

fn log_controller_error(err: &controller::Error<ReconcileError, watcher::Error>) {
    match err {
        // Already logged (with backoff) by error_policy.
        controller::Error::ReconcilerFailed(..) => {}
        controller::Error::ObjectNotFound(obj) => {
            tracing::debug!(object = %obj, "Workflow gone before its reconcile")
        }
        other => tracing::warn!(error = %other, "controller"),
    }
}

/// The one watch of Jobs: keeps the stripped cache, the bookkeeping, and feeds the running
/// Controller's triggers. Runs for the life of the process, leader or not, so a standby takes
/// over with a warm cache.
async fn watch_jobs(
    client: Client,
    namespace: Option<String>,
    writer: reflector::store::Writer<Job>,
    jobs: JobCache,
    triggers: TriggerSlot,
    readiness: Readiness,
) {
    let api: Api<Job> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    // Only Jobs carrying the workflow label are ours to look at.
    let config = watcher::Config::default().labels(LABEL_WORKFLOW);
    let mut events = std::pin::pin!(
        watcher(api, config)
            .default_backoff()
            .modify(job_cache::strip)
            .reflect(writer)
    );
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watching Jobs failed; retrying");
                continue;
            }
        };
        let relevant = jobs.on_event(&event);
        match &event {
            watcher::Event::InitDone => readiness.set(true),
            watcher::Event::Apply(job)
            | watcher::Event::Delete(job)
            | watcher::Event::InitApply(job)
                if relevant =>
            {
                let sender = triggers.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(sender) = sender {
                    // The Controller maps the Job to its owning Workflow.
                    let _ = sender.send(Arc::new(job.clone()));
                }
            }
            _ => {}
        }
    }
    tracing::error!("the Job watch ended");
}

fn workflows_api(client: &Client, config: &Config) -> Api<Workflow> {
    match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The connection settings, from --kubeconfig/--context, $KUBECONFIG, ~/.kube/config or
/// in-cluster.
async fn kube_config(config: &Config) -> Result<kube::Config, StartError> {
    let options = KubeConfigOptions {
        context: config.context.clone(),
        ..Default::default()
    };
    let loaded = match (&config.kubeconfig, &config.context) {
        (Some(path), _) => {
            let file =
                Kubeconfig::read_from(path).map_err(|e| StartError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| e.to_string())
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| e.to_string()),
        (None, None) => kube::Config::infer().await.map_err(|e| e.to_string()),
    };
    loaded.map_err(StartError::Config)
}

/// A kube client with a rate limiter of its own (`qps`, `burst`) and the request counter in
/// its stack.
fn rate_limited_client(
    kube_config: kube::Config,
    qps: f64,
    burst: u32,
    metrics: &Metrics,
) -> Result<Client, StartError> {
    let builder =
        ClientBuilder::try_from(kube_config).map_err(|e| StartError::Config(e.to_string()))?;
    Ok(builder
        .with_layer(&RateLimitLayer::new(qps, burst, metrics.clone()))
        .build())
}

/// Fails early, with what to do, when the API server is unreachable, the CRD is missing or the
/// selector is invalid.
async fn check_api(client: &Client, config: &Config) -> Result<(), StartError> {
    let mut params = ListParams::default().limit(1);
    if let Some(selector) = &config.selector {
        params = params.labels(selector);
    }
    match workflows_api(client, config).list_metadata(&params).await {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Err(StartError::CrdNotInstalled),
        Err(kube::Error::Api(status)) if status.code == 400 && config.selector.is_some() => {
            Err(StartError::Selector {
                selector: config.selector.clone().unwrap_or_default(),
                reason: status.message.clone(),
            })
        }
        Err(err) => Err(StartError::Connect(err)),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
