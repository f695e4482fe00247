//! [`reconcile_node_group`]: one ScalableNodeGroup.

use chrono::{DateTime, Utc};

use super::{ObjectKey, ReconcileError, ScaleWrite, condition, merge_conditions};
use crate::api::v1alpha1::{
    Condition, ConditionStatus, ScalableNodeGroup, ScalableNodeGroupStatus,
};
use crate::autoscaler::reasons;
use crate::provider::{NodeGroup, NodeGroupReplicas, ProviderRegistry, ProviderResult};

const KIND: &str = "ScalableNodeGroup";

/// What [`reconcile_node_group`] needs besides the object.
#[derive(Debug, Clone, Copy)]
pub struct NodeGroupContext<'a> {
    /// The reconcile instant (condition transition times).
    pub now: DateTime<Utc>,
    /// Where the node group's handle comes from (by `spec.type`).
    pub providers: &'a ProviderRegistry,
}

/// What reconciling one ScalableNodeGroup gave.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeGroupOutcome {
    /// The status to store: ready nodes, conditions (`Active`,
    /// `AbleToScale`, `Stabilized`) merged with the previous ones, the last
    /// error.
    pub status: ScalableNodeGroupStatus,
    /// The provider's sizes before any write, or why they could not be
    /// read (including "no provider serves this type").
    pub observed: ProviderResult<NodeGroupReplicas>,
    /// The write of `spec.replicas` to the provider, when it differed from
    /// the provider's desired size.
    pub write: Option<ScaleWrite>,
    /// What failed.
    pub errors: Vec<ReconcileError>,
}

/// Reads the node group's sizes from its provider, pushes `spec.replicas`
/// when it differs from the provider's desired size, reads whether the
/// group is stabilized, and returns the next status.
///
/// `spec.replicas` unset leaves the group's size alone (the status is still
/// refreshed). A failed write keeps the intent in `spec.replicas`: the next
/// reconcile tries again. A size outside the cloud's own bounds is reported
/// (`AbleToScale=False`, `FailedUpdateScale`), never clamped.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::api::v1alpha1::ScalableNodeGroup;
/// use karpenter_core::provider::ProviderRegistry;
/// use karpenter_core::reconcile::{reconcile_node_group, NodeGroupContext};
///
/// let sng: ScalableNodeGroup = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "workers"},
///     "spec": {"type": "NimbusPool", "id": "pool-1", "replicas": 3}
/// }))?;
/// let registry = ProviderRegistry::new(); // nothing serves NimbusPool
/// let now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let out = reconcile_node_group(&sng, &NodeGroupContext { now, providers: &registry }).await;
/// let active = out.status.conditions.iter().find(|c| c.type_ == "Active").unwrap();
/// assert_eq!(active.reason, "NodeGroupNotFound");
/// assert!(!out.errors[0].is_retryable());
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn reconcile_node_group(
    sng: &ScalableNodeGroup,
    ctx: &NodeGroupContext<'_>,
) -> NodeGroupOutcome {
    let previous = sng.status.as_ref();
    let previous_conditions = previous.map_or(&[][..], |s| &s.conditions);
    let spec = &sng.spec;
    let error = |operation: String, source| ReconcileError::Provider {
        kind: KIND,
        object: ObjectKey::of(&sng.metadata),
        operation: operation.into(),
        source,
    };
    let handle = match ctx.providers.node_group(spec) {
        Ok(handle) => handle,
        Err(e) => {
            let not_found = condition(
                "Active",
                ConditionStatus::False,
                "NodeGroupNotFound",
                format!(
                    "{} {} is not served by any registered provider, or does not exist: {e}",
                    spec.type_, spec.id
                ),
            );
            return NodeGroupOutcome {
                status: ScalableNodeGroupStatus {
                    replicas: previous.and_then(|s| s.replicas),
                    conditions: merge_conditions(previous_conditions, vec![not_found], ctx.now),
                    last_error: Some(e.to_string()),
                },
                errors: vec![error(
                    format!("finding {} {}", spec.type_, spec.id),
                    e.clone(),
                )],
                observed: Err(e),
                write: None,
            };
        }
    };
    let found = condition(
        "Active",
        ConditionStatus::True,
        "NodeGroupFound",
        "the node group is served by its provider",
    );

    let observed = handle.replicas().await;
    let mut errors = Vec::new();
    // Active, AbleToScale and Stabilized.
    let mut updates = Vec::with_capacity(3);
    updates.push(found);
    let mut status = ScalableNodeGroupStatus {
        replicas: previous.and_then(|s| s.replicas),
        conditions: Vec::new(),
        last_error: previous.and_then(|s| s.last_error.clone()),
    };
    let write = match &observed {
        Err(e) => {
            updates.push(condition(
                reasons::ABLE_TO_SCALE,
                ConditionStatus::False,
                reasons::FAILED_GET_SCALE,
                format!(
                    "could not read the node group's size; the next reconcile tries again: {e}"
                ),
            ));
            status.last_error = Some(e.to_string());
            errors.push(error(
                "reading the node group's size".to_string(),
                e.clone(),
            ));
            None
        }
        Ok(replicas) => {
            status.replicas = Some(replicas.ready);
            let write = push_desired(handle.as_ref(), spec.replicas, replicas).await;
            match write.as_ref().map(|w| (w.to, &w.result)) {
                Some((to, Err(e))) => {
                    updates.push(condition(
                        reasons::ABLE_TO_SCALE,
                        ConditionStatus::False,
                        reasons::FAILED_UPDATE_SCALE,
                        format!(
                            "could not set the node group to {to} nodes; the next reconcile tries again: {e}"
                        ),
                    ));
                    status.last_error = Some(e.to_string());
                    errors.push(error(
                        format!("setting the node group to {to} nodes"),
                        e.clone(),
                    ));
                }
                _ => {
                    // Constant messages: the sizes are in spec and status, and
                    // a condition that does not change is not written again.
                    let (reason, message) = match &write {
                        Some(_) => (
                            reasons::SUCCEEDED_RESCALE,
                            "the provider accepted the node group's new desired size",
                        ),
                        None => (
                            reasons::SUCCEEDED_GET_SCALE,
                            "the node group's size was read from its provider",
                        ),
                    };
                    updates.push(condition(
                        reasons::ABLE_TO_SCALE,
                        ConditionStatus::True,
                        reason,
                        message,
                    ));
                    status.last_error = None;
                    updates.push(stabilized_condition(handle.as_ref()).await);
                }
            }
            write
        }
    };
    status.conditions = merge_conditions(previous_conditions, updates, ctx.now);
    NodeGroupOutcome {
        status,
        observed,
        write,
        errors,
    }
}

/// Sets the provider's desired size to `want` when it differs.
async fn push_desired(
    handle: &dyn NodeGroup,
    want: Option<i32>,
    observed: &NodeGroupReplicas,
) -> Option<ScaleWrite> {
    let to = want.filter(|w| *w != observed.desired)?;
    Some(ScaleWrite {
        from: observed.desired,
        to,
        result: handle.set_replicas(to).await,
    })
}

/// The `Stabilized` condition, from the provider.
async fn stabilized_condition(handle: &dyn NodeGroup) -> Condition {
    match handle.stabilized().await {
        Ok(s) if s.stabilized => {
            condition("Stabilized", ConditionStatus::True, "Stabilized", s.message)
        }
        Ok(s) => condition(
            "Stabilized",
            ConditionStatus::False,
            "ScalingInProgress",
            s.message,
        ),
        Err(e) => condition(
            "Stabilized",
            ConditionStatus::Unknown,
            "FailedGetStabilization",
            e.to_string(),
        ),
    }
}
