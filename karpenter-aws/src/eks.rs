//! EKS managed node groups as a [`NodeGroup`] (`spec.type: AWSEKSNodeGroup`).
//!
//! - `set_replicas`: `UpdateNodegroupConfig` with only
//!   `scalingConfig.desiredSize` (min and max stay as they are), after
//!   checking the size against the node group's `minSize`/`maxSize`. The
//!   update's id is kept while EKS reports it `InProgress`; no new update
//!   is issued while one is in progress or the node group is `UPDATING`:
//!   the call answers a retryable error saying so, and the caller keeps its
//!   intent and tries again.
//! - `replicas`: `desired` is `scalingConfig.desiredSize` (or the size an
//!   update in progress is setting); `ready` counts the instances
//!   `InService` and `Healthy` in the node group's Auto Scaling groups.
//! - `stabilized`: `false` while the node group is `CREATING`, `UPDATING`
//!   or `DELETING`, while an update is in progress, or while fewer nodes
//!   are ready than desired.
//! - `template`: the node group's first instance type (or its launch
//!   template's), its labels and taints, from `DescribeNodegroup`.
//! - `instances`: the instances of its Auto Scaling groups.

use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use aws_sdk_eks::types::{
    Nodegroup, NodegroupScalingConfig, NodegroupStatus, TaintEffect as EksTaintEffect, UpdateStatus,
};
use karpenter_core::async_trait;
use karpenter_core::cluster::{Taint, TaintEffect};
use karpenter_core::provider::{
    NodeGroup, NodeGroupInstance, NodeGroupReplicas, NodeTemplate, ProviderError,
    ProviderErrorKind, ProviderResult, ReplicaBounds, Stabilization,
};

use crate::asg::{counts, lifecycle_of};
use crate::config::{client_for, region_for};
use crate::error::map_sdk_error;
use crate::ids::EksNodegroupId;
use crate::template::{InstanceTypeCache, launch_template_instance_type};

/// An update this handle started and EKS last reported `InProgress`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrackedUpdate {
    id: String,
    desired: i32,
}

/// An EKS managed node group.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use karpenter_aws::{EksNodeGroup, InstanceTypeCache};
/// use karpenter_core::provider::NodeGroup;
///
/// let sdk = karpenter_aws::load_sdk_config().await;
/// let gpu = EksNodeGroup::new(&sdk, "prod/gpu-workers", Arc::new(InstanceTypeCache::new()))?;
/// gpu.set_replicas(3).await?;
/// println!("{:?}", gpu.stabilized().await?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EksNodeGroup {
    cluster: String,
    nodegroup: String,
    region: Region,
    eks: aws_sdk_eks::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    instance_types: Arc<InstanceTypeCache>,
    tracked: Mutex<Option<TrackedUpdate>>,
    object: String,
}

impl EksNodeGroup {
    /// The node group `id` (`CLUSTER/NODEGROUP` or an ARN). Fails, naming
    /// `spec.id`, on a malformed id or when no region is configured.
    pub fn new(
        sdk: &SdkConfig,
        id: &str,
        instance_types: Arc<InstanceTypeCache>,
    ) -> ProviderResult<Self> {
        let parsed = EksNodegroupId::parse(id)?;
        let object = format!(
            "EKS node group {:?} of cluster {:?}",
            parsed.nodegroup, parsed.cluster
        );
        let region = region_for(sdk, parsed.region.as_deref(), &object)?;
        Ok(Self {
            eks: client_for!(aws_sdk_eks, sdk, region.clone()),
            autoscaling: client_for!(aws_sdk_autoscaling, sdk, region.clone()),
            ec2: client_for!(aws_sdk_ec2, sdk, region.clone()),
            region,
            cluster: parsed.cluster,
            nodegroup: parsed.nodegroup,
            instance_types,
            tracked: Mutex::new(None),
            object,
        })
    }

    /// The node group `id` over clients built elsewhere (with
    /// interceptors, a mocked HTTP client, another endpoint), in `region`.
    pub fn with_clients(
        id: &str,
        region: Region,
        eks: aws_sdk_eks::Client,
        autoscaling: aws_sdk_autoscaling::Client,
        ec2: aws_sdk_ec2::Client,
        instance_types: Arc<InstanceTypeCache>,
    ) -> ProviderResult<Self> {
        let parsed = EksNodegroupId::parse(id)?;
        Ok(Self {
            object: format!(
                "EKS node group {:?} of cluster {:?}",
                parsed.nodegroup, parsed.cluster
            ),
            cluster: parsed.cluster,
            nodegroup: parsed.nodegroup,
            region,
            eks,
            autoscaling,
            ec2,
            instance_types,
            tracked: Mutex::new(None),
        })
    }

