//! `AWSEC2AutoScalingGroup` against moto: the node group conformance suite,
//! writes checked against what moto then reports, node templates, ids and
//! errors. moto launches instances at once (straight to `InService`), so
//! the `Pending`/`Terminating` paths are covered with a mocked SDK client
//! at the end of this file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Instance, LaunchTemplateSpecification, LifecycleState, Tag,
};
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use aws_sdk_sqs::config::Credentials;
use aws_smithy_mocks::{RuleMode, mock};
use common::{ACCOUNT, Fault, Faults, Moto, REGION};
use karpenter_aws::{ASG_TYPE, AutoScalingGroupNodeGroup, AwsProvider, InstanceTypeCache};
use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::async_trait;
use karpenter_core::cluster::{Resources, Taint, TaintEffect};
use karpenter_core::provider::{
    CloudProvider, InstanceLifecycle, NodeGroup, ProviderErrorKind, ProviderResult, ReplicaBounds,
};
use karpenter_fake::conformance::{self, HarnessResult, NodeGroupHarness};

const MIB: i64 = 1 << 20;

fn spec(id: &str) -> ScalableNodeGroupSpec {
    ScalableNodeGroupSpec {
        type_: ASG_TYPE.to_string(),
        id: id.to_string(),
        replicas: None,
    }
}

/// Creates launch templates and Auto Scaling groups in moto.
struct AsgHarness {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    provider: AwsProvider,
    faults: Faults,
}

impl AsgHarness {
    async fn new(moto: &Moto) -> Self {
        let faults = Faults::default();
        let sdk = moto.sdk_with_faults(&faults);
        let h = Self {
            autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
            ec2: aws_sdk_ec2::Client::new(&sdk),
            provider: AwsProvider::new(sdk),
            faults,
        };
        let images = h
            .ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .unwrap();
        let image = images.images()[0].image_id().unwrap().to_string();
        h.ec2
            .create_launch_template()
            .launch_template_name("workers")
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(image)
                    .instance_type(InstanceType::M5Large)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        h
    }

    async fn create(&self, name: &str, initial: i32, bounds: ReplicaBounds, tags: &[(&str, &str)]) {
        let mut req = self
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name("workers")
                    .version("$Latest")
                    .build(),
            )
            .min_size(bounds.min)
            .max_size(bounds.max)
            .desired_capacity(initial)
            .availability_zones(format!("{REGION}a"));
        for (k, v) in tags {
            req = req.tags(
                Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*k)
                    .value(*v)
                    .propagate_at_launch(true)
                    .build(),
            );
        }
        req.send().await.unwrap();
    }

    /// What moto says the group's desired capacity and InService count are.
    async fn moto_sizes(&self, name: &str) -> (i32, usize) {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap();
        let g = &out.auto_scaling_groups()[0];
        let in_service = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
            .count();
        (g.desired_capacity().unwrap(), in_service)
    }
}

#[async_trait]
impl NodeGroupHarness for AsgHarness {
    fn description(&self) -> String {
        "AWSEC2AutoScalingGroup on moto_server (throttling injected at the HTTP layer)".into()
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        self.create(name, initial, bounds, &[]).await;
        Ok(self.provider.node_group(&spec(name))?)
    }

    async fn settle(&self) -> HarnessResult<()> {
        // moto launches and terminates instances within the call.
        Ok(())
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        self.faults
            .arm(Fault::query_throttle("SetDesiredCapacity", name));
        Ok(())
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        Ok(self.provider.node_group(&spec("conformance-missing")))
    }
}

#[tokio::test]
async fn auto_scaling_groups_conform() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = AsgHarness::new(&moto).await;
    let report = conformance::node_group(&h).await;
    println!("{report}");
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
    assert_eq!(
        h.faults.fired(),
        ["Action=SetDesiredCapacity AutoScalingGroupName=conformance-throttled"]
    );
}

#[tokio::test]
async fn writes_reach_the_group_and_bounds_are_reported_not_clamped() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = AsgHarness::new(&moto).await;
    h.create("web", 1, ReplicaBounds { min: 1, max: 5 }, &[])
        .await;
    let g = h.provider.node_group(&spec("web")).unwrap();

    g.set_replicas(4).await.unwrap();
    assert_eq!(h.moto_sizes("web").await, (4, 4));
    let r = g.replicas().await.unwrap();
    assert_eq!((r.desired, r.ready), (4, 4));
    assert!(g.stabilized().await.unwrap().stabilized);

    for (size, bounds) in [(6, "[1, 5]"), (0, "[1, 5]"), (-1, "[1, 5]")] {
        let err = g.set_replicas(size).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::OutOfBounds, "{size}: {err}");
        assert!(!err.is_retryable());
        assert!(
            err.message.contains(bounds)
                && err.message.contains("MinSize 1")
                && err.message.contains("MaxSize 5")
                && err.message.contains("\"web\""),
            "{err}"
        );
    }
    assert_eq!(
        h.moto_sizes("web").await,
        (4, 4),
        "nothing was clamped or applied"
    );

    // Scale-in: the group's termination policy picks the instances.
    g.set_replicas(2).await.unwrap();
    assert_eq!(h.moto_sizes("web").await, (2, 2));

    let instances = g.instances().await.unwrap().unwrap();
    assert_eq!(instances.len(), 2);
    for i in &instances {
        assert!(
            i.provider_id.starts_with(&format!("aws:///{REGION}a/i-")),
            "{i:?}"
        );
        assert_eq!(i.lifecycle, InstanceLifecycle::Running, "{i:?}");
        assert_eq!(i.state, "InService/Healthy");
    }
}

