//! The `scheduleSpec` producer: replicas by time of day, week and year.
//!
//! Gauge: `karpenter_scheduled_replicas_value`.
//!
//! The rules:
//! - Patterns are read as **wall-clock** time in the spec's `timezone` (an
//!   IANA name; default `UTC`). A pattern matches the first instant of every
//!   local minute whose minute, hour, day, month and weekday are all in its
//!   lists. Weekdays are `Sun`..`Sat` or 0-7, where 0 and 7 are both Sunday
//!   (as in cron and Karpenter v0.1).
//! - A behavior is **active** at `t` when the most recent instant `<= t`
//!   matching its `start` is more recent than the most recent instant `<= t`
//!   matching its `end` (the last start came after the last end). A start and
//!   an end that match the same instant leave the behavior inactive.
//! - The **first active behavior** in spec order gives the replicas;
//!   otherwise `defaultReplicas`.
//! - **Daylight saving time**: a local time that does not exist (the
//!   spring-forward gap, e.g. 02:30 on 8 March 2026 in `America/Los_Angeles`)
//!   never matches; a local time that happens twice (the fall-back overlap,
//!   e.g. 01:30 on 1 November 2026) matches only its first occurrence.
//! - The past is searched back at most [`LOOKBACK_DAYS`] (8 years, so that a
//!   29 February start is found): a behavior whose start has not matched in
//!   that time is inactive.
//! - [`Schedule::next_change`] looks ahead at most [`HORIZON_DAYS`]
//!   (366 days) and returns `None` when the replicas do not change in that
//!   time.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::api::v1alpha1::ScheduleSpec;
//! use karpenter_core::producers::Schedule;
//!
//! // 10 nodes during Los Angeles business hours, 2 otherwise.
//! let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
//!     "timezone": "America/Los_Angeles",
//!     "defaultReplicas": 2,
//!     "behaviors": [{
//!         "replicas": 10,
//!         "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
//!         "end":   {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 17}
//!     }]
//! })).unwrap();
//! let schedule = Schedule::new(&spec).unwrap();
//! // Monday 9 March 2026, 10:00 PDT.
//! let t = Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap();
//! assert_eq!(schedule.value_at(t).replicas, 10);
//! // It drops back to 2 at 17:00 PDT.
//! assert_eq!(schedule.next_change(t), Some(Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap()));
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Gauge, Labels};
use crate::api::v1alpha1::{ResolvedPattern, ScheduleSpec};

/// Gauge name: the replicas the schedule asks for now.
pub const SCHEDULED_REPLICAS_VALUE: &str = "karpenter_scheduled_replicas_value";

/// How far back (in days) the last match of a pattern is searched: 8 years.
pub const LOOKBACK_DAYS: u64 = 8 * 366;

/// How far ahead (in days) [`Schedule::next_change`] searches.
pub const HORIZON_DAYS: u64 = 366;

/// A schedule spec that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduleSpec.{field}: {message}")]
pub struct ScheduleError {
    /// Path of the field below `scheduleSpec`, e.g. `behaviors[0].start`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The schedule's answer at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledValue {
    /// Scheduled replicas.
    pub replicas: i32,
    /// Index of the behavior that gave them; `None` for `defaultReplicas`.
    pub active_behavior: Option<usize>,
}

impl ScheduledValue {
    /// The `karpenter_scheduled_replicas_value` gauge, with `labels` (the
    /// producer's name and namespace).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        vec![Gauge {
            name: SCHEDULED_REPLICAS_VALUE,
            labels: labels.clone(),
            value: f64::from(self.replicas),
        }]
    }

    /// Human-readable values for the status: `replicas` and
    /// `activeBehavior` (`behaviors[1]`, or `none (defaultReplicas)`).
    pub fn status_values(&self) -> BTreeMap<String, String> {
        let active = match self.active_behavior {
            Some(i) => format!("behaviors[{i}]"),
            None => "none (defaultReplicas)".to_string(),
        };
        BTreeMap::from([
            ("replicas".to_string(), self.replicas.to_string()),
            ("activeBehavior".to_string(), active),
        ])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Behavior {
    replicas: i32,
    start: ResolvedPattern,
    end: ResolvedPattern,
}

/// A [`ScheduleSpec`] with its time zone and patterns resolved, ready to be
/// evaluated at any instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    tz: Tz,
    default_replicas: i32,
    behaviors: Vec<Behavior>,
}

