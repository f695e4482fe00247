//! A proportional-integral-derivative algorithm on the usage ratio.

use chrono::{DateTime, Utc};

use super::algorithm::{Algorithm, AlgorithmOutput, MetricContext, Rule, ceil_replicas};
use crate::api::Quantity;
use crate::api::v1alpha1::{AlgorithmState, MetricTargetType, PidSpec};

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
    /// Output clamping, lower limit: `u` never goes below it, so one
    /// decision never recommends fewer than `(1 + min_output)×` the ready
    /// count. Default -1 (no limit: down to zero). Values below -1 count as -1.
    pub min_output: f64,
    /// Output clamping, upper limit: `u` stays within `[min_output,
    /// max_output]`, so one decision never recommends more than
    /// `(1 + max_output)×` the ready count. Default 9 (10×).
    pub max_output: f64,
    /// Samples further apart than this (seconds) reset the integral and
    /// derivative terms (the controller was not running). Default 600.
    pub max_gap_seconds: f64,
}

impl Default for PidGains {
    fn default() -> Self {
        Self {
            kp: 0.8,
            ki: 0.002,
            kd: 0.0,
            integral_limit: 0.5,
            min_output: -1.0,
            max_output: 9.0,
            max_gap_seconds: 600.0,
        }
    }
}

