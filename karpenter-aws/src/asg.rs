//! EC2 Auto Scaling groups as a [`NodeGroup`]
//! (`spec.type: AWSEC2AutoScalingGroup`).
//!
//! - `set_replicas`: `SetDesiredCapacity` with `HonorCooldown=false`, after
//!   checking the size against the group's own `MinSize`/`MaxSize` (a size
//!   outside them is an `OutOfBounds` error naming both, never clamped). On
//!   a scale-in the group's termination policy chooses which instances go.
//! - `replicas`: `desired` is `DesiredCapacity`; `ready` counts the
//!   instances `InService` and `Healthy`.
//! - `stabilized`: `false` while instances are `Pending*` or
//!   `Terminating*`, or while `DesiredCapacity` differs from the instances
//!   `InService`.
//! - `instances`: every instance with its provider id
//!   (`aws:///ZONE/INSTANCE_ID`) and lifecycle.
//! - `template`: the launch template's (or launch configuration's, or the
//!   first mixed-instances override's) instance type, described by EC2, with
//!   labels and taints from the group's `node-template` tags (see
//!   [`crate::template`]).

use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use karpenter_core::async_trait;
use karpenter_core::provider::{
    InstanceLifecycle, NodeGroup, NodeGroupInstance, NodeGroupReplicas, NodeTemplate,
    ProviderError, ProviderErrorKind, ProviderResult, ReplicaBounds, Stabilization,
};

use crate::config::{client_for, region_for};
use crate::error::map_sdk_error;
use crate::ids::AsgId;
use crate::template::{InstanceTypeCache, labels_and_taints, launch_template_instance_type};

/// An EC2 Auto Scaling group.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use karpenter_aws::{AutoScalingGroupNodeGroup, InstanceTypeCache};
/// use karpenter_core::provider::NodeGroup;
///
/// let sdk = karpenter_aws::load_sdk_config().await;
/// let web = AutoScalingGroupNodeGroup::new(&sdk, "web-workers", Arc::new(InstanceTypeCache::new()))?;
/// web.set_replicas(5).await?;
/// println!("{:?}", web.replicas().await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AutoScalingGroupNodeGroup {
    name: String,
    region: Region,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    instance_types: Arc<InstanceTypeCache>,
    object: String,
}

/// Counts of a group's instances by lifecycle.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub in_service: i32,
    pub healthy_in_service: i32,
    pub pending: i32,
    pub terminating: i32,
}

pub(crate) fn lifecycle_of(
    state: Option<&LifecycleState>,
    health: Option<&str>,
) -> InstanceLifecycle {
    match state {
        Some(
            LifecycleState::Pending | LifecycleState::PendingWait | LifecycleState::PendingProceed,
        ) => InstanceLifecycle::Launching,
        Some(LifecycleState::InService) if health == Some("Healthy") => InstanceLifecycle::Running,
        Some(LifecycleState::InService) => InstanceLifecycle::Unhealthy,
        Some(
            LifecycleState::Terminating
            | LifecycleState::TerminatingWait
            | LifecycleState::TerminatingProceed
            | LifecycleState::Terminated,
        ) => InstanceLifecycle::Terminating,
        _ => InstanceLifecycle::Other,
    }
}

pub(crate) fn counts(group: &AutoScalingGroup) -> Counts {
    let mut c = Counts::default();
    for i in group.instances() {
        let state = i.lifecycle_state();
        match lifecycle_of(state, i.health_status()) {
            InstanceLifecycle::Running => {
                c.in_service += 1;
                c.healthy_in_service += 1;
            }
            InstanceLifecycle::Unhealthy => c.in_service += 1,
            InstanceLifecycle::Launching => c.pending += 1,
            InstanceLifecycle::Terminating if state != Some(&LifecycleState::Terminated) => {
                c.terminating += 1
            }
            _ => {}
        }
    }
    c
}

impl AutoScalingGroupNodeGroup {
    /// The group `id` (a name or an ARN). Fails, naming `spec.id`, on a
    /// malformed id or when no region is configured. `instance_types` is
    /// the cache of described instance types, shared by the provider's
    /// groups.
    pub fn new(
        sdk: &SdkConfig,
        id: &str,
        instance_types: Arc<InstanceTypeCache>,
    ) -> ProviderResult<Self> {
        let parsed = AsgId::parse(id)?;
        let object = format!("Auto Scaling group {:?}", parsed.name);
        let region = region_for(sdk, parsed.region.as_deref(), &object)?;
        Ok(Self {
            autoscaling: client_for!(aws_sdk_autoscaling, sdk, region.clone()),
            ec2: client_for!(aws_sdk_ec2, sdk, region.clone()),
            region,
            name: parsed.name,
            instance_types,
            object,
        })
    }

