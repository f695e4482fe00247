//! Prometheus queries answered in process when they read a gauge this
//! controller exports.
//!
//! A HorizontalAutoscaler whose query is an exact selector on one of the
//! controller's own producer gauges, such as the pending-capacity recipe's
//! `karpenter_pending_capacity_desired_nodes{name="gpu"}`, reads the value
//! straight from the exporter: no scrape interval between a pod going
//! pending and the decision. Every other query (functions, operators,
//! regex matchers, gauges of other programs), and a selector that matches
//! no series or several here, goes to the real Prometheus, which answers it
//! with its own rules.

use std::sync::Arc;

use async_trait::async_trait;
use karpenter_core::api::v1alpha1::Metric;
use karpenter_core::provider::{
    CloudProvider, MetricSource, ProviderError, ProviderErrorKind, ProviderResult,
};

use crate::prometheus::{Metrics, PrometheusSource, SOURCE_TYPE};

/// An exact instant-vector selector: a metric name and `label="value"`
/// matchers, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactSelector {
    /// The metric name.
    pub name: String,
    /// The `=` matchers, in query order.
    pub matchers: Vec<(String, String)>,
}

/// Parses `query` as an exact selector (`name` or `name{a="x", b="y"}`),
/// or `None` when it is anything else. Escapes in label values are not
/// taken (`None`: Prometheus answers those).
pub fn exact_selector(query: &str) -> Option<ExactSelector> {
    let q = query.trim();
    let name_end = q
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(q.len());
    let name = &q[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = q[name_end..].trim();
    if rest.is_empty() {
        return Some(ExactSelector {
            name: name.to_string(),
            matchers: Vec::new(),
        });
    }
    let inner = rest.strip_prefix('{')?.strip_suffix('}')?;
    let mut matchers = Vec::new();
    let mut s = inner.trim();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let label = s[..eq].trim();
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let after = s[eq + 1..].trim_start();
        // `=~`, `!=` and `!~` are not exact.
        let value_part = after.strip_prefix('"')?;
        let close = value_part.find('"')?;
        let value = &value_part[..close];
        if value.contains('\\') {
            return None;
        }
        matchers.push((label.to_string(), value.to_string()));
        s = value_part[close + 1..].trim_start();
        if let Some(more) = s.strip_prefix(',') {
            s = more.trim_start();
        } else if !s.is_empty() {
            return None;
        }
    }
    Some(ExactSelector {
        name: name.to_string(),
        matchers,
    })
}

/// The `prometheus` metric source of the controller: in process for exact
/// selectors on its own gauges, the real Prometheus for the rest.
pub struct LocalFirstSource {
    metrics: Arc<Metrics>,
    remote: Option<Arc<PrometheusSource>>,
}

impl std::fmt::Debug for LocalFirstSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFirstSource")
            .field("remote", &self.remote.as_ref().map(|r| r.url().to_string()))
            .finish()
    }
}

impl LocalFirstSource {
    /// Reads `metrics` first, then `remote` (none: only local gauges can be
    /// read, and any other query is an error that says to set
    /// `--prometheus-url`).
    pub fn new(metrics: Arc<Metrics>, remote: Option<PrometheusSource>) -> Self {
        Self {
            metrics,
            remote: remote.map(Arc::new),
        }
    }

    /// The value of `query` if this controller exports exactly one series
    /// that it selects.
    pub fn local_value(&self, query: &str) -> Option<f64> {
        let sel = exact_selector(query)?;
        let matchers: Vec<(&str, &str)> = sel
            .matchers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match self.metrics.matching_gauges(&sel.name, &matchers)[..] {
            [v] => Some(v),
            _ => None,
        }
    }

    /// Reads `query`: locally when it can, else from Prometheus.
    pub async fn query(&self, query: &str) -> ProviderResult<f64> {
        if let Some(v) = self.local_value(query) {
            return Ok(v);
        }
        match &self.remote {
            Some(remote) => remote.query(query).await,
            None => Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "query {query:?} is not an exact selector on a gauge this controller exports, and no Prometheus is configured: start the controller with --prometheus-url"
                ),
            )),
        }
    }
}

