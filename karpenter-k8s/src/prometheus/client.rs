//! Prometheus in: a [`MetricSource`] for `prometheus: {query}` metrics over
//! the HTTP API's instant query, `GET /api/v1/query`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use karpenter_core::api::v1alpha1::Metric;
use karpenter_core::async_trait;
use karpenter_core::provider::{
    CloudProvider, MetricSource, ProviderError, ProviderErrorKind, ProviderResult,
};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

/// How long one query may take, unless configured: 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest answer read: 16 MiB. An instant query that must return one
/// sample answers in a few hundred bytes; a query matching millions of
/// series is stopped here rather than read into memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The source type `PrometheusProvider` claims in the registry.
pub const SOURCE_TYPE: &str = "prometheus";

/// A bearer token for a Prometheus behind an authenticating proxy. Its
/// `Debug` never shows the token.
#[derive(Clone)]
pub enum BearerToken {
    /// The token itself.
    Value(String),
    /// A file holding the token, read at every query, so a rotated token
    /// (a projected service-account token) is picked up.
    File(PathBuf),
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Where Prometheus is and how to talk to it.
///
/// ```
/// use std::time::Duration;
/// use karpenter_k8s::prometheus::{BearerToken, PrometheusConfig};
///
/// let config = PrometheusConfig::new("https://prometheus.monitoring:9090")
///     .with_timeout(Duration::from_secs(2))
///     .with_bearer_token(BearerToken::Value("s3cr3t".into()))
///     .with_ca_file("/etc/prometheus-ca/ca.crt");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// The server's base URL, e.g. `http://prometheus.monitoring:9090`, or
    /// with a path prefix (`http://gateway/prometheus`).
    pub url: String,
    /// How long one query may take, connecting included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub bearer_token: Option<BearerToken>,
    /// A PEM file of CA certificates trusted for `https` URLs, beside the
    /// system's.
    pub ca_file: Option<PathBuf>,
}

impl PrometheusConfig {
    /// `url` with the default timeout, no token and the system's CAs.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            bearer_token: None,
            ca_file: None,
        }
    }

    /// The same config with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same config sending `token`.
    pub fn with_bearer_token(mut self, token: BearerToken) -> Self {
        self.bearer_token = Some(token);
        self
    }

    /// The same config trusting the CAs in `path` too.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
}

/// Why a [`PrometheusSource`] could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusConfigError {
    /// The URL does not parse, or is not http(s).
    #[error(
        "Prometheus URL {url:?} is not usable: {reason}; give the server's base URL, e.g. http://prometheus.monitoring:9090"
    )]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA file cannot be read.
    #[error(
        "cannot read the Prometheus CA file {path}: {source}; check the path and its permissions"
    )]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error(
        "the Prometheus CA file {path} holds no PEM certificate ({reason}); give a file with one or more -----BEGIN CERTIFICATE----- blocks"
    )]
    CaPem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for Prometheus: {0}")]
    Client(#[source] reqwest::Error),
}

/// Reads `prometheus: {query}` metrics from one Prometheus server: an
/// instant query (`GET /api/v1/query`) that must return exactly one sample
/// of a finite number.
///
/// Each way a query can fail is a distinct [`ProviderError`], and the
/// engine treats any of them as an unreadable metric (it never scales down
/// on one):
///
/// | the answer | kind | retryable |
/// |---|---|---|
/// | an empty vector (no series) | `NotFound` | no |
/// | several series | `InvalidId` | no |
/// | NaN, +Inf or -Inf | `Other` | no |
/// | a scalar, matrix or string instead of a vector | `InvalidId` | no |
/// | HTTP 400 / 422 (a bad query) | `InvalidId` | no |
/// | HTTP 401 / 403 | `AccessDenied` | no |
/// | HTTP 429 | `Throttled` | yes |
/// | HTTP 5xx, connection refused, DNS failure | `Unavailable` | yes |
/// | an untrusted certificate, a failed TLS handshake | `Other` | no |
/// | no answer within the timeout | `Timeout` | yes |
/// | another status, or a body that is not the Prometheus API's | `Other` | no |
///
/// The registry's retries apply to the retryable ones; the others wait for
/// the next sync, when the series or the query may have changed.
#[derive(Clone)]
pub struct PrometheusSource {
    http: reqwest::Client,
    query_url: Url,
    /// The base URL without credentials, for messages.
    shown_url: String,
    timeout: Duration,
    token: Option<BearerToken>,
}

