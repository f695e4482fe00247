//! # karpenter-fake
//!
//! In-memory providers and a deterministic, simulated-time harness for
//! karpenter-rs: run the whole autoscaling loop — producers, metrics,
//! decisions, node groups — with no cloud and no cluster, days of simulated
//! time in seconds.
//!
//! - [`FakeNodeGroup`]: launch and termination delays, a capacity ceiling
//!   that fails scale-ups like an insufficient-capacity error, the cloud's own
//!   bounds, throttling/timeout injection on chosen calls, a log of every call.
//! - [`FakeQueue`]: messages arrive by a rate function or in bursts; each
//!   ready node works them off at a fixed rate; the oldest message's age is
//!   tracked.
//! - [`FakeMetricStore`]: named series with labels; resolves exact-selector
//!   queries such as `karpenter_queue_length{name="ml-training-queue"}` and
//!   says clearly when a query is not supported.
//! - [`FakeCluster`]: nodes with allocatable, labels and taints, pods with
//!   requests and constraints (selectors, affinity, tolerations),
//!   DaemonSets, and a first-fit scheduler that marks what does not fit
//!   `Unschedulable`, so pending-capacity producers have something to see.
//! - [`SimClock`]: the one simulated clock, shared by all of the above.
//! - [`FakeProvider`]: registers the fakes with core's provider registry
//!   (node group type `FakeNodeGroup`, queue type `FakeQueue`, metric source
//!   `prometheus`).
//! - [`Simulation`]: drives core's [`Runner`](karpenter_core::runner::Runner)
//!   and the fakes tick by tick, records a [`Timeline`] (CSV and SVG chart)
//!   and a [`SimulationReport`]; [`summary::Summary`] prints it the way
//!   the examples do.
//! - [`conformance`]: the provider conformance suite. Every provider crate
//!   runs [`conformance::node_group`], [`conformance::queue`] and
//!   [`conformance::metric_source`] against its backend, as this crate does
//!   against the fakes. The guide [Implementing a provider](https://github.com/karpenter-rs/karpenter-rs/blob/main/docs/providers.md)
//!   (`docs/providers.md`) walks through a provider and its conformance test.
//!
//! ## Example: a queue burst, scaled from zero and back
//!
//! ```
//! use std::time::Duration;
//! use chrono::{TimeZone, Utc};
//! use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation};
//!
//! const MANIFESTS: &str = r#"
//! apiVersion: autoscaling.karpenter.sh/v1alpha1
//! kind: ScalableNodeGroup
//! metadata: {name: workers}
//! spec: {type: FakeNodeGroup, id: workers}
//! ---
//! apiVersion: autoscaling.karpenter.sh/v1alpha1
//! kind: MetricsProducer
//! metadata: {name: jobs}
//! spec:
//!   queue: {type: FakeQueue, id: jobs}
//! ---
//! apiVersion: autoscaling.karpenter.sh/v1alpha1
//! kind: HorizontalAutoscaler
//! metadata: {name: workers}
//! spec:
//!   scaleTargetRef: {kind: ScalableNodeGroup, name: workers}
//!   minReplicas: 0
//!   maxReplicas: 100
//!   metrics:
//!   - prometheus:
//!       query: karpenter_queue_length{name="jobs"}
//!       target: {type: AverageValue, value: 4}
//! "#;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().ok_or("bad date")?;
//!     let clock = SimClock::new(start);
//!     let workers = FakeNodeGroup::builder("workers")
//!         .launch_delay(Duration::from_secs(60))
//!         .build(&clock);
//!     let jobs = FakeQueue::builder("jobs")
//!         .burst(start + chrono::Duration::minutes(1), 200)
//!         .consumers(&workers, 1.0 / 30.0) // a node finishes a job every 30 s
//!         .build(&clock);
//!     let mut sim = Simulation::builder(&clock)
//!         .seed(42)
//!         .manifests(MANIFESTS)?
//!         .node_group(workers)
//!         .queue(jobs)
//!         .build()?;
//!     let report = sim.run_for(Duration::from_secs(30 * 60)).await;
//!     print!("{report}");
//!     let dir = std::env::temp_dir().join("karpenter-fake-doc");
//!     if let Some(timeline) = sim.timeline() {
//!         timeline.write_csv(dir.join("workers.csv"))?;
//!         timeline.write_svg(dir.join("workers.svg"), "A burst of 200 jobs")?;
//!     }
//!     assert_eq!(report.queues[0].processed, 200);
//!     assert_eq!(report.node_groups[0].final_desired, 0); // back to zero
//!     Ok(())
//! }
//! ```

mod clock;
mod cluster;
pub mod conformance;
mod error;
mod manifests;
mod metric_store;
mod node_group;
mod provider;
mod queue;
pub mod scenario;
mod simulation;
pub mod summary;
mod timeline;

pub use clock::SimClock;
pub use cluster::{FakeCluster, ScheduleOutcome, pending_pod};
pub use error::SimError;
/// Core's node template, re-exported for the fakes' builders.
pub use karpenter_core::provider::NodeTemplate;
pub use manifests::Manifests;
pub use metric_store::{FakeMetricStore, QueryError, Selector, SeriesSample};
pub use node_group::{Call, CallRecord, FakeNodeGroup, FakeNodeGroupBuilder, Fault};
pub use provider::{FakeProvider, METRIC_SOURCE_TYPE, NODE_GROUP_TYPE, QUEUE_TYPE};
pub use queue::{FakeQueue, FakeQueueBuilder, RateFn};
pub use simulation::{
    GroupSummary, PodSummary, Progress, QueueSummary, Simulation, SimulationBuilder,
    SimulationReport, StepContext, human_duration,
};
pub use timeline::{Column, Row, Timeline};