    fn tracked(&self) -> std::sync::MutexGuard<'_, Option<TrackedUpdate>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node group as `DescribeNodegroup` reports it.
    async fn describe(&self) -> ProviderResult<Nodegroup> {
        let out = self
            .eks
            .describe_nodegroup()
            .cluster_name(&self.cluster)
            .nodegroup_name(&self.nodegroup)
            .send()
            .await
            .map_err(|e| {
                let mut err = map_sdk_error(e, &self.object, "DescribeNodegroup", "eks");
                if err.kind == ProviderErrorKind::NotFound {
                    err = err.context(format!(
                        "{} does not exist in region {}",
                        self.object, self.region
                    ));
                }
                err
            })?;
        out.nodegroup().cloned().ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!("{}: DescribeNodegroup answered no node group", self.object),
            )
        })
    }

    /// The update this handle started, if EKS still reports it in progress
    /// (asks `DescribeUpdate`; forgets it once it has ended).
    async fn update_in_progress(&self) -> ProviderResult<Option<TrackedUpdate>> {
        let Some(tracked) = self.tracked().clone() else {
            return Ok(None);
        };
        let answer = self
            .eks
            .describe_update()
            .name(&self.cluster)
            .nodegroup_name(&self.nodegroup)
            .update_id(&tracked.id)
            .send()
            .await;
        let status = match answer {
            Ok(out) => out.update().and_then(|u| u.status()).cloned(),
            // EKS no longer knows the update: there is nothing to wait for.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(map_sdk_error(e, &self.object, "DescribeUpdate", "eks")),
        };
        if status == Some(UpdateStatus::InProgress) {
            return Ok(Some(tracked));
        }
        let mut slot = self.tracked();
        if slot.as_ref() == Some(&tracked) {
            *slot = None;
        }
        Ok(None)
    }

    fn scaling(&self, ng: &Nodegroup) -> ProviderResult<(ReplicaBounds, i32)> {
        let sc = ng.scaling_config();
        match (
            sc.and_then(NodegroupScalingConfig::min_size),
            sc.and_then(NodegroupScalingConfig::max_size),
            sc.and_then(NodegroupScalingConfig::desired_size),
        ) {
            (Some(min), Some(max), Some(desired)) => Ok((ReplicaBounds { min, max }, desired)),
            _ => Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "{}: DescribeNodegroup reported no complete scalingConfig",
                    self.object
                ),
            )),
        }
    }

    /// The node group's Auto Scaling groups, as EC2 Auto Scaling reports
    /// them (those it does not know yet are left out).
    async fn auto_scaling_groups(
        &self,
        ng: &Nodegroup,
    ) -> ProviderResult<Vec<aws_sdk_autoscaling::types::AutoScalingGroup>> {
        let names: Vec<String> = ng
            .resources()
            .map(|r| {
                r.auto_scaling_groups()
                    .iter()
                    .filter_map(|g| g.name().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(names))
            .send()
            .await
            .map_err(|e| {
                map_sdk_error(e, &self.object, "DescribeAutoScalingGroups", "autoscaling")
            })?;
        Ok(out.auto_scaling_groups().to_vec())
    }
}

fn status_is_busy(status: Option<&NodegroupStatus>) -> bool {
    matches!(
        status,
        Some(NodegroupStatus::Updating | NodegroupStatus::Creating | NodegroupStatus::Deleting)
    )
}

#[async_trait]
impl NodeGroup for EksNodeGroup {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let ng = self.describe().await?;
        let (ReplicaBounds { min, max }, desired) = self.scaling(&ng)?;
        if replicas < 0 || replicas < min || replicas > max {
            return Err(ProviderError::new(
                ProviderErrorKind::OutOfBounds,
                format!(
                    "{}: desired size {replicas} is outside the node group's bounds [{min}, {max}] (minSize {min}, maxSize {max}); lower the HorizontalAutoscaler's maxReplicas or change the node group's scaling config",
                    self.object
                ),
            ));
        }
        let in_progress = self.update_in_progress().await?;
        let effective = in_progress.as_ref().map_or(desired, |u| u.desired);
        if effective == replicas {
            return Ok(());
        }
        if let Some(u) = in_progress {
            return Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "{}: update {} (desiredSize {}) is still in progress; desiredSize {replicas} will be set once it completes",
                    self.object, u.id, u.desired
                ),
            ));
        }
        if status_is_busy(ng.status()) {
            return Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                format!(
                    "{}: the node group is {} (an update is in progress); desiredSize {replicas} will be set once it is ACTIVE",
                    self.object,
                    ng.status().map(NodegroupStatus::as_str).unwrap_or("busy")
                ),
            ));
        }
        let out = self
            .eks
            .update_nodegroup_config()
            .cluster_name(&self.cluster)
            .nodegroup_name(&self.nodegroup)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .desired_size(replicas)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &self.object, "UpdateNodegroupConfig", "eks"))?;
        if let Some(update) = out.update()
            && update.status() == Some(&UpdateStatus::InProgress)
            && let Some(id) = update.id()
        {
            *self.tracked() = Some(TrackedUpdate {
                id: id.to_string(),
                desired: replicas,
            });
        }
        Ok(())
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        let ng = self.describe().await?;
        let (_, desired) = self.scaling(&ng)?;
        let desired = self
            .update_in_progress()
            .await?
            .map_or(desired, |u| u.desired);
        let groups = self.auto_scaling_groups(&ng).await?;
        let ready = groups.iter().map(|g| counts(g).healthy_in_service).sum();
        Ok(NodeGroupReplicas { desired, ready })
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        let ng = self.describe().await?;
        let (_, desired) = self.scaling(&ng)?;
        let mut busy = Vec::new();
        if status_is_busy(ng.status()) {
            busy.push(format!(
                "node group status {}",
                ng.status()
                    .map(NodegroupStatus::as_str)
                    .unwrap_or("unknown")
            ));
        }
        let desired = match self.update_in_progress().await? {
            Some(u) => {
                busy.push(format!(
                    "update {} (desiredSize {}) in progress",
                    u.id, u.desired
                ));
                u.desired
            }
            None => desired,
        };
        let groups = self.auto_scaling_groups(&ng).await?;
        let (mut ready, mut pending, mut terminating) = (0, 0, 0);
        for g in &groups {
            let c = counts(g);
            ready += c.healthy_in_service;
            pending += c.pending;
            terminating += c.terminating;
        }
        if pending > 0 {
            busy.push(format!("{pending} instances Pending"));
        }
        if terminating > 0 {
            busy.push(format!("{terminating} instances Terminating"));
        }
        if ready != desired {
            busy.push(format!(
                "desiredSize {desired} but {ready} instances InService and Healthy"
            ));
        }
        Ok(Stabilization {
            stabilized: busy.is_empty(),
            message: busy.join(", "),
        })
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        let ng = self.describe().await?;
        Ok(Some(self.scaling(&ng)?.0))
    }

    async fn template(&self) -> ProviderResult<Option<NodeTemplate>> {
        let ng = self.describe().await?;
        let instance_type = match ng.instance_types().first() {
            Some(t) => Some(t.clone()),
            None => match ng.launch_template() {
                Some(lt) => {
                    launch_template_instance_type(
                        &self.ec2,
                        lt.id(),
                        lt.name(),
                        lt.version(),
                        &self.object,
                    )
                    .await?
                }
                None => None,
            },
        };
        let Some(instance_type) = instance_type else {
            return Ok(None);
        };
        let info = self
            .instance_types
            .get(&self.ec2, &instance_type, &self.object)
            .await?;
        let mut labels: Vec<(String, String)> = vec![(
            "eks.amazonaws.com/nodegroup".to_string(),
            self.nodegroup.clone(),
        )];
        if let Some(capacity) = ng.capacity_type() {
            labels.push((
                "eks.amazonaws.com/capacityType".to_string(),
                capacity.as_str().to_string(),
            ));
        }
        if let Some(l) = ng.labels() {
            let mut sorted: Vec<_> = l.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            sorted.sort();
            labels.extend(sorted);
        }
        let taints = ng
            .taints()
            .iter()
            .filter_map(|t| {
                let effect = match t.effect()? {
                    EksTaintEffect::NoSchedule => TaintEffect::NoSchedule,
                    EksTaintEffect::NoExecute => TaintEffect::NoExecute,
                    EksTaintEffect::PreferNoSchedule => TaintEffect::PreferNoSchedule,
                    _ => return None,
                };
                Some(Taint {
                    key: t.key()?.to_string(),
                    value: t.value().unwrap_or_default().to_string(),
                    effect,
                })
            })
            .collect();
        Ok(Some(info.template(self.region.as_ref(), labels, taints)))
    }

    async fn instances(&self) -> ProviderResult<Option<Vec<NodeGroupInstance>>> {
        let ng = self.describe().await?;
        let groups = self.auto_scaling_groups(&ng).await?;
        let instances = groups
            .iter()
            .flat_map(|g| g.instances())
            .map(|i| NodeGroupInstance {
                provider_id: format!(
                    "aws:///{}/{}",
                    i.availability_zone().unwrap_or_default(),
                    i.instance_id().unwrap_or_default()
                ),
                lifecycle: lifecycle_of(i.lifecycle_state(), i.health_status()),
                state: format!(
                    "{}/{}",
                    i.lifecycle_state().map(|s| s.as_str()).unwrap_or("Unknown"),
                    i.health_status().unwrap_or("Unknown")
                ),
            })
            .collect();
        Ok(Some(instances))
    }
}
