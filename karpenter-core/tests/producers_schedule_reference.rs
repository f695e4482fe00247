//! The schedule against a reference written from the definition, minute by
//! minute: every local time matches at the first instant the clock reaches
//! or passes it (which is both DST rules at once), a behavior is active when
//! its last start is after its last end, the first active one wins.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use karpenter_core::api::v1alpha1::{Pattern, ResolvedPattern, ScheduleSpec};
use karpenter_core::producers::schedule::{Schedule, ScheduleEvaluator};
use proptest::prelude::*;

/// Time zones with a one-hour, a 30-minute and no DST change, and a
/// southern-hemisphere one.
const ZONES: [&str; 5] = [
    "America/Los_Angeles",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Australia/Sydney",
];

/// Instants near the 2026 DST changes of those zones.
fn around() -> [DateTime<Utc>; 6] {
    let d = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
    [
        d(2026, 3, 8),
        d(2026, 11, 1),
        d(2026, 3, 29),
        d(2026, 10, 25),
        d(2026, 4, 5),
        d(2026, 10, 4),
    ]
}

fn list(values: &[u32]) -> serde_json::Value {
    serde_json::json!(values)
}

/// A pattern that matches at least once a week: hours and minutes, maybe
/// weekdays, and days only together with weekdays (so either matches).
fn pattern() -> impl Strategy<Value = serde_json::Value> {
    let hours = proptest::collection::vec(prop_oneof![0u32..5, 0u32..24], 1..3);
    let minutes = proptest::collection::vec(prop_oneof![Just(0u32), Just(30), 0u32..60], 1..3);
    let weekdays = proptest::option::of(proptest::collection::vec(0u32..8, 1..4));
    let days = proptest::collection::vec(1u32..32, 1..3);
    (hours, minutes, weekdays, days, any::<bool>()).prop_map(|(h, m, w, d, with_days)| {
        let mut p = serde_json::json!({"hours": list(&h), "minutes": list(&m)});
        if let Some(w) = w {
            p["weekdays"] = list(&w);
            if with_days {
                p["days"] = list(&d);
            }
        }
        p
    })
}

fn spec() -> impl Strategy<Value = ScheduleSpec> {
    let behavior = (0i32..4, pattern(), pattern())
        .prop_map(|(r, s, e)| serde_json::json!({"replicas": r, "start": s, "end": e}));
    (
        0usize..ZONES.len(),
        0i32..4,
        proptest::collection::vec(behavior, 1..4),
    )
        .prop_map(|(z, default, behaviors)| {
            serde_json::from_value(serde_json::json!({
                "timezone": ZONES[z],
                "defaultReplicas": default,
                "behaviors": behaviors,
            }))
            .unwrap()
        })
}

/// Every instant (whole UTC minute) in `[from, to]` at which each pattern
/// matches, by the definition.
fn matches(
    patterns: &[ResolvedPattern],
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Vec<DateTime<Utc>>> {
    let mut out = vec![Vec::new(); patterns.len()];
    let wall = |u: DateTime<Utc>| u.with_timezone(&tz).naive_local();
    // The latest local time the clock has shown so far.
    let mut latest: NaiveDateTime = wall(from - Duration::minutes(1));
    let mut u = from;
    while u <= to {
        let w = wall(u);
        // The local minutes reached or passed at `u`: more than one after a
        // gap, none in a repeated hour.
        let mut local = latest + Duration::minutes(1);
        while local <= w {
            for (i, p) in patterns.iter().enumerate() {
                if p.matches(&local) && out[i].last() != Some(&u) {
                    out[i].push(u);
                }
            }
            local += Duration::minutes(1);
        }
        if w > latest {
            latest = w;
        }
        u += Duration::minutes(1);
    }
    out
}

struct Reference {
    replicas: Vec<i32>,
    default: i32,
    /// Per behavior: its start instants and its end instants, sorted.
    starts: Vec<Vec<DateTime<Utc>>>,
    ends: Vec<Vec<DateTime<Utc>>>,
}

impl Reference {
    fn replicas_at(&self, t: DateTime<Utc>) -> i32 {
        let last = |v: &Vec<DateTime<Utc>>| v.iter().rev().find(|&&x| x <= t).copied();
        for (i, r) in self.replicas.iter().enumerate() {
            if let Some(s) = last(&self.starts[i])
                && last(&self.ends[i]).is_none_or(|e| s > e)
            {
                return *r;
            }
        }
        self.default
    }

    /// The first change in `(t, until]`.
    fn next_change(&self, t: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut events: Vec<DateTime<Utc>> = self
            .starts
            .iter()
            .chain(&self.ends)
            .flatten()
            .copied()
            .filter(|&x| x > t && x <= until)
            .collect();
        events.sort();
        events.dedup();
        let now = self.replicas_at(t);
        events.into_iter().find(|&x| self.replicas_at(x) != now)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_the_minute_by_minute_definition(
        spec in spec(),
        at in 0usize..6,
        offset_minutes in -3i64 * 1440..3 * 1440,
        seconds in 0i64..60,
    ) {
        let schedule = Schedule::new(&spec).unwrap();
        let tz: Tz = spec.timezone.as_deref().unwrap().parse().unwrap();
        let t = around()[at] + Duration::minutes(offset_minutes) + Duration::seconds(seconds);
        // Every pattern matches at least weekly, so 9 days back find the
        // last start and end, and 9 days ahead are compared.
        let from = t - Duration::days(9);
        // Whole minutes, as pattern instants are.
        let from = DateTime::from_timestamp(from.timestamp() / 60 * 60, 0).unwrap();
        let until = t + Duration::days(9);
        let resolve = |p: &Pattern| p.check().unwrap();
        let patterns: Vec<ResolvedPattern> = spec
            .behaviors
            .iter()
            .flat_map(|b| [resolve(&b.start), resolve(&b.end)])
            .collect();
        let mut found = matches(&patterns, tz, from, until + Duration::days(1)).into_iter();
        let mut reference = Reference {
            replicas: spec.behaviors.iter().map(|b| b.replicas).collect(),
            default: spec.default_replicas,
            starts: Vec::new(),
            ends: Vec::new(),
        };
        for _ in &spec.behaviors {
            reference.starts.push(found.next().unwrap());
            reference.ends.push(found.next().unwrap());
        }

        prop_assert_eq!(schedule.value_at(t).replicas, reference.replicas_at(t));
        let next = schedule.next_change(t);
        let want = reference.next_change(t, until);
        match want {
            Some(_) => prop_assert_eq!(next, want),
            // No change in 9 days: none in that time from the schedule either.
            None => prop_assert!(next.is_none_or(|n| n > until), "{next:?}"),
        }
        let mut evaluator = ScheduleEvaluator::new(schedule.clone());
        prop_assert_eq!(evaluator.evaluate(t), (schedule.value_at(t), next));
    }
}
