//! The scheduleSpec producer: wall-clock patterns in a time zone, DST, the
//! first-active-wins rule and the next change.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use karpenter_core::api::v1alpha1::ScheduleSpec;
use karpenter_core::producers::producer_labels;
use karpenter_core::producers::schedule::{self, Schedule, ScheduledValue};

fn schedule(json: serde_json::Value) -> Schedule {
    let spec: ScheduleSpec = serde_json::from_value(json).unwrap();
    Schedule::new(&spec).unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// A Los Angeles wall time that exists exactly once.
fn la(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Los_Angeles
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn business_hours() -> Schedule {
    schedule(serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 2,
        "behaviors": [{
            "replicas": 10,
            "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
            "end":   {"weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri"], "hours": 17}
        }]
    }))
}

#[test]
fn business_hours_in_los_angeles_across_spring_forward() {
    let s = business_hours();
    // Friday 6 March 2026, PST (UTC-8).
    assert_eq!(la(2026, 3, 6, 9, 0), utc(2026, 3, 6, 17, 0));
    assert_eq!(s.value_at(la(2026, 3, 6, 8, 59)).replicas, 2);
    assert_eq!(s.value_at(la(2026, 3, 6, 9, 0)).replicas, 10);
    assert_eq!(s.value_at(la(2026, 3, 6, 16, 59)).replicas, 10);
    assert_eq!(s.value_at(la(2026, 3, 6, 17, 0)).replicas, 2);
    // The weekend, including the DST change on Sunday 8 March.
    assert_eq!(s.value_at(la(2026, 3, 7, 12, 0)).replicas, 2);
    assert_eq!(s.value_at(la(2026, 3, 8, 12, 0)).replicas, 2);
    // Monday 9 March 2026, PDT (UTC-7): 09:00 local is now 16:00 UTC.
    assert_eq!(la(2026, 3, 9, 9, 0), utc(2026, 3, 9, 16, 0));
    assert_eq!(s.value_at(utc(2026, 3, 9, 15, 59)).replicas, 2);
    assert_eq!(s.value_at(utc(2026, 3, 9, 16, 0)).replicas, 10);
    assert_eq!(s.value_at(utc(2026, 3, 9, 23, 59)).replicas, 10);
    assert_eq!(s.value_at(utc(2026, 3, 10, 0, 0)).replicas, 2);

    assert_eq!(
        s.next_change(la(2026, 3, 6, 17, 30)),
        Some(utc(2026, 3, 9, 16, 0))
    );
    assert_eq!(
        s.next_change(la(2026, 3, 9, 10, 0)),
        Some(utc(2026, 3, 10, 0, 0))
    );
    // Exactly at a change, the next one is the following change.
    assert_eq!(
        s.next_change(utc(2026, 3, 9, 16, 0)),
        Some(utc(2026, 3, 10, 0, 0))
    );
}

#[test]
fn business_hours_in_los_angeles_across_fall_back() {
    let s = business_hours();
    // Friday 30 October 2026, PDT.
    assert_eq!(s.value_at(utc(2026, 10, 30, 16, 0)).replicas, 10);
    assert_eq!(s.value_at(utc(2026, 10, 30, 15, 59)).replicas, 2);
    // Monday 2 November 2026, PST: 09:00 local is 17:00 UTC.
    assert_eq!(la(2026, 11, 2, 9, 0), utc(2026, 11, 2, 17, 0));
    assert_eq!(s.value_at(utc(2026, 11, 2, 16, 30)).replicas, 2);
    assert_eq!(s.value_at(utc(2026, 11, 2, 17, 0)).replicas, 10);
    assert_eq!(
        s.next_change(utc(2026, 10, 31, 12, 0)),
        Some(utc(2026, 11, 2, 17, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 11, 2, 17, 0)),
        Some(utc(2026, 11, 3, 1, 0))
    );
}

