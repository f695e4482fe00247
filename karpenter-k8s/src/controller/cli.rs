//! `karpenter controller`: the controllers in a process, with `/metrics`,
//! health probes, leader election, logs and a graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::api::coordination::v1::Lease;
use karpenter_core::clock::SystemClock;
use karpenter_core::provider::ProviderRegistry;
use kube::api::Api;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::leader::{LeaderElector, LeaseTimings};
use super::{Controller, ControllerConfig};
use crate::http::{HttpServer, Response, Routes, metrics_routes};
use crate::prometheus::{BearerToken, Metrics, PrometheusConfig, PrometheusSource};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `karpenter controller`'s flags.
#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Prometheus that HorizontalAutoscalers' `prometheus` queries go to
    /// (queries that are exact selectors on this controller's own gauges
    /// are answered in process). Without it only those can be read.
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// File holding a bearer token for Prometheus, read at every query (a
    /// projected service-account token rotates).
    #[arg(long, value_name = "PATH")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM CA bundle that Prometheus's TLS certificate chains to.
    #[arg(long, value_name = "PATH")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Where `/metrics` is served (producer gauges under the Karpenter v0.1
    /// names, reconcile counts and durations, decisions).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: SocketAddr,
    /// Where `/healthz` and `/readyz` are served. `/readyz` is ready once
    /// every watch has listed (a replica waiting for the leader Lease is
    /// ready too: it is healthy and standing by).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8081")]
    pub health_probe_bind_address: SocketAddr,
    /// Elect a leader through a coordination.k8s.io Lease: only the leader
    /// runs the controllers and exports producer gauges; another replica
    /// takes over when the leader stops renewing (15 s lease).
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease [default: $POD_NAMESPACE, else karpenter].
    #[arg(long, value_name = "NS")]
    pub leader_election_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(long, value_name = "NAME", default_value = "karpenter-leader")]
    pub leader_election_id: String,
    /// Watch the custom resources and pods of one namespace only [default:
    /// all namespaces]. Nodes are cluster-scoped and always watched.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// How often every HorizontalAutoscaler decides (also on changes of
    /// its inputs), e.g. `15s`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub sync_period: Duration,
    /// How often every ScalableNodeGroup is refreshed from its provider.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub node_group_sync_period: Duration,
    /// How often every MetricsProducer is evaluated (capacity producers
    /// also on Node and Pod events).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub producer_sync_period: Duration,
    /// The longest a HorizontalAutoscaler's decision history goes without
    /// being written to its status (it is also written whenever the desired
    /// size or the window's bounds change). A restart forgets at most this
    /// much of the window.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub history_persist_interval: Duration,
    /// Serve `spec.type: FakeNodeGroup` groups with these ids (in-memory
    /// groups that start empty and launch nodes at once), for trying the
    /// controller without a cloud. Repeat for several.
    #[arg(long, value_name = "ID")]
    pub fake_node_group: Vec<String>,
}

/// Why the controller stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No Kubernetes client configuration.
    #[error(
        "cannot build a Kubernetes client: {0}; run in a pod with a service account, or set KUBECONFIG"
    )]
    Client(#[source] kube::Error),
    /// Prometheus settings are wrong.
    #[error("--prometheus-url: {0}")]
    Prometheus(#[from] crate::prometheus::PrometheusConfigError),
    /// An address could not be bound.
    #[error(transparent)]
    Bind(#[from] crate::http::BindError),
    /// The providers could not be registered.
    #[error(transparent)]
    Setup(#[from] super::ControllerError),
    /// A provider could not be registered.
    #[error("registering the {provider} provider: {source}")]
    Registry {
        /// Which.
        provider: &'static str,
        /// Why.
        #[source]
        source: karpenter_core::provider::RegistryError,
    },
    /// This replica lost the leader Lease.
    #[error("lost the leader lease; exiting so that a fresh process campaigns again")]
    LostLease,
}

/// Sets up `tracing` for `format` (filter from `RUST_LOG`, default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The providers the binary serves: AWS (feature `aws`, on by default) and
/// the fake node groups named on the command line.
async fn registry(args: &ControllerArgs) -> Result<ProviderRegistry, RunError> {
    let mut registry = ProviderRegistry::new();
    #[cfg(feature = "aws")]
    {
        let aws = karpenter_aws::AwsProvider::from_env().await;
        registry
            .register(Arc::new(aws))
            .map_err(|source| RunError::Registry {
                provider: "aws",
                source,
            })?;
    }
    if !args.fake_node_group.is_empty() {
        let clock = karpenter_fake::SimClock::new(chrono::Utc::now());
        let fake = karpenter_fake::FakeProvider::new(karpenter_fake::FakeMetricStore::new());
        for id in &args.fake_node_group {
            fake.add_node_group(karpenter_fake::FakeNodeGroup::builder(id).build(&clock));
        }
        registry
            .register(Arc::new(super::NodeGroupsAndQueues(Arc::new(fake))))
            .map_err(|source| RunError::Registry {
                provider: "fake",
                source,
            })?;
    }
    Ok(registry)
}

fn health_routes(ready: Arc<AtomicBool>) -> Routes {
    Routes::new()
        .route("/healthz", || Response::text("ok\n"))
        .route("/readyz", move || {
            if ready.load(Ordering::Acquire) {
                Response::text("ok\n")
            } else {
                Response::text("caches are still syncing\n")
                    .with_status(hyper::StatusCode::SERVICE_UNAVAILABLE)
            }
        })
}

/// `url` without the user name and password it may carry, for logs.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("{u} (credentials redacted)")
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn terminated() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
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

/// Runs `karpenter controller` until SIGTERM (then finishes the writes in
/// flight, releases the Lease and returns `Ok`).
pub async fn run(args: ControllerArgs) -> Result<(), RunError> {
    init_logging(args.log_format);
    let client = kube::Client::try_default()
        .await
        .map_err(RunError::Client)?;
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            terminated().await;
            tracing::info!("termination signal received; finishing in-flight work");
            shutdown.cancel();
        });
    }
    run_with(client, args, shutdown).await
}