#[tokio::test]
async fn templates_come_from_the_instance_type_and_tags_and_are_cached() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = AsgHarness::new(&moto).await;
    let tags = [
        ("k8s.io/cluster-autoscaler/node-template/label/team", "ml"),
        (
            "k8s.io/cluster-autoscaler/node-template/taint/dedicated",
            "ml:NoSchedule",
        ),
    ];
    h.create("ml", 0, ReplicaBounds { min: 0, max: 10 }, &tags)
        .await;
    let g = h.provider.node_group(&spec("ml")).unwrap();
    let t = g.template().await.unwrap().expect("a template");
    // m5.large, by hand: 2 vCPU, 8192 MiB, 3 ENIs × 10 addresses.
    // pods 3 × 9 + 2 = 29; cpu 2000 − 70 − 100 = 1830 m;
    // memory 8192 − 615 − (255 + 11 × 29) − 100 − 100 = 6803 MiB.
    assert_eq!(t.allocatable, Resources::new(1830, 6803 * MIB, 29));
    assert_eq!(t.labels["team"], "ml");
    assert_eq!(t.labels["node.kubernetes.io/instance-type"], "m5.large");
    assert_eq!(t.labels["kubernetes.io/arch"], "amd64");
    assert_eq!(
        t.labels["topology.kubernetes.io/zone"],
        format!("{REGION}a")
    );
    assert_eq!(
        t.taints,
        [Taint {
            key: "dedicated".into(),
            value: "ml".into(),
            effect: TaintEffect::NoSchedule
        }]
    );
    assert_eq!(h.provider.instance_types().len(), 1);

    // The instance type is described once: a second template does not ask
    // EC2 again (the armed fault would fail DescribeInstanceTypes).
    h.faults.arm(Fault {
        needles: vec!["Action=DescribeInstanceTypes".into()],
        status: 500,
        headers: vec![("content-type", "text/xml".into())],
        body: "<Response><Errors><Error><Code>InternalError</Code><Message>boom</Message></Error></Errors></Response>".into(),
    });
    assert_eq!(g.template().await.unwrap(), Some(t));
    assert!(h.faults.fired().is_empty());
    assert_eq!(h.faults.disarm(), 1);

    // A group launched from a launch configuration.
    let images = h
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    h.autoscaling
        .create_launch_configuration()
        .launch_configuration_name("small")
        .image_id(images.images()[0].image_id().unwrap())
        .instance_type("t3.medium")
        .send()
        .await
        .unwrap();
    h.autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("small")
        .launch_configuration_name("small")
        .min_size(0)
        .max_size(3)
        .desired_capacity(0)
        .availability_zones(format!("{REGION}a"))
        .availability_zones(format!("{REGION}b"))
        .send()
        .await
        .unwrap();
    let small = h.provider.node_group(&spec("small")).unwrap();
    let t = small.template().await.unwrap().expect("a template");
    // t3.medium: 2 vCPU, 4096 MiB, 3 ENIs × 6: pods 17;
    // memory 4096 − 308 − (255 + 187) − 200 = 3146 MiB. Two zones: no zone label.
    assert_eq!(t.allocatable, Resources::new(1830, 3146 * MIB, 17));
    assert!(!t.labels.contains_key("topology.kubernetes.io/zone"));
}

