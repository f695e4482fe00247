//! # karpenter-aws
//!
//! AWS providers for karpenter-rs, on the official `aws-sdk-*` crates:
//!
//! | type | what | implemented by |
//! |---|---|---|
//! | `AWSEC2AutoScalingGroup` | ScalableNodeGroup `spec.type` | [`AutoScalingGroupNodeGroup`] |
//! | `AWSEKSNodeGroup` | ScalableNodeGroup `spec.type` | [`EksNodeGroup`] |
//! | `AWSSQSQueue` | MetricsProducer `spec.queue.type` | [`SqsQueue`] |
//! | `cloudWatch` | HorizontalAutoscaler metric source | [`CloudWatchSource`] |
//!
//! [`AwsProvider`] claims all four in a
//! [`ProviderRegistry`](karpenter_core::provider::ProviderRegistry). Region,
//! credentials and endpoint come from the standard AWS configuration chain
//! ([`load_sdk_config`]), so `AWS_ENDPOINT_URL` points everything at a local
//! emulator. TLS is rustls with the *ring* crypto provider, installed as
//! the process default by [`install_crypto_provider`]. Every call makes one
//! attempt: the SDK's retries are off, and the registry's retry wrapper
//! retries throttling, 5xx and timeouts (see [`error`] for the mapping).
//!
//! The ids, the IAM permissions each type needs, how node templates are
//! derived and the overhead they subtract are in `docs/aws.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use karpenter_aws::AwsProvider;
//! use karpenter_core::api::v1alpha1::{QueueSpec, ScalableNodeGroupSpec};
//! use karpenter_core::provider::ProviderRegistry;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = ProviderRegistry::new();
//! registry.register(Arc::new(AwsProvider::from_env().await))?;
//!
//! let workers = registry.node_group(&ScalableNodeGroupSpec {
//!     type_: "AWSEC2AutoScalingGroup".into(),
//!     id: "web-workers".into(),
//!     replicas: None,
//! })?;
//! workers.set_replicas(4).await?;
//!
//! let orders = registry.queue(&QueueSpec {
//!     type_: "AWSSQSQueue".into(),
//!     id: "https://sqs.us-west-2.amazonaws.com/123456789012/orders".into(),
//!     include_in_flight: false,
//! })?;
//! println!("{} orders waiting", orders.length().await?);
//! # Ok(()) }
//! ```
//!
//! A malformed id is refused before anything is built, naming the field
//! and the form expected:
//!
//! ```
//! use karpenter_aws::AwsProvider;
//! use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
//! use karpenter_core::provider::{CloudProvider, ProviderErrorKind};
//!
//! let provider = AwsProvider::new(aws_config::SdkConfig::builder().build());
//! let spec = ScalableNodeGroupSpec {
//!     type_: "AWSEKSNodeGroup".into(),
//!     id: "arn:aws:eks:us-west-2:123456789012:cluster/prod".into(),
//!     replicas: None,
//! };
//! let err = provider.validate_node_group(&spec).unwrap_err();
//! assert_eq!(err.kind, ProviderErrorKind::InvalidId);
//! assert!(err.message.contains("names a \"cluster\" resource, not a EKS managed node group"), "{err}");
//! ```

pub mod asg;
pub mod cloudwatch;
pub mod config;
pub mod eks;
pub mod error;
pub mod ids;
pub mod provider;
pub mod sqs;
pub mod template;

pub use asg::AutoScalingGroupNodeGroup;
pub use cloudwatch::CloudWatchSource;
pub use config::{http_client, install_crypto_provider, load_sdk_config};
pub use eks::EksNodeGroup;
pub use provider::{ASG_TYPE, AwsProvider, CLOUDWATCH_TYPE, EKS_TYPE, SQS_TYPE};
pub use sqs::SqsQueue;
pub use template::{InstanceTypeCache, InstanceTypeInfo};

/// `ScalableNodeGroup.spec.type` values this crate serves.
pub const NODE_GROUP_TYPES: [&str; 2] = [ASG_TYPE, EKS_TYPE];

/// `MetricsProducer.spec.queue.type` values this crate serves.
pub const QUEUE_TYPES: [&str; 1] = [SQS_TYPE];

/// Metric source names this crate serves.
pub const METRIC_SOURCE_TYPES: [&str; 1] = [CLOUDWATCH_TYPE];
