//! Behavior with every default filled in, stabilization, scale-event
//! bookkeeping and rate-limiting policies (`docs/decisions.md`, "Behavior").

use chrono::{DateTime, Utc};

pub use crate::api::defaults::{
    DEFAULT_SCALE_DOWN_POLICIES, DEFAULT_SCALE_DOWN_WINDOW_SECONDS, DEFAULT_SCALE_UP_POLICIES,
    DEFAULT_SCALE_UP_WINDOW_SECONDS, DEFAULT_TOLERANCE, ResolvedBehavior, ResolvedRules,
};
use crate::api::v1alpha1::{Recommendation, ScaleEvent, ScalingPolicySelect, ScalingPolicyType};

/// The direction of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Adding replicas.
    Up,
    /// Removing replicas.
    Down,
}

impl Direction {
    /// `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// The instant a window of `seconds` ending at `now` starts: an instant `t`
/// is inside the window when `t > cutoff`, i.e. strictly younger than the
/// window (so a 0 s window holds nothing). Computed once per window and
/// compared, because duration arithmetic per entry dominated the engine.
pub(crate) fn cutoff(now: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    chrono::Duration::try_seconds(seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The result of stabilization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stabilized {
    /// Lowest recommendation in the up window (and the desired count).
    pub up_recommendation: i32,
    /// Highest recommendation in the down window (and the desired count).
    pub down_recommendation: i32,
    /// `current` clamped into `[up, down]`.
    pub replicas: i32,
}

/// Stabilizes `desired` against the recommendations inside each window
/// (`docs/decisions.md`, "Stabilization").
pub fn stabilize(
    behavior: &ResolvedBehavior,
    recommendations: &[Recommendation],
    current: i32,
    desired: i32,
    now: DateTime<Utc>,
) -> Stabilized {
    let (mut up, mut down) = (desired, desired);
    let up_cutoff = cutoff(now, behavior.scale_up.stabilization_window_seconds);
    let down_cutoff = cutoff(now, behavior.scale_down.stabilization_window_seconds);
    for r in recommendations {
        if r.time > up_cutoff {
            up = up.min(r.replicas);
        }
        if r.time > down_cutoff {
            down = down.max(r.replicas);
        }
    }
    Stabilized {
        up_recommendation: up,
        down_recommendation: down,
        replicas: current.max(up).min(down),
    }
}

/// Records a prenormalized recommendation, dropping entries that are in no
/// window any more (only entries inside a window ever matter, so this bounds
/// memory exactly as upstream's slot reuse does, and keeps the list ordered).
pub fn record_recommendation(
    behavior: &ResolvedBehavior,
    recommendations: &mut Vec<Recommendation>,
    replicas: i32,
    now: DateTime<Utc>,
) {
    let keep = behavior.recommendation_retention_seconds();
    let keep = cutoff(now, keep);
    recommendations.retain(|r| r.time > keep);
    recommendations.push(Recommendation {
        time: now,
        replicas,
    });
}

/// Records a scale event, dropping events older than the longest period of
/// either direction (the HPA keeps them per direction).
pub fn record_scale_event(
    behavior: &ResolvedBehavior,
    events: &mut Vec<ScaleEvent>,
    change: i32,
    now: DateTime<Utc>,
) {
    let keep = behavior.event_retention_seconds();
    let keep = cutoff(now, keep);
    events.retain(|e| e.time > keep);
    events.push(ScaleEvent { time: now, change });
}

/// The bound one policy puts on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyBound {
    /// Index in the direction's policies.
    pub index: usize,
    /// Replicas at the start of the policy's period.
    pub start: i64,
    /// The furthest the policy lets the count go.
    pub bound: i64,
}

/// The outcome of applying one direction's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Every policy's bound.
    pub bounds: Vec<PolicyBound>,
    /// The policy chosen by `selectPolicy` (None when Disabled).
    pub chosen: Option<usize>,
    /// The bound after selection and "never reverse".
    pub limit: i32,
}

/// Applies the direction's policies (`docs/decisions.md`, "Policies"), with
/// exact integer Percent arithmetic (50 replicas +10 % = 55, not 56).
pub fn rate_limit(
    rules: &ResolvedRules,
    direction: Direction,
    events: &[ScaleEvent],
    current: i32,
    now: DateTime<Utc>,
) -> RateLimit {
    let current64 = i64::from(current);
    if rules.select_policy == ScalingPolicySelect::Disabled {
        return RateLimit {
            bounds: Vec::new(),
            chosen: None,
            limit: current,
        };
    }
    let mut bounds = Vec::with_capacity(rules.policies.len());
    for (index, p) in rules.policies.iter().enumerate() {
        let period = cutoff(now, i64::from(p.period_seconds));
        let (mut added, mut removed) = (0i64, 0i64);
        for e in events {
            if e.time > period {
                if e.change > 0 {
                    added = added.saturating_add(i64::from(e.change));
                } else {
                    removed = removed.saturating_sub(i64::from(e.change));
                }
            }
        }
        let start = current64.saturating_sub(added).saturating_add(removed);
        let v = i64::from(p.value);
        let bound = match (direction, p.type_) {
            (Direction::Up, ScalingPolicyType::Count) => start.saturating_add(v),
            (Direction::Down, ScalingPolicyType::Count) => start.saturating_sub(v),
            // ceil(start × (100 + v) / 100), exactly.
            (Direction::Up, ScalingPolicyType::Percent) => {
                let n = i128::from(start) * i128::from(100 + v);
                saturate_i64(n.div_euclid(100) + i128::from(n.rem_euclid(100) != 0))
            }
            // trunc(start × (100 − v) / 100) toward zero; may be negative.
            (Direction::Down, ScalingPolicyType::Percent) => {
                saturate_i64(i128::from(start) * i128::from(100 - v) / 100)
            }
        };
        bounds.push(PolicyBound {
            index,
            start,
            bound,
        });
    }
    // Max = most change: largest bound up, smallest down; Min the reverse.
    let most_change_up = matches!(rules.select_policy, ScalingPolicySelect::Max);
    let pick = match (direction, most_change_up) {
        (Direction::Up, true) | (Direction::Down, false) => bounds.iter().max_by_key(|b| b.bound),
        (Direction::Up, false) | (Direction::Down, true) => bounds.iter().min_by_key(|b| b.bound),
    };
    let (chosen, raw) = match pick {
        Some(b) => (Some(b.index), b.bound),
        None => (None, current64),
    };
    // Never reverse: past events can freeze movement but not invert it.
    let limit = match direction {
        Direction::Up => raw.max(current64),
        Direction::Down => raw.min(current64),
    };
    RateLimit {
        bounds,
        chosen,
        limit: limit.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    }
}

fn saturate_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
