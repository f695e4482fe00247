//! Bring your own cloud: implement `NodeGroup` for an imaginary cloud,
//! register it, and let the runner drive it.
//!
//! "Nimbus" is a made-up cloud whose instance pools boot instances in 45 s
//! and accept at most one resize every 30 s (sooner, they answer "slow
//! down"). The whole provider — the `NodeGroup` and the `CloudProvider`
//! factory that claims the `NimbusPool` type — is the block between the two
//! `----` lines below, under 150 lines. Everything else (retries, keeping
//! the scale intent when a resize is throttled, the decision, status) comes
//! from karpenter-core.
//!
//! Before the simulation it runs karpenter-fake's provider conformance
//! suite against Nimbus pools (the harness block below) and prints the
//! report: it checks the `NodeGroup` contract, e.g. that a size outside the
//! pool's bounds is reported, not clamped. `cargo test -p
//! karpenter-examples --example custom_provider` runs the same suite as a
//! test, and drains a queue against a Nimbus pool.
//!
//! The demand is a custom metric, `nimbus_requests_per_second`, which a step
//! hook writes into the metric store (standing in for your own exporter);
//! the autoscaler wants one instance per 100 requests per second.
//!
//! ```text
//! cargo run -p karpenter-examples --example custom_provider [-- --out DIR]
//! ```

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use karpenter_examples::{ExampleError, output_dir, print_summary, utc, write_outputs};
use karpenter_fake::conformance::{
    self, ConformanceReport, HarnessError, HarnessResult, NodeGroupHarness,
};
use karpenter_fake::{SimClock, Simulation};

// ---- the Nimbus provider -------------------------------------------------
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::clock::Clock;
use karpenter_core::provider::{
    CloudProvider, NodeGroup, NodeGroupReplicas, ProviderError, ProviderErrorKind, ProviderResult,
    ReplicaBounds, Stabilization,
};

/// The sizes a Nimbus pool accepts.
const NIMBUS_BOUNDS: ReplicaBounds = ReplicaBounds { min: 0, max: 50 };

/// One Nimbus instance pool.
struct NimbusPool {
    id: String,
    clock: Arc<dyn Clock>,
    state: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    /// When each instance is (or was) booted.
    boots: Vec<DateTime<Utc>>,
    last_resize: Option<DateTime<Utc>>,
}

impl NimbusPool {
    /// The pool `id` with `running` instances already booted.
    fn new(id: &str, clock: Arc<dyn Clock>, running: usize) -> Self {
        let boots = vec![clock.now(); running];
        let state = Mutex::new(Pool {
            boots,
            last_resize: None,
        });
        Self {
            id: id.to_string(),
            clock,
            state,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Pool {
    /// Instances booted by `now`.
    fn ready_at(&self, now: DateTime<Utc>) -> usize {
        self.boots.iter().filter(|t| **t <= now).count()
    }
}

#[async_trait]
impl NodeGroup for NimbusPool {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let ReplicaBounds { min, max } = NIMBUS_BOUNDS;
        let Some(wanted) = usize::try_from(replicas)
            .ok()
            .filter(|_| (min..=max).contains(&replicas))
        else {
            let message = format!(
                "nimbus pool {}: {replicas} instances is outside the pool's bounds [{min}, {max}]; ask for {min} to {max}",
                self.id
            );
            return Err(ProviderError::new(ProviderErrorKind::OutOfBounds, message));
        };
        let now = self.clock.now();
        let mut pool = self.lock();
        if wanted == pool.boots.len() {
            return Ok(()); // idempotent
        }
        if pool
            .last_resize
            .is_some_and(|t| now - t < chrono::Duration::seconds(30))
        {
            let message = format!("nimbus pool {}: one resize per 30 s, slow down", self.id);
            return Err(ProviderError::new(ProviderErrorKind::Throttled, message));
        }
        pool.boots.sort(); // the newest instances (booting last) go first
        pool.boots
            .resize(wanted, now + chrono::Duration::seconds(45));
        pool.last_resize = Some(now);
        Ok(())
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        let now = self.clock.now();
        let pool = self.lock();
        let ready = pool.ready_at(now);
        Ok(NodeGroupReplicas {
            desired: i32::try_from(pool.boots.len()).unwrap_or(i32::MAX),
            ready: i32::try_from(ready).unwrap_or(i32::MAX),
        })
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        let r = self.replicas().await?;
        Ok(Stabilization {
            stabilized: r.ready == r.desired,
            message: format!("{} of {} instances booted", r.ready, r.desired),
        })
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        Ok(Some(NIMBUS_BOUNDS))
    }
}

/// The factory: claims `spec.type: NimbusPool`, checks ids look like `pool-…`.
struct Nimbus {
    clock: Arc<dyn Clock>,
}

impl CloudProvider for Nimbus {
    fn name(&self) -> String {
        "nimbus".to_string()
    }

    fn node_group_types(&self) -> Vec<String> {
        vec!["NimbusPool".to_string()]
    }

    fn validate_node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<()> {
        if spec.id.starts_with("pool-") {
            return Ok(());
        }
        let message = format!(
            "{:?} is not a Nimbus pool id; they look like pool-1234",
            spec.id
        );
        Err(ProviderError::new(ProviderErrorKind::InvalidId, message))
    }

    fn node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        Ok(Arc::new(NimbusPool::new(&spec.id, self.clock.clone(), 0)))
    }
}
// ---- end of the Nimbus provider ------------------------------------------

// ---- its conformance harness ---------------------------------------------
/// Lets `karpenter_fake::conformance` create Nimbus pools on a simulated
/// clock, let them boot, and throttle them.
struct NimbusHarness {
    clock: SimClock,
    pools: Mutex<BTreeMap<String, Arc<NimbusPool>>>,
}

impl NimbusHarness {
    fn new(clock: &SimClock) -> Self {
        let pools = Mutex::new(BTreeMap::new());
        Self {
            clock: clock.clone(),
            pools,
        }
    }
}

#[async_trait]
impl NodeGroupHarness for NimbusHarness {
    fn description(&self) -> String {
        "Nimbus pools (45 s boot, one resize per 30 s)".to_string()
    }

