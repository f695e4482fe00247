//! `AWSSQSQueue` against moto: the queue conformance suite, in-flight
//! counting, ids, other accounts, and a missing region.
//!
//! moto does not publish SQS's CloudWatch metrics, so the harness plays
//! that part of SQS: it puts `AWS/SQS ApproximateAgeOfOldestMessage`
//! datapoints (the age of the oldest message it sent, plus the time it was
//! asked to let pass) into moto's CloudWatch, which the provider then reads
//! through `GetMetricData` like it reads AWS's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use common::{ACCOUNT, Moto, REGION};
use karpenter_aws::{AwsProvider, SQS_TYPE};
use karpenter_core::api::v1alpha1::QueueSpec;
use karpenter_core::async_trait;
use karpenter_core::provider::{
    CloudProvider, ProviderErrorKind, ProviderRegistry, ProviderResult, Queue,
};
use karpenter_fake::conformance::{self, HarnessResult, QueueHarness};

fn spec(id: &str, include_in_flight: bool) -> QueueSpec {
    QueueSpec {
        type_: SQS_TYPE.to_string(),
        id: id.to_string(),
        include_in_flight,
    }
}

/// Creates queues in moto and publishes their age to moto's CloudWatch.
struct SqsHarness {
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    provider: AwsProvider,
    /// When each non-empty queue's oldest message was sent, and how old it
    /// already was then (a backdated message).
    oldest: Mutex<BTreeMap<String, (Instant, Duration)>>,
    /// Time the suite asked to let pass.
    passed: Mutex<Duration>,
}

impl SqsHarness {
    fn new(moto: &Moto) -> Self {
        let sdk = moto.sdk();
        Self {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            provider: AwsProvider::new(sdk),
            oldest: Mutex::default(),
            passed: Mutex::default(),
        }
    }

    async fn create(&self, name: &str, messages: u64) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        for i in 0..messages {
            self.sqs
                .send_message()
                .queue_url(&url)
                .message_body(format!("task {i}"))
                .send()
                .await
                .unwrap();
        }
        url
    }

    /// Publishes every non-empty queue's oldest age as SQS would.
    async fn publish_ages(&self) {
        let passed = *self.passed.lock().unwrap();
        let ages: Vec<(String, f64)> = self
            .oldest
            .lock()
            .unwrap()
            .iter()
            .map(|(name, (sent, backdate))| {
                (
                    name.clone(),
                    (sent.elapsed() + *backdate + passed).as_secs_f64(),
                )
            })
            .collect();
        for (name, age) in ages {
            publish_age(&self.cloudwatch, &name, age).await;
        }
    }
}

async fn publish_age(cloudwatch: &aws_sdk_cloudwatch::Client, queue: &str, age: f64) {
    cloudwatch
        .put_metric_data()
        .namespace("AWS/SQS")
        .metric_data(
            MetricDatum::builder()
                .metric_name("ApproximateAgeOfOldestMessage")
                .dimensions(Dimension::builder().name("QueueName").value(queue).build())
                .value(age)
                .unit(StandardUnit::Seconds)
                .timestamp(DateTime::from(std::time::SystemTime::now()))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[async_trait]
impl QueueHarness for SqsHarness {
    fn description(&self) -> String {
        "AWSSQSQueue on moto_server (ages published to moto's CloudWatch by the harness)".into()
    }

    async fn create_queue(&self, name: &str, messages: u64) -> HarnessResult<Arc<dyn Queue>> {
        let url = self.create(name, messages).await;
        if messages > 0 {
            self.oldest
                .lock()
                .unwrap()
                .insert(name.to_string(), (Instant::now(), Duration::ZERO));
            self.publish_ages().await;
        }
        Ok(self.provider.queue(&spec(&url, false))?)
    }

    async fn advance(&self, by: Duration) -> HarnessResult<()> {
        *self.passed.lock().unwrap() += by;
        self.publish_ages().await;
        Ok(())
    }

    async fn create_aged_queue(&self, name: &str, age: Duration) -> HarnessResult<Arc<dyn Queue>> {
        let url = self.create(name, 1).await;
        self.oldest
            .lock()
            .unwrap()
            .insert(name.to_string(), (Instant::now(), age));
        self.publish_ages().await;
        Ok(self.provider.queue(&spec(&url, false))?)
    }

    async fn missing_queue(&self) -> HarnessResult<ProviderResult<Arc<dyn Queue>>> {
        let url = format!("http://127.0.0.1/{ACCOUNT}/conformance-missing");
        Ok(self.provider.queue(&spec(&url, false)))
    }
}

#[tokio::test]
async fn sqs_queues_conform() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let report = conformance::queue(&SqsHarness::new(&moto)).await;
    println!("{report}");
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
}

#[tokio::test]
async fn in_flight_messages_count_only_when_asked() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = SqsHarness::new(&moto);
    let url = h.create("jobs", 5).await;
    let received = h
        .sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(2)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 2);

    let waiting = h.provider.queue(&spec(&url, false)).unwrap();
    let all = h.provider.queue(&spec(&url, true)).unwrap();
    assert_eq!(waiting.length().await.unwrap(), 3);
    assert_eq!(all.length().await.unwrap(), 5);
}