#[test]
fn a_start_in_the_spring_forward_gap_moves_to_the_first_instant_after_it() {
    // 02:30 does not exist in Los Angeles on Sunday 8 March 2026: the clocks
    // go from 01:59:59 PST (09:59:59 UTC) to 03:00 PDT (10:00 UTC).
    let s = schedule(serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 5, "start": {"hours": 2, "minutes": 30}, "end": {"hours": 4}}]
    }));
    assert_eq!(s.value_at(la(2026, 3, 7, 3, 0)).replicas, 5);
    assert_eq!(s.value_at(utc(2026, 3, 8, 9, 59)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 3, 8, 10, 0)).replicas, 5);
    assert_eq!(s.value_at(la(2026, 3, 8, 3, 30)).replicas, 5);
    assert_eq!(s.value_at(la(2026, 3, 8, 4, 0)).replicas, 0);
    assert_eq!(
        s.next_change(la(2026, 3, 8, 0, 0)),
        Some(utc(2026, 3, 8, 10, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 3, 8, 10, 0)),
        Some(la(2026, 3, 8, 4, 0))
    );
    // The day after, 02:30 exists again.
    assert_eq!(
        s.next_change(la(2026, 3, 8, 4, 0)),
        Some(la(2026, 3, 9, 2, 30))
    );
}

#[test]
fn an_end_in_the_spring_forward_gap_moves_to_the_first_instant_after_it() {
    let s = schedule(serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 5, "start": {"hours": 1}, "end": {"hours": 2, "minutes": 30}}]
    }));
    // 01:00 PST is 09:00 UTC; the end (02:30, in the gap) is 03:00 PDT.
    assert_eq!(s.value_at(utc(2026, 3, 8, 9, 0)).replicas, 5);
    assert_eq!(
        s.value_at(Utc.with_ymd_and_hms(2026, 3, 8, 9, 59, 59).unwrap())
            .replicas,
        5
    );
    assert_eq!(s.value_at(utc(2026, 3, 8, 10, 0)).replicas, 0);
    assert_eq!(
        s.next_change(utc(2026, 3, 8, 9, 30)),
        Some(utc(2026, 3, 8, 10, 0))
    );
}

#[test]
fn every_time_of_a_pattern_in_the_berlin_gap_moves_to_its_end() {
    // Sunday 29 March 2026 in Berlin: 02:00 CET (01:00 UTC) becomes 03:00
    // CEST, also 01:00 UTC. 02:00 and 02:30 both match at 01:00 UTC; 05:00
    // and 05:30 are CEST (03:00 and 03:30 UTC).
    let s = schedule(serde_json::json!({
        "timezone": "Europe/Berlin",
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 8,
                       "start": {"hours": "2,5", "minutes": [0, 30]},
                       "end": {"hours": [2, 5], "minutes": "15,45"}}]
    }));
    // The day before (CET): 02:00-02:15 and 02:30-02:45 (01:00-01:15 UTC...).
    assert_eq!(s.value_at(utc(2026, 3, 28, 1, 10)).replicas, 8);
    assert_eq!(s.value_at(utc(2026, 3, 28, 1, 20)).replicas, 1);
    // On the day: every 02:xx start and end is 01:00 UTC, and an end wins
    // over a start at the same instant.
    assert_eq!(s.value_at(utc(2026, 3, 29, 1, 0)).replicas, 1);
    assert_eq!(s.value_at(utc(2026, 3, 29, 1, 10)).replicas, 1);
    assert_eq!(s.value_at(utc(2026, 3, 29, 3, 0)).replicas, 8);
    assert_eq!(s.value_at(utc(2026, 3, 29, 3, 15)).replicas, 1);
    assert_eq!(
        s.next_change(utc(2026, 3, 29, 0, 30)),
        Some(utc(2026, 3, 29, 3, 0))
    );
}

