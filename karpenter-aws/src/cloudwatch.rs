//! CloudWatch as a [`MetricSource`]: the HorizontalAutoscaler metric
//! `cloudWatch: {namespace, metricName, dimensions, statistic, period}` or
//! `cloudWatch: {expression, period}`, read with `GetMetricData`.
//!
//! The value is the newest datapoint in the window that ends one period
//! after now and starts 5 periods (at least 5 minutes) before now. CloudWatch
//! publishes with a delay, so the window looks back several periods; the
//! newest datapoint may cover a period that is still filling. No datapoint
//! in the window is a [`NotFound`](ProviderErrorKind::NotFound) error ("no
//! data"), unless the metric sets `noDataValue`.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_types::DateTime;
use karpenter_core::api::v1alpha1::{CloudWatchMetricSource, Metric as MetricSpec};
use karpenter_core::async_trait;
use karpenter_core::provider::{MetricSource, ProviderError, ProviderErrorKind, ProviderResult};

use crate::config::{client_for, region_for};
use crate::error::map_sdk_error;

/// The period when the metric sets none, in seconds.
pub const DEFAULT_PERIOD: i32 = 60;
/// The statistic when the metric sets none.
pub const DEFAULT_STATISTIC: &str = "Average";
/// How many periods back the window starts.
pub const WINDOW_PERIODS: u32 = 5;
/// The shortest window, whatever the period.
pub const MIN_WINDOW: Duration = Duration::from_secs(300);

/// The id of the one query each request holds.
const QUERY_ID: &str = "karpenter";

/// The `[start, end)` window for `period` seconds at `now`.
pub(crate) fn window(period: i32, now: SystemTime) -> (DateTime, DateTime) {
    let period = Duration::from_secs(u64::try_from(period.max(1)).unwrap_or(60));
    let back = (period * WINDOW_PERIODS).max(MIN_WINDOW);
    let start = now.checked_sub(back).unwrap_or(SystemTime::UNIX_EPOCH);
    (DateTime::from(start), DateTime::from(now + period))
}

/// The newest datapoint of one query, if any.
pub(crate) struct Datapoint {
    /// Its value.
    pub value: f64,
}

/// Runs one `GetMetricData` query over [`window`] and returns its newest
/// datapoint, `None` when the window holds none. `object` names the metric
/// in errors.
pub(crate) async fn newest_datapoint(
    client: &aws_sdk_cloudwatch::Client,
    query: MetricDataQuery,
    period: i32,
    object: &str,
) -> ProviderResult<Option<Datapoint>> {
    let (start, end) = window(period, SystemTime::now());
    let out = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(start)
        .end_time(end)
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| map_sdk_error(e, object, "GetMetricData", "cloudwatch"))?;
    let results: Vec<_> = out
        .metric_data_results()
        .iter()
        .filter(|r| r.id() == Some(QUERY_ID))
        .collect();
    if let Some(failed) = results
        .iter()
        .find(|r| matches!(r.status_code(), Some(StatusCode::InternalError)))
    {
        let messages: Vec<&str> = failed.messages().iter().filter_map(|m| m.value()).collect();
        return Err(ProviderError::new(
            ProviderErrorKind::Unavailable,
            format!(
                "{object}: CloudWatch could not compute the query (status InternalError: {}); the call is retried",
                messages.join("; ")
            ),
        ));
    }
    let with_data: Vec<_> = results.iter().filter(|r| !r.values().is_empty()).collect();
    let series = match with_data.as_slice() {
        [] => return Ok(None),
        [one] => one,
        many => {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                format!(
                    "{object}: the query returned {} series; it must return exactly one: narrow the dimensions or the expression",
                    many.len()
                ),
            ));
        }
    };
    let newest = series
        .values()
        .iter()
        .zip(series.timestamps())
        .max_by_key(|(_, t)| (t.secs(), t.subsec_nanos()));
    let Some((&value, _)) = newest else {
        return Ok(None);
    };
    if !value.is_finite() {
        return Err(ProviderError::new(
            ProviderErrorKind::Other,
            format!("{object}: CloudWatch answered a non-finite value {value}"),
        ));
    }
    Ok(Some(Datapoint { value }))
}

/// A query for one metric (namespace, name, dimensions, statistic).
pub(crate) fn stat_query(
    namespace: &str,
    metric_name: &str,
    dimensions: &[(&str, &str)],
    statistic: &str,
    period: i32,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric_name)
        .set_dimensions(Some(
            dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(*name).value(*value).build())
                .collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(QUERY_ID)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(statistic)
                .build(),
        )
        .return_data(true)
        .build()
}

/// What `spec` asks CloudWatch, for messages: `CloudWatch metric AWS/SQS
/// ApproximateNumberOfMessagesVisible {QueueName=orders} (Average, 60 s)`.
pub fn describe(spec: &CloudWatchMetricSource) -> String {
    let period = spec.period.unwrap_or(DEFAULT_PERIOD);
    if let Some(expression) = spec.expression.as_deref().filter(|e| !e.trim().is_empty()) {
        return format!("CloudWatch expression {expression:?} ({period} s)");
    }
    let dims: Vec<String> = spec
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "CloudWatch metric {} {} {{{}}} ({}, {period} s)",
        spec.namespace.as_deref().unwrap_or(""),
        spec.metric_name.as_deref().unwrap_or(""),
        dims.join(", "),
        spec.statistic.as_deref().unwrap_or(DEFAULT_STATISTIC),
    )
}

