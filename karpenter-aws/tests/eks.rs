//! `AWSEKSNodeGroup` against moto: the node group conformance suite, writes
//! checked against what moto then reports, templates, ids and errors.
//!
//! What moto does not model, and how these tests stand in for it:
//! - moto's node groups own no real Auto Scaling group (it names one that
//!   does not exist). The harness creates that group in moto's EC2 Auto
//!   Scaling and, on `settle`, copies the node group's desiredSize to it,
//!   as EKS does; the provider counts ready nodes there, as on AWS.
//! - moto applies `UpdateNodegroupConfig` at once (status `Successful`),
//!   never reports a node group `UPDATING`, and does not implement
//!   `DescribeUpdate` (404). Updates in progress are covered with a mocked
//!   SDK client at the end of this file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{Instance, LaunchTemplateSpecification, LifecycleState};
use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateError;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::types::error::ResourceNotFoundException;
use aws_sdk_eks::types::{
    AutoScalingGroup as EksAsg, Nodegroup, NodegroupResources, NodegroupScalingConfig,
    NodegroupStatus, Taint as EksTaint, TaintEffect as EksTaintEffect, Update, UpdateStatus,
    VpcConfigRequest,
};
use aws_sdk_sqs::config::Credentials;
use aws_smithy_mocks::{MockResponse, RuleMode, mock};
use common::{ACCOUNT, Fault, Faults, Moto, REGION};
use karpenter_aws::{AwsProvider, EKS_TYPE, EksNodeGroup, InstanceTypeCache};
use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::async_trait;
use karpenter_core::cluster::{Resources, Taint, TaintEffect};
use karpenter_core::provider::{
    CloudProvider, NodeGroup, ProviderErrorKind, ProviderResult, ReplicaBounds,
};
use karpenter_fake::conformance::{self, HarnessResult, NodeGroupHarness};

const MIB: i64 = 1 << 20;
const CLUSTER: &str = "prod";

fn spec(id: &str) -> ScalableNodeGroupSpec {
    ScalableNodeGroupSpec {
        type_: EKS_TYPE.to_string(),
        id: id.to_string(),
        replicas: None,
    }
}

/// Creates node groups in moto's EKS, and plays EKS's part for their Auto
/// Scaling groups.
struct EksHarness {
    eks: aws_sdk_eks::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    provider: AwsProvider,
    faults: Faults,
    /// Node group name → its Auto Scaling group's name.
    asgs: Mutex<BTreeMap<String, String>>,
}

impl EksHarness {
    async fn new(moto: &Moto) -> Self {
        let faults = Faults::default();
        let sdk = moto.sdk_with_faults(&faults);
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let images = ec2.describe_images().owners("amazon").send().await.unwrap();
        let image = images.images()[0].image_id().unwrap().to_string();
        ec2.create_launch_template()
            .launch_template_name("eks-nodes")
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(image)
                    .instance_type(InstanceType::M5Large)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let eks = aws_sdk_eks::Client::new(&sdk);
        eks.create_cluster()
            .name(CLUSTER)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
            .resources_vpc_config(VpcConfigRequest::builder().subnet_ids("subnet-0a1").build())
            .send()
            .await
            .unwrap();
        Self {
            eks,
            autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
            provider: AwsProvider::new(sdk),
            faults,
            asgs: Mutex::default(),
        }
    }

    /// Creates node group `name` and its Auto Scaling group; returns the
    /// node group's ARN.
    async fn create(&self, name: &str, initial: i32, bounds: ReplicaBounds) -> String {
        let out = self
            .eks
            .create_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(name)
            .node_role(format!("arn:aws:iam::{ACCOUNT}:role/eks-nodes"))
            .subnets("subnet-0a1")
            .instance_types("m5.large")
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(bounds.min)
                    .max_size(bounds.max)
                    .desired_size(initial)
                    .build(),
            )
            .labels("team", "ml")
            .taints(
                EksTaint::builder()
                    .key("dedicated")
                    .value("ml")
                    .effect(EksTaintEffect::NoSchedule)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let ng = out.nodegroup().unwrap();
        let asg = ng.resources().unwrap().auto_scaling_groups()[0]
            .name()
            .unwrap()
            .to_string();
        self.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&asg)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name("eks-nodes")
                    .version("$Latest")
                    .build(),
            )
            .min_size(bounds.min)
            .max_size(bounds.max)
            .desired_capacity(initial)
            .availability_zones(format!("{REGION}a"))
            .send()
            .await
            .unwrap();
        self.asgs.lock().unwrap().insert(name.to_string(), asg);
        ng.nodegroup_arn().unwrap().to_string()
    }

    /// What moto's EKS says of the node group: (min, max, desired).
    async fn moto_scaling(&self, name: &str) -> (i32, i32, i32) {
        let out = self
            .eks
            .describe_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(name)
            .send()
            .await
            .unwrap();
        let sc = out.nodegroup().unwrap().scaling_config().unwrap();
        (
            sc.min_size().unwrap(),
            sc.max_size().unwrap(),
            sc.desired_size().unwrap(),
        )
    }
}

