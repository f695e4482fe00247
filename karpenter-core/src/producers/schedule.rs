//! The `scheduleSpec` producer: replicas by time of day, week and year.
//!
//! Gauge: `karpenter_scheduled_replicas_value`. The full rules, with
//! examples, are in `docs/producers.md` ("Scheduled capacity").
//!
//! The rules:
//! - Patterns are read as **wall-clock** time in the spec's `timezone` (an
//!   IANA name; default `UTC`). A pattern matches the first instant of every
//!   local minute whose minute, hour and month are in its lists and whose
//!   date matches: when both `days` and `weekdays` are given, a date matches
//!   when **either** does (cron's rule, as in Karpenter v0.1), otherwise the
//!   one given must. Weekdays are `Sun`..`Sat` or 0-7, where 0 and 7 are
//!   both Sunday.
//! - A behavior is **active** at `t` when the most recent instant `<= t`
//!   matching its `start` is more recent than the most recent instant `<= t`
//!   matching its `end` (the last start came after the last end). A start and
//!   an end that match the same instant leave the behavior inactive.
//! - The **first active behavior** in spec order gives the replicas;
//!   otherwise `defaultReplicas`.
//! - **Daylight saving time**: a local time that does not exist (in the
//!   spring-forward gap, e.g. 02:30 on 8 March 2026 in `America/Los_Angeles`)
//!   matches at the first instant after the gap (03:00 PDT, 10:00 UTC); a
//!   local time that happens twice (in the fall-back overlap, e.g. 01:30 on
//!   1 November 2026) matches only its first occurrence (01:30 PDT).
//! - The past is searched back at most [`LOOKBACK_DAYS`] (8 years, so that a
//!   29 February start is found): a behavior whose start has not matched in
//!   that time is inactive.
//! - [`Schedule::next_change`] looks ahead at most [`HORIZON_DAYS`]
//!   (366 days) and returns `None` when the replicas do not change in that
//!   time.
//! - Instants before the year 2 or after 9998 are evaluated as at those
//!   years (local dates must exist in every time zone).
//!
//! Finding the dates a pattern matches is the calendar search of the
//! [`croner`] crate, run on local (naive) dates; this module turns the
//! matching local times of a date into instants itself, so that the two DST
//! rules above hold for patterns with several hours and minutes too
//! (`croner` applies them only to patterns with a single hour and minute).
//!
//! [`ScheduleEvaluator`] keeps the last answer and how long it holds, so a
//! controller that evaluates every 15 s searches only when the schedule
//! changes.
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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc,
};
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use super::{Gauge, Labels};
use crate::api::v1alpha1::{Pattern, ResolvedPattern, ScheduleSpec};

/// Gauge name: the replicas the schedule asks for now.
pub const SCHEDULED_REPLICAS_VALUE: &str = "karpenter_scheduled_replicas_value";

/// How far back (in days) the last match of a pattern is searched: 8 years.
pub const LOOKBACK_DAYS: u64 = 8 * 366;

/// How far ahead (in days) [`Schedule::next_change`] searches.
pub const HORIZON_DAYS: u64 = 366;

/// The longest spring-forward gap searched across, in minutes: a day, as
/// when Samoa moved across the date line (30 December 2011 never happened
/// there). Gaps are an hour or less almost everywhere.
const MAX_GAP_MINUTES: u32 = 25 * 60;

/// A schedule spec that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduleSpec.{field}: {message}")]
pub struct ScheduleError {
    /// Path of the field below `scheduleSpec`, e.g. `timezone` or
    /// `behaviors[1].end.hours[0]`.
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
    ///
    /// ```
    /// use karpenter_core::producers::{ScheduledValue, producer_labels};
    ///
    /// let v = ScheduledValue { replicas: 4, active_behavior: Some(0) };
    /// let gauges = v.gauges(&producer_labels("office", "default"));
    /// assert_eq!(gauges[0].name, "karpenter_scheduled_replicas_value");
    /// assert_eq!(gauges[0].value, 4.0);
    /// ```
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        vec![Gauge {
            name: SCHEDULED_REPLICAS_VALUE,
            labels: labels.clone(),
            value: f64::from(self.replicas),
        }]
    }

    /// Human-readable values for the status: `replicas` and
    /// `activeBehavior` (`behaviors[1]`, or `none (defaultReplicas)`).
    ///
    /// ```
    /// use karpenter_core::producers::ScheduledValue;
    ///
    /// let v = ScheduledValue { replicas: 2, active_behavior: None };
    /// assert_eq!(v.status_values()["activeBehavior"], "none (defaultReplicas)");
    /// ```
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