impl fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("url", &self.shown_url)
            .field("timeout", &self.timeout)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl PrometheusSource {
    /// A source for the server in `config`. Installs the `ring` crypto
    /// provider if none is ([`crate::tls::install_crypto_provider`]), and
    /// reads the CA file now.
    pub fn new(config: PrometheusConfig) -> Result<Self, PrometheusConfigError> {
        crate::tls::install_crypto_provider();
        let url_err = |reason: String| PrometheusConfigError::Url {
            url: config.url.clone(),
            reason,
        };
        let mut base = Url::parse(&config.url).map_err(|e| url_err(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(url_err(format!(
                "the scheme is {:?}, not http or https",
                base.scheme()
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(url_err("it has a query or fragment".to_string()));
        }
        // `join` replaces the last path segment unless the path ends in '/'.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let query_url = base
            .join("api/v1/query")
            .map_err(|e| url_err(e.to_string()))?;
        let mut shown = base.clone();
        // Credentials in the URL never reach a message or a log.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);

        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("karpenter-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| PrometheusConfigError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                PrometheusConfigError::CaPem {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(PrometheusConfigError::CaPem {
                    path: path.clone(),
                    reason: "no certificate found".to_string(),
                });
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(PrometheusConfigError::Client)?;
        Ok(Self {
            http,
            query_url,
            shown_url: shown.to_string().trim_end_matches('/').to_string(),
            timeout: config.timeout,
            token: config.bearer_token,
        })
    }

    /// The base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    /// Runs the instant query `promql` and returns its one sample.
    pub async fn query(&self, promql: &str) -> ProviderResult<f64> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut().append_pair("query", promql);
        let mut request = self.http.get(url);
        if let Some(header) = self.authorization(promql).await? {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(promql, e))?;
        let status = response.status();
        let body = read_limited(response)
            .await
            .map_err(|e| match e {
                Limited::TooLarge => ProviderError::new(
                    ProviderErrorKind::InvalidId,
                    format!(
                        "Prometheus query {promql:?} answered more than {} MiB: it matches far more than one series; it must return exactly one sample (add label matchers or aggregate, e.g. sum(...))",
                        MAX_RESPONSE_BYTES >> 20
                    ),
                ),
                Limited::Transport(e) => self.transport_error(promql, e),
            })?;
        if !status.is_success() {
            return Err(self.status_error(promql, status, &body));
        }
        interpret(promql, &self.shown_url, &body)
    }

    /// The `Authorization` header, if a token is configured.
    async fn authorization(&self, promql: &str) -> ProviderResult<Option<HeaderValue>> {
        let token = match &self.token {
            None => return Ok(None),
            Some(BearerToken::Value(t)) => t.trim().to_string(),
            Some(BearerToken::File(path)) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| {
                    ProviderError::new(
                        ProviderErrorKind::Other,
                        format!(
                            "cannot read the Prometheus bearer token file {} for query {promql:?}: {e}; check the file (a projected token is rewritten in place)",
                            path.display()
                        ),
                    )
                    .with_source(e)
                })?
                .trim()
                .to_string(),
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::Other,
                "the Prometheus bearer token has characters an HTTP header cannot carry (a line break?); check the token",
            )
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// A request that got no HTTP answer.
    fn transport_error(&self, promql: &str, e: reqwest::Error) -> ProviderError {
        let url = &self.shown_url;
        if let Some(tls) = tls_error(&e) {
            // A certificate is not trusted or TLS cannot be agreed on:
            // retrying does not help, configuration does.
            let fix = if matches!(tls, rustls::Error::InvalidCertificate(_)) {
                "give the CA that signed the server's certificate as the Prometheus CA file, and check that the URL's host is a name the certificate is for"
            } else {
                "check that the URL's scheme and port are those of Prometheus's TLS endpoint"
            };
            return ProviderError::new(
                ProviderErrorKind::Other,
                format!("TLS with Prometheus at {url} failed for query {promql:?}: {tls}; {fix}"),
            )
            .with_source(e);
        }
        if e.is_timeout() {
            ProviderError::new(
                ProviderErrorKind::Timeout,
                format!(
                    "Prometheus at {url} did not answer query {promql:?} within {:?}; check that it is up and not overloaded, or raise the timeout",
                    self.timeout
                ),
            )
            .with_source(e)
        } else {
            let cause = error_chain(&e);
            ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "cannot reach Prometheus at {url} for query {promql:?}: {cause}; check the Prometheus URL and that the server is up"
                ),
            )
            .with_source(e)
        }
    }

    /// An HTTP answer whose status is not 2xx.
    fn status_error(&self, promql: &str, status: StatusCode, body: &[u8]) -> ProviderError {
        let url = &self.shown_url;
        // Prometheus explains its errors in the body.
        let api_error = serde_json::from_slice::<ApiResponse>(body)
            .ok()
            .and_then(|r| match (r.error_type, r.error) {
                (Some(t), Some(e)) => Some(format!("{t}: {e}")),
                (None, Some(e)) => Some(e),
                _ => None,
            });
        let from_prometheus = api_error.is_some();
        let detail = api_error.unwrap_or_else(|| snippet(body));
        let (kind, fix) = match status.as_u16() {
            400 | 422 if from_prometheus => (
                ProviderErrorKind::InvalidId,
                "fix the query (try it in the Prometheus UI)",
            ),
            // Not Prometheus's own error (plain http to an https port, a
            // proxy): the URL is wrong, not the query.
            400 | 422 => (
                ProviderErrorKind::Other,
                "this is not Prometheus's answer: check the Prometheus URL (its scheme, host and port)",
            ),
            401 | 403 => (
                ProviderErrorKind::AccessDenied,
                "check the bearer token and what it may read",
            ),
            404 => (
                ProviderErrorKind::Other,
                "check the Prometheus URL: it should be the server's base URL, without /api/v1",
            ),
            429 => (
                ProviderErrorKind::Throttled,
                "Prometheus asked to slow down; it is retried",
            ),
            503 if detail.starts_with("timeout") => (
                ProviderErrorKind::Timeout,
                "the query took too long on the server; simplify it or raise the server's query timeout",
            ),
            500..=599 => (
                ProviderErrorKind::Unavailable,
                "Prometheus failed; it is retried",
            ),
            _ => (ProviderErrorKind::Other, "check the Prometheus URL"),
        };
        ProviderError::new(
            kind,
            format!(
                "Prometheus at {url} answered HTTP {status} to query {promql:?}: {detail}; {fix}"
            ),
        )
    }
}