    // Nimbus pools have fixed bounds: `_bounds` is ignored, the suite reads
    // `NodeGroup::bounds`.
    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        _bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        let running = usize::try_from(initial).unwrap_or(0);
        let pool = Arc::new(NimbusPool::new(
            &format!("pool-{name}"),
            self.clock.as_clock(),
            running,
        ));
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.insert(name.to_string(), pool.clone());
        Ok(pool)
    }

    async fn settle(&self) -> HarnessResult<()> {
        self.clock.advance(Duration::from_secs(46)); // booted, throttle expired
        Ok(())
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pools
            .get(name)
            .ok_or_else(|| HarnessError::skip(format!("no pool {name:?}")))?;
        pool.lock().last_resize = Some(self.clock.now()); // as if it just resized
        Ok(())
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        Err(HarnessError::skip(
            "Nimbus creates a pool on first use, so no pool id is ever missing",
        ))
    }
}

/// Runs the conformance suite against Nimbus pools, on a clock of its own.
async fn nimbus_conformance() -> Result<ConformanceReport, ExampleError> {
    let clock = SimClock::new(utc(2026, 1, 5, 0, 0)?);
    Ok(conformance::node_group(&NimbusHarness::new(&clock)).await)
}
// ---- end of the conformance harness --------------------------------------

const MANIFESTS: &str = r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  name: checkout
spec:
  type: NimbusPool
  id: pool-7781
  replicas: 1
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata:
  name: checkout
spec:
  scaleTargetRef:
    apiVersion: autoscaling.karpenter.sh/v1alpha1
    kind: ScalableNodeGroup
    name: checkout
  minReplicas: 1
  maxReplicas: 50
  metrics:
  - prometheus:
      query: nimbus_requests_per_second{service="checkout"}
      target:
        type: AverageValue
        value: 100
"#;

/// Requests per second `hours` into the run: 150 rising to 3,000 and back.
fn requests_per_second(hours: f64) -> f64 {
    150.0 + 2850.0 * (1.0 - (2.0 * PI * hours / 6.0).cos()) / 2.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = output_dir()?;
    let conformance = nimbus_conformance().await?;
    print!("{conformance}");
    if !conformance.passed() {
        return Err(
            "the Nimbus provider breaks the NodeGroup contract; see the failed checks above".into(),
        );
    }
    let wall = Instant::now();

    let clock = SimClock::new(utc(2026, 4, 6, 6, 0)?);
    let nimbus = Arc::new(Nimbus {
        clock: clock.as_clock(),
    });
    let mut sim = Simulation::builder(&clock)
        .seed(3)
        .manifests(MANIFESTS)?
        .provider(nimbus)
        .on_step(|ctx| {
            let rps = requests_per_second(ctx.elapsed.as_secs_f64() / 3600.0);
            let labels = [("service".to_string(), "checkout".to_string())];
            ctx.metrics
                .set("nimbus_requests_per_second", &labels, rps.round());
        })
        .build()?;
    let report = sim.run_for(Duration::from_secs(6 * 3600)).await;

    let outputs = write_outputs(
        &sim,
        &out,
        "custom_provider",
        "A custom provider (Nimbus pools: 45 s boot, one resize per 30 s) driven by the runner",
    )?;
    println!(
        "Nimbus pool pool-7781: one instance per 100 requests/s; resizes throttled to one per 30 s."
    );
    print_summary(&report, &outputs, wall.elapsed());
    Ok(())
}

#[cfg(test)]
mod tests {
    use karpenter_core::provider::Queue;
    use karpenter_fake::FakeQueue;

    use super::*;

    #[tokio::test]
    async fn nimbus_pools_conform() {
        let report = nimbus_conformance().await.unwrap();
        report.assert_passed();
        let skipped: Vec<&str> = report.skipped().iter().map(|c| c.name).collect();
        // No pool id is missing on Nimbus; no template: it cannot tell.
        assert_eq!(
            skipped,
            ["template_shape", "missing_group_not_found"],
            "{report}"
        );
    }

    #[tokio::test]
    async fn a_queue_drains_against_a_nimbus_pool() {
        let clock = SimClock::new(utc(2026, 1, 5, 0, 0).unwrap());
        let pool = Arc::new(NimbusPool::new("pool-1", clock.as_clock(), 0));
        let workers = pool.clone();
        let jobs = FakeQueue::builder("jobs")
            .messages(600)
            .consumers_fn(move |now| workers.lock().ready_at(now) as f64, 1.0)
            .build(&clock);
        pool.set_replicas(4).await.unwrap();
        clock.advance(Duration::from_secs(45)); // booting: nothing drains
        assert_eq!(jobs.length().await.unwrap(), 600);
        clock.advance(Duration::from_secs(60)); // 4 instances x 1 msg/s x 60 s
        assert_eq!(jobs.length().await.unwrap(), 360);
    }
}
