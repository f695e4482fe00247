//! SQS queues as a [`Queue`] (`spec.queue.type: AWSSQSQueue`).
//!
//! Length is `ApproximateNumberOfMessages`, plus
//! `ApproximateNumberOfMessagesNotVisible` when `includeInFlight: true`.
//! SQS has no attribute for the age of the oldest message: it comes from
//! CloudWatch's `AWS/SQS ApproximateAgeOfOldestMessage` (maximum over one
//! minute, newest datapoint of the last 5 minutes), and is `None` ("no
//! data") when CloudWatch has no datapoint, or when the queue is empty.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use karpenter_core::async_trait;
use karpenter_core::provider::{ProviderError, ProviderErrorKind, ProviderResult, Queue};
use tokio::sync::OnceCell;

use crate::cloudwatch::{newest_datapoint, stat_query};
use crate::config::{client_for, region_for};
use crate::error::map_sdk_error;
use crate::ids::SqsQueueId;

/// An SQS queue.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use karpenter_aws::SqsQueue;
/// use karpenter_core::provider::Queue;
///
/// let sdk = karpenter_aws::load_sdk_config().await;
/// let orders = SqsQueue::new(&sdk, "https://sqs.us-west-2.amazonaws.com/123456789012/orders", false)?;
/// println!("{} messages waiting", orders.length().await?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SqsQueue {
    id: SqsQueueId,
    include_in_flight: bool,
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// The queue URL: the id's, or resolved once from its ARN.
    url: OnceCell<String>,
    object: String,
}

impl SqsQueue {
    /// The queue `id` (a URL or an ARN), counting in-flight messages too if
    /// `include_in_flight`. Fails, naming `spec.queue.id`, on a malformed
    /// id or when no region is configured.
    pub fn new(sdk: &SdkConfig, id: &str, include_in_flight: bool) -> ProviderResult<Self> {
        let parsed = SqsQueueId::parse(id).map_err(|e| e.at("spec.queue.id"))?;
        let object = format!("SQS queue {:?} of account {}", parsed.name, parsed.account);
        let region = region_for(sdk, parsed.region.as_deref(), &object)?;
        Ok(Self {
            sqs: client_for!(aws_sdk_sqs, sdk, region.clone()),
            cloudwatch: client_for!(aws_sdk_cloudwatch, sdk, region),
            url: OnceCell::new_with(parsed.url.clone()),
            id: parsed,
            include_in_flight,
            object,
        })
    }

    /// The queue `id` over clients built elsewhere (with interceptors, a
    /// mocked HTTP client, another endpoint).
    pub fn with_clients(
        id: &str,
        include_in_flight: bool,
        sqs: aws_sdk_sqs::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
    ) -> ProviderResult<Self> {
        let parsed = SqsQueueId::parse(id).map_err(|e| e.at("spec.queue.id"))?;
        Ok(Self {
            object: format!("SQS queue {:?} of account {}", parsed.name, parsed.account),
            url: OnceCell::new_with(parsed.url.clone()),
            id: parsed,
            include_in_flight,
            sqs,
            cloudwatch,
        })
    }

    /// The queue URL, resolving an ARN with `GetQueueUrl` once.
    async fn url(&self) -> ProviderResult<&str> {
        self.url
            .get_or_try_init(|| async {
                let out = self
                    .sqs
                    .get_queue_url()
                    .queue_name(&self.id.name)
                    .queue_owner_aws_account_id(&self.id.account)
                    .send()
                    .await
                    .map_err(|e| map_sdk_error(e, &self.object, "GetQueueUrl", "sqs"))?;
                out.queue_url().map(str::to_string).ok_or_else(|| {
                    ProviderError::new(
                        ProviderErrorKind::Unavailable,
                        format!("{}: GetQueueUrl answered no URL", self.object),
                    )
                })
            })
            .await
            .map(String::as_str)
    }

    /// The queue's message count (visible, plus in flight if asked).
    async fn count(&self) -> ProviderResult<u64> {
        let url = self.url().await?;
        let mut ask = vec![
            QueueAttributeName::QueueArn,
            QueueAttributeName::ApproximateNumberOfMessages,
        ];
        if self.include_in_flight {
            ask.push(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        }
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(ask.clone()))
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.object, "GetQueueAttributes", "sqs"))?;
        let attrs = out.attributes();
        let get = |name: &QueueAttributeName| attrs.and_then(|a| a.get(name));
        // The queue that answered must be the one the id names: an endpoint
        // that ignores the account in the URL (an emulator, a proxy) must
        // not make another account's queue of the same name stand in.
        if let Some(arn) = get(&QueueAttributeName::QueueArn) {
            let expected_tail = format!(":{}:{}", self.id.account, self.id.name);
            if !arn.ends_with(&expected_tail) {
                return Err(ProviderError::new(
                    ProviderErrorKind::NotFound,
                    format!(
                        "{}: the id names account {} but the queue that answered is {arn}; no queue {:?} of account {} is reachable; check spec.queue.id and the credentials' account",
                        self.object, self.id.account, self.id.name, self.id.account
                    ),
                ));
            }
        }
        let mut total: u64 = 0;
        for name in &ask[1..] {
            let Some(raw) = get(name) else {
                return Err(ProviderError::new(
                    ProviderErrorKind::Unavailable,
                    format!(
                        "{}: GetQueueAttributes answered no {}",
                        self.object,
                        name.as_str()
                    ),
                ));
            };
            let n: u64 = raw.parse().map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::Other,
                    format!("{}: {} is {raw:?}, not a count", self.object, name.as_str()),
                )
            })?;
            total = total.saturating_add(n);
        }
        Ok(total)
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn length(&self) -> ProviderResult<u64> {
        self.count().await
    }

    async fn oldest_message_age(&self) -> ProviderResult<Option<Duration>> {
        // An empty queue has no oldest message, whatever CloudWatch's last
        // datapoint says.
        if self.count().await? == 0 {
            return Ok(None);
        }
        let query = stat_query(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            &[("QueueName", &self.id.name)],
            "Maximum",
            60,
        );
        let object = format!("{} (CloudWatch ApproximateAgeOfOldestMessage)", self.object);
        let newest = newest_datapoint(&self.cloudwatch, query, 60, &object).await?;
        Ok(newest.map(|d| Duration::from_secs_f64(d.value.max(0.0))))
    }
}