#[async_trait]
impl MetricSource for LocalFirstSource {
    async fn value(&self, metric: &Metric) -> ProviderResult<f64> {
        match &metric.prometheus {
            Some(p) => self.query(&p.query).await,
            None => Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                "the Prometheus source was given a metric without a prometheus source",
            )),
        }
    }
}

/// Registers [`LocalFirstSource`] as the `prometheus` metric source.
#[derive(Debug, Clone)]
pub struct LocalFirstProvider(pub Arc<LocalFirstSource>);

impl CloudProvider for LocalFirstProvider {
    fn name(&self) -> String {
        "prometheus (in-process first)".to_string()
    }

    fn metric_source_types(&self) -> Vec<String> {
        vec![SOURCE_TYPE.to_string()]
    }

    fn metric_source(&self, source_type: &str) -> ProviderResult<Arc<dyn MetricSource>> {
        if source_type == SOURCE_TYPE {
            Ok(self.0.clone())
        } else {
            Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "this provider serves only the prometheus metric source, not {source_type:?}"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use karpenter_core::producers::{Gauge, producer_labels};

    #[test]
    fn exact_selectors_and_everything_else() {
        let sel = exact_selector(
            r#" karpenter_pending_capacity_desired_nodes{name="gpu", namespace = "ml"} "#,
        )
        .unwrap();
        assert_eq!(sel.name, "karpenter_pending_capacity_desired_nodes");
        assert_eq!(
            sel.matchers,
            vec![
                ("name".into(), "gpu".into()),
                ("namespace".into(), "ml".into())
            ]
        );
        assert_eq!(exact_selector("up").unwrap().matchers, vec![]);
        assert_eq!(exact_selector(r#"q{a="1",}"#).unwrap().matchers.len(), 1);
        for other in [
            r#"sum(karpenter_queue_length{name="q"})"#,
            r#"karpenter_queue_length{name=~"q.*"}"#,
            r#"karpenter_queue_length{name!="q"}"#,
            r#"karpenter_queue_length{name="q"} * 2"#,
            r#"karpenter_queue_length{name="a\"b"}"#,
            r#"karpenter_queue_length[5m]"#,
            r#"9lives"#,
            "",
        ] {
            assert_eq!(exact_selector(other), None, "{other}");
        }
    }

    #[tokio::test]
    async fn own_gauges_are_read_in_process_and_the_rest_needs_prometheus() {
        let metrics = Arc::new(Metrics::new());
        let gauge = |ns: &str, name: &str, v: f64| Gauge {
            name: "karpenter_pending_capacity_desired_nodes",
            labels: producer_labels(name, ns),
            value: v,
        };
        metrics.replace_producer("ml", "gpu", &[gauge("ml", "gpu", 4.0)]);
        metrics.replace_producer("web", "gpu", &[gauge("web", "gpu", 9.0)]);
        metrics.replace_producer("web", "cpu", &[gauge("web", "cpu", 2.0)]);
        let source = LocalFirstSource::new(metrics.clone(), None);
        let q = |s: &str| format!("karpenter_pending_capacity_desired_nodes{{{s}}}");
        assert_eq!(source.query(&q(r#"name="cpu""#)).await.unwrap(), 2.0);
        assert_eq!(
            source
                .query(&q(r#"name="gpu",namespace="ml""#))
                .await
                .unwrap(),
            4.0
        );
        // Two series match: Prometheus decides (and here there is none).
        let err = source.query(&q(r#"name="gpu""#)).await.unwrap_err();
        assert!(err.to_string().contains("--prometheus-url"), "{err}");
        // A deleted producer's series is gone in process too.
        metrics.remove_producer("web", "cpu");
        assert!(source.query(&q(r#"name="cpu""#)).await.is_err());
    }
}