/// The rustls error behind `e`, if the request failed in TLS.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut err = e;
    loop {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // rustls's error reaches reqwest inside io::Errors, whose `source`
        // skips the error they wrap: step into them.
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            err = inner;
            continue;
        }
        err = err.source()?;
    }
}

/// The error and its causes, joined by `: ` (reqwest's top-level message
/// alone says only "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

/// The start of a body, for a message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "an empty body".to_string();
    }
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

enum Limited {
    TooLarge,
    Transport(reqwest::Error),
}

/// The body, at most [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, Limited> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Limited::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Limited::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of every `/api/v1` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    result: serde_json::Value,
}

/// One series of an instant vector.
#[derive(Debug, Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// `[unix time, "value"]`; absent for a native histogram sample.
    #[serde(default)]
    value: Option<(f64, String)>,
}

/// The one finite sample of a successful answer, or why there is none.
fn interpret(promql: &str, url: &str, body: &[u8]) -> ProviderResult<f64> {
    let not_api = |why: String| {
        ProviderError::new(
            ProviderErrorKind::Other,
            format!(
                "the answer of {url} to query {promql:?} is not a Prometheus API answer ({why}): {}; check that the Prometheus URL is the server's base URL",
                snippet(body)
            ),
        )
    };
    let response: ApiResponse = serde_json::from_slice(body).map_err(|e| not_api(e.to_string()))?;
    if response.status != "success" {
        let detail = response
            .error
            .unwrap_or_else(|| "no error message".to_string());
        return Err(ProviderError::new(
            ProviderErrorKind::Other,
            format!(
                "Prometheus at {url} answered status {:?} to query {promql:?}: {detail}",
                response.status
            ),
        ));
    }
    let data = response
        .data
        .ok_or_else(|| not_api("no data".to_string()))?;
    if data.result_type != "vector" {
        let fix = match data.result_type.as_str() {
            "scalar" => "wrap it in vector(...) to use a scalar",
            "matrix" => {
                "a range selector such as [5m] must be inside a function, e.g. avg_over_time(metric[5m])"
            }
            _ => "it must select one series, e.g. karpenter_queue_length{name=\"my-queue\"}",
        };
        return Err(ProviderError::new(
            ProviderErrorKind::InvalidId,
            format!(
                "Prometheus query {promql:?} returned a {}, not an instant vector of one sample; {fix}",
                data.result_type
            ),
        ));
    }
    let samples: Vec<VectorSample> =
        serde_json::from_value(data.result).map_err(|e| not_api(e.to_string()))?;
    let sample = match samples.as_slice() {
        [] => {
            return Err(ProviderError::new(
                ProviderErrorKind::NotFound,
                format!(
                    "Prometheus query {promql:?} returned no series; check the metric name and labels, and that whatever exports it is running and scraped"
                ),
            ));
        }
        [one] => one,
        several => {
            let shown: Vec<String> = several.iter().take(3).map(|s| labels(&s.metric)).collect();
            let more = if several.len() > 3 { ", ..." } else { "" };
            return Err(ProviderError::new(
                ProviderErrorKind::InvalidId,
                format!(
                    "Prometheus query {promql:?} returned {} series ({}{more}); it must return exactly one: add label matchers or aggregate, e.g. sum(...)",
                    several.len(),
                    shown.join(", ")
                ),
            ));
        }
    };
    let Some((_, text)) = &sample.value else {
        return Err(ProviderError::new(
            ProviderErrorKind::InvalidId,
            format!(
                "Prometheus query {promql:?} returned a histogram sample, not a number; use histogram_quantile(...) or histogram_sum(...)"
            ),
        ));
    };
    let value: f64 = text
        .parse()
        .map_err(|_| not_api(format!("the sample value {text:?} is not a number")))?;
    if !value.is_finite() {
        let shown = if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        return Err(ProviderError::new(
            ProviderErrorKind::Other,
            format!(
                "Prometheus query {promql:?} returned {shown} ({}); the metric cannot be used until it is a finite number (a division by zero? guard it, e.g. with `> 0` on the divisor)",
                labels(&sample.metric)
            ),
        ));
    }
    Ok(value)
}