#[tokio::test]
async fn no_cloudwatch_data_is_reported_as_no_data() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = SqsHarness::new(&moto);
    let url = h.create("quiet", 2).await;
    let q = h.provider.queue(&spec(&url, false)).unwrap();
    assert_eq!(q.length().await.unwrap(), 2);
    // Two messages wait, but CloudWatch has no datapoint: "no data", not 0.
    assert_eq!(q.oldest_message_age().await.unwrap(), None);
    publish_age(&h.cloudwatch, "quiet", 42.5).await;
    assert_eq!(
        q.oldest_message_age().await.unwrap(),
        Some(Duration::from_secs_f64(42.5))
    );
}

#[tokio::test]
async fn arn_resolves_to_the_queue_and_registry_serves_it() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = SqsHarness::new(&moto);
    h.create("orders", 4).await;
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(AwsProvider::new(moto.sdk())))
        .unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders");
    let q = registry.queue(&spec(&arn, false)).unwrap();
    assert_eq!(q.length().await.unwrap(), 4);
}

#[tokio::test]
async fn a_queue_of_another_account_is_not_found() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = SqsHarness::new(&moto);
    let url = h.create("orders", 1).await;
    // moto serves one account per access key and ignores the account in a
    // queue URL; AWS answers NonExistentQueue or AccessDenied. The provider
    // checks the ARN of the queue that answered against the id.
    let other = url.replace(ACCOUNT, "999999999999");
    for id in [other, format!("arn:aws:sqs:{REGION}:999999999999:orders")] {
        let q = h.provider.queue(&spec(&id, false)).unwrap();
        let err = q.length().await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::NotFound, "{id}: {err}");
        assert!(!err.is_retryable());
        assert!(
            err.message.contains("\"orders\"") && err.message.contains("999999999999"),
            "{err}"
        );
    }
    // A queue that exists nowhere: NotFound from AWS's own error.
    let missing = url.replace("orders", "no-such-queue");
    let err = h
        .provider
        .queue(&spec(&missing, false))
        .unwrap()
        .length()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::NotFound, "{err}");
    assert!(err.message.contains("\"no-such-queue\""), "{err}");
}

#[tokio::test]
async fn malformed_ids_and_a_missing_region_are_clear_errors() {
    // No server needed: nothing is sent.
    let sdk = common::sdk_config(None, karpenter_aws::http_client());
    let provider = AwsProvider::new(sdk);
    for (id, want) in [
        ("orders", "neither a queue URL"),
        ("arn:aws:sns:us-east-1:123456789012:orders", "is an sns ARN"),
        (
            "https://sqs.us-east-1.amazonaws.com/orders",
            "/ACCOUNT/QUEUE_NAME",
        ),
    ] {
        let err = provider.validate_queue(&spec(id, false)).unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::InvalidId, "{id}");
        assert!(err.message.starts_with("spec.queue.id: "), "{err}");
        assert!(err.message.contains(want), "{id}: {err}");
        assert!(provider.queue(&spec(id, false)).is_err());
    }

    let no_region = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let provider = AwsProvider::new(no_region);
    let err = provider
        .queue(&spec("http://127.0.0.1:1/123456789012/orders", false))
        .err()
        .expect("no region");
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("no AWS region is configured")
            && err.message.contains("AWS_REGION")
            && err.message.contains("\"orders\""),
        "{err}"
    );
    // An AWS queue URL names its region: no configured region needed.
    assert!(
        provider
            .queue(&spec(
                "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
                false
            ))
            .is_ok()
    );
}