/// A resolved pattern, ready for searching: the local times of day it
/// matches, and the calendar search for the dates it matches.
#[derive(Debug, Clone, PartialEq)]
struct CompiledPattern {
    /// Every (hour, minute), sorted.
    times: Vec<NaiveTime>,
    /// The date fields, for checking one date without a search.
    date: DateFields,
    /// The dates (at midnight) as a cron pattern, shared by every schedule
    /// with the same date fields (see [`date_cron`]); `None` when no date
    /// can ever match, e.g. 31 February, so no search runs to croner's limit.
    dates: Option<Arc<Cron>>,
}

/// The date fields of a pattern as bit sets (bit `n` for day `n`, month `n`,
/// weekday `n` from Sunday = 0); `None` means any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DateFields {
    days: Option<u32>,
    months: Option<u16>,
    weekdays: Option<u8>,
}

impl DateFields {
    fn new(p: &ResolvedPattern) -> Self {
        // Resolved values are in range (days 1-31, months 1-12), so the
        // shifts stay inside the integers.
        Self {
            days: p
                .days
                .as_ref()
                .map(|d| d.iter().fold(0, |m, &v| m | 1 << v)),
            months: p
                .months
                .as_ref()
                .map(|d| d.iter().fold(0, |m, &v| m | 1 << v)),
            weekdays: p
                .weekdays
                .as_ref()
                .map(|d| d.iter().fold(0, |m, w| m | 1 << w.num_days_from_sunday())),
        }
    }

    /// The date rule of [`ResolvedPattern::matches`]: the month, and the day
    /// or the weekday (either one when both are given, as in cron).
    fn matches(&self, date: NaiveDate) -> bool {
        let day = self.days.map(|d| d & 1 << date.day() != 0);
        let weekday = self
            .weekdays
            .map(|w| w & 1 << date.weekday().num_days_from_sunday() != 0);
        let month_ok = self.months.is_none_or(|m| m & 1 << date.month() != 0);
        let date_ok = match (day, weekday) {
            (Some(d), Some(w)) => d || w,
            (Some(d), None) => d,
            (None, Some(w)) => w,
            (None, None) => true,
        };
        month_ok && date_ok
    }
}

/// How many dates next to the one asked about are checked one by one before
/// the calendar search runs: a week, so weekday patterns never search.
const NEAR_DAYS: u64 = 7;