#[test]
fn an_ambiguous_wall_time_matches_its_first_occurrence_only() {
    // 01:00-01:59 happens twice in Los Angeles on Sunday 1 November 2026:
    // first in PDT (08:00-08:59 UTC), then in PST (09:00-09:59 UTC).
    let s = schedule(serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 5,
                       "start": {"hours": 1, "minutes": 30},
                       "end": {"hours": 1, "minutes": 45}}]
    }));
    assert_eq!(s.value_at(utc(2026, 11, 1, 8, 29)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 11, 1, 8, 40)).replicas, 5);
    assert_eq!(s.value_at(utc(2026, 11, 1, 8, 45)).replicas, 0);
    // 01:35 PST, the second 01:35: no second start.
    assert_eq!(s.value_at(utc(2026, 11, 1, 9, 35)).replicas, 0);
    assert_eq!(
        s.next_change(utc(2026, 11, 1, 8, 50)),
        Some(utc(2026, 11, 2, 9, 30))
    );
    // From inside the second 01:xx, too.
    assert_eq!(
        s.next_change(utc(2026, 11, 1, 9, 10)),
        Some(utc(2026, 11, 2, 9, 30))
    );
}

#[test]
fn in_the_berlin_fall_back_overlap_only_the_first_occurrence_matches() {
    // Sunday 25 October 2026 in Berlin: 03:00 CEST (01:00 UTC) becomes
    // 02:00 CET, so 02:00-02:59 happens at 00:00-00:59 UTC (CEST) and again
    // at 01:00-01:59 UTC (CET).
    let s = schedule(serde_json::json!({
        "timezone": "Europe/Berlin",
        "defaultReplicas": 0,
        "behaviors": [
            {"replicas": 5, "start": {"hours": 2, "minutes": 30}, "end": {"hours": 2, "minutes": 45}},
            {"replicas": 3, "start": {"hours": 2, "minutes": "10,40"}, "end": {"hours": 3}}
        ]
    }));
    assert_eq!(s.value_at(utc(2026, 10, 25, 0, 5)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 10, 25, 0, 10)).replicas, 3);
    assert_eq!(s.value_at(utc(2026, 10, 25, 0, 30)).replicas, 5);
    assert_eq!(s.value_at(utc(2026, 10, 25, 0, 45)).replicas, 3);
    // The second 02:30 (CET) starts nothing: behavior 1 goes on until
    // 03:00 CET (02:00 UTC).
    assert_eq!(s.value_at(utc(2026, 10, 25, 1, 35)).replicas, 3);
    assert!(!s.is_active(0, utc(2026, 10, 25, 1, 35)));
    assert_eq!(s.value_at(utc(2026, 10, 25, 2, 0)).replicas, 0);
    assert_eq!(
        s.next_change(utc(2026, 10, 25, 0, 45)),
        Some(utc(2026, 10, 25, 2, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 10, 25, 1, 5)),
        Some(utc(2026, 10, 25, 2, 0))
    );
    // The next day is CET throughout: 02:10 CET is 01:10 UTC.
    assert_eq!(
        s.next_change(utc(2026, 10, 25, 2, 0)),
        Some(utc(2026, 10, 26, 1, 10))
    );
}

#[test]
fn days_and_weekdays_together_match_either_as_in_cron() {
    // The 1st of the month and every Monday, 09:00-17:00 UTC.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 6,
                       "start": {"days": 1, "weekdays": "Mon", "hours": 9},
                       "end": {"days": 1, "weekdays": "Mon", "hours": 17}}]
    }));
    // Wednesday 1 April 2026: the day matches.
    assert_eq!(s.value_at(utc(2026, 4, 1, 10, 0)).replicas, 6);
    // Thursday 2 and Tuesday 7 April: neither matches.
    assert_eq!(s.value_at(utc(2026, 4, 2, 10, 0)).replicas, 1);
    assert_eq!(s.value_at(utc(2026, 4, 7, 10, 0)).replicas, 1);
    // Monday 6 April: the weekday matches.
    assert_eq!(s.value_at(utc(2026, 4, 6, 10, 0)).replicas, 6);
    assert_eq!(
        s.next_change(utc(2026, 4, 2, 12, 0)),
        Some(utc(2026, 4, 6, 9, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 4, 27, 17, 0)),
        Some(utc(2026, 5, 1, 9, 0))
    );
    // Days alone and weekdays alone keep their meaning.
    let days_only = schedule(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 6, "start": {"days": 1, "hours": 9}, "end": {"days": 1, "hours": 17}}]
    }));
    assert_eq!(days_only.value_at(utc(2026, 4, 6, 10, 0)).replicas, 1);
    assert_eq!(days_only.value_at(utc(2026, 4, 1, 10, 0)).replicas, 6);
}

