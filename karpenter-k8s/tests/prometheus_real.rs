//! Prometheus in and out against a real Prometheus server (the Debian
//! package `prometheus`; `.ci/run` installs it): the test serves `/metrics`
//! on loopback, starts Prometheus on a free loopback port with a 1 s scrape
//! interval, and reads what it scraped back through the HTTP API.
//!
//! - a queue producer's gauge goes through a real scrape and a real PromQL
//!   query into a HorizontalAutoscaler decision that scales a target;
//! - a deleted producer's series disappears from Prometheus;
//! - a Prometheus serving https with a private CA's certificate is read
//!   with the CA file, and refused without it;
//! - the real server's answers to bad queries are the client's distinct
//!   errors;
//! - karpenter-fake's metric source conformance suite passes.
//!
//! Without the `prometheus` binary the tests say so loudly and pass, except
//! under CI (`CI` set), where they fail.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, Metric, MetricsProducer};
use karpenter_core::async_trait;
use karpenter_core::producers::{self, ProducerContext};
use karpenter_core::provider::{
    MetricSource, ProviderErrorKind, ProviderRegistry, ProviderResult, Scale, ScaleTarget,
};
use karpenter_core::reconcile::{AutoscalerContext, reconcile_autoscaler};
use karpenter_fake::conformance::{self, HarnessResult, MetricSourceHarness};
use karpenter_fake::{FakeMetricStore, FakeProvider, FakeQueue, SimClock};
use karpenter_k8s::http::{HttpServer, metrics_routes};
use karpenter_k8s::prometheus::{
    DecisionOutcome, Metrics, PrometheusConfig, PrometheusProvider, PrometheusSource,
};

/// How long Prometheus may take to start, and a scraped value to show up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `prometheus` binary on PATH.
fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
}

/// Without the binary: a loud message, and a failure under CI.
fn missing_binary() {
    let banner = "!".repeat(78);
    let message = "SKIPPED: the `prometheus` binary is not on PATH, so the real-Prometheus tests did not run.\nInstall it with `apt-get install -y prometheus` (the Debian package); .ci/run does.";
    eprintln!("\n{banner}\n{message}\n{banner}\n");
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and the prometheus binary is missing: .ci/run must install it"
    );
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test CA and a server certificate it signed for `127.0.0.1` and
/// `localhost`, as PEM files.
struct TestPki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "karpenter-rs test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params
            .distinguished_name
            .push(DnType::CommonName, "prometheus");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Self {
            ca: write("ca.crt", ca.pem()),
            cert: write("server.crt", cert.pem()),
            key: write("server.key", key.serialize_pem()),
            _dir: dir,
        }
    }
}

