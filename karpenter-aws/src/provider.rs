//! [`AwsProvider`]: the [`CloudProvider`] that claims the AWS types.

use std::sync::Arc;

use aws_config::SdkConfig;
use karpenter_core::api::v1alpha1::{QueueSpec, ScalableNodeGroupSpec};
use karpenter_core::provider::{
    CloudProvider, MetricSource, NodeGroup, ProviderError, ProviderErrorKind, ProviderResult, Queue,
};

use crate::ids::{AsgId, EksNodegroupId, SqsQueueId};
use crate::template::InstanceTypeCache;
use crate::{AutoScalingGroupNodeGroup, CloudWatchSource, EksNodeGroup, SqsQueue};

/// `spec.type` of EC2 Auto Scaling groups.
pub const ASG_TYPE: &str = "AWSEC2AutoScalingGroup";
/// `spec.type` of EKS managed node groups.
pub const EKS_TYPE: &str = "AWSEKSNodeGroup";
/// `spec.queue.type` of SQS queues.
pub const SQS_TYPE: &str = "AWSSQSQueue";
/// The metric source type of CloudWatch metrics.
pub const CLOUDWATCH_TYPE: &str = "cloudWatch";

/// The AWS provider: EC2 Auto Scaling groups and EKS managed node groups,
/// SQS queues and CloudWatch metrics, over one [`SdkConfig`].
///
/// Handles are built without I/O; each call makes one attempt (the
/// registry's [`CallPolicy`](karpenter_core::provider::CallPolicy) retries).
/// Without a configured region, building a handle whose id does not name
/// one (an ARN does) fails with an error that says where to set it; the
/// other providers' objects are unaffected.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use karpenter_aws::AwsProvider;
/// use karpenter_core::provider::ProviderRegistry;
///
/// let mut registry = ProviderRegistry::new();
/// registry.register(Arc::new(AwsProvider::from_env().await))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AwsProvider {
    sdk: SdkConfig,
    instance_types: Arc<InstanceTypeCache>,
}

impl AwsProvider {
    /// A provider over `sdk` (build it with [`crate::load_sdk_config`], or
    /// explicitly; its retries are turned off on every client either way).
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            instance_types: Arc::new(InstanceTypeCache::new()),
        }
    }

    /// A provider over the standard configuration chain
    /// ([`crate::load_sdk_config`]).
    pub async fn from_env() -> Self {
        Self::new(crate::load_sdk_config().await)
    }

    /// The SDK configuration it uses.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The instance types described so far (shared by its node groups).
    pub fn instance_types(&self) -> &Arc<InstanceTypeCache> {
        &self.instance_types
    }
}

fn unclaimed(what: &str, type_: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::UnsupportedType,
        format!("the aws provider does not serve {what} type {type_:?}"),
    )
}

impl CloudProvider for AwsProvider {
    fn name(&self) -> String {
        "aws".to_string()
    }

    fn node_group_types(&self) -> Vec<String> {
        vec![ASG_TYPE.to_string(), EKS_TYPE.to_string()]
    }

    fn queue_types(&self) -> Vec<String> {
        vec![SQS_TYPE.to_string()]
    }

    fn metric_source_types(&self) -> Vec<String> {
        vec![CLOUDWATCH_TYPE.to_string()]
    }

    fn validate_node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<()> {
        match spec.type_.as_str() {
            ASG_TYPE => AsgId::parse(&spec.id).map(drop).map_err(Into::into),
            EKS_TYPE => EksNodegroupId::parse(&spec.id)
                .map(drop)
                .map_err(Into::into),
            other => Err(unclaimed("node group", other)),
        }
    }

    fn validate_queue(&self, spec: &QueueSpec) -> ProviderResult<()> {
        match spec.type_.as_str() {
            SQS_TYPE => SqsQueueId::parse(&spec.id)
                .map(drop)
                .map_err(|e| e.at("spec.queue.id")),
            other => Err(unclaimed("queue", other)),
        }
    }

    fn node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        let types = self.instance_types.clone();
        match spec.type_.as_str() {
            ASG_TYPE => Ok(Arc::new(AutoScalingGroupNodeGroup::new(
                &self.sdk, &spec.id, types,
            )?)),
            EKS_TYPE => Ok(Arc::new(EksNodeGroup::new(&self.sdk, &spec.id, types)?)),
            other => Err(unclaimed("node group", other)),
        }
    }

    fn queue(&self, spec: &QueueSpec) -> ProviderResult<Arc<dyn Queue>> {
        match spec.type_.as_str() {
            SQS_TYPE => Ok(Arc::new(SqsQueue::new(
                &self.sdk,
                &spec.id,
                spec.include_in_flight,
            )?)),
            other => Err(unclaimed("queue", other)),
        }
    }

    fn metric_source(&self, source_type: &str) -> ProviderResult<Arc<dyn MetricSource>> {
        match source_type {
            CLOUDWATCH_TYPE => Ok(Arc::new(CloudWatchSource::new(&self.sdk)?)),
            other => Err(unclaimed("metric source", other)),
        }
    }
}