#[test]
fn a_behavior_spanning_midnight_and_the_weekend() {
    // UTC by default. Friday 2 January 2026 18:00 to Monday 5 January 06:00.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 3,
                       "start": {"weekdays": "Fri", "hours": 18},
                       "end": {"weekdays": "Monday", "hours": 6}}]
    }));
    assert_eq!(s.value_at(utc(2026, 1, 2, 17, 59)).replicas, 1);
    assert_eq!(s.value_at(utc(2026, 1, 2, 18, 0)).replicas, 3);
    assert_eq!(s.value_at(utc(2026, 1, 3, 0, 0)).replicas, 3);
    assert_eq!(s.value_at(utc(2026, 1, 4, 23, 59)).replicas, 3);
    assert_eq!(s.value_at(utc(2026, 1, 5, 5, 59)).replicas, 3);
    assert_eq!(s.value_at(utc(2026, 1, 5, 6, 0)).replicas, 1);
    assert_eq!(s.value_at(utc(2026, 1, 7, 12, 0)).replicas, 1);
    assert_eq!(
        s.next_change(utc(2026, 1, 3, 12, 0)),
        Some(utc(2026, 1, 5, 6, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 1, 5, 6, 0)),
        Some(utc(2026, 1, 9, 18, 0))
    );
}

#[test]
fn months_and_days_patterns() {
    // No batch nodes over the holidays: 20 December to 5 January.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 4,
        "behaviors": [{"replicas": 0,
                       "start": {"months": "Dec", "days": 20},
                       "end": {"months": ["January"], "days": [5]}}]
    }));
    assert_eq!(s.value_at(utc(2025, 12, 19, 23, 59)).replicas, 4);
    assert_eq!(s.value_at(utc(2025, 12, 25, 12, 0)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 1, 3, 12, 0)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 1, 5, 0, 0)).replicas, 4);
    assert_eq!(s.value_at(utc(2026, 6, 1, 0, 0)).replicas, 4);
    assert_eq!(
        s.next_change(utc(2026, 1, 10, 0, 0)),
        Some(utc(2026, 12, 20, 0, 0))
    );

    // Several days and months at once: the 1st and 15th of Jun and Jul,
    // 08:00-08:30.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 6,
                       "start": {"months": "Jun,Jul", "days": "1,15", "hours": 8},
                       "end": {"months": "Jun,Jul", "days": "1,15", "hours": 8, "minutes": 30}}]
    }));
    assert_eq!(s.value_at(utc(2026, 6, 15, 8, 10)).replicas, 6);
    assert_eq!(s.value_at(utc(2026, 6, 16, 8, 10)).replicas, 1);
    assert_eq!(
        s.next_change(utc(2026, 6, 15, 8, 10)),
        Some(utc(2026, 6, 15, 8, 30))
    );
    assert_eq!(
        s.next_change(utc(2026, 6, 15, 8, 30)),
        Some(utc(2026, 7, 1, 8, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 7, 15, 9, 0)),
        Some(utc(2027, 6, 1, 8, 0))
    );
}