impl CompiledPattern {
    fn new(p: &ResolvedPattern) -> Result<Self, String> {
        let times = p
            .hours
            .iter()
            .flat_map(|&h| p.minutes.iter().map(move |&m| (h, m)))
            .filter_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))
            .collect();
        let dates = if can_match_a_date(p) {
            Some(date_cron(p)?)
        } else {
            None
        };
        Ok(Self {
            times,
            date: DateFields::new(p),
            dates,
        })
    }

    /// The first local date `>= day` that the pattern matches. The next week
    /// is checked date by date (a few bit tests); a later date is found by
    /// croner's calendar search, which jumps over months that cannot match.
    fn date_from(&self, day: NaiveDate) -> Option<NaiveDate> {
        let dates = self.dates.as_ref()?;
        let near = (0..NEAR_DAYS)
            .map_while(|i| day.checked_add_days(Days::new(i)))
            .find(|&d| self.date.matches(d));
        near.or_else(|| {
            let from = day.checked_add_days(Days::new(NEAR_DAYS))?;
            let found = dates.find_next_occurrence(&from.and_time(NaiveTime::MIN), true);
            found.ok().map(|d| d.date())
        })
    }

    /// The last local date `<= day` that the pattern matches (as
    /// [`CompiledPattern::date_from`], backwards).
    fn date_until(&self, day: NaiveDate) -> Option<NaiveDate> {
        let dates = self.dates.as_ref()?;
        let near = (0..NEAR_DAYS)
            .map_while(|i| day.checked_sub_days(Days::new(i)))
            .find(|&d| self.date.matches(d));
        near.or_else(|| {
            let until = day.checked_sub_days(Days::new(NEAR_DAYS))?;
            let found = dates.find_previous_occurrence(&until.and_time(NaiveTime::MIN), true);
            found.ok().map(|d| d.date())
        })
    }

    /// How many of the day's times match at or before `t`. Matching instants
    /// never go down as the local time goes up (see [`to_instant`]), so this
    /// is a binary search.
    fn count_until(&self, tz: Tz, day: NaiveDate, t: DateTime<Utc>) -> usize {
        self.times
            .partition_point(|&time| to_instant(tz, day.and_time(time)).is_none_or(|u| u <= t))
    }

    /// The first instant `> t` at which the pattern matches; `None` if there
    /// is none up to `limit` (an answer after `limit` may be returned).
    fn next_after(&self, tz: Tz, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Every local time before `t`'s own is an instant at or before `t`.
        let mut day = t.with_timezone(&tz).date_naive();
        loop {
            day = self.date_from(day)?;
            let first = to_instant(tz, day.and_time(*self.times.first()?))?;
            if first > limit {
                return None;
            }
            let i = self.count_until(tz, day, t);
            if let Some(found) = self
                .times
                .get(i)
                .and_then(|&x| to_instant(tz, day.and_time(x)))
            {
                return Some(found);
            }
            day = day.succ_opt()?;
        }
    }

    /// The last instant `<= t` at which the pattern matches, on a local date
    /// not before `floor`.
    fn last_until(&self, tz: Tz, t: DateTime<Utc>, floor: NaiveDate) -> Option<DateTime<Utc>> {
        // One day of slack: in a fall-back overlap just before midnight, a
        // local time on the next date can be an earlier instant than `t`.
        let mut day = t.with_timezone(&tz).date_naive().succ_opt()?;
        loop {
            day = self.date_until(day)?;
            if day < floor {
                return None;
            }
            let i = self.count_until(tz, day, t);
            let found = i
                .checked_sub(1)
                .and_then(|i| self.times.get(i))
                .and_then(|&x| to_instant(tz, day.and_time(x)));
            if found.is_some() {
                return found;
            }
            day = day.pred_opt()?;
        }
    }
}

/// Whether some date can match: `days` alone (no `weekdays`) can name only
/// dates that do not exist, such as 30 February.
fn can_match_a_date(p: &ResolvedPattern) -> bool {
    let Some(days) = &p.days else { return true };
    if p.weekdays.is_some() {
        return true;
    }
    let longest = |month: u32| match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let all_months: Vec<u32> = (1..=12).collect();
    let months = p.months.as_ref().unwrap_or(&all_months);
    months
        .iter()
        .any(|&m| days.iter().any(|&d| d <= longest(m)))
}

/// The date part of a pattern as a 6-field cron expression that matches at
/// midnight, e.g. `0 0 0 * * 1,2,3,4,5`. Croner's defaults give cron's
/// day-of-month/day-of-week rule: either one when both are restricted.
///
/// Parsing one costs about as much as twenty searches, and a producer may
/// build its `Schedule` on every tick, so parsed expressions are kept (at
/// most [`MAX_PARSED_DATES`] of them) and shared.
fn date_cron(p: &ResolvedPattern) -> Result<Arc<Cron>, String> {
    static PARSED: LazyLock<Mutex<HashMap<String, Arc<Cron>>>> = LazyLock::new(Mutex::default);
    let expression = date_expression(p);
    // A poisoned lock only means another thread panicked while inserting:
    // the map is still a valid cache.
    let mut parsed = PARSED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cron) = parsed.get(&expression) {
        return Ok(Arc::clone(cron));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(&expression)
        .map_err(|e| format!("cannot search the dates of {expression:?}: {e}"))?;
    if parsed.len() >= MAX_PARSED_DATES {
        parsed.clear();
    }
    let cron = Arc::new(cron);
    parsed.insert(expression, Arc::clone(&cron));
    Ok(cron)
}