/// A Prometheus server scraping one target every second, killed on drop.
struct PrometheusServer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
    /// The CA of its TLS certificate, when it serves https.
    ca: Option<PathBuf>,
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target`'s `/metrics`, and waits until it
    /// is ready. `None` when the binary is missing.
    async fn start(target: SocketAddr) -> Option<Self> {
        Self::start_with(target, None).await
    }

    /// Like [`start`](Self::start); with `tls`, Prometheus serves https with
    /// the test PKI's server certificate.
    async fn start_with(target: SocketAddr, tls: Option<&TestPki>) -> Option<Self> {
        let binary = prometheus_binary()?;
        // The port is free when picked, but another process may take it
        // before Prometheus does: try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: karpenter\n    static_configs:\n      - targets: ['{target}']\n"
                ),
            )
            .unwrap();
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let mut command = Command::new(&binary);
            if let Some(pki) = tls {
                let web = dir.path().join("web.yml");
                std::fs::write(
                    &web,
                    format!(
                        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                        pki.cert.display(),
                        pki.key.display()
                    ),
                )
                .unwrap();
                command.arg(format!("--web.config.file={}", web.display()));
            }
            let child = command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut server = Self {
                child,
                url: format!("{scheme}://127.0.0.1:{port}"),
                dir,
                ca: tls.map(|pki| pki.ca.clone()),
            };
            if server.wait_ready().await {
                return Some(server);
            }
            last_log = server.log();
        }
        panic!("Prometheus did not become ready on three ports; its last log:\n{last_log}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Polls `/-/ready` until it answers 200 (true) or the process exits or
    /// [`READY_TIMEOUT`] passes (false).
    async fn wait_ready(&mut self) -> bool {
        // reqwest is built without a default crypto provider.
        karpenter_k8s::tls::install_crypto_provider();
        let mut http = reqwest::Client::builder();
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap();
            http = http.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap());
        }
        let http = http.build().unwrap();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(r) = http.get(format!("{}/-/ready", self.url)).send().await
                && r.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    fn source(&self) -> PrometheusSource {
        let mut config = PrometheusConfig::new(&self.url);
        if let Some(ca) = &self.ca {
            config = config.with_ca_file(ca);
        }
        PrometheusSource::new(config).unwrap()
    }
}

/// Polls `query` until `done` accepts its result, up to [`SCRAPE_TIMEOUT`];
/// returns the last result.
async fn poll(
    source: &PrometheusSource,
    query: &str,
    done: impl Fn(&ProviderResult<f64>) -> bool,
    server: &PrometheusServer,
) -> ProviderResult<f64> {
    let deadline = Instant::now() + SCRAPE_TIMEOUT;
    loop {
        let r = source.query(query).await;
        if done(&r) {
            return r;
        }
        if Instant::now() > deadline {
            panic!(
                "query {query:?} still gives {r:?} after {SCRAPE_TIMEOUT:?}; Prometheus log:\n{}",
                server.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `query` until it returns `value`.
async fn wait_for(source: &PrometheusSource, query: &str, value: f64, server: &PrometheusServer) {
    let got = poll(source, query, |r| r == &Ok(value), server).await;
    assert_eq!(got, Ok(value));
}

/// `/metrics` on a free loopback port, serving `metrics`.
async fn serve_metrics(metrics: Arc<Metrics>) -> SocketAddr {
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), metrics_routes(metrics))
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(std::future::pending()));
    addr
}

/// A scale target in memory: its replicas and the writes it got.
struct Target {
    scale: Mutex<Scale>,
    writes: Mutex<Vec<i32>>,
}

#[async_trait]
impl ScaleTarget for Target {
    async fn scale(&self) -> ProviderResult<Scale> {
        Ok(self.scale.lock().unwrap().clone())
    }

    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        self.writes.lock().unwrap().push(replicas);
        self.scale.lock().unwrap().spec_replicas = replicas;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_gauge_goes_through_prometheus_into_a_decision() {
    let metrics = Arc::new(Metrics::new());
    let target_addr = serve_metrics(metrics.clone()).await;
    let Some(server) = PrometheusServer::start(target_addr).await else {
        return missing_binary();
    };
    let source = server.source();
    // Prometheus scrapes us.
    wait_for(&source, r#"up{job="karpenter"}"#, 1.0, &server).await;

    // A queue producer with 24 messages waiting, evaluated by core, exported.
    let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap());
    let fake = FakeProvider::new(FakeMetricStore::new());
    fake.add_queue(FakeQueue::builder("orders").messages(24).build(&clock));
    let mut producer_registry = ProviderRegistry::new();
    producer_registry.register(Arc::new(fake)).unwrap();
    let producer: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"queue": {"type": "FakeQueue", "id": "orders"}}
    }))
    .unwrap();
    let out = producers::evaluate(
        &producer,
        &ProducerContext::new(clock.now(), &producer_registry),
    )
    .await
    .unwrap();
    metrics.replace_producer("shop", "orders", &out.gauges);
    // A second queue, so a query without the name label matches two series.
    let other: Vec<_> = out
        .gauges
        .iter()
        .map(|g| producers::Gauge {
            labels: producers::producer_labels("returns", "shop"),
            value: 3.0,
            ..g.clone()
        })
        .collect();
    metrics.replace_producer("shop", "returns", &other);

    let query = r#"karpenter_queue_length{name="orders",namespace="shop"}"#;
    wait_for(&source, query, 24.0, &server).await;

    // The decision: 24 messages at 4 per node is 6 nodes, from 2.
    let autoscaler: HorizontalAutoscaler = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "orders"},
            "minReplicas": 0, "maxReplicas": 100,
            "metrics": [{"prometheus": {"query": query, "target": {"type": "AverageValue", "value": 4}}}]
        }
    }))
    .unwrap();
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(PrometheusProvider::from_source(server.source())))
        .unwrap();
    let target = Target {
        scale: Mutex::new(Scale {
            spec_replicas: 2,
            status_replicas: 2,
            selector: None,
        }),
        writes: Mutex::new(Vec::new()),
    };
    let ctx = AutoscalerContext {
        now: Utc::now(),
        target: &target,
        providers: &registry,
    };
    let outcome = reconcile_autoscaler(&autoscaler, &ctx).await;
    assert_eq!(outcome.readings, vec![Ok(24.0)]);
    assert_eq!(outcome.status.desired_replicas, 6, "{:?}", outcome.errors);
    assert_eq!(*target.writes.lock().unwrap(), vec![6]);
    assert_eq!(DecisionOutcome::of(&outcome), DecisionOutcome::ScaledUp);
    metrics.record_decision("shop", "orders", &outcome);
    wait_for(
        &source,
        r#"karpenter_autoscaler_desired_replicas{name="orders",namespace="shop"}"#,
        6.0,
        &server,
    )
    .await;
    wait_for(
        &source,
        r#"karpenter_autoscaler_decisions_total{name="orders",namespace="shop",outcome="scaled_up"}"#,
        1.0,
        &server,
    )
    .await;

    // The real server's answers to bad queries: each its own error.
    let cases: [(&str, ProviderErrorKind, &str); 8] = [
        (
            "karpenter_queue_length",
            ProviderErrorKind::InvalidId,
            "returned 2 series",
        ),
        (
            "karpenter_queue_length{name=\"nothing\"}",
            ProviderErrorKind::NotFound,
            "returned no series",
        ),
        (
            "sum(karpenter_queue_length",
            ProviderErrorKind::InvalidId,
            "HTTP 400 Bad Request",
        ),
        (
            "scalar(karpenter_queue_length{name=\"orders\"})",
            ProviderErrorKind::InvalidId,
            "returned a scalar",
        ),
        (
            "karpenter_queue_length{name=\"orders\"}[1m]",
            ProviderErrorKind::InvalidId,
            "returned a matrix",
        ),
        ("vector(0) / 0", ProviderErrorKind::Other, "returned NaN"),
        ("vector(1) / 0", ProviderErrorKind::Other, "returned +Inf"),
        ("vector(-1) / 0", ProviderErrorKind::Other, "returned -Inf"),
    ];
    for (query, kind, text) in cases {
        let err = source.query(query).await.unwrap_err();
        assert_eq!(err.kind, kind, "{query}: {err}");
        assert!(err.message.contains(text), "{query}: {err}");
    }

    // A failing metric leaves the target alone (the engine's rule).
    let broken: HorizontalAutoscaler = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "broken", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "orders"},
            "minReplicas": 0, "maxReplicas": 100,
            "metrics": [{"prometheus": {"query": "karpenter_queue_length", "target": {"type": "AverageValue", "value": 4}}}]
        }
    }))
    .unwrap();
    let outcome = reconcile_autoscaler(&broken, &ctx).await;
    assert!(outcome.write.is_none());
    assert_eq!(outcome.status.desired_replicas, 6);
    assert_eq!(DecisionOutcome::of(&outcome), DecisionOutcome::Inactive);

    // The deleted producer's series goes away from Prometheus too.
    metrics.remove_producer("shop", "orders");
    let gone = poll(&source, query, |r| r.is_err(), &server).await;
    assert_eq!(gone.unwrap_err().kind, ProviderErrorKind::NotFound);
    assert_eq!(
        source
            .query(r#"karpenter_queue_length{name="returns"}"#)
            .await,
        Ok(3.0),
        "the other producer's series stays"
    );
}

/// karpenter-fake's conformance suite for metric sources: values published
/// on `/metrics` come back through a real scrape exactly, the latest wins,
/// and a metric without data is `NotFound`.
struct RealPrometheus {
    metrics: Arc<Metrics>,
    source: Arc<PrometheusSource>,
    server: PrometheusServer,
}

fn query_for(name: &str) -> String {
    format!(r#"karpenter_conformance_value{{name="{name}",namespace="conformance"}}"#)
}

fn metric_for(name: &str) -> Metric {
    serde_json::from_value(serde_json::json!({
        "prometheus": {"query": query_for(name), "target": {"type": "Value", "value": 1}}
    }))
    .unwrap()
}

#[async_trait]
impl MetricSourceHarness for RealPrometheus {
    fn description(&self) -> String {
        format!("Prometheus at {}", self.server.url)
    }

    fn source(&self) -> Arc<dyn MetricSource> {
        self.source.clone()
    }

    async fn publish(&self, name: &str, value: f64) -> HarnessResult<Metric> {
        let labels = producers::producer_labels(name, "conformance");
        karpenter_core::producers::MetricSink::set_gauge(
            self.metrics.as_ref(),
            "karpenter_conformance_value",
            &labels,
            value,
        );
        // Returns once the value can be read: after a scrape.
        let _ = poll(
            &self.source,
            &query_for(name),
            |r| r.as_ref().is_ok_and(|v| v.to_bits() == value.to_bits()),
            &self.server,
        )
        .await;
        Ok(metric_for(name))
    }

    async fn metric_without_data(&self) -> HarnessResult<Metric> {
        Ok(metric_for("never-published"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_passes_the_metric_source_conformance_suite() {
    let metrics = Arc::new(Metrics::new());
    let target_addr = serve_metrics(metrics.clone()).await;
    let Some(server) = PrometheusServer::start(target_addr).await else {
        return missing_binary();
    };
    let harness = RealPrometheus {
        metrics,
        source: Arc::new(server.source()),
        server,
    };
    let report = conformance::metric_source(&harness).await;
    println!("{report}");
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
}

/// A Prometheus serving https with a certificate of a private CA: read with
/// the CA file, refused without it (a distinct, non-retryable error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_behind_tls_is_read_with_its_ca_file() {
    let metrics = Arc::new(Metrics::new());
    let target_addr = serve_metrics(metrics.clone()).await;
    let pki = TestPki::new();
    let Some(server) = PrometheusServer::start_with(target_addr, Some(&pki)).await else {
        return missing_binary();
    };
    assert!(server.url.starts_with("https://127.0.0.1:"));
    metrics.replace_producer(
        "shop",
        "orders",
        &[producers::Gauge {
            name: "karpenter_queue_length",
            labels: producers::producer_labels("orders", "shop"),
            value: 24.0,
        }],
    );
    let source = server.source();
    wait_for(
        &source,
        r#"karpenter_queue_length{name="orders"}"#,
        24.0,
        &server,
    )
    .await;

    // The system's CAs alone do not trust the private CA.
    let untrusting = PrometheusSource::new(PrometheusConfig::new(&server.url)).unwrap();
    let err = untrusting.query("vector(1)").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Other, "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.message.starts_with(&format!(
            "TLS with Prometheus at {} failed for query \"vector(1)\": ",
            server.url
        )),
        "{err}"
    );
    assert!(
        err.message
            .contains("give the CA that signed the server's certificate"),
        "{err}"
    );

    // Plain http to the https port is no Prometheus answer.
    let plain =
        PrometheusSource::new(PrometheusConfig::new(server.url.replace("https", "http"))).unwrap();
    let err = plain.query("vector(1)").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Other, "{err}");
    assert!(err.message.contains("HTTP 400 Bad Request"), "{err}");
    assert!(
        err.message
            .contains("this is not Prometheus's answer: check the Prometheus URL"),
        "{err}"
    );
}

/// The whole pipeline on one machine: a fake queue → the MetricsProducer
/// controller → `/metrics` → a real Prometheus scrape → the
/// HorizontalAutoscaler controller's PromQL query (not an exact selector,
/// so it goes to Prometheus) → the decision → the scale write → the
/// ScalableNodeGroup controller → the fake node group's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pipeline_from_a_fake_queue_through_prometheus_to_a_node_group() {
    use karpenter_k8s::controller::{Controller, ControllerConfig, NodeGroupsAndQueues};
    use karpenter_k8s::fake_api::FakeApi;
    use serde_json::json;

    let metrics = Arc::new(Metrics::new());
    let target_addr = serve_metrics(metrics.clone()).await;
    let Some(server) = PrometheusServer::start(target_addr).await else {
        return missing_binary();
    };

    let clock = SimClock::new(Utc::now());
    let fake = FakeProvider::new(FakeMetricStore::new());
    fake.add_queue(FakeQueue::builder("jobs").messages(20).build(&clock));
    let group = karpenter_fake::FakeNodeGroup::builder("workers")
        .replicas(1)
        .build(&clock);
    fake.add_node_group(group.clone());
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(NodeGroupsAndQueues(Arc::new(fake))))
        .unwrap();

    let api = FakeApi::new();
    const GROUP: &str = "autoscaling.karpenter.sh/v1alpha1";
    api.upsert(
        "scalablenodegroups",
        json!({"apiVersion": GROUP, "kind": "ScalableNodeGroup",
        "metadata": {"name": "workers", "namespace": "default"},
        "spec": {"type": "FakeNodeGroup", "id": "workers", "replicas": 1}}),
    )
    .unwrap();
    api.upsert(
        "metricsproducers",
        json!({"apiVersion": GROUP, "kind": "MetricsProducer",
        "metadata": {"name": "jobs", "namespace": "default"},
        "spec": {"queue": {"type": "FakeQueue", "id": "jobs"}}}),
    )
    .unwrap();
    // `sum(...)` is not an exact selector: only Prometheus can answer it.
    api.upsert(
        "horizontalautoscalers",
        json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
        "metadata": {"name": "workers", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "workers"},
                 "minReplicas": 1, "maxReplicas": 10,
                 "metrics": [{"prometheus": {"query": "sum(karpenter_queue_length{name=\"jobs\"})",
                                             "target": {"type": "AverageValue", "value": 4}}}]}}),
    )
    .unwrap();

    let remote = PrometheusSource::new(PrometheusConfig::new(server.url.clone())).unwrap();
    let config = ControllerConfig {
        sync_period: Duration::from_secs(1),
        producer_sync_period: Duration::from_secs(1),
        ..ControllerConfig::default()
    };
    let client = kube::Client::new(api.service(), "default");
    let controller =
        Arc::new(Controller::new(client, registry, metrics.clone(), Some(remote), config).unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let task = {
        let (c, s) = (controller.clone(), stop.clone());
        tokio::spawn(async move { c.run(s).await })
    };

    // 20 messages / 4 per node = 5 nodes, once Prometheus has scraped.
    let start = Instant::now();
    while group.desired() != 5 {
        assert!(
            start.elapsed() < SCRAPE_TIMEOUT,
            "the node group never reached 5 (at {}); HorizontalAutoscaler status: {}\nPrometheus log:\n{}",
            group.desired(),
            api.get("horizontalautoscalers", Some("default"), "workers")
                .unwrap()["status"],
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ha = api
        .get("horizontalautoscalers", Some("default"), "workers")
        .unwrap();
    assert_eq!(ha["status"]["currentMetrics"][0]["value"], 20.0);
    assert_eq!(
        api.get("scalablenodegroups", Some("default"), "workers")
            .unwrap()["spec"]["replicas"],
        5
    );
    stop.cancel();
    task.await.unwrap();
}