impl PidGains {
    /// The gains a manifest's `spec.algorithm.pid` asks for: each field
    /// given replaces its default.
    ///
    /// ```
    /// use karpenter_core::api::v1alpha1::PidSpec;
    /// use karpenter_core::autoscaler::PidGains;
    ///
    /// let spec: PidSpec = serde_json::from_value(serde_json::json!({"kp": 1, "maxOutput": "2"})).unwrap();
    /// let g = PidGains::from_spec(Some(&spec));
    /// assert_eq!((g.kp, g.ki, g.max_output), (1.0, 0.002, 2.0));
    /// ```
    pub fn from_spec(spec: Option<&PidSpec>) -> Self {
        let d = Self::default();
        let Some(s) = spec else {
            return d;
        };
        let f = |q: &Option<Quantity>, default: f64| q.as_ref().map_or(default, Quantity::as_f64);
        Self {
            kp: f(&s.kp, d.kp),
            ki: f(&s.ki, d.ki),
            kd: f(&s.kd, d.kd),
            integral_limit: f(&s.integral_limit, d.integral_limit),
            min_output: f(&s.min_output, d.min_output),
            max_output: f(&s.max_output, d.max_output),
            max_gap_seconds: s.max_gap_seconds.map_or(d.max_gap_seconds, f64::from),
        }
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
        let out = |replicas, rule| AlgorithmOutput {
            replicas,
            ratio,
            rule,
        };
        // No meaningful ratio without ready nodes: proportional rules, fresh state.
        if ready == 0 || ctx.current_replicas == 0 {
            *state = AlgorithmState {
                integral: 0.0,
                last_error: None,
                last_time: Some(ctx.now),
            };
            let (replicas, rule) = match ctx.target_type {
                MetricTargetType::AverageValue => (
                    ceil_replicas(ctx.observed / ctx.target),
                    Rule::TotalOverTarget,
                ),
                _ if ctx.current_replicas == 0 => (ceil_replicas(ratio), Rule::FromZero),
                _ => (ctx.current_replicas, Rule::HeldWhileLaunching),
            };
            return out(replicas, rule);
        }
        let dt =
            seconds_since(ctx.now, state.last_time).filter(|d| *d > 0.0 && *d <= g.max_gap_seconds);
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
        // `max`/`min` rather than `clamp`: gains come from the caller, and
        // `clamp` panics on NaN or inverted bounds.
        let e = (ratio - 1.0).max(-1.0).min(g.max_output);
        let (mut integral, derivative) = match dt {
            Some(dt) => {
                let d = state.last_error.map_or(0.0, |last| (e - last) / dt);
                (state.integral + e * dt, d)
            }
            None => (0.0, 0.0),
        };
        if g.ki > 0.0 {
            let bound = g.integral_limit / g.ki;
            integral = integral.max(-bound).min(bound);
        }
        // 1 + u, written so that kp = 1, ki = kd = 0 gives exactly `ratio`
        // (1 + (r − 1) is not r in floating point).
        let (ratio_term, offset) = if e == ratio - 1.0 {
            (g.kp * ratio, 1.0 - g.kp)
        } else {
            (g.kp * e, 1.0)
        };
        // `max`/`min` rather than `clamp` (see above); the lower limit is
        // never below 0 replicas.
        let low = (1.0 + g.min_output).max(0.0);
        let high = 1.0 + g.max_output;
        let unclamped = ratio_term + offset + g.ki * integral + g.kd * derivative;
        let multiplier = unclamped.max(low).min(high);
        let replicas = ceil_replicas(f64::from(ready) * multiplier);
        // Anti-windup: do not accumulate while the output is limited, or the
        // recommendation pinned at minReplicas or maxReplicas, in e's direction.
        let pinned = (e > 0.0 && (replicas >= ctx.max_replicas || unclamped > high))
            || (e < 0.0 && (replicas <= ctx.min_replicas || unclamped < low));
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::api::v1alpha1::{HorizontalAutoscalerSpec, ScalingHistory};
    use crate::autoscaler::{Autoscaler, DecisionInput, Observation, Proportional, TargetState};

    fn ctx(
        target_type: MetricTargetType,
        observed: f64,
        current: i32,
        ready: i32,
    ) -> MetricContext {
        MetricContext {
            target_type,
            observed,
            target: 10.0,
            current_replicas: current,
            status_replicas: ready,
            min_replicas: 1,
            max_replicas: 1000,
            tolerance_up: 0.1,
            tolerance_down: 0.1,
            now: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn with_unit_kp_and_no_ik_terms_it_is_the_proportional_rule() {
        let pid = Pid::new(PidGains {
            kp: 1.0,
            ki: 0.0,
            kd: 0.0,
            max_output: 1e9,
            ..PidGains::default()
        });
        for t in [MetricTargetType::Value, MetricTargetType::Utilization] {
            for observed in [0.0, 3.0, 7.5, 13.0, 50.0, 400.0] {
                for (current, ready) in [(1, 1), (4, 4), (10, 10), (37, 37)] {
                    let c = ctx(t, observed, current, ready);
                    let p = Proportional.recommend(&c, &mut AlgorithmState::default());
                    let q = pid.recommend(&c, &mut AlgorithmState::default());
                    assert_eq!(
                        p.replicas, q.replicas,
                        "{t:?} observed {observed} current {current}"
                    );
                }
            }
        }
    }

    #[test]
    fn integral_is_bounded_and_does_not_wind_up_at_max() {
        let pid = Pid::default();
        let mut state = AlgorithmState::default();
        let mut c = ctx(MetricTargetType::Value, 30.0, 1000, 1000); // 3× target, pinned at max
        for i in 0..200 {
            c.now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(15 * i);
            pid.recommend(&c, &mut state);
        }
        // Pinned at max in the error's direction: nothing accumulated.
        assert_eq!(state.integral, 0.0);
        // Unpinned, it accumulates but stays within the limit.
        c.max_replicas = i32::MAX;
        for i in 200..400 {
            c.now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(15 * i);
            pid.recommend(&c, &mut state);
        }
        let g = PidGains::default();
        assert!(
            (g.ki * state.integral).abs() <= g.integral_limit + 1e-12,
            "{}",
            state.integral
        );
        assert!(state.integral > 0.0);
    }

    #[test]
    fn falls_back_to_proportional_from_zero_and_resets_on_gaps() {
        let pid = Pid::default();
        let mut state = AlgorithmState {
            integral: 100.0,
            last_error: Some(1.0),
            last_time: None,
        };
        let out = pid.recommend(
            &ctx(MetricTargetType::AverageValue, 2400.0, 0, 0),
            &mut state,
        );
        assert_eq!((out.replicas, out.rule), (240, Rule::TotalOverTarget));
        assert_eq!(state.integral, 0.0);
        let mut state = AlgorithmState {
            integral: 100.0,
            last_error: Some(1.0),
            last_time: None,
        };
        pid.recommend(&ctx(MetricTargetType::Value, 20.0, 4, 4), &mut state);
        assert_eq!(
            state.integral, 0.0,
            "no previous sample time: integral restarts"
        );
    }

    /// A first-order plant: ready nodes follow the desired count with a 60 s
    /// time constant, and the metric (load per ready node) is itself a
    /// 90 s moving average, so the controller sees the world late.
    fn simulate<A: Algorithm>(engine: &Autoscaler<A>) -> Vec<(i64, i32, f64)> {
        let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
            "minReplicas": 1, "maxReplicas": 500,
            "metrics": [{"prometheus": {"query": "load_per_node", "target": {"type": "Value", "value": 10}}}]
        }))
        .unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (dt, tau_nodes, tau_metric) = (15.0f64, 60.0f64, 90.0f64);
        let (mut desired, mut ready_f, mut metric) = (50i32, 50.0f64, 10.0f64);
        let mut history: Option<ScalingHistory> = None;
        let mut trace = Vec::new();
        for step in 0..(4 * 60 * 4) {
            let t = step as i64 * 15;
            let load = if t < 600 { 500.0 } else { 1500.0 };
            ready_f += (f64::from(desired) - ready_f) * (1.0 - (-dt / tau_nodes).exp());
            let ready = ready_f.round() as i32;
            metric += (load / f64::from(ready.max(1)) - metric) * (1.0 - (-dt / tau_metric).exp());
            let d = engine.decide(&DecisionInput {
                spec: &spec,
                target: TargetState {
                    spec_replicas: desired,
                    status_replicas: ready,
                },
                observations: &[Observation::Value(metric)],
                history: history.as_ref(),
                now: start + Duration::seconds(t),
            });
            desired = d.desired_replicas;
            history = Some(d.history);
            trace.push((t, desired, metric));
        }
        trace
    }

    #[test]
    fn converges_without_sustained_oscillation_on_a_first_order_plant() {
        let trace = simulate(&Autoscaler::new(Pid::default()));
        // The last hour: settled near the ideal 150 nodes...
        let tail: Vec<_> = trace.iter().filter(|(t, _, _)| *t >= 3 * 3600).collect();
        for (t, d, m) in &tail {
            assert!(
                (136..=166).contains(d),
                "t={t}s desired {d} (metric {m:.2}) not near 150"
            );
            assert!(
                (m / 10.0 - 1.0).abs() <= 0.1 + 1e-9,
                "t={t}s ratio {:.3} outside tolerance",
                m / 10.0
            );
        }
        // ...and not moving: no direction changes at all.
        let moves = tail.windows(2).filter(|w| w[0].1 != w[1].1).count();
        assert_eq!(moves, 0, "desired still moving in the last hour: {tail:?}");
        // It did react to the step within ten minutes.
        let reacted = trace
            .iter()
            .find(|(t, d, _)| *t > 600 && *d >= 136)
            .map(|(t, _, _)| *t);
        assert!(reacted.is_some_and(|t| t <= 1200), "reacted at {reacted:?}");
    }
}
