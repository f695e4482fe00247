//! Defaulting: the values an omitted field means (the behavior defaults of
//! the Kubernetes HPA, and `minReplicas: 0` as in Karpenter v0.1). The
//! table is in `docs/decisions.md`, section "Defaults".
//!
//! ```
//! use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
//!
//! let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
//!     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
//!     "maxReplicas": 10,
//!     "metrics": [{"prometheus": {"query": "q", "target": {"type": "Value", "value": 1}}}]
//! })).unwrap();
//! let d = spec.with_defaults();
//! assert_eq!(d.min_replicas, Some(0)); // Karpenter v0.1: omitted means 0
//! let down = d.behavior.unwrap().scale_down.unwrap();
//! assert_eq!(down.stabilization_window_seconds, Some(300));
//! ```

use std::borrow::Cow;

use crate::api::v1alpha1::{
    Behavior, HorizontalAutoscalerSpec, ScalingPolicy, ScalingPolicySelect, ScalingPolicyType,
    ScalingRules,
};

/// `minReplicas` when omitted: 0, as in Karpenter v0.1 (the Kubernetes HPA
/// uses 1). A v0.1 queue autoscaler that omits it scales its group from zero
/// and back to zero.
pub const DEFAULT_MIN_REPLICAS: i32 = 0;
/// Default tolerance of the usage ratio around 1 in both directions.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// Default scale-down stabilization window, seconds.
pub const DEFAULT_SCALE_DOWN_WINDOW_SECONDS: i32 = 300;
/// Default scale-up stabilization window, seconds.
pub const DEFAULT_SCALE_UP_WINDOW_SECONDS: i32 = 0;

/// The default scale-up policies: Count 4 and Percent 100, per 15 s.
pub const DEFAULT_SCALE_UP_POLICIES: [ScalingPolicy; 2] = [
    ScalingPolicy {
        type_: ScalingPolicyType::Count,
        value: 4,
        period_seconds: 15,
    },
    ScalingPolicy {
        type_: ScalingPolicyType::Percent,
        value: 100,
        period_seconds: 15,
    },
];
/// The default scale-down policy: Percent 100 per 15 s.
pub const DEFAULT_SCALE_DOWN_POLICIES: [ScalingPolicy; 1] = [ScalingPolicy {
    type_: ScalingPolicyType::Percent,
    value: 100,
    period_seconds: 15,
}];

/// One direction's rules, every field resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedRules {
    /// Stabilization window, seconds.
    pub stabilization_window_seconds: i64,
    /// Policy selection.
    pub select_policy: ScalingPolicySelect,
    /// Policies (never empty for a valid spec).
    pub policies: Cow<'static, [ScalingPolicy]>,
    /// Tolerance of the usage ratio in this direction.
    pub tolerance: f64,
}

impl ResolvedRules {
    fn resolve(
        rules: Option<&ScalingRules>,
        window: i32,
        policies: &'static [ScalingPolicy],
    ) -> Self {
        Self {
            stabilization_window_seconds: i64::from(
                rules
                    .and_then(|r| r.stabilization_window_seconds)
                    .unwrap_or(window)
                    .max(0),
            ),
            select_policy: rules
                .and_then(|r| r.select_policy)
                .unwrap_or(ScalingPolicySelect::Max),
            policies: match rules.and_then(|r| r.policies.as_ref()) {
                Some(given) => Cow::Owned(given.clone()),
                None => Cow::Borrowed(policies),
            },
            tolerance: rules
                .and_then(|r| r.tolerance.as_ref())
                .map(|q| q.as_f64())
                .filter(|t| t.is_finite() && *t >= 0.0)
                .unwrap_or(DEFAULT_TOLERANCE),
        }
    }

    /// The longest `periodSeconds` of this direction's policies.
    pub fn longest_period_seconds(&self) -> i64 {
        self.policies
            .iter()
            .map(|p| i64::from(p.period_seconds))
            .max()
            .unwrap_or(0)
    }
}

/// A [`Behavior`] with every default applied (an omitted behavior means
/// these defaults, not the Kubernetes HPA's legacy path).
///
/// ```
/// use karpenter_core::api::defaults::ResolvedBehavior;
///
/// let b = ResolvedBehavior::resolve(None);
/// assert_eq!(b.scale_down.stabilization_window_seconds, 300);
/// assert_eq!(b.scale_up.policies.len(), 2);
/// assert_eq!(b.scale_up.tolerance, 0.1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBehavior {
    /// Scale-up rules.
    pub scale_up: ResolvedRules,
    /// Scale-down rules.
    pub scale_down: ResolvedRules,
}

impl ResolvedBehavior {
    /// Fills in the HPA defaults, field by field; a given `policies` list
    /// replaces the default list as a whole.
    pub fn resolve(behavior: Option<&Behavior>) -> Self {
        Self {
            scale_up: ResolvedRules::resolve(
                behavior.and_then(|b| b.scale_up.as_ref()),
                DEFAULT_SCALE_UP_WINDOW_SECONDS,
                &DEFAULT_SCALE_UP_POLICIES,
            ),
            scale_down: ResolvedRules::resolve(
                behavior.and_then(|b| b.scale_down.as_ref()),
                DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
                &DEFAULT_SCALE_DOWN_POLICIES,
            ),
        }
    }

    /// The behavior written out in full, as the API would show it defaulted.
    pub fn to_behavior(&self) -> Behavior {
        let rules = |r: &ResolvedRules| ScalingRules {
            stabilization_window_seconds: Some(r.stabilization_window_seconds as i32),
            select_policy: Some(r.select_policy),
            policies: Some(r.policies.to_vec()),
            tolerance: crate::api::Quantity::from_f64(r.tolerance).ok(),
        };
        Behavior {
            scale_up: Some(rules(&self.scale_up)),
            scale_down: Some(rules(&self.scale_down)),
        }
    }

    /// How long scale events must be kept: the longest period of either
    /// direction (the HPA keeps them per direction).
    pub fn event_retention_seconds(&self) -> i64 {
        self.scale_up
            .longest_period_seconds()
            .max(self.scale_down.longest_period_seconds())
    }

    /// How long recommendations must be kept: the longest window.
    pub fn recommendation_retention_seconds(&self) -> i64 {
        self.scale_up
            .stabilization_window_seconds
            .max(self.scale_down.stabilization_window_seconds)
    }
}

impl HorizontalAutoscalerSpec {
    /// The spec with every default written out: `minReplicas` and each
    /// behavior field (an omitted `behavior` means the defaults, not the
    /// legacy HPA path). A given `policies` list is kept as a whole.
    pub fn with_defaults(&self) -> Self {
        Self {
            min_replicas: Some(self.min_replicas.unwrap_or(DEFAULT_MIN_REPLICAS)),
            behavior: Some(ResolvedBehavior::resolve(self.behavior.as_ref()).to_behavior()),
            ..self.clone()
        }
    }
}