/// [`run`] with a given client and shutdown token (tests drive it).
pub async fn run_with(
    client: kube::Client,
    args: ControllerArgs,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let remote = match &args.prometheus_url {
        Some(url) => {
            let mut config = PrometheusConfig::new(url.clone());
            if let Some(path) = &args.prometheus_token_file {
                config = config.with_bearer_token(BearerToken::File(path.clone()));
            }
            if let Some(path) = &args.prometheus_ca_file {
                config = config.with_ca_file(path.clone());
            }
            Some(PrometheusSource::new(config)?)
        }
        None => {
            tracing::warn!(
                "no --prometheus-url: only queries on this controller's own gauges can be read"
            );
            None
        }
    };
    let metrics = Arc::new(Metrics::new());
    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("karpenter-{}", std::process::id()));
    let config = ControllerConfig {
        namespace: args.namespace.clone(),
        sync_period: args.sync_period,
        node_group_sync_period: args.node_group_sync_period,
        producer_sync_period: args.producer_sync_period,
        history_persist_interval: args.history_persist_interval,
        instance: Some(identity.clone()),
        ..ControllerConfig::default()
    };
    let controller = Arc::new(Controller::new(
        client.clone(),
        registry(&args).await?,
        metrics.clone(),
        remote,
        config,
    )?);

    let metrics_server =
        HttpServer::bind(args.metrics_bind_address, metrics_routes(metrics)).await?;
    let ready = Arc::new(AtomicBool::new(false));
    let health_server =
        HttpServer::bind(args.health_probe_bind_address, health_routes(ready.clone())).await?;
    tracing::info!(
        metrics = %metrics_server.local_addr(),
        health = %health_server.local_addr(),
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        prometheus = %args.prometheus_url.as_deref().map_or_else(|| "<none>".to_string(), redacted),
        "karpenter controller starting"
    );
    let servers_stop = CancellationToken::new();
    let servers = {
        let stop = servers_stop.clone();
        let stop2 = servers_stop.clone();
        tokio::spawn(async move {
            tokio::join!(
                metrics_server.serve(async move { stop.cancelled().await }),
                health_server.serve(async move { stop2.cancelled().await }),
            );
        })
    };

    let (leading_tx, mut leading) = watch::channel(!args.leader_elect);
    let elector = if args.leader_elect {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "karpenter".to_string());
        let elector = LeaderElector::new(
            Api::<Lease>::namespaced(client.clone(), &namespace),
            args.leader_election_id.clone(),
            identity.clone(),
            LeaseTimings::default(),
            Arc::new(SystemClock),
        );
        tracing::info!(lease = %format!("{namespace}/{}", args.leader_election_id), %identity, "campaigning for the leader lease");
        // Standing by is ready: a rollout must not wait on the leader.
        ready.store(true, Ordering::Release);
        Some(tokio::spawn(elector.run(leading_tx, shutdown.clone())))
    } else {
        drop(leading_tx);
        None
    };

    let result = 'run: {
        // Wait to lead (at once without election).
        while !*leading.borrow_and_update() {
            tokio::select! {
                () = shutdown.cancelled() => break 'run Ok(()),
                changed = leading.changed() => if changed.is_err() { break 'run Ok(()) },
            }
        }
        ready.store(false, Ordering::Release);
        let stop = shutdown.child_token();
        let run = controller.run(stop.clone());
        tokio::pin!(run);
        let mut sync_check = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                () = &mut run => break 'run Ok(()),
                _ = sync_check.tick() => {
                    if controller.is_synced() && !ready.swap(true, Ordering::AcqRel) {
                        tracing::info!(counts = ?controller.cache().counts(), "caches synced; ready");
                    }
                }
                changed = leading.changed(), if args.leader_elect => {
                    if changed.is_err() || !*leading.borrow() {
                        if shutdown.is_cancelled() {
                            continue;
                        }
                        stop.cancel();
                        run.await;
                        break 'run Err(RunError::LostLease);
                    }
                }
            }
        }
    };
    shutdown.cancel();
    if let Some(elector) = elector {
        let _ = elector.await;
    }
    servers_stop.cancel();
    let _ = servers.await;
    tracing::info!("karpenter controller stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_prometheus_url_are_not_logged() {
        let shown = redacted("https://admin:hunter2@prometheus.monitoring:9090/");
        assert!(
            !shown.contains("hunter2") && !shown.contains("admin"),
            "{shown}"
        );
        assert!(
            shown.starts_with("https://prometheus.monitoring:9090/"),
            "{shown}"
        );
        assert_eq!(
            redacted("http://prometheus:9090"),
            "http://prometheus:9090/"
        );
        assert_eq!(redacted("not a url"), "<unparseable URL>");
    }
}