/// How many parsed date expressions are kept for reuse.
const MAX_PARSED_DATES: usize = 4096;

/// The cron expression of [`date_cron`].
fn date_expression(p: &ResolvedPattern) -> String {
    let list = |values: Option<Vec<u32>>| {
        values.map_or_else(
            || "*".to_string(),
            |v| v.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        )
    };
    let weekdays = p
        .weekdays
        .as_ref()
        .map(|w| w.iter().map(|d| d.num_days_from_sunday()).collect());
    format!(
        "0 0 0 {} {} {}",
        list(p.days.clone()),
        list(p.months.clone()),
        list(weekdays)
    )
}

/// The instant a local time stands for: itself when it happens once, its
/// first occurrence when it happens twice (fall back), and the first instant
/// after the gap when it does not happen (spring forward).
fn to_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.to_utc()),
        LocalResult::None => first_after_gap(tz, local),
    }
}

/// The first instant after the spring-forward gap that `local` is in.
fn first_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let minute = TimeDelta::minutes(1);
    let mut wall = local;
    for _ in 0..MAX_GAP_MINUTES {
        wall = wall.checked_add_signed(minute)?;
        let Some(after) = tz.from_local_datetime(&wall).earliest() else {
            continue;
        };
        // `wall` is the first whole local minute after the gap. Gaps in the
        // tz database end on whole minutes, except some before 1900 (local
        // mean time); for those, step back to the transition itself.
        let after = after.to_utc();
        let offset = |u: DateTime<Utc>| tz.offset_from_utc_datetime(&u.naive_utc()).fix();
        let new = offset(after);
        let mut first = after;
        for _ in 0..59 {
            match first.checked_sub_signed(TimeDelta::seconds(1)) {
                Some(before) if offset(before) == new => first = before,
                _ => break,
            }
        }
        return Some(first);
    }
    None
}

/// `t`, brought into the years 2 to 9998: local dates are computed from it
/// in every time zone, and chrono's dates end at years -262144 and 262143.
/// Schedules are not meant for such instants; this only keeps them from
/// panicking.
fn within_calendar(t: DateTime<Utc>) -> DateTime<Utc> {
    let at = |year| {
        NaiveDate::from_ymd_opt(year, 1, 1)
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
            .unwrap_or(t)
    };
    t.clamp(at(2), at(9998))
}

#[derive(Debug, Clone, PartialEq)]
struct Behavior {
    replicas: i32,
    start: CompiledPattern,
    end: CompiledPattern,
}

/// A [`ScheduleSpec`] with its time zone and patterns resolved, ready to be
/// evaluated at any instant.
///
/// Each call searches; [`ScheduleEvaluator`] keeps answers between changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    tz: Tz,
    default_replicas: i32,
    behaviors: Vec<Behavior>,
}

/// What [`Schedule::scan`] found after `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scan {
    /// The value at `t`.
    value: ScheduledValue,
    /// The first instant at which the value (replicas or active behavior)
    /// changes, if it changes before `replicas_change`.
    value_change: Option<DateTime<Utc>>,
    /// The first instant at which the replicas change.
    replicas_change: Option<DateTime<Utc>>,
}

