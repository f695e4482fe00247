//! # karpenter-aws
//!
//! AWS providers for karpenter-rs: EC2 Auto Scaling groups and EKS managed
//! node groups as [`NodeGroup`](karpenter_core::provider::NodeGroup)s, SQS
//! as a [`Queue`](karpenter_core::provider::Queue), CloudWatch as a
//! [`MetricSource`](karpenter_core::provider::MetricSource).
//!
//! **Not implemented yet.** This crate exists so the workspace has its final
//! shape; the providers arrive with their own issue, built on the official
//! `aws-sdk-*` crates and tested against a local moto server. Until then it
//! only names the type strings it will claim, so manifests can be checked
//! against them:
//!
//! ```
//! assert!(karpenter_aws::NODE_GROUP_TYPES.contains(&"AWSEKSNodeGroup"));
//! assert_eq!(karpenter_aws::QUEUE_TYPES, ["AWSSQSQueue"]);
//! ```

/// `ScalableNodeGroup.spec.type` values this crate will serve.
pub const NODE_GROUP_TYPES: [&str; 2] = ["AWSEC2AutoScalingGroup", "AWSEKSNodeGroup"];

/// `MetricsProducer.spec.queue.type` values this crate will serve.
pub const QUEUE_TYPES: [&str; 1] = ["AWSSQSQueue"];

/// Metric source names this crate will serve.
pub const METRIC_SOURCE_TYPES: [&str; 1] = ["cloudWatch"];