#[tokio::test]
async fn ids_missing_groups_and_denied_calls_are_clear_errors() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = AsgHarness::new(&moto).await;
    h.create("web", 2, ReplicaBounds { min: 0, max: 5 }, &[])
        .await;

    // The group's ARN works as its id.
    let out = h
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let arn = out.auto_scaling_groups()[0]
        .auto_scaling_group_arn()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
        )),
        "{arn}"
    );
    let by_arn = h.provider.node_group(&spec(&arn)).unwrap();
    assert_eq!(by_arn.replicas().await.unwrap().desired, 2);

    // A group that does not exist.
    let missing = h.provider.node_group(&spec("nope")).unwrap();
    let err = missing.replicas().await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::NotFound);
    assert!(!err.is_retryable());
    assert!(
        err.message
            .contains("\"nope\" does not exist in region us-east-1"),
        "{err}"
    );

    // Malformed ARNs are refused before anything is built.
    for (id, want) in [
        ("arn:aws:autoscaling:us-east-1", "is not a valid ARN"),
        (
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
            "is an ec2 ARN",
        ),
        (
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid",
            "no autoScalingGroupName/NAME",
        ),
    ] {
        let err = h.provider.validate_node_group(&spec(id)).unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::InvalidId, "{id}");
        assert!(
            err.message.starts_with("spec.id: ") && err.message.contains(want),
            "{err}"
        );
        assert!(h.provider.node_group(&spec(id)).is_err());
    }

    // AccessDenied: not retried, names the group and the permission.
    h.faults.arm(Fault {
        needles: vec!["Action=DescribeAutoScalingGroups".into()],
        status: 403,
        headers: vec![("content-type", "text/xml".into())],
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized</Message></Error></ErrorResponse>".into(),
    });
    let g = h.provider.node_group(&spec("web")).unwrap();
    let err = g.replicas().await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::AccessDenied, "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("\"web\"")
            && err.message.contains("AccessDenied")
            && err
                .message
                .contains("autoscaling:DescribeAutoScalingGroups"),
        "{err}"
    );

    // A 5xx is retryable.
    h.faults.arm(Fault {
        needles: vec!["Action=DescribeAutoScalingGroups".into()],
        status: 503,
        headers: vec![("content-type", "text/xml".into())],
        body: "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error></ErrorResponse>".into(),
    });
    let err = g.replicas().await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());

    // No region anywhere: the error says where to set one. An ARN names its own.
    let provider = AwsProvider::new(
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build(),
    );
    let err = provider.node_group(&spec("web")).err().expect("no region");
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("AWS_REGION") && err.message.contains("\"web\""),
        "{err}"
    );
    assert!(provider.node_group(&spec(&arn)).is_ok());
}

// ---- paths moto does not model, on a mocked SDK client ---------------------

fn mocked_group(groups: Vec<AutoScalingGroup>) -> AutoScalingGroupNodeGroup {
    let describe =
        mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .set_auto_scaling_groups(Some(groups.clone()))
                .build()
        });
    let interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(&describe);
    let conf = aws_sdk_autoscaling::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(interceptor)
        .build();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .build(),
    );
    AutoScalingGroupNodeGroup::with_clients(
        "web",
        Region::new(REGION),
        aws_sdk_autoscaling::Client::from_conf(conf),
        ec2,
        Arc::new(InstanceTypeCache::new()),
    )
    .unwrap()
}

fn instance(id: &str, state: LifecycleState, health: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .availability_zone("us-east-1b")
        .lifecycle_state(state)
        .health_status(health)
        .build()
}

#[tokio::test]
async fn launching_and_terminating_instances_are_not_stable() {
    // moto puts instances InService at once; AWS takes minutes. This group
    // wants 3: one InService and Healthy, one InService but Unhealthy, one
    // Pending:Wait (a lifecycle hook), and one Terminating from a scale-in.
    let group = AutoScalingGroup::builder()
        .auto_scaling_group_name("web")
        .min_size(0)
        .max_size(10)
        .desired_capacity(3)
        .instances(instance("i-1", LifecycleState::InService, "Healthy"))
        .instances(instance("i-2", LifecycleState::InService, "Unhealthy"))
        .instances(instance("i-3", LifecycleState::PendingWait, "Healthy"))
        .instances(instance("i-4", LifecycleState::Terminating, "Healthy"))
        .build();
    let g = mocked_group(vec![group]);

    let r = g.replicas().await.unwrap();
    assert_eq!(
        (r.desired, r.ready),
        (3, 1),
        "only InService and Healthy is ready"
    );
    let s = g.stabilized().await.unwrap();
    assert!(!s.stabilized);
    assert_eq!(
        s.message,
        "1 instances Pending, 1 instances Terminating, desired capacity 3 but 2 instances InService"
    );
    let lifecycles: Vec<(String, InstanceLifecycle, String)> = g
        .instances()
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|i| (i.provider_id, i.lifecycle, i.state))
        .collect();
    assert_eq!(
        lifecycles,
        [
            (
                "aws:///us-east-1b/i-1".to_string(),
                InstanceLifecycle::Running,
                "InService/Healthy".to_string()
            ),
            (
                "aws:///us-east-1b/i-2".to_string(),
                InstanceLifecycle::Unhealthy,
                "InService/Unhealthy".to_string()
            ),
            (
                "aws:///us-east-1b/i-3".to_string(),
                InstanceLifecycle::Launching,
                "Pending:Wait/Healthy".to_string()
            ),
            (
                "aws:///us-east-1b/i-4".to_string(),
                InstanceLifecycle::Terminating,
                "Terminating/Healthy".to_string()
            ),
        ]
    );

    // Desired reached with every instance InService: stable.
    let group = AutoScalingGroup::builder()
        .auto_scaling_group_name("web")
        .min_size(0)
        .max_size(10)
        .desired_capacity(2)
        .instances(instance("i-1", LifecycleState::InService, "Healthy"))
        .instances(instance("i-2", LifecycleState::InService, "Healthy"))
        .build();
    let s = mocked_group(vec![group]).stabilized().await.unwrap();
    assert!(s.stabilized, "{s:?}");
    assert_eq!(s.message, "");
}