impl Schedule {
    /// Resolves the time zone and every pattern of `spec`. The error names
    /// the field (down to the list element, e.g. `behaviors[1].end.hours[0]`)
    /// and the fix.
    ///
    /// ```
    /// use karpenter_core::api::v1alpha1::ScheduleSpec;
    /// use karpenter_core::producers::Schedule;
    ///
    /// let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
    ///     "defaultReplicas": 1,
    ///     "behaviors": [{"replicas": 3, "start": {"hours": 9}, "end": {"hours": "17,25"}}]
    /// })).unwrap();
    /// let err = Schedule::new(&spec).unwrap_err();
    /// assert_eq!(err.field, "behaviors[0].end.hours[1]");
    /// assert!(err.message.contains("\"25\" is out of range 0-23; use numbers 0-23"), "{err}");
    /// ```
    pub fn new(spec: &ScheduleSpec) -> Result<Self, ScheduleError> {
        let tz = parse_timezone(spec.timezone.as_deref())?;
        let mut behaviors = Vec::with_capacity(spec.behaviors.len());
        for (i, b) in spec.behaviors.iter().enumerate() {
            behaviors.push(Behavior {
                replicas: b.replicas,
                start: compile(&b.start, &format!("behaviors[{i}].start"))?,
                end: compile(&b.end, &format!("behaviors[{i}].end"))?,
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
        let t = within_calendar(t);
        let active: Vec<bool> = self.behaviors.iter().map(|b| self.active(b, t)).collect();
        self.value_for(&active)
    }

    /// Whether behavior `index` (spec order) is active at `t`, whether or
    /// not an earlier behavior wins; `false` for an index out of range.
    pub fn is_active(&self, index: usize, t: DateTime<Utc>) -> bool {
        let t = within_calendar(t);
        self.behaviors.get(index).is_some_and(|b| self.active(b, t))
    }

    fn active(&self, b: &Behavior, t: DateTime<Utc>) -> bool {
        let today = t.with_timezone(&self.tz).date_naive();
        let floor = today
            .checked_sub_days(Days::new(LOOKBACK_DAYS))
            .unwrap_or(NaiveDate::MIN);
        let Some(start) = b.start.last_until(self.tz, t, floor) else {
            return false;
        };
        // Only an end after the last start matters: search back to the day
        // before its date (an overlap can put a later instant on an earlier
        // local date).
        let start_day = start.with_timezone(&self.tz).date_naive();
        let floor = start_day.pred_opt().unwrap_or(start_day);
        match b.end.last_until(self.tz, t, floor) {
            Some(end) => start > end,
            None => true,
        }
    }

    /// The first instant after `t` (within [`HORIZON_DAYS`]) at which the
    /// scheduled replicas differ from those at `t`; `None` if they do not
    /// change in that time.
    ///
    /// Runs over the instants at which some start or end matches, in order,
    /// each found by a calendar search.
    pub fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = within_calendar(t);
        let horizon = t.checked_add_days(Days::new(HORIZON_DAYS))?;
        self.scan(t, horizon).replicas_change
    }

    /// The value at `t`, and the first changes of the value and of the
    /// replicas in `(t, until]`.
    fn scan(&self, t: DateTime<Utc>, until: DateTime<Utc>) -> Scan {
        let t = within_calendar(t);
        let mut active: Vec<bool> = self.behaviors.iter().map(|b| self.active(b, t)).collect();
        let value = self.value_for(&active);
        let mut scan = Scan {
            value,
            value_change: None,
            replicas_change: None,
        };
        let next = |p: &CompiledPattern, after| p.next_after(self.tz, after, until);
        let mut starts: Vec<_> = self.behaviors.iter().map(|b| next(&b.start, t)).collect();
        let mut ends: Vec<_> = self.behaviors.iter().map(|b| next(&b.end, t)).collect();
        loop {
            let Some(instant) = starts.iter().chain(&ends).flatten().min().copied() else {
                return scan;
            };
            if instant > until {
                return scan;
            }
            // Starts first, then ends: an end wins over a start at the same
            // instant (the last start is then not after the last end).
            for (i, b) in self.behaviors.iter().enumerate() {
                if starts[i] == Some(instant) {
                    active[i] = true;
                    starts[i] = next(&b.start, instant);
                }
            }
            for (i, b) in self.behaviors.iter().enumerate() {
                if ends[i] == Some(instant) {
                    active[i] = false;
                    ends[i] = next(&b.end, instant);
                }
            }
            let now = self.value_for(&active);
            if now != value && scan.value_change.is_none() {
                scan.value_change = Some(instant);
            }
            if now.replicas != value.replicas {
                scan.replicas_change = Some(instant);
                return scan;
            }
        }
    }

    fn value_for(&self, active: &[bool]) -> ScheduledValue {
        match active.iter().position(|a| *a) {
            Some(i) => ScheduledValue {
                replicas: self.behaviors[i].replicas,
                active_behavior: Some(i),
            },
            None => ScheduledValue {
                replicas: self.default_replicas,
                active_behavior: None,
            },
        }
    }
}

fn parse_timezone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    let name = name.unwrap_or("UTC");
    name.trim().parse().map_err(|_| ScheduleError {
        field: "timezone".to_string(),
        message: format!(
            "{:?} is not an IANA time zone; use a name such as \"America/Los_Angeles\", \"Europe/Berlin\" or \"UTC\" (case-sensitive), or leave it out for UTC",
            crate::api::clip(name)
        ),
    })
}

/// Checks one pattern; the error names `at` (e.g. `behaviors[1].end`) and the
/// element.
fn compile(pattern: &Pattern, at: &str) -> Result<CompiledPattern, ScheduleError> {
    let resolved = pattern.check().map_err(|e| ScheduleError {
        field: format!("{at}.{}", e.path()),
        message: e.message,
    })?;
    CompiledPattern::new(&resolved).map_err(|message| ScheduleError {
        field: at.to_string(),
        message,
    })
}

/// A [`Schedule`] that remembers its last answer and how long it holds, so
/// that evaluating it every tick searches only when the value changes (or
/// once per [`HORIZON_DAYS`] when it does not): between two changes an
/// evaluation is a few comparisons.
///
/// Its answers are those of [`Schedule::value_at`] and
/// [`Schedule::next_change`], for instants in any order.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use karpenter_core::api::v1alpha1::ScheduleSpec;
/// use karpenter_core::producers::schedule::{Schedule, ScheduleEvaluator};
///
/// let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
///     "defaultReplicas": 1,
///     "behaviors": [{"replicas": 4, "start": {"hours": 9}, "end": {"hours": 17}}]
/// })).unwrap();
/// let mut evaluator = ScheduleEvaluator::new(Schedule::new(&spec).unwrap());
/// let t = Utc.with_ymd_and_hms(2026, 5, 5, 10, 0, 0).unwrap();
/// for tick in 0..240 {
///     // 10:00 to 11:00 in 15 s ticks: one search, then cached answers.
///     let (value, next) = evaluator.evaluate(t + Duration::seconds(15 * tick));
///     assert_eq!(value.replicas, 4);
///     assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 5, 5, 17, 0, 0).unwrap()));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ScheduleEvaluator {
    schedule: Schedule,
    cache: Option<Cached>,
}

