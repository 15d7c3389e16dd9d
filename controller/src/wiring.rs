//! Wiring: flags -> clients, start-up checks, the HTTP server, the Job watch, leader election,
//! the reconcilers of each leadership term, and shutdown on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::ListParams;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector;
use tokio::sync::watch;

use crate::config::Config;
use crate::context::Context;
use crate::error::{StartError, has_status};
use crate::events::Events;
use crate::job_cache::JobCache;
use crate::job_watch::{self, TriggerSlot};
use crate::leader::{Leadership, LeaseSettings};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimitLayer;
use crate::resource_triggers::ResourceTriggerReconciler;
use crate::server::{self, Readiness};
use crate::templates::TemplateReconciler;
use crate::term::{self, Reconciler};
use crate::volume_watch::{self, ClaimTriggers};
use crate::workflows::{WorkflowReconciler, workflows_api};

/// In-flight reconciles get this long to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Starts the controller and serves until SIGTERM or SIGINT; errors only at start-up.
pub async fn serve(config: Config) -> Result<(), StartError> {
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
    let triggers = TriggerSlot::default();
    tokio::spawn(job_watch::watch_jobs(
        client.clone(),
        config.namespace.clone(),
        writer,
        jobs.clone(),
        triggers.clone(),
        readiness,
    ));

    let claim_triggers = ClaimTriggers::default();
    let volumes = volume_watch::start(&client, config.namespace.as_deref(), claim_triggers.clone());

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
        metrics,
        jobs,
        volumes,
        identity,
    ));
    let reconcilers: Vec<Arc<dyn Reconciler>> = vec![
        Arc::new(TemplateReconciler {
            client: client.clone(),
            namespace: config.namespace.clone(),
        }),
        Arc::new(ResourceTriggerReconciler {
            client: client.clone(),
            namespace: config.namespace.clone(),
        }),
        Arc::new(WorkflowReconciler {
            client,
            namespace: config.namespace.clone(),
            selector: config.selector.clone(),
            concurrency: config.concurrency,
            ctx,
            triggers,
            claim_triggers,
        }),
    ];
    term::lead_terms(
        &reconcilers,
        leadership.subscribe(),
        shutdown,
        SHUTDOWN_GRACE,
    )
    .await;
    leadership.release().await;
    tracing::info!("stopped");
    Ok(())
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
    match workflows_api(client, config.namespace.as_deref())
        .list_metadata(&params)
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Err(StartError::CrdNotInstalled),
        Err(kube::Error::Api(status)) if status.code == 400 && config.selector.is_some() => {
            Err(StartError::Selector {
                selector: config.selector.clone().unwrap_or_default(),
                reason: status.message.clone(),
            })
        }
        Err(err) => Err(StartError::Connect(err)),
    }?;
    let templates: kube::Api<kwf_api::JobTemplate> = match config.namespace.as_deref() {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    match templates
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Err(StartError::JobTemplateCrdNotInstalled),
        Err(err) => Err(StartError::Connect(err)),
    }?;
    let workflow_templates: kube::Api<kwf_api::WorkflowTemplate> = match config.namespace.as_deref()
    {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    match workflow_templates
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if has_status(&err, 404) => Err(StartError::WorkflowTemplateCrdNotInstalled),
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
