//! Bring your own cloud: implement `NodeGroup` for an imaginary cloud,
//! register it, and let the runner drive it.
//!
//! "Nimbus" is a made-up cloud whose instance pools boot instances in 45 s
//! and accept at most one resize every 30 s (sooner, they answer "slow
//! down"). The whole provider — the `NodeGroup` and the `CloudProvider`
//! factory that claims the `NimbusPool` type — is the block between the two
//! `----` lines below, under 100 lines. Everything else (retries, keeping
//! the scale intent when a resize is throttled, the decision, status) comes
//! from karpenter-core.
//!
//! The demand is a custom metric, `nimbus_requests_per_second`, which a step
//! hook writes into the metric store (standing in for your own exporter);
//! the autoscaler wants one instance per 100 requests per second.
//!
//! ```text
//! cargo run -p karpenter-examples --example custom_provider [-- --out DIR]
//! ```

use std::f64::consts::PI;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use karpenter_examples::{output_dir, print_summary, utc, write_outputs};
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

#[async_trait]
impl NodeGroup for NimbusPool {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let now = self.clock.now();
        let mut pool = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = usize::try_from(replicas).unwrap_or(0);
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
        let pool = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ready = pool.boots.iter().filter(|t| **t <= now).count();
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
        Ok(Some(ReplicaBounds { min: 0, max: 50 }))
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
        Ok(Arc::new(NimbusPool {
            id: spec.id.clone(),
            clock: self.clock.clone(),
            state: Mutex::new(Pool::default()),
        }))
    }
}
// ---- end of the Nimbus provider ------------------------------------------

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