#[async_trait]
impl NodeGroupHarness for EksHarness {
    fn description(&self) -> String {
        "AWSEKSNodeGroup on moto_server (the harness propagates desiredSize to the node group's Auto Scaling group; throttling injected at the HTTP layer)".into()
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        self.create(name, initial, bounds).await;
        Ok(self
            .provider
            .node_group(&spec(&format!("{CLUSTER}/{name}")))?)
    }

    async fn settle(&self) -> HarnessResult<()> {
        let groups = self.asgs.lock().unwrap().clone();
        for (name, asg) in groups {
            let (_, _, desired) = self.moto_scaling(&name).await;
            self.autoscaling
                .set_desired_capacity()
                .auto_scaling_group_name(asg)
                .desired_capacity(desired)
                .honor_cooldown(false)
                .send()
                .await
                .unwrap();
        }
        Ok(())
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        self.faults.arm(Fault::rest_json_throttle(&format!(
            "/node-groups/{name}/update-config"
        )));
        Ok(())
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        Ok(self
            .provider
            .node_group(&spec(&format!("{CLUSTER}/conformance-missing"))))
    }
}

#[tokio::test]
async fn eks_node_groups_conform() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = EksHarness::new(&moto).await;
    let report = conformance::node_group(&h).await;
    println!("{report}");
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
    assert_eq!(
        h.faults.fired(),
        ["/node-groups/conformance-throttled/update-config"]
    );
}

#[tokio::test]
async fn writes_templates_ids_and_errors() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let h = EksHarness::new(&moto).await;
    let arn = h.create("gpu", 1, ReplicaBounds { min: 1, max: 6 }).await;
    assert!(
        arn.starts_with(&format!(
            "arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/{CLUSTER}/gpu/"
        )),
        "{arn}"
    );
    let g = h.provider.node_group(&spec(&arn)).unwrap();

    // Only desiredSize changes.
    g.set_replicas(5).await.unwrap();
    assert_eq!(h.moto_scaling("gpu").await, (1, 6, 5));
    let r = g.replicas().await.unwrap();
    assert_eq!(
        (r.desired, r.ready),
        (5, 1),
        "the Auto Scaling group has not grown yet"
    );
    let s = g.stabilized().await.unwrap();
    assert!(!s.stabilized);
    assert_eq!(
        s.message,
        "desiredSize 5 but 1 instances InService and Healthy"
    );
    h.settle().await.unwrap();
    assert!(g.stabilized().await.unwrap().stabilized);
    assert_eq!(g.instances().await.unwrap().unwrap().len(), 5);

    for size in [7, 0, -1] {
        let err = g.set_replicas(size).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::OutOfBounds, "{err}");
        assert!(
            err.message.contains("[1, 6]")
                && err.message.contains("minSize 1")
                && err.message.contains("maxSize 6")
                && err.message.contains("\"gpu\""),
            "{err}"
        );
    }
    assert_eq!(
        h.moto_scaling("gpu").await,
        (1, 6, 5),
        "nothing was clamped or applied"
    );

    // The template: m5.large (1830 m, 6803 MiB, 29 pods by hand, see
    // tests/asg.rs), the node group's labels and taints, EKS's own labels.
    let t = g.template().await.unwrap().expect("a template");
    assert_eq!(t.allocatable, Resources::new(1830, 6803 * MIB, 29));
    assert_eq!(t.labels["team"], "ml");
    assert_eq!(t.labels["eks.amazonaws.com/nodegroup"], "gpu");
    assert_eq!(t.labels["eks.amazonaws.com/capacityType"], "ON_DEMAND");
    assert_eq!(t.labels["node.kubernetes.io/instance-type"], "m5.large");
    assert_eq!(
        t.taints,
        [Taint {
            key: "dedicated".into(),
            value: "ml".into(),
            effect: TaintEffect::NoSchedule
        }]
    );

    // Missing node group, missing cluster: NotFound naming them.
    for id in [format!("{CLUSTER}/nope"), "staging/gpu".to_string()] {
        let err = h
            .provider
            .node_group(&spec(&id))
            .unwrap()
            .replicas()
            .await
            .unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::NotFound, "{id}: {err}");
        assert!(!err.is_retryable());
        let (cluster, nodegroup) = id.split_once('/').unwrap();
        assert!(
            err.message.contains(&format!(
                "{nodegroup:?} of cluster {cluster:?} does not exist in region {REGION}"
            )),
            "{err}"
        );
    }

    // Malformed ids are refused before anything is built.
    for (id, want) in [
        ("gpu", "neither CLUSTER/NODEGROUP nor an ARN"),
        (
            "arn:aws:eks:us-east-1:123456789012:cluster/prod",
            "names a \"cluster\" resource",
        ),
        (
            "arn:aws:eks:us-east-1:123456789012:nodegroup/prod",
            "nodegroup/CLUSTER/NODEGROUP/UUID",
        ),
    ] {
        let err = h.provider.validate_node_group(&spec(id)).unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::InvalidId, "{id}");
        assert!(err.message.contains(want), "{id}: {err}");
    }
}