#[test]
fn a_leap_day_start_is_found_years_back_and_only_a_year_ahead() {
    let s = schedule(serde_json::json!({
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 9,
                       "start": {"months": 2, "days": 29},
                       "end": {"months": 3, "days": 1}}]
    }));
    assert_eq!(s.value_at(utc(2028, 2, 29, 12, 0)).replicas, 9);
    assert_eq!(s.value_at(utc(2028, 3, 1, 0, 0)).replicas, 0);
    // 29 February 2028 is more than a year after 1 January 2026.
    assert_eq!(s.next_change(utc(2026, 1, 1, 0, 0)), None);
    assert_eq!(
        s.next_change(utc(2027, 3, 1, 0, 0)),
        Some(utc(2028, 2, 29, 0, 0))
    );
}

#[test]
fn the_first_active_behavior_wins() {
    let s = schedule(serde_json::json!({
        "defaultReplicas": 2,
        "behaviors": [
            {"replicas": 20, "start": {"hours": 12}, "end": {"hours": 13}},
            {"replicas": 10, "start": {"hours": 9}, "end": {"hours": 17}}
        ]
    }));
    let v = s.value_at(utc(2026, 4, 1, 10, 0));
    assert_eq!(
        v,
        ScheduledValue {
            replicas: 10,
            active_behavior: Some(1)
        }
    );
    let v = s.value_at(utc(2026, 4, 1, 12, 30));
    assert_eq!(
        v,
        ScheduledValue {
            replicas: 20,
            active_behavior: Some(0)
        }
    );
    assert!(s.is_active(1, utc(2026, 4, 1, 12, 30)));
    assert!(!s.is_active(2, utc(2026, 4, 1, 12, 30)));
    assert_eq!(s.value_at(utc(2026, 4, 1, 13, 30)).replicas, 10);
    assert_eq!(
        s.value_at(utc(2026, 4, 1, 18, 0)),
        ScheduledValue {
            replicas: 2,
            active_behavior: None
        }
    );

    assert_eq!(
        s.next_change(utc(2026, 4, 1, 10, 0)),
        Some(utc(2026, 4, 1, 12, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 4, 1, 12, 30)),
        Some(utc(2026, 4, 1, 13, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 4, 1, 13, 30)),
        Some(utc(2026, 4, 1, 17, 0))
    );
    assert_eq!(
        s.next_change(utc(2026, 4, 1, 18, 0)),
        Some(utc(2026, 4, 2, 9, 0))
    );
}

#[test]
fn a_change_of_behavior_with_the_same_replicas_is_not_a_change() {
    let s = schedule(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [
            {"replicas": 5, "start": {"hours": 9}, "end": {"hours": 12}},
            {"replicas": 5, "start": {"hours": 11}, "end": {"hours": 14}}
        ]
    }));
    assert_eq!(
        s.next_change(utc(2026, 4, 1, 10, 0)),
        Some(utc(2026, 4, 1, 14, 0))
    );
}

#[test]
fn no_change_within_a_year_is_none() {
    let default_only = schedule(serde_json::json!({"defaultReplicas": 3}));
    assert_eq!(default_only.value_at(utc(2026, 1, 1, 0, 0)).replicas, 3);
    assert_eq!(default_only.next_change(utc(2026, 1, 1, 0, 0)), None);

    // 31 February never happens.
    let never = schedule(serde_json::json!({
        "defaultReplicas": 3,
        "behaviors": [{"replicas": 7, "start": {"months": "Feb", "days": 31}, "end": {"hours": 1}}]
    }));
    assert_eq!(never.value_at(utc(2026, 1, 1, 0, 0)).replicas, 3);
    assert_eq!(never.next_change(utc(2026, 1, 1, 0, 0)), None);

    // Start and end at the same instant: never active.
    let same = schedule(serde_json::json!({
        "defaultReplicas": 3,
        "behaviors": [{"replicas": 7, "start": {"hours": 5}, "end": {"hours": 5}}]
    }));
    assert_eq!(same.value_at(utc(2026, 1, 1, 5, 0)).replicas, 3);
    assert_eq!(same.value_at(utc(2026, 1, 1, 6, 0)).replicas, 3);
    assert_eq!(same.next_change(utc(2026, 1, 1, 0, 0)), None);
}

