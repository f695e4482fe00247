//! A proportional-integral-derivative algorithm on the usage ratio.

use chrono::{DateTime, Utc};

use super::algorithm::{Algorithm, AlgorithmOutput, MetricContext, Rule, ceil_replicas};
use crate::api::v1alpha1::{AlgorithmState, MetricTargetType};

/// Gains and limits of [`Pid`].
///
/// With the error `e = usage ratio − 1` (0 at target, 0.5 at 150 % of it),
/// the controller output is `u = kp·e + ki·∫e dt + kd·de/dt` and the
/// recommendation is `ceil(ready × (1 + u))`. With `kp = 1, ki = kd = 0` this
/// is exactly the proportional rule `ceil(ratio × ready)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidGains {
    /// Proportional gain (dimensionless). Default 0.8: slightly softer than
    /// the HPA, so that a lagging metric does not overshoot.
    pub kp: f64,
    /// Integral gain, per second. Default 0.002: a sustained 10 % error adds
    /// about 1.2 % of the fleet per minute, removing the steady-state offset
    /// that `kp < 1` leaves.
    pub ki: f64,
    /// Derivative gain, seconds. Default 0 (metrics are noisy; derivative
    /// action amplifies noise).
    pub kd: f64,
    /// Anti-windup: `|ki·∫e dt|` never exceeds this. Default 0.5.
    pub integral_limit: f64,
    /// Output clamping: `u` stays within `[-1, max_output]`, so one decision
    /// never recommends more than `(1 + max_output)×` the ready count.
    /// Default 9 (10×).
    pub max_output: f64,
    /// Samples further apart than this (seconds) reset the integral and
    /// derivative terms (the controller was not running). Default 600.
    pub max_gap_seconds: f64,
}

impl Default for PidGains {
    fn default() -> Self {
        Self { kp: 0.8, ki: 0.002, kd: 0.0, integral_limit: 0.5, max_output: 9.0, max_gap_seconds: 600.0 }
    }
}

/// A PID controller on the usage ratio, with output clamping and
/// anti-windup (the integral is bounded and stops accumulating while the
/// output is pinned at `minReplicas` or `maxReplicas` in the error's
/// direction).
///
/// Its state (integral, last error, last time) is persisted per metric in
/// the autoscaler's history. Scaling from zero ready nodes, where a ratio
/// has no meaning, falls back to the proportional rules; so does the
/// karpenter-rs rule that nothing scales down while nodes launch.
///
/// ```
/// use karpenter_core::autoscaler::{Autoscaler, Pid, PidGains};
///
/// let engine = Autoscaler::new(Pid::new(PidGains { ki: 0.001, ..PidGains::default() }));
/// assert_eq!(engine.algorithm().gains().kp, 0.8);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pid {
    gains: PidGains,
}

impl Pid {
    /// A controller with `gains`.
    pub fn new(gains: PidGains) -> Self {
        Self { gains }
    }

    /// The gains.
    pub fn gains(&self) -> &PidGains {
        &self.gains
    }
}

fn seconds_since(now: DateTime<Utc>, then: Option<DateTime<Utc>>) -> Option<f64> {
    then.map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
}

impl Algorithm for Pid {
    fn name(&self) -> &'static str {
        "PID"
    }

    fn is_stateful(&self) -> bool {
        true
    }

    fn recommend(&self, ctx: &MetricContext, state: &mut AlgorithmState) -> AlgorithmOutput {
        let g = &self.gains;
        let ratio = ctx.usage_ratio();
        let ready = ctx.status_replicas.max(0);
        let out = |replicas, rule| AlgorithmOutput { replicas, ratio, rule };
        // No meaningful ratio without ready nodes: proportional rules, fresh state.
        if ready == 0 || ctx.current_replicas == 0 {
            *state = AlgorithmState { integral: 0.0, last_error: None, last_time: Some(ctx.now) };
            let (replicas, rule) = match ctx.target_type {
                MetricTargetType::AverageValue => {
                    (ceil_replicas(ctx.observed / ctx.target), Rule::TotalOverTarget)
                }
                _ if ctx.current_replicas == 0 => (ceil_replicas(ratio), Rule::FromZero),
                _ => (ctx.current_replicas, Rule::HeldWhileLaunching),
            };
            return out(replicas, rule);
        }
        let dt = seconds_since(ctx.now, state.last_time).filter(|d| *d > 0.0 && *d <= g.max_gap_seconds);
        if dt.is_none() {
            state.integral = 0.0;
            state.last_error = None;
        }
        state.last_time = Some(ctx.now);
        if ctx.within_tolerance(ratio) {
            // Dead band: hold, and keep the integral as it is.
            state.last_error = Some(0.0);
            let replicas = match ctx.target_type {
                MetricTargetType::AverageValue if !ctx.launching() => ready,
                _ => ctx.current_replicas,
            };
            return out(replicas, Rule::WithinTolerance);
        }
        // Bound the error so one absurd sample cannot dominate the integral.
        let e = (ratio - 1.0).clamp(-1.0, g.max_output);
        let (mut integral, derivative) = match dt {
            Some(dt) => {
                let d = state.last_error.map_or(0.0, |last| (e - last) / dt);
                (state.integral + e * dt, d)
            }
            None => (0.0, 0.0),
        };
        if g.ki > 0.0 {
            let bound = g.integral_limit / g.ki;
            integral = integral.clamp(-bound, bound);
        }
        let u = (g.kp * e + g.ki * integral + g.kd * derivative).clamp(-1.0, g.max_output);
        let replicas = ceil_replicas(f64::from(ready) * (1.0 + u));
        // Anti-windup: do not accumulate while pinned at a bound in e's direction.
        let pinned = (e > 0.0 && replicas >= ctx.max_replicas) || (e < 0.0 && replicas <= ctx.min_replicas);
        if !pinned {
            state.integral = integral;
        }
        state.last_error = Some(e);
        if ctx.launching() && replicas < ctx.current_replicas {
            return out(ctx.current_replicas, Rule::HeldWhileLaunching);
        }
        out(replicas, Rule::Pid)
    }
}