    /// The group `id` over clients built elsewhere (with interceptors, a
    /// mocked HTTP client, another endpoint), in `region`.
    pub fn with_clients(
        id: &str,
        region: Region,
        autoscaling: aws_sdk_autoscaling::Client,
        ec2: aws_sdk_ec2::Client,
        instance_types: Arc<InstanceTypeCache>,
    ) -> ProviderResult<Self> {
        let parsed = AsgId::parse(id)?;
        Ok(Self {
            object: format!("Auto Scaling group {:?}", parsed.name),
            name: parsed.name,
            region,
            autoscaling,
            ec2,
            instance_types,
        })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group as `DescribeAutoScalingGroups` reports it.
    async fn describe(&self) -> ProviderResult<AutoScalingGroup> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.name)
            .send()
            .await
            .map_err(|e| {
                map_sdk_error(e, &self.object, "DescribeAutoScalingGroups", "autoscaling")
            })?;
        out.auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(self.name.as_str()))
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::NotFound,
                    format!(
                        "{} does not exist in region {}; check spec.id and the region (AWS_REGION, or give the group's ARN)",
                        self.object, self.region
                    ),
                )
            })
    }

    fn bounds_of(&self, group: &AutoScalingGroup) -> ProviderResult<ReplicaBounds> {
        match (group.min_size(), group.max_size()) {
            (Some(min), Some(max)) => Ok(ReplicaBounds { min, max }),
            _ => Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "{}: DescribeAutoScalingGroups reported no MinSize/MaxSize",
                    self.object
                ),
            )),
        }
    }

    /// The instance type a scale-up launches, if the group names one.
    async fn instance_type(&self, group: &AutoScalingGroup) -> ProviderResult<Option<String>> {
        if let Some(policy) = group.mixed_instances_policy() {
            let lt = policy.launch_template();
            if let Some(first) =
                lt.and_then(|lt| lt.overrides().iter().find_map(|o| o.instance_type()))
            {
                return Ok(Some(first.to_string()));
            }
            if let Some(spec) = lt.and_then(|lt| lt.launch_template_specification()) {
                return launch_template_instance_type(
                    &self.ec2,
                    spec.launch_template_id(),
                    spec.launch_template_name(),
                    spec.version(),
                    &self.object,
                )
                .await;
            }
        }
        if let Some(spec) = group.launch_template() {
            return launch_template_instance_type(
                &self.ec2,
                spec.launch_template_id(),
                spec.launch_template_name(),
                spec.version(),
                &self.object,
            )
            .await;
        }
        if let Some(lc) = group.launch_configuration_name() {
            let out = self
                .autoscaling
                .describe_launch_configurations()
                .launch_configuration_names(lc)
                .send()
                .await
                .map_err(|e| {
                    map_sdk_error(
                        e,
                        &self.object,
                        "DescribeLaunchConfigurations",
                        "autoscaling",
                    )
                })?;
            return Ok(out
                .launch_configurations()
                .first()
                .and_then(|c| c.instance_type())
                .map(str::to_string));
        }
        Ok(None)
    }
}

#[async_trait]
impl NodeGroup for AutoScalingGroupNodeGroup {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let group = self.describe().await?;
        let ReplicaBounds { min, max } = self.bounds_of(&group)?;
        if replicas < 0 || replicas < min || replicas > max {
            return Err(ProviderError::new(
                ProviderErrorKind::OutOfBounds,
                format!(
                    "{}: desired size {replicas} is outside the group's bounds [{min}, {max}] (MinSize {min}, MaxSize {max}); lower the HorizontalAutoscaler's maxReplicas or raise the group's MaxSize (or lower its MinSize)",
                    self.object
                ),
            ));
        }
        if group.desired_capacity() == Some(replicas) {
            return Ok(());
        }
        self.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&self.name)
            .desired_capacity(replicas)
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.object, "SetDesiredCapacity", "autoscaling"))?;
        Ok(())
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        let group = self.describe().await?;
        Ok(NodeGroupReplicas {
            desired: group.desired_capacity().unwrap_or(0),
            ready: counts(&group).healthy_in_service,
        })
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        let group = self.describe().await?;
        let c = counts(&group);
        let desired = group.desired_capacity().unwrap_or(0);
        let mut busy = Vec::new();
        if c.pending > 0 {
            busy.push(format!("{} instances Pending", c.pending));
        }
        if c.terminating > 0 {
            busy.push(format!("{} instances Terminating", c.terminating));
        }
        if desired != c.in_service {
            busy.push(format!(
                "desired capacity {desired} but {} instances InService",
                c.in_service
            ));
        }
        Ok(Stabilization {
            stabilized: busy.is_empty(),
            message: busy.join(", "),
        })
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        let group = self.describe().await?;
        self.bounds_of(&group).map(Some)
    }

    async fn template(&self) -> ProviderResult<Option<NodeTemplate>> {
        let group = self.describe().await?;
        let Some(instance_type) = self.instance_type(&group).await? else {
            return Ok(None);
        };
        let info = self
            .instance_types
            .get(&self.ec2, &instance_type, &self.object)
            .await?;
        let tags = group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))));
        let (labels, taints) = labels_and_taints(tags, &self.object)?;
        let mut template = info.template(self.region.as_ref(), labels, taints);
        if let [zone] = group.availability_zones() {
            template
                .labels
                .entry("topology.kubernetes.io/zone".to_string())
                .or_insert_with(|| zone.clone());
        }
        Ok(Some(template))
    }

    async fn instances(&self) -> ProviderResult<Option<Vec<NodeGroupInstance>>> {
        let group = self.describe().await?;
        let instances = group
            .instances()
            .iter()
            .map(|i| {
                let state = i.lifecycle_state();
                NodeGroupInstance {
                    provider_id: format!(
                        "aws:///{}/{}",
                        i.availability_zone().unwrap_or_default(),
                        i.instance_id().unwrap_or_default()
                    ),
                    lifecycle: lifecycle_of(state, i.health_status()),
                    state: format!(
                        "{}/{}",
                        state.map(LifecycleState::as_str).unwrap_or("Unknown"),
                        i.health_status().unwrap_or("Unknown")
                    ),
                }
            })
            .collect();
        Ok(Some(instances))
    }
}