/// One scan's answer: the value from `from` until `value_change` (or through
/// `scanned_to`), and the first replicas change after `from`.
#[derive(Debug, Clone, Copy)]
struct Cached {
    from: DateTime<Utc>,
    scanned_to: DateTime<Utc>,
    scan: Scan,
}

impl Cached {
    /// The answer at `t`, if this scan knows it.
    fn answer(&self, t: DateTime<Utc>) -> Option<(ScheduledValue, Option<DateTime<Utc>>)> {
        let value_holds = match self.scan.value_change {
            Some(change) => t < change,
            None => t <= self.scanned_to,
        };
        if t < self.from || !value_holds {
            return None;
        }
        let horizon = t.checked_add_days(Days::new(HORIZON_DAYS))?;
        let next = match self.scan.replicas_change {
            // The first change after `from`, so the first after `t` too.
            Some(change) if change <= horizon => Some(change),
            Some(_) => None,
            None if horizon <= self.scanned_to => None,
            // No change seen, but the scan stopped before `t`'s horizon.
            None => return None,
        };
        Some((self.scan.value, next))
    }
}

/// Most distinct schedules whose evaluators [`evaluate_spec`] keeps; past
/// it the memo starts over (specs rewritten over and over must not grow it
/// without bound).
const MAX_KEPT_EVALUATORS: usize = 4096;