// ---- updates in progress, on a mocked SDK client ---------------------------

/// What the mocked EKS and EC2 Auto Scaling answer.
#[derive(Debug, Clone)]
struct World {
    status: NodegroupStatus,
    desired: i32,
    /// `None`: EKS no longer knows the update (ResourceNotFoundException).
    update: Option<UpdateStatus>,
    in_service: usize,
}

fn mocked(world: &Arc<Mutex<World>>) -> (EksNodeGroup, aws_smithy_mocks::Rule) {
    let w = world.clone();
    let describe = mock!(aws_sdk_eks::Client::describe_nodegroup).then_output(move || {
        let w = w.lock().unwrap().clone();
        DescribeNodegroupOutput::builder()
            .nodegroup(
                Nodegroup::builder()
                    .nodegroup_name("gpu")
                    .cluster_name(CLUSTER)
                    .status(w.status)
                    .scaling_config(
                        NodegroupScalingConfig::builder()
                            .min_size(0)
                            .max_size(10)
                            .desired_size(w.desired)
                            .build(),
                    )
                    .resources(
                        NodegroupResources::builder()
                            .auto_scaling_groups(EksAsg::builder().name("eks-gpu").build())
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let update = mock!(aws_sdk_eks::Client::update_nodegroup_config).then_output(|| {
        UpdateNodegroupConfigOutput::builder()
            .update(
                Update::builder()
                    .id("u-1")
                    .status(UpdateStatus::InProgress)
                    .build(),
            )
            .build()
    });
    let w = world.clone();
    let describe_update = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|req| req.update_id() == Some("u-1") && req.name() == Some(CLUSTER))
        .then_compute_response(move |_| match w.lock().unwrap().update.clone() {
            Some(status) => MockResponse::Output(
                DescribeUpdateOutput::builder()
                    .update(Update::builder().id("u-1").status(status).build())
                    .build(),
            ),
            None => MockResponse::Error(DescribeUpdateError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("No update found for ID: u-1")
                    .build(),
            )),
        });
    let w = world.clone();
    let asgs =
        mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(move || {
            let n = w.lock().unwrap().in_service;
            let mut g = aws_sdk_autoscaling::types::AutoScalingGroup::builder()
                .auto_scaling_group_name("eks-gpu")
                .min_size(0)
                .max_size(10)
                .desired_capacity(n as i32);
            for i in 0..n {
                g = g.instances(
                    Instance::builder()
                        .instance_id(format!("i-{i}"))
                        .availability_zone("us-east-1a")
                        .lifecycle_state(LifecycleState::InService)
                        .health_status("Healthy")
                        .build(),
                );
            }
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(g.build())
                .build()
        });
    let bv = BehaviorVersion::latest();
    let region = Region::new(REGION);
    let creds = Credentials::new("testing", "testing", None, None, "static");
    let interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
        .rule_mode(RuleMode::MatchAny)
        .with_rule(&describe)
        .with_rule(&update)
        .with_rule(&describe_update);
    let eks = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::Config::builder()
            .behavior_version(bv)
            .region(region.clone())
            .credentials_provider(creds.clone())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    );
    let autoscaling = aws_sdk_autoscaling::Client::from_conf(
        aws_sdk_autoscaling::Config::builder()
            .behavior_version(bv)
            .region(region.clone())
            .credentials_provider(creds)
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(
                aws_smithy_mocks::MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&asgs),
            )
            .build(),
    );
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(bv)
            .region(region.clone())
            .build(),
    );
    let g = EksNodeGroup::with_clients(
        &format!("{CLUSTER}/gpu"),
        region,
        eks,
        autoscaling,
        ec2,
        Arc::new(InstanceTypeCache::new()),
    )
    .unwrap();
    (g, update)
}