impl Schedule {
    /// Resolves the time zone and every pattern of `spec`. The error names
    /// the field and the fix.
    pub fn new(spec: &ScheduleSpec) -> Result<Self, ScheduleError> {
        let name = spec.timezone.as_deref().unwrap_or("UTC");
        let tz: Tz = name.trim().parse().map_err(|_| ScheduleError {
            field: "timezone".to_string(),
            message: format!(
                "{name:?} is not an IANA time zone; use a name such as \"America/Los_Angeles\" or \"UTC\""
            ),
        })?;
        let mut behaviors = Vec::with_capacity(spec.behaviors.len());
        for (i, b) in spec.behaviors.iter().enumerate() {
            // The message of `resolve` names the sub-field, e.g.
            // `weekdays: "Mon,Tus": "Tus" is not a weekday; use ...`.
            let resolve = |which: &str, p: &crate::api::v1alpha1::Pattern| {
                p.resolve().map_err(|message| ScheduleError {
                    field: format!("behaviors[{i}].{which}"),
                    message,
                })
            };
            let start = resolve("start", &b.start)?;
            let end = resolve("end", &b.end)?;
            behaviors.push(Behavior {
                replicas: b.replicas,
                start,
                end,
            });
        }
        Ok(Self {
            tz,
            default_replicas: spec.default_replicas,
            behaviors,
        })
    }

    /// The time zone patterns are read in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The replicas at `t`, and which behavior gave them.
    pub fn value_at(&self, t: DateTime<Utc>) -> ScheduledValue {
        for (i, b) in self.behaviors.iter().enumerate() {
            if self.active(b, t) {
                return ScheduledValue {
                    replicas: b.replicas,
                    active_behavior: Some(i),
                };
            }
        }
        ScheduledValue {
            replicas: self.default_replicas,
            active_behavior: None,
        }
    }

    /// Whether behavior `index` (spec order) is active at `t`, whether or
    /// not an earlier behavior wins; `false` for an index out of range.
    pub fn is_active(&self, index: usize, t: DateTime<Utc>) -> bool {
        self.behaviors.get(index).is_some_and(|b| self.active(b, t))
    }

    fn active(&self, b: &Behavior, t: DateTime<Utc>) -> bool {
        let Some(start) = last_match(&b.start, self.tz, t) else {
            return false;
        };
        // Only an end after the last start matters: search back to its day.
        let floor = start.with_timezone(&self.tz).date_naive();
        match last_match_since(&b.end, self.tz, t, floor) {
            Some(end) => start > end,
            None => true,
        }
    }

