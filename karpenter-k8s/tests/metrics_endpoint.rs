//! The `/metrics` endpoint over HTTP: status, content type, body, other
//! paths and methods, and shutdown.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use karpenter_core::producers::{MetricSink, producer_labels};
use karpenter_k8s::http::{HttpServer, Response, Routes, metrics_routes};
use karpenter_k8s::prometheus::Metrics;

fn client() -> reqwest::Client {
    karpenter_k8s::tls::install_crypto_provider();
    reqwest::Client::new()
}

#[tokio::test]
async fn metrics_are_served_and_other_requests_refused() {
    let metrics = Arc::new(Metrics::new());
    metrics.set_gauge(
        "karpenter_queue_length",
        &producer_labels("orders", "shop"),
        12.0,
    );
    let server = HttpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        metrics_routes(metrics.clone()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let http = client();

    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains(
        "# HELP karpenter_queue_length Messages waiting in the MetricsProducer's queue.\n"
    ));
    assert!(body.contains("karpenter_queue_length{name=\"orders\",namespace=\"shop\"} 12.0\n"));
    assert!(body.ends_with("# EOF\n"));

    // Each scrape sees the values of that moment.
    metrics.set_gauge(
        "karpenter_queue_length",
        &producer_labels("orders", "shop"),
        0.0,
    );
    let body = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("karpenter_queue_length{name=\"orders\",namespace=\"shop\"} 0.0\n"));

    let head = http.head(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.text().await.unwrap(), "");

    let missing = http.get(format!("{base}/metric")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let post = http.post(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    stop.send(()).unwrap();
    running.await.unwrap();
    let after = http.get(format!("{base}/metrics")).send().await;
    assert!(after.is_err(), "no longer listening: {after:?}");
}

#[tokio::test]
async fn other_routes_can_be_added_and_a_taken_port_is_reported() {
    let routes = Routes::new().route("/healthz", || Response::text("ok\n"));
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), routes.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(std::future::pending()));
    let r = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "ok\n".to_string())
    );

    let err = HttpServer::bind(addr, routes).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot listen on {addr}: ")),
        "{text}"
    );
    assert!(
        text.ends_with("choose a free address and port (e.g. 0.0.0.0:8080)"),
        "{text}"
    );
}