#[tokio::test]
async fn an_update_in_progress_is_tracked_and_not_stacked() {
    let world = Arc::new(Mutex::new(World {
        status: NodegroupStatus::Active,
        desired: 2,
        update: Some(UpdateStatus::InProgress),
        in_service: 2,
    }));
    let (g, update_rule) = mocked(&world);
    assert!(g.stabilized().await.unwrap().stabilized);

    // EKS accepts the update and reports it InProgress (desiredSize is
    // still 2 in DescribeNodegroup while it runs).
    g.set_replicas(4).await.unwrap();
    assert_eq!(update_rule.num_calls(), 1);
    let r = g.replicas().await.unwrap();
    assert_eq!(
        (r.desired, r.ready),
        (4, 2),
        "desired is the size being applied"
    );
    let s = g.stabilized().await.unwrap();
    assert!(!s.stabilized);
    assert_eq!(
        s.message,
        "update u-1 (desiredSize 4) in progress, desiredSize 4 but 2 instances InService and Healthy"
    );

    // The same size again: nothing new to do.
    g.set_replicas(4).await.unwrap();
    // Another size: not stacked on the running update; retryable, says so.
    let err = g.set_replicas(6).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(
        err.message
            .contains("update u-1 (desiredSize 4) is still in progress")
            && err
                .message
                .contains("desiredSize 6 will be set once it completes"),
        "{err}"
    );
    assert_eq!(update_rule.num_calls(), 1, "no second update was issued");

    // The update completes and the nodes join.
    {
        let mut w = world.lock().unwrap();
        w.update = Some(UpdateStatus::Successful);
        w.desired = 4;
        w.in_service = 4;
    }
    let s = g.stabilized().await.unwrap();
    assert!(s.stabilized, "{s:?}");
    g.set_replicas(6).await.unwrap();
    assert_eq!(update_rule.num_calls(), 2);

    // An update EKS no longer knows (ResourceNotFoundException from
    // DescribeUpdate) is not waited for forever.
    world.lock().unwrap().update = None;
    let r = g.replicas().await.unwrap();
    assert_eq!(
        r.desired, 4,
        "DescribeNodegroup's size, the update being gone"
    );
    g.set_replicas(8).await.unwrap();
    assert_eq!(update_rule.num_calls(), 3);
}

#[tokio::test]
async fn an_updating_node_group_is_not_stable_and_not_updated() {
    // Someone else's update (the console, eksctl): status UPDATING, no
    // update id of ours.
    let world = Arc::new(Mutex::new(World {
        status: NodegroupStatus::Updating,
        desired: 3,
        update: Some(UpdateStatus::InProgress),
        in_service: 3,
    }));
    let (g, update_rule) = mocked(&world);
    let s = g.stabilized().await.unwrap();
    assert!(!s.stabilized);
    assert_eq!(s.message, "node group status UPDATING");
    g.set_replicas(3).await.unwrap(); // already the size: Ok
    let err = g.set_replicas(5).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.message.contains("the node group is UPDATING"), "{err}");
    assert_eq!(update_rule.num_calls(), 0);
}
