//! The `cloudWatch` metric source against moto: the metric source
//! conformance suite, dimensions, statistics, `noDataValue`, expressions,
//! and (on a mocked client) answers moto never gives.
//!
//! Protocol: aws-sdk-cloudwatch is held below 1.100, whose requests use
//! awsQuery, which moto serves; from 1.100 the SDK speaks Smithy RPC v2
//! CBOR, which moto 5.2 does not (getmoto/moto#9195). So these tests talk
//! to moto's real CloudWatch, not to a stub.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::{Dimension, MetricDataResult, MetricDatum, StatusCode};
use aws_sdk_sqs::config::Credentials;
use aws_smithy_mocks::{RuleMode, mock};
use aws_smithy_types::DateTime;
use common::{Moto, REGION};
use karpenter_aws::{AwsProvider, CLOUDWATCH_TYPE, CloudWatchSource};
use karpenter_core::api::Quantity;
use karpenter_core::api::v1alpha1::{CloudWatchMetricSource, Metric, MetricTarget};
use karpenter_core::async_trait;
use karpenter_core::provider::{CloudProvider, MetricSource, ProviderErrorKind, ProviderRegistry};
use karpenter_fake::conformance::{self, HarnessResult, MetricSourceHarness};

const NAMESPACE: &str = "Karpenter/Conformance";

fn metric(name: &str, dims: &[(&str, &str)]) -> CloudWatchMetricSource {
    CloudWatchMetricSource {
        namespace: Some(NAMESPACE.into()),
        metric_name: Some(name.into()),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        period: Some(1),
        target: MetricTarget::default(),
        ..Default::default()
    }
}

fn as_metric(source: CloudWatchMetricSource) -> Metric {
    Metric {
        cloud_watch: Some(source),
        ..Metric::default()
    }
}

/// Puts datapoints into moto's CloudWatch, one whole second apart per
/// metric so that each lands in its own 1 s period.
struct CloudWatchHarness {
    client: aws_sdk_cloudwatch::Client,
    source: Arc<dyn MetricSource>,
    last_second: Mutex<BTreeMap<String, u64>>,
}

impl CloudWatchHarness {
    fn new(moto: &Moto) -> Self {
        let sdk = moto.sdk();
        Self {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            source: AwsProvider::new(sdk)
                .metric_source(CLOUDWATCH_TYPE)
                .unwrap(),
            last_second: Mutex::default(),
        }
    }

    async fn put(&self, name: &str, dims: &[(&str, &str)], value: f64) {
        let second = loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let last = self.last_second.lock().unwrap().get(name).copied();
            if last.is_none_or(|l| now.as_secs() > l) {
                break now.as_secs();
            }
            tokio::time::sleep(
                Duration::from_secs(1) - Duration::from_nanos(now.subsec_nanos().into()),
            )
            .await;
        };
        self.last_second
            .lock()
            .unwrap()
            .insert(name.to_string(), second);
        let mut datum = MetricDatum::builder()
            .metric_name(name)
            .value(value)
            .timestamp(DateTime::from_secs(second as i64))
            .storage_resolution(1);
        for (k, v) in dims {
            datum = datum.dimensions(Dimension::builder().name(*k).value(*v).build());
        }
        self.client
            .put_metric_data()
            .namespace(NAMESPACE)
            .metric_data(datum.build())
            .send()
            .await
            .unwrap();
    }
}

#[async_trait]
impl MetricSourceHarness for CloudWatchHarness {
    fn description(&self) -> String {
        "cloudWatch metric source on moto_server (GetMetricData over awsQuery)".into()
    }

    fn source(&self) -> Arc<dyn MetricSource> {
        self.source.clone()
    }

    async fn publish(&self, name: &str, value: f64) -> HarnessResult<Metric> {
        let dims = [("suite", "conformance")];
        self.put(name, &dims, value).await;
        Ok(as_metric(metric(name, &dims)))
    }

    async fn metric_without_data(&self) -> HarnessResult<Metric> {
        Ok(as_metric(metric(
            "conformance_no_data",
            &[("suite", "conformance")],
        )))
    }
}

#[tokio::test]
async fn cloudwatch_conforms() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let report = conformance::metric_source(&CloudWatchHarness::new(&moto)).await;
    println!("{report}");
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
}