/// `{a="1", b="2"}`, or `{}`.
fn labels(metric: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[async_trait]
impl MetricSource for PrometheusSource {
    async fn value(&self, metric: &Metric) -> ProviderResult<f64> {
        match &metric.prometheus {
            Some(p) => self.query(&p.query).await,
            None => Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                "the Prometheus source was given a metric without a prometheus source; register the provider that serves its source type",
            )),
        }
    }
}

/// A [`CloudProvider`] that claims the `prometheus` metric source type, so a
/// [`ProviderRegistry`](karpenter_core::provider::ProviderRegistry) routes
/// `prometheus:` metrics to one [`PrometheusSource`].
///
/// ```
/// use std::sync::Arc;
/// use karpenter_core::provider::ProviderRegistry;
/// use karpenter_k8s::prometheus::{PrometheusConfig, PrometheusProvider};
///
/// let provider = PrometheusProvider::new(PrometheusConfig::new("http://127.0.0.1:9090")).unwrap();
/// let mut registry = ProviderRegistry::new();
/// registry.register(Arc::new(provider)).unwrap();
/// assert!(registry.metric_source("prometheus").is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusProvider {
    source: Arc<PrometheusSource>,
}

impl PrometheusProvider {
    /// A provider for the server in `config`.
    pub fn new(config: PrometheusConfig) -> Result<Self, PrometheusConfigError> {
        Ok(Self::from_source(PrometheusSource::new(config)?))
    }

    /// A provider serving `source`.
    pub fn from_source(source: PrometheusSource) -> Self {
        Self {
            source: Arc::new(source),
        }
    }
}

impl CloudProvider for PrometheusProvider {
    fn name(&self) -> String {
        "prometheus".to_string()
    }

    fn metric_source_types(&self) -> Vec<String> {
        vec![SOURCE_TYPE.to_string()]
    }