#[test]
fn invalid_specs_name_the_field() {
    let spec: ScheduleSpec = serde_json::from_value(
        serde_json::json!({"timezone": "Mars/Olympus", "defaultReplicas": 1}),
    )
    .unwrap();
    let err = Schedule::new(&spec).unwrap_err();
    assert_eq!(err.field, "timezone");
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    assert!(err.to_string().contains("America/Los_Angeles"), "{err}");

    let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 2, "start": {"hours": 1}, "end": {"hours": 2}},
                      {"replicas": 2, "start": {"weekdays": "Mon,Tus"}, "end": {"hours": 2}}]
    }))
    .unwrap();
    let err = Schedule::new(&spec).unwrap_err();
    assert_eq!(err.field, "behaviors[1].start.weekdays[1]");
    assert!(err.message.contains("Tus"), "{err}");
    assert!(
        err.to_string()
            .starts_with("scheduleSpec.behaviors[1].start.weekdays[1]: "),
        "{err}"
    );
}

#[test]
fn convenience_functions_and_gauges() {
    let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
        "defaultReplicas": 1,
        "behaviors": [{"replicas": 4, "start": {"hours": 9}, "end": {"hours": 17}}]
    }))
    .unwrap();
    let t = utc(2026, 5, 5, 10, 0);
    assert_eq!(schedule::scheduled_replicas(&spec, t), Ok(4));
    assert_eq!(
        schedule::next_schedule_change(&spec, t),
        Ok(Some(utc(2026, 5, 5, 17, 0)))
    );

    let v = Schedule::new(&spec).unwrap().value_at(t);
    let gauges = v.gauges(&producer_labels("s", "ns"));
    assert_eq!(gauges.len(), 1);
    assert_eq!(gauges[0].name, schedule::SCHEDULED_REPLICAS_VALUE);
    assert_eq!(gauges[0].value, 4.0);
    assert_eq!(v.status_values()["replicas"], "4");
    assert_eq!(v.status_values()["activeBehavior"], "behaviors[0]");
}

#[test]
fn weekday_seven_is_sunday_as_in_cron_and_karpenter_v01() {
    // Sunday 4 January 2026, 08:00 to 20:00 UTC, written with 7.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 5,
                       "start": {"weekdays": 7, "hours": 8},
                       "end": {"weekdays": "7", "hours": 20}}]
    }));
    assert_eq!(s.value_at(utc(2026, 1, 4, 7, 59)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 1, 4, 8, 0)).replicas, 5);
    assert_eq!(s.value_at(utc(2026, 1, 4, 19, 59)).replicas, 5);
    assert_eq!(s.value_at(utc(2026, 1, 4, 20, 0)).replicas, 0);
    assert_eq!(s.value_at(utc(2026, 1, 5, 8, 0)).replicas, 0);
    assert_eq!(
        s.next_change(utc(2026, 1, 5, 0, 0)),
        Some(utc(2026, 1, 11, 8, 0))
    );
    // 0 and 7 together are one day.
    let both = schedule(serde_json::json!({
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 5,
                       "start": {"weekdays": [0, 7], "hours": 8},
                       "end": {"weekdays": "Sun", "hours": 20}}]
    }));
    assert_eq!(both.value_at(utc(2026, 1, 4, 9, 0)).replicas, 5);
}

/// Behaviors that overlap, span midnight, use days and weekdays together
/// and fall into both Los Angeles DST changes of 2026.
fn busy_schedule() -> Schedule {
    schedule(serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 2,
        "behaviors": [
            {"replicas": 30, "start": {"hours": 1, "minutes": "30,45"}, "end": {"hours": 2, "minutes": 30}},
            {"replicas": 10, "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
                             "end": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 17}},
            {"replicas": 10, "start": {"hours": 12}, "end": {"hours": 13}},
            {"replicas": 5, "start": {"days": 1, "weekdays": "Sun", "hours": 22}, "end": {"hours": 6}}
        ]
    }))
}