    /// The first instant after `t` (within [`HORIZON_DAYS`]) at which the
    /// scheduled replicas differ from those at `t`; `None` if they do not
    /// change in that time.
    ///
    /// Runs over candidate instants only (the minutes on which some start or
    /// end pattern matches, day by day), not minute by minute.
    pub fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut active: Vec<bool> = self.behaviors.iter().map(|b| self.active(b, t)).collect();
        let current = self.replicas_for(&active);
        let horizon = t.checked_add_days(Days::new(HORIZON_DAYS))?;
        let first_day = t.with_timezone(&self.tz).date_naive();
        let mut events: Vec<(DateTime<Utc>, usize, bool)> = Vec::new();
        for offset in 0..=HORIZON_DAYS {
            let day = first_day.checked_add_days(Days::new(offset))?;
            events.clear();
            for (i, b) in self.behaviors.iter().enumerate() {
                for (pattern, is_start) in [(&b.start, true), (&b.end, false)] {
                    events.extend(
                        day_matches(pattern, self.tz, day)
                            .filter(|&u| u > t)
                            .map(|u| (u, i, is_start)),
                    );
                }
            }
            events.sort_unstable();
            let mut k = 0;
            while k < events.len() {
                let instant = events[k].0;
                if instant > horizon {
                    return None;
                }
                // Apply every event at this instant: an end wins over a start
                // at the same instant (the last start is then not after the
                // last end).
                let mut ended: Vec<usize> = Vec::new();
                while k < events.len() && events[k].0 == instant {
                    let (_, i, is_start) = events[k];
                    if is_start {
                        active[i] = true;
                    } else {
                        ended.push(i);
                    }
                    k += 1;
                }
                for i in ended {
                    active[i] = false;
                }
                if self.replicas_for(&active) != current {
                    return Some(instant);
                }
            }
        }
        None
    }

    fn replicas_for(&self, active: &[bool]) -> i32 {
        self.behaviors
            .iter()
            .zip(active)
            .find(|(_, a)| **a)
            .map_or(self.default_replicas, |(b, _)| b.replicas)
    }
}

/// The scheduled replicas of `spec` at `t`.
pub fn scheduled_replicas(spec: &ScheduleSpec, t: DateTime<Utc>) -> Result<i32, ScheduleError> {
    Ok(Schedule::new(spec)?.value_at(t).replicas)
}

/// When the scheduled replicas of `spec` next change after `t` (see
/// [`Schedule::next_change`]).
pub fn next_schedule_change(
    spec: &ScheduleSpec,
    t: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ScheduleError> {
    Ok(Schedule::new(spec)?.next_change(t))
}

/// The most recent instant `<= t` at which `pattern` matches in `tz`,
/// searched back [`LOOKBACK_DAYS`].
pub fn last_match(pattern: &ResolvedPattern, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local_today = t.with_timezone(&tz).date_naive();
    let floor = local_today
        .checked_sub_days(Days::new(LOOKBACK_DAYS))
        .unwrap_or(NaiveDate::MIN);
    last_match_since(pattern, tz, t, floor)
}

/// Like [`last_match`], searching local days from `t`'s back to `floor`
/// (inclusive).
fn last_match_since(
    pattern: &ResolvedPattern,
    tz: Tz,
    t: DateTime<Utc>,
    floor: NaiveDate,
) -> Option<DateTime<Utc>> {
    let mut day = t.with_timezone(&tz).date_naive();
    loop {
        if day < floor {
            return None;
        }
        if let Some(found) = day_matches(pattern, tz, day).filter(|&u| u <= t).max() {
            return Some(found);
        }
        day = day.pred_opt()?;
    }
}

/// Whether the date fields of `pattern` (days, months, weekdays) match `day`.
fn date_matches(pattern: &ResolvedPattern, day: NaiveDate) -> bool {
    pattern.days.as_ref().is_none_or(|d| d.contains(&day.day()))
        && pattern
            .months
            .as_ref()
            .is_none_or(|m| m.contains(&day.month()))
        && pattern
            .weekdays
            .as_ref()
            .is_none_or(|w| w.contains(&day.weekday()))
}

/// The instants on local date `day` at which `pattern` matches: nothing in a
/// DST gap, the first occurrence of an ambiguous local time.
fn day_matches(
    pattern: &ResolvedPattern,
    tz: Tz,
    day: NaiveDate,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let hours: &[u32] = if date_matches(pattern, day) {
        &pattern.hours
    } else {
        &[]
    };
    hours.iter().flat_map(move |&h| {
        pattern.minutes.iter().filter_map(move |&m| {
            let local = day.and_hms_opt(h, m, 0)?;
            let instant = tz.from_local_datetime(&local).earliest()?;
            Some(instant.with_timezone(&Utc))
        })
    })
}