/// The `GetMetricData` query for `spec` and its period.
fn query_for(
    spec: &CloudWatchMetricSource,
    object: &str,
) -> ProviderResult<(MetricDataQuery, i32)> {
    let period = spec.period.unwrap_or(DEFAULT_PERIOD);
    if let Some(expression) = spec.expression.as_deref().filter(|e| !e.trim().is_empty()) {
        let query = MetricDataQuery::builder()
            .id(QUERY_ID)
            .expression(expression)
            .period(period)
            .return_data(true)
            .build();
        return Ok((query, period));
    }
    let (Some(namespace), Some(name)) = (spec.namespace.as_deref(), spec.metric_name.as_deref())
    else {
        return Err(ProviderError::new(
            ProviderErrorKind::InvalidId,
            format!("{object}: set either expression, or namespace and metricName"),
        ));
    };
    let dims: Vec<(&str, &str)> = spec
        .dimensions
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let statistic = spec.statistic.as_deref().unwrap_or(DEFAULT_STATISTIC);
    Ok((
        stat_query(namespace, name, &dims, statistic, period),
        period,
    ))
}

/// CloudWatch as a [`MetricSource`] (the `cloudWatch` metric source type).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use karpenter_aws::CloudWatchSource;
/// use karpenter_core::api::v1alpha1::Metric;
/// use karpenter_core::provider::MetricSource;
///
/// let sdk = karpenter_aws::load_sdk_config().await;
/// let source = CloudWatchSource::new(&sdk)?;
/// let metric: Metric = serde_json::from_value(serde_json::json!({"cloudWatch": {
///     "namespace": "AWS/SQS", "metricName": "ApproximateNumberOfMessagesVisible",
///     "dimensions": {"QueueName": "orders"}, "statistic": "Maximum",
///     "noDataValue": 0,
///     "target": {"type": "AverageValue", "value": 4}}}))?;
/// println!("{}", source.value(&metric).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CloudWatchSource {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchSource {
    /// A source in the region `sdk` is configured for; an error saying
    /// where to set the region when it has none.
    pub fn new(sdk: &SdkConfig) -> ProviderResult<Self> {
        let region = region_for(sdk, None, "the cloudWatch metric source")?;
        Ok(Self {
            client: client_for!(aws_sdk_cloudwatch, sdk, region),
        })
    }
}

impl CloudWatchSource {
    /// A source over a client built elsewhere (with interceptors, a mocked
    /// HTTP client, another endpoint).
    pub fn with_client(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl MetricSource for CloudWatchSource {
    async fn value(&self, metric: &MetricSpec) -> ProviderResult<f64> {
        let Some(spec) = &metric.cloud_watch else {
            return Err(ProviderError::new(
                ProviderErrorKind::InvalidId,
                "the metric has no cloudWatch source; the cloudWatch metric source answers only cloudWatch metrics",
            ));
        };
        let object = describe(spec);
        let (query, period) = query_for(spec, &object)?;
        match newest_datapoint(&self.client, query, period, &object).await? {
            Some(d) => Ok(d.value),
            None => match &spec.no_data_value {
                Some(v) => Ok(v.as_f64()),
                None => {
                    let (start, _) = window(period, SystemTime::now());
                    let since = chrono::DateTime::from_timestamp(start.secs(), 0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default();
                    Err(ProviderError::new(
                        ProviderErrorKind::NotFound,
                        format!(
                            "{object}: CloudWatch has no datapoint since {since}; check the namespace, metric name and dimensions, or set noDataValue to read no data as a number"
                        ),
                    ))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_spans_five_periods_and_at_least_five_minutes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (start, end) = window(60, now);
        assert_eq!((start.secs(), end.secs()), (1_000_000 - 300, 1_000_060));
        let (start, end) = window(300, now);
        assert_eq!((start.secs(), end.secs()), (1_000_000 - 1500, 1_000_300));
        let (start, end) = window(1, now);
        assert_eq!((start.secs(), end.secs()), (1_000_000 - 300, 1_000_001));
    }

    #[test]
    fn descriptions_name_the_metric() {
        let spec = CloudWatchMetricSource {
            namespace: Some("AWS/SQS".into()),
            metric_name: Some("ApproximateNumberOfMessagesVisible".into()),
            dimensions: [("QueueName".to_string(), "orders".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(
            describe(&spec),
            "CloudWatch metric AWS/SQS ApproximateNumberOfMessagesVisible {QueueName=orders} (Average, 60 s)"
        );
        let spec = CloudWatchMetricSource {
            expression: Some("SELECT MAX(x) FROM y".into()),
            period: Some(300),
            ..Default::default()
        };
        assert_eq!(
            describe(&spec),
            "CloudWatch expression \"SELECT MAX(x) FROM y\" (300 s)"
        );
    }
}