#[test]
fn the_evaluator_answers_as_the_schedule_does() {
    use karpenter_core::producers::schedule::ScheduleEvaluator;
    let s = busy_schedule();
    let mut evaluator = ScheduleEvaluator::new(s.clone());
    // Each DST change of 2026 in 5-minute ticks, from two days before to
    // two days after.
    for (from, to) in [
        (utc(2026, 3, 6, 0, 0), utc(2026, 3, 10, 0, 0)),
        (utc(2026, 10, 30, 0, 0), utc(2026, 11, 3, 0, 0)),
    ] {
        let mut t = from;
        while t < to {
            let want = (s.value_at(t), s.next_change(t));
            assert_eq!(evaluator.evaluate(t), want, "{t}");
            t += chrono::Duration::minutes(5);
        }
    }
    // Out of order: back in time, far ahead, and back again.
    for t in [
        utc(2026, 3, 8, 10, 0),
        utc(2025, 1, 1, 0, 0),
        utc(2031, 6, 1, 12, 30),
        utc(2026, 3, 8, 9, 59),
        utc(2026, 3, 8, 9, 59),
    ] {
        assert_eq!(
            evaluator.evaluate(t),
            (s.value_at(t), s.next_change(t)),
            "{t}"
        );
    }
}

#[test]
fn the_evaluator_caches_a_schedule_that_rarely_changes() {
    use karpenter_core::producers::schedule::ScheduleEvaluator;
    // Changes only on 29 February: 2028, then 2032.
    let s = schedule(serde_json::json!({
        "defaultReplicas": 0,
        "behaviors": [{"replicas": 9, "start": {"months": 2, "days": 29}, "end": {"months": 3, "days": 1}}]
    }));
    let mut evaluator = ScheduleEvaluator::new(s.clone());
    let mut t = utc(2026, 1, 1, 0, 0);
    while t < utc(2029, 1, 1, 0, 0) {
        assert_eq!(
            evaluator.evaluate(t),
            (s.value_at(t), s.next_change(t)),
            "{t}"
        );
        t += chrono::Duration::hours(53);
    }
}

#[test]
fn the_kept_evaluator_answers_as_a_fresh_schedule_does() {
    use karpenter_core::producers::schedule::evaluate_spec;
    // Two specs evaluated in turn, ticks out of order now and then: the memo
    // keeps one evaluator per spec and each answers as a fresh parse would.
    let specs: Vec<karpenter_core::api::v1alpha1::ScheduleSpec> = [
        serde_json::json!({"timezone": "America/Los_Angeles", "defaultReplicas": 2,
            "behaviors": [{"replicas": 20, "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
                           "end": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 17}}]}),
        serde_json::json!({"timezone": "Europe/Berlin", "defaultReplicas": 1,
            "behaviors": [{"replicas": 5, "start": {"hours": 2, "minutes": 30}, "end": {"hours": 4}}]}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    let start = chrono::Utc.with_ymd_and_hms(2026, 3, 6, 0, 0, 0).unwrap();
    for i in 0..(4 * 24 * 4) {
        // Every hour of four days across both spring-forward changes, with
        // every seventh instant stepping back a day.
        let minutes = if i % 7 == 0 { i * 15 - 24 * 60 } else { i * 15 };
        let t = start + chrono::Duration::minutes(minutes);
        for spec in &specs {
            let fresh = Schedule::new(spec).unwrap();
            let (value, next) = evaluate_spec(spec, t).unwrap();
            assert_eq!(value, fresh.value_at(t), "{t}");
            assert_eq!(next, fresh.next_change(t), "{t}");
        }
    }
}
