//! `AwsProvider` in a `ProviderRegistry` beside another provider: what it
//! claims, handles wrapped in the registry's retries and timeout (with
//! `instances()` passed through), and a misconfigured AWS side leaving the
//! other provider's objects alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use chrono::{TimeZone, Utc};
use common::{Moto, REGION};
use karpenter_aws::{AwsProvider, METRIC_SOURCE_TYPES, NODE_GROUP_TYPES, QUEUE_TYPES};
use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::provider::{CloudProvider, InstanceLifecycle, ProviderRegistry};
use karpenter_fake::{FakeMetricStore, FakeNodeGroup, FakeProvider, SimClock};

fn spec(type_: &str, id: &str) -> ScalableNodeGroupSpec {
    ScalableNodeGroupSpec {
        type_: type_.into(),
        id: id.into(),
        replicas: None,
    }
}

#[tokio::test]
async fn an_aws_provider_without_a_region_leaves_other_providers_alone() {
    let aws = AwsProvider::new(
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build(),
    );
    assert_eq!(aws.node_group_types(), NODE_GROUP_TYPES);
    assert_eq!(aws.queue_types(), QUEUE_TYPES);
    assert_eq!(aws.metric_source_types(), METRIC_SOURCE_TYPES);

    let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
    let fake = FakeProvider::new(FakeMetricStore::new());
    fake.add_node_group(FakeNodeGroup::builder("web").replicas(2).build(&clock));
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(aws)).unwrap();
    registry.register(Arc::new(fake)).unwrap();

    let err = registry
        .node_group(&spec("AWSEC2AutoScalingGroup", "web"))
        .err()
        .expect("no region");
    assert!(!err.is_retryable());
    assert!(err.message.contains("no AWS region is configured"), "{err}");
    let fake_group = registry.node_group(&spec("FakeNodeGroup", "web")).unwrap();
    assert_eq!(fake_group.replicas().await.unwrap().desired, 2);
}

#[tokio::test]
async fn registry_handles_pass_instances_through() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let sdk = moto.sdk();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let images = ec2.describe_images().owners("amazon").send().await.unwrap();
    ec2.create_launch_template()
        .launch_template_name("workers")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(images.images()[0].image_id().unwrap())
                .instance_type(InstanceType::T3Medium)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws_sdk_autoscaling::Client::new(&sdk)
        .create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name("workers")
                .build(),
        )
        .min_size(0)
        .max_size(4)
        .desired_capacity(3)
        .availability_zones(format!("{REGION}c"))
        .send()
        .await
        .unwrap();

    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(AwsProvider::new(sdk))).unwrap();
    let g = registry
        .node_group(&spec("AWSEC2AutoScalingGroup", "web"))
        .unwrap();
    let instances = g
        .instances()
        .await
        .unwrap()
        .expect("the ASG lists its instances");
    assert_eq!(instances.len(), 3);
    assert!(
        instances
            .iter()
            .all(|i| i.lifecycle == InstanceLifecycle::Running
                && i.provider_id.starts_with(&format!("aws:///{REGION}c/i-")))
    );
}
