//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's
//! leaderelection does it: the holder renews `renewTime` every
//! `retry_period`; another replica takes the Lease over once
//! `renewTime + leaseDurationSeconds` has passed without a renewal; a
//! holder that cannot renew within `renew_deadline` stops leading. Every
//! write carries the `resourceVersion` it read, so two replicas racing for
//! an expired Lease cannot both win (the loser gets 409 Conflict).
//!
//! Only the leader runs the controllers, producers included, so a gauge is
//! exported by one replica at a time and a query never sees two series.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use karpenter_core::clock::Clock;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Timings of the election (client-go's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps leading while renewals fail.
    pub renew_deadline: Duration,
    /// How often to renew, or to try to acquire.
    pub retry_period: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One replica's side of the election.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaseTimings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("lease", &self.name)
            .field("identity", &self.identity)
            .field("timings", &self.timings)
            .finish()
    }
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// This replica holds the Lease (acquired or renewed).
    Leading,
    /// Another replica holds a valid Lease.
    Following {
        /// Its identity.
        holder: String,
    },
}

fn micro(t: DateTime<Utc>) -> Option<MicroTime> {
    let ts = jiff_from(t)?;
    Some(MicroTime(ts))
}

fn jiff_from(t: DateTime<Utc>) -> Option<k8s_openapi::jiff::Timestamp> {
    k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros()).ok()
}

fn chrono_from(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

impl LeaderElector {
    /// The elector for Lease `name` in `api`'s namespace, as `identity`
    /// (the pod's name).
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        timings: LeaseTimings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            api,
            name: name.into(),
            identity: identity.into(),
            timings,
            clock,
        }
    }

    fn spec(&self, now: DateTime<Utc>, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: acquired.or_else(|| micro(now)),
            renew_time: micro(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One acquire-or-renew attempt (client-go's `tryAcquireOrRenew`).
    pub async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let now = self.clock.now();
        let current = match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now, None, 0)),
                };
                self.api.create(&PostParams::default(), &lease).await?;
                return Ok(Attempt::Leading);
            }
            Some(lease) => lease,
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let expired = spec
            .renew_time
            .as_ref()
            .and_then(chrono_from)
            .zip(spec.lease_duration_seconds)
            .is_none_or(|(renewed, secs)| {
                renewed + chrono::Duration::seconds(i64::from(secs)) < now
            });
        if !holder.is_empty() && holder != self.identity && !expired {
            return Ok(Attempt::Following { holder });
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let (acquired, transitions) = if holder == self.identity {
            (spec.acquire_time.clone(), transitions)
        } else {
            (None, transitions.saturating_add(1))
        };
        let mut lease = current;
        lease.spec = Some(self.spec(now, acquired, transitions));
        // `replace` sends the resourceVersion read above: a concurrent
        // writer makes this a 409, and the attempt fails.
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(Attempt::Leading)
    }

    /// Gives the Lease up (on shutdown), so another replica need not wait
    /// for it to expire: clears the holder, as client-go's
    /// `ReleaseOnCancel` does.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Campaigns until `shutdown`: `leading` turns `true` once this replica
    /// holds the Lease and `false` when it loses it (renewals failing for
    /// `renew_deadline`, or another holder found). On shutdown a leader
    /// releases the Lease.
    pub async fn run(self, leading: watch::Sender<bool>, shutdown: CancellationToken) {
        let mut last_renewal: Option<DateTime<Utc>> = None;
        loop {
            let attempt = tokio::select! {
                () = shutdown.cancelled() => break,
                a = tokio::time::timeout(self.timings.retry_period.max(Duration::from_secs(1)) * 2, self.try_acquire_or_renew()) => a,
            };
            let now = self.clock.now();
            match attempt {
                Ok(Ok(Attempt::Leading)) => {
                    if !*leading.borrow() {
                        tracing::info!(lease = %self.name, identity = %self.identity, "became the leader");
                    }
                    last_renewal = Some(now);
                    leading.send_replace(true);
                }
                Ok(Ok(Attempt::Following { holder })) => {
                    if *leading.borrow() {
                        tracing::warn!(lease = %self.name, %holder, "lost the lease to another replica");
                    } else {
                        tracing::debug!(lease = %self.name, %holder, "following");
                    }
                    last_renewal = None;
                    leading.send_replace(false);
                }
                Ok(Err(e)) => self.failed(&leading, &mut last_renewal, now, &e.to_string()),
                Err(_) => self.failed(
                    &leading,
                    &mut last_renewal,
                    now,
                    "the API server did not answer in time",
                ),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.clock.sleep(self.timings.retry_period) => {}
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            match tokio::time::timeout(Duration::from_secs(5), self.release()).await {
                Ok(Ok(())) => tracing::info!(lease = %self.name, "released the lease"),
                Ok(Err(e)) => {
                    tracing::warn!(lease = %self.name, error = %e, "could not release the lease; it expires on its own")
                }
                Err(_) => {
                    tracing::warn!(lease = %self.name, "releasing the lease timed out; it expires on its own")
                }
            }
        }
    }

    fn failed(
        &self,
        leading: &watch::Sender<bool>,
        last_renewal: &mut Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        error: &str,
    ) {
        let deadline = chrono::Duration::from_std(self.timings.renew_deadline)
            .unwrap_or(chrono::Duration::MAX);
        match *last_renewal {
            Some(at) if now - at <= deadline => {
                tracing::warn!(lease = %self.name, %error, "renewing the lease failed; retrying");
            }
            Some(_) => {
                tracing::error!(lease = %self.name, %error, "could not renew the lease within the renew deadline; stepping down");
                *last_renewal = None;
                leading.send_replace(false);
            }
            None => tracing::debug!(lease = %self.name, %error, "acquiring the lease failed"),
        }
    }
}