/// The value and next change of `spec` at `t`, through a
/// [`ScheduleEvaluator`] kept per distinct spec (by content, process-wide),
/// so a producer evaluated every tick neither parses its schedule nor
/// searches for its next change again until the cached answer runs out.
/// Equal to `Schedule::new(spec)` then `value_at(t)` and `next_change(t)`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::api::v1alpha1::ScheduleSpec;
/// use karpenter_core::producers::schedule::evaluate_spec;
///
/// let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
///     "defaultReplicas": 1,
///     "behaviors": [{"replicas": 4, "start": {"hours": 9}, "end": {"hours": 17}}]
/// })).unwrap();
/// let (value, next) = evaluate_spec(&spec, Utc.with_ymd_and_hms(2026, 5, 5, 10, 0, 0).unwrap()).unwrap();
/// assert_eq!(value.replicas, 4);
/// assert_eq!(next, Some(Utc.with_ymd_and_hms(2026, 5, 5, 17, 0, 0).unwrap()));
/// ```
pub fn evaluate_spec(
    spec: &ScheduleSpec,
    t: DateTime<Utc>,
) -> Result<(ScheduledValue, Option<DateTime<Utc>>), ScheduleError> {
    static KEPT: LazyLock<Mutex<HashMap<ScheduleSpec, ScheduleEvaluator>>> =
        LazyLock::new(Mutex::default);
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(evaluator) = kept.get_mut(spec) {
        return Ok(evaluator.evaluate(t));
    }
    let mut evaluator = ScheduleEvaluator::new(Schedule::new(spec)?);
    let answer = evaluator.evaluate(t);
    if kept.len() >= MAX_KEPT_EVALUATORS {
        kept.clear();
    }
    kept.insert(spec.clone(), evaluator);
    Ok(answer)
}

impl ScheduleEvaluator {
    /// An evaluator with nothing cached yet.
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            cache: None,
        }
    }

    /// The schedule evaluated.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// `(value_at(t), next_change(t))`, from the cache when it covers `t`.
    pub fn evaluate(&mut self, t: DateTime<Utc>) -> (ScheduledValue, Option<DateTime<Utc>>) {
        let t = within_calendar(t);
        if let Some(answer) = self.cache.as_ref().and_then(|c| c.answer(t)) {
            return answer;
        }
        // Scan two horizons ahead, so a schedule that rarely changes is
        // searched about once a year rather than every tick.
        let Some(scanned_to) = t.checked_add_days(Days::new(2 * HORIZON_DAYS)) else {
            return (self.schedule.value_at(t), self.schedule.next_change(t));
        };
        let cached = Cached {
            from: t,
            scanned_to,
            scan: self.schedule.scan(t, scanned_to),
        };
        self.cache = Some(cached);
        cached
            .answer(t)
            .unwrap_or_else(|| (cached.scan.value, self.schedule.next_change(t)))
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
/// searched back [`LOOKBACK_DAYS`], with the DST rules of this module.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use chrono_tz::America::Los_Angeles;
/// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
/// use karpenter_core::producers::schedule::last_match;
///
/// let p = Pattern { hours: Some(PatternList::Number(2)), minutes: Some(PatternList::Number(30)), ..Pattern::default() };
/// // 02:30 does not exist on 8 March 2026 in Los Angeles: it matches at 03:00 PDT.
/// let t = Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap();
/// assert_eq!(
///     last_match(&p.resolve().unwrap(), Los_Angeles, t),
///     Some(Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap())
/// );
/// ```
pub fn last_match(pattern: &ResolvedPattern, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let compiled = CompiledPattern::new(pattern).ok()?;
    let t = within_calendar(t);
    let floor = t
        .with_timezone(&tz)
        .date_naive()
        .checked_sub_days(Days::new(LOOKBACK_DAYS))
        .unwrap_or(NaiveDate::MIN);
    compiled.last_until(tz, t, floor)
}
