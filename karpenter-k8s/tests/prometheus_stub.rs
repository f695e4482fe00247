//! The Prometheus client against a loopback stub server that answers each
//! error case on demand: HTTP errors, timeouts, a refused connection,
//! answers that are not Prometheus's, the bearer token and the CA file.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use karpenter_core::api::v1alpha1::Metric;
use karpenter_core::provider::{MetricSource, ProviderErrorKind, ProviderRegistry};
use karpenter_k8s::prometheus::{
    BearerToken, PrometheusConfig, PrometheusProvider, PrometheusSource,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the stub answers: status line, body, and how long it waits first.
#[derive(Clone)]
struct Answer {
    status: &'static str,
    body: String,
    delay: Duration,
}

impl Answer {
    fn ok(body: &str) -> Self {
        Self {
            status: "200 OK",
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    fn status(status: &'static str, body: &str) -> Self {
        Self {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// A loopback HTTP server answering every request with `answer`, and
/// recording each request's head (request line and headers).
struct Stub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = answer.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).to_string());
                    tokio::time::sleep(answer.delay).await;
                    let response = format!(
                        "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        answer.status,
                        answer.body.len(),
                        answer.body
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

const ONE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"name":"orders"},"value":[1767600000.5,"24"]}]}}"#;

fn metric(query: &str) -> Metric {
    serde_json::from_value(serde_json::json!({
        "prometheus": {"query": query, "target": {"type": "AverageValue", "value": 4}}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_query_goes_to_api_v1_query_url_encoded() {
    let stub = Stub::start(Answer::ok(ONE)).await;
    let source = PrometheusSource::new(PrometheusConfig::new(stub.url())).unwrap();
    let v = source
        .value(&metric(r#"karpenter_queue_length{name="orders"}"#))
        .await
        .unwrap();
    assert_eq!(v, 24.0);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with(
            "GET /api/v1/query?query=karpenter_queue_length%7Bname%3D%22orders%22%7D HTTP/1.1\r\n"
        ),
        "{}",
        requests[0]
    );
    assert!(!requests[0].to_ascii_lowercase().contains("authorization"));
}

#[tokio::test]
async fn a_path_prefix_is_kept() {
    let stub = Stub::start(Answer::ok(ONE)).await;
    let source =
        PrometheusSource::new(PrometheusConfig::new(format!("{}/prometheus", stub.url()))).unwrap();
    source.query("up").await.unwrap();
    assert!(stub.requests()[0].starts_with("GET /prometheus/api/v1/query?query=up "));
}

/// Each HTTP error status, with Prometheus's own error body where it has
/// one: the kind, whether it is retryable, and the message.
#[tokio::test]
async fn http_errors_have_their_own_kinds() {
    let bad_data = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#;
    let execution = r#"{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}"#;
    let timeout = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
    let unavailable =
        r#"{"status":"error","errorType":"unavailable","error":"Service Unavailable"}"#;
    let cases = [
        (
            Answer::status("400 Bad Request", bad_data),
            ProviderErrorKind::InvalidId,
            false,
            "HTTP 400 Bad Request to query \"sum(\": bad_data: 1:5: parse error: unclosed left parenthesis; fix the query",
        ),
        (
            Answer::status("422 Unprocessable Entity", execution),
            ProviderErrorKind::InvalidId,
            false,
            "execution: found duplicate series",
        ),
        (
            Answer::status(
                "400 Bad Request",
                "Client sent an HTTP request to an HTTPS server.",
            ),
            ProviderErrorKind::Other,
            false,
            "this is not Prometheus's answer: check the Prometheus URL",
        ),
        (
            Answer::status("401 Unauthorized", "Unauthorized"),
            ProviderErrorKind::AccessDenied,
            false,
            "HTTP 401 Unauthorized to query \"sum(\": \"Unauthorized\"; check the bearer token",
        ),
        (
            Answer::status("403 Forbidden", ""),
            ProviderErrorKind::AccessDenied,
            false,
            "an empty body; check the bearer token",
        ),
        (
            Answer::status("404 Not Found", "404 page not found"),
            ProviderErrorKind::Other,
            false,
            "it should be the server's base URL, without /api/v1",
        ),
        (
            Answer::status("429 Too Many Requests", ""),
            ProviderErrorKind::Throttled,
            true,
            "HTTP 429",
        ),
        (
            Answer::status("500 Internal Server Error", "oops"),
            ProviderErrorKind::Unavailable,
            true,
            "HTTP 500 Internal Server Error",
        ),
        (
            Answer::status("503 Service Unavailable", timeout),
            ProviderErrorKind::Timeout,
            true,
            "timeout: query timed out",
        ),
        (
            Answer::status("503 Service Unavailable", unavailable),
            ProviderErrorKind::Unavailable,
            true,
            "unavailable: Service Unavailable",
        ),
        (
            Answer::status("302 Found", ""),
            ProviderErrorKind::Other,
            false,
            "HTTP 302 Found",
        ),
    ];
    for (answer, kind, retryable, text) in cases {
        let status = answer.status;
        let stub = Stub::start(answer).await;
        let source = PrometheusSource::new(PrometheusConfig::new(stub.url())).unwrap();
        let err = source.query("sum(").await.unwrap_err();
        assert_eq!(err.kind, kind, "{status}: {err}");
        assert_eq!(err.is_retryable(), retryable, "{status}");
        assert!(err.message.contains(text), "{status}: {err}");
        assert!(err.message.contains(&stub.url()), "names the server: {err}");
    }
}

#[tokio::test]
async fn a_slow_server_is_a_timeout() {
    let stub = Stub::start(Answer {
        delay: Duration::from_secs(5),
        ..Answer::ok(ONE)
    })
    .await;
    let source = PrometheusSource::new(
        PrometheusConfig::new(stub.url()).with_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = source.query("up").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout applies"
    );
    assert_eq!(err.kind, ProviderErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(
        err.message
            .contains("did not answer query \"up\" within 200ms"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let source = PrometheusSource::new(PrometheusConfig::new(format!("http://{addr}"))).unwrap();
    let err = source.query("up").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(
        err.message
            .contains(&format!("cannot reach Prometheus at http://{addr}")),
        "{err}"
    );
    assert!(
        err.message.to_ascii_lowercase().contains("refused"),
        "says why: {err}"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_prometheus_is_reported() {
    let stub = Stub::start(Answer::ok("<!doctype html><title>Grafana</title>")).await;
    let source = PrometheusSource::new(PrometheusConfig::new(stub.url())).unwrap();
    let err = source.query("up").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Other, "{err}");
    assert!(
        err.message.contains("is not a Prometheus API answer"),
        "{err}"
    );
    assert!(
        err.message.contains("Grafana"),
        "shows what came back: {err}"
    );
}

#[tokio::test]
async fn an_oversized_answer_is_stopped() {
    let samples: Vec<String> = (0..400_000)
        .map(|i| {
            format!(r#"{{"metric":{{"pod":"p{i:08}","namespace":"default"}},"value":[1,"1"]}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        samples.join(",")
    );
    assert!(body.len() > karpenter_k8s::prometheus::MAX_RESPONSE_BYTES);
    let stub = Stub::start(Answer::ok(&body)).await;
    let source = PrometheusSource::new(PrometheusConfig::new(stub.url())).unwrap();
    let err = source.query("kube_pod_info").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InvalidId, "{err}");
    assert!(err.message.contains("answered more than 16 MiB"), "{err}");
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_never_shown() {
    let stub = Stub::start(Answer::ok(ONE)).await;
    let config = PrometheusConfig::new(stub.url())
        .with_bearer_token(BearerToken::Value("s3cr3t-t0ken".into()));
    let source = PrometheusSource::new(config.clone()).unwrap();
    source.query("up").await.unwrap();
    assert!(
        stub.requests()[0].contains("authorization: Bearer s3cr3t-t0ken\r\n"),
        "{}",
        stub.requests()[0]
    );
    assert!(!format!("{config:?} {source:?}").contains("s3cr3t"));

    // A failing query's message does not carry it either.
    let failing = Stub::start(Answer::status("401 Unauthorized", "bad token")).await;
    let source = PrometheusSource::new(
        PrometheusConfig::new(failing.url())
            .with_bearer_token(BearerToken::Value("s3cr3t-t0ken".into())),
    )
    .unwrap();
    let err = source.query("up").await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err:?}");
}

#[tokio::test]
async fn a_token_file_is_read_at_every_query() {
    let stub = Stub::start(Answer::ok(ONE)).await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "first-token").unwrap();
    let source = PrometheusSource::new(
        PrometheusConfig::new(stub.url())
            .with_bearer_token(BearerToken::File(file.path().to_path_buf())),
    )
    .unwrap();
    source.query("up").await.unwrap();
    std::fs::write(file.path(), "rotated-token\n").unwrap();
    source.query("up").await.unwrap();
    let requests = stub.requests();
    assert!(
        requests[0].contains("authorization: Bearer first-token\r\n"),
        "{}",
        requests[0]
    );
    assert!(
        requests[1].contains("authorization: Bearer rotated-token\r\n"),
        "{}",
        requests[1]
    );

    let missing = PrometheusSource::new(
        PrometheusConfig::new(stub.url())
            .with_bearer_token(BearerToken::File("/nonexistent/token".into())),
    )
    .unwrap();
    let err = missing.query("up").await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Other);
    assert!(
        err.message
            .contains("cannot read the Prometheus bearer token file /nonexistent/token"),
        "{err}"
    );
}

#[test]
fn a_bad_ca_file_is_reported_when_built() {
    let err = PrometheusSource::new(
        PrometheusConfig::new("https://p:9090").with_ca_file("/nonexistent/ca.crt"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read the Prometheus CA file /nonexistent/ca.crt"),
        "{err}"
    );
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "not a certificate").unwrap();
    let err =
        PrometheusSource::new(PrometheusConfig::new("https://p:9090").with_ca_file(file.path()))
            .unwrap_err();
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );
}

/// Through the registry, a retryable error is retried and a later answer
/// used; a permanent one is returned at once.
#[tokio::test]
async fn the_registry_routes_prometheus_metrics_to_the_source() {
    let stub = Stub::start(Answer::ok(ONE)).await;
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(
            PrometheusProvider::new(PrometheusConfig::new(stub.url())).unwrap(),
        ))
        .unwrap();
    let source = registry.metric_source("prometheus").unwrap();
    assert_eq!(source.value(&metric("q")).await.unwrap(), 24.0);

    let cloud_watch: Metric = serde_json::from_value(serde_json::json!({
        "cloudWatch": {"namespace": "AWS/SQS", "metricName": "X", "target": {"type": "Value", "value": 1}}
    }))
    .unwrap();
    let err = source.value(&cloud_watch).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::UnsupportedType, "{err}");
}