    fn metric_source(&self, source_type: &str) -> ProviderResult<Arc<dyn MetricSource>> {
        if source_type == SOURCE_TYPE {
            Ok(self.source.clone())
        } else {
            Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "provider \"prometheus\" serves only the prometheus metric source, not {source_type:?}"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(samples: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{samples}]}}}}"#)
    }

    fn sample(labels: &str, value: &str) -> String {
        format!(r#"{{"metric":{{{labels}}},"value":[1767600000.123,"{value}"]}}"#)
    }

    #[test]
    fn one_sample_is_its_value() {
        let cases: [(&str, f64); 4] = [
            ("2400", 2400.0),
            ("0.30000000000000004", 0.1 + 0.2),
            ("-3.5", -3.5),
            ("1e-9", 1e-9),
        ];
        for (text, want) in cases {
            let body = vector(&sample(r#""name":"q""#, text));
            assert_eq!(
                interpret("q", "u", body.as_bytes()).unwrap().to_bits(),
                want.to_bits(),
                "{text}"
            );
        }
    }

    #[test]
    fn each_bad_answer_is_its_own_error() {
        let two = format!(
            "{},{}",
            sample(r#""name":"a""#, "1"),
            sample(r#""name":"b""#, "2")
        );
        let cases: Vec<(String, ProviderErrorKind, &str)> = vec![
            (
                vector(""),
                ProviderErrorKind::NotFound,
                "returned no series",
            ),
            (
                vector(&two),
                ProviderErrorKind::InvalidId,
                "returned 2 series ({name=\"a\"}, {name=\"b\"}); it must return exactly one",
            ),
            (
                vector(&sample("", "NaN")),
                ProviderErrorKind::Other,
                "returned NaN",
            ),
            (
                vector(&sample("", "+Inf")),
                ProviderErrorKind::Other,
                "returned +Inf",
            ),
            (
                vector(&sample("", "-Inf")),
                ProviderErrorKind::Other,
                "returned -Inf",
            ),
            (
                r#"{"status":"success","data":{"resultType":"scalar","result":[1767600000,"4"]}}"#
                    .to_string(),
                ProviderErrorKind::InvalidId,
                "returned a scalar, not an instant vector of one sample; wrap it in vector(...)",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.to_string(),
                ProviderErrorKind::InvalidId,
                "returned a matrix",
            ),
            (
                r#"{"status":"success","data":{"resultType":"string","result":[1767600000,"x"]}}"#
                    .to_string(),
                ProviderErrorKind::InvalidId,
                "returned a string",
            ),
            (
                vector(r#"{"metric":{},"histogram":[1767600000,{"count":"1","sum":"2"}]}"#),
                ProviderErrorKind::InvalidId,
                "returned a histogram sample",
            ),
            (
                "<html>Prometheus Time Series Collection</html>".to_string(),
                ProviderErrorKind::Other,
                "is not a Prometheus API answer",
            ),
            (
                vector(&sample("", "many")),
                ProviderErrorKind::Other,
                "the sample value \"many\" is not a number",
            ),
        ];
        for (body, kind, text) in cases {
            let err = interpret("q", "http://p", body.as_bytes()).unwrap_err();
            assert_eq!(err.kind, kind, "{body}: {err}");
            assert!(err.message.contains(text), "{body}: {err}");
            assert!(err.message.contains("\"q\""), "names the query: {err}");
        }
    }

    #[test]
    fn several_series_are_shown_up_to_three() {
        let four: Vec<String> = (0..4)
            .map(|i| sample(&format!(r#""i":"{i}""#), "1"))
            .collect();
        let err = interpret("q", "u", vector(&four.join(",")).as_bytes()).unwrap_err();
        assert!(
            err.message
                .contains(r#"returned 4 series ({i="0"}, {i="1"}, {i="2"}, ...)"#),
            "{err}"
        );
    }

    #[test]
    fn bad_urls_are_rejected_when_built() {
        for (url, why) in [
            ("prometheus:9090", "the scheme is \"prometheus\""),
            ("ftp://p", "the scheme is \"ftp\""),
            ("http://p/?x=1", "query or fragment"),
            ("not a url", "relative URL without a base"),
        ] {
            let err = PrometheusSource::new(PrometheusConfig::new(url)).unwrap_err();
            assert!(err.to_string().contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn the_query_path_keeps_a_prefix_and_drops_credentials() {
        let s = PrometheusSource::new(PrometheusConfig::new("http://user:pw@gw:8080/prometheus"))
            .unwrap();
        assert_eq!(
            s.query_url.as_str(),
            "http://user:pw@gw:8080/prometheus/api/v1/query"
        );
        assert_eq!(s.url(), "http://gw:8080/prometheus");
        let s = PrometheusSource::new(PrometheusConfig::new("http://p:9090/")).unwrap();
        assert_eq!(s.query_url.as_str(), "http://p:9090/api/v1/query");
        assert!(!format!("{s:?}").contains("pw"));
    }
}