#[tokio::test]
async fn dimensions_statistics_and_no_data_values() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = CloudWatchHarness::new(&moto);
    h.put("depth", &[("QueueName", "orders")], 12.0).await;
    h.put("depth", &[("QueueName", "refunds")], 3.0).await;

    // Each dimension set is its own series.
    let orders = metric("depth", &[("QueueName", "orders")]);
    let refunds = metric("depth", &[("QueueName", "refunds")]);
    assert_eq!(
        h.source.value(&as_metric(orders.clone())).await.unwrap(),
        12.0
    );
    assert_eq!(h.source.value(&as_metric(refunds)).await.unwrap(), 3.0);

    // A 5-minute period holds the datapoints of both seconds: the statistic
    // is applied over it.
    for (stat, want) in [("Sum", 12.0), ("SampleCount", 1.0), ("Maximum", 12.0)] {
        let m = CloudWatchMetricSource {
            statistic: Some(stat.into()),
            period: Some(300),
            ..orders.clone()
        };
        assert_eq!(h.source.value(&as_metric(m)).await.unwrap(), want, "{stat}");
    }

    // No data: an error naming the metric, unless noDataValue is set.
    let quiet = metric("depth", &[("QueueName", "nobody")]);
    let err = h.source.value(&as_metric(quiet.clone())).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::NotFound, "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.message
            .contains("Karpenter/Conformance depth {QueueName=nobody}")
            && err.message.contains("noDataValue"),
        "{err}"
    );
    let with_default = CloudWatchMetricSource {
        no_data_value: Some(Quantity::parse("250m").unwrap()),
        ..quiet
    };
    assert_eq!(
        h.source.value(&as_metric(with_default)).await.unwrap(),
        0.25
    );
    let ignored_when_data = CloudWatchMetricSource {
        no_data_value: Some(Quantity::parse("0").unwrap()),
        ..orders
    };
    assert_eq!(
        h.source.value(&as_metric(ignored_when_data)).await.unwrap(),
        12.0
    );
}

#[tokio::test]
async fn expressions_are_sent_and_read() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = CloudWatchHarness::new(&moto);
    // Two series, one datapoint each, in the same second.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let datum = |queue: &str, value: f64| {
        MetricDatum::builder()
            .metric_name("load")
            .dimensions(Dimension::builder().name("QueueName").value(queue).build())
            .value(value)
            .timestamp(DateTime::from_secs(now as i64))
            .storage_resolution(1)
            .build()
    };
    h.client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(datum("orders", 12.0))
        .metric_data(datum("refunds", 3.0))
        .send()
        .await
        .unwrap();
    // A Metrics Insights expression. moto evaluates any SELECT as the sum of
    // every datapoint in the period (it does not parse the query), so this
    // checks the request and the reading of its answer, not CloudWatch's
    // query language: 12 + 3 within the same 1 s period.
    let expression = CloudWatchMetricSource {
        expression: Some(format!("SELECT SUM(load) FROM \"{NAMESPACE}\"")),
        period: Some(1),
        ..Default::default()
    };
    assert_eq!(h.source.value(&as_metric(expression)).await.unwrap(), 15.0);
}

#[tokio::test]
async fn the_registry_serves_cloudwatch_and_a_missing_region_is_explained() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = CloudWatchHarness::new(&moto);
    h.put("workers", &[], 7.0).await;
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(AwsProvider::new(moto.sdk())))
        .unwrap();
    let source = registry.metric_source("cloudWatch").unwrap();
    assert_eq!(
        source
            .value(&as_metric(metric("workers", &[])))
            .await
            .unwrap(),
        7.0
    );

    let no_region = AwsProvider::new(
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build(),
    );
    let err = no_region
        .metric_source(CLOUDWATCH_TYPE)
        .err()
        .expect("no region");
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("AWS_REGION") && err.message.contains("cloudWatch"),
        "{err}"
    );
}

// ---- answers moto never gives, on a mocked SDK client ----------------------

fn mocked(results: Vec<MetricDataResult>) -> CloudWatchSource {
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
        GetMetricDataOutput::builder()
            .set_metric_data_results(Some(results.clone()))
            .build()
    });
    let interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(&rule);
    let conf = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    CloudWatchSource::with_client(aws_sdk_cloudwatch::Client::from_conf(conf))
}

fn series(values: &[(i64, f64)]) -> MetricDataResult {
    let mut r = MetricDataResult::builder()
        .id("karpenter")
        .status_code(StatusCode::Complete);
    for (t, v) in values {
        r = r.timestamps(DateTime::from_secs(*t)).values(*v);
    }
    r.build()
}

#[tokio::test]
async fn several_series_failed_queries_and_ordering() {
    let m = as_metric(CloudWatchMetricSource {
        expression: Some("SEARCH('{AWS/EC2,InstanceId} CPUUtilization', 'Average')".into()),
        ..Default::default()
    });

    // The newest datapoint wins whatever order they come in.
    let source = mocked(vec![series(&[(100, 1.0), (160, 2.0), (130, 3.0)])]);
    assert_eq!(source.value(&m).await.unwrap(), 2.0);

    // A search that matches two series is not one number.
    let source = mocked(vec![series(&[(100, 1.0)]), series(&[(100, 2.0)])]);
    let err = source.value(&m).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Other, "{err}");
    assert!(err.message.contains("returned 2 series"), "{err}");

    // CloudWatch failed to compute it: retryable.
    let failed = MetricDataResult::builder()
        .id("karpenter")
        .status_code(StatusCode::InternalError)
        .build();
    let err = mocked(vec![failed]).value(&m).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());

    // A metric of another source is refused.
    let err = mocked(vec![]).value(&Metric::default()).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InvalidId, "{err}");
}
