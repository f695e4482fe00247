//! Bad schedule input: every mistake is an error that names the field, down
//! to the list element, and says what to write instead; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use karpenter_core::api::v1alpha1::{MetricsProducer, Pattern, ScheduleSpec};
use karpenter_core::producers::{ProducerContext, ProducerError, Schedule, evaluate};
use karpenter_core::provider::ProviderRegistry;

/// A spec whose behaviors[1].end is `end` (behaviors[0] is valid).
fn spec_with_end(end: serde_json::Value) -> ScheduleSpec {
    serde_json::from_value(serde_json::json!({
        "timezone": "Europe/Berlin",
        "defaultReplicas": 1,
        "behaviors": [
            {"replicas": 2, "start": {"hours": 8}, "end": {"hours": 9}},
            {"replicas": 3, "start": {"hours": 9}, "end": end}
        ]
    }))
    .unwrap()
}

/// `Schedule::new` on a spec with behaviors[1].end = `end`: the field path
/// below `scheduleSpec` and the message.
fn error_for(end: serde_json::Value) -> (String, String) {
    let err = Schedule::new(&spec_with_end(end.clone()))
        .map(|_| ())
        .expect_err(&format!("{end} was accepted"));
    (err.field, err.message)
}

#[test]
fn out_of_range_values_name_the_element_and_the_allowed_values() {
    let cases = [
        (
            serde_json::json!({"hours": 25}),
            "behaviors[1].end.hours[0]",
            r#""25": "25" is out of range 0-23; use numbers 0-23"#,
        ),
        (
            serde_json::json!({"hours": "9,25"}),
            "behaviors[1].end.hours[1]",
            r#""9,25": "25" is out of range 0-23; use numbers 0-23"#,
        ),
        (
            serde_json::json!({"minutes": [0, 60]}),
            "behaviors[1].end.minutes[1]",
            r#""0,60": "60" is out of range 0-59; use numbers 0-59"#,
        ),
        (
            serde_json::json!({"days": 32}),
            "behaviors[1].end.days[0]",
            r#""32": "32" is out of range 1-31; use numbers 1-31"#,
        ),
        (
            serde_json::json!({"months": "Jan,13"}),
            "behaviors[1].end.months[1]",
            r#""Jan,13": "13" is out of range 1-12; use Jan, Feb"#,
        ),
        (
            serde_json::json!({"weekdays": 8}),
            "behaviors[1].end.weekdays[0]",
            r#""8": "8" is out of range 0-7; use Sun, Mon, Tue, Wed, Thu, Fri, Sat (or full names) or 0-7 with 0 and 7 = Sunday"#,
        ),
        (
            serde_json::json!({"hours": -1}),
            "behaviors[1].end.hours[0]",
            r#""-1": "-1" is out of range 0-23"#,
        ),
        (
            serde_json::json!({"weekdays": "Mon,Tus"}),
            "behaviors[1].end.weekdays[1]",
            r#""Tus" is not a weekday"#,
        ),
        (
            serde_json::json!({"hours": 99_999_999_999_i64}),
            "behaviors[1].end.hours[0]",
            "is out of range 0-23",
        ),
    ];
    for (end, field, message) in cases {
        let (got_field, got_message) = error_for(end.clone());
        assert_eq!(got_field, field, "{end}");
        assert!(got_message.contains(message), "{end}: {got_message}");
    }
}

#[test]
fn empty_lists_and_elements_say_how_to_fix_them() {
    let (field, message) = error_for(serde_json::json!({"hours": []}));
    assert_eq!(field, "behaviors[1].end.hours");
    assert_eq!(
        message,
        r#""": empty list; write at least one value (use numbers 0-23), or leave `hours` out for 0"#
    );
    let (field, message) = error_for(serde_json::json!({"weekdays": []}));
    assert_eq!(field, "behaviors[1].end.weekdays");
    assert!(
        message.ends_with("or leave `weekdays` out for any"),
        "{message}"
    );
    let (field, message) = error_for(serde_json::json!({"hours": ""}));
    assert_eq!(field, "behaviors[1].end.hours[0]");
    assert!(message.contains("empty element"), "{message}");
    let (field, message) = error_for(serde_json::json!({"hours": "9,,17"}));
    assert_eq!(field, "behaviors[1].end.hours[1]");
    assert!(message.contains("empty element"), "{message}");
}

#[test]
fn ranges_and_steps_are_rejected_with_the_list_to_write() {
    let cases = [
        (
            serde_json::json!({"weekdays": "Mon-Fri"}),
            "behaviors[1].end.weekdays[0]",
            "write `Mon,Tue,Wed,Thu,Fri` instead",
        ),
        (
            serde_json::json!({"weekdays": ["Sun", "mon-wed"]}),
            "behaviors[1].end.weekdays[1]",
            "write `Sun,Mon,Tue,Wed` instead",
        ),
        (
            serde_json::json!({"weekdays": "Fri-Mon"}),
            "behaviors[1].end.weekdays[0]",
            "write `Fri,Sat,Sun,Mon` instead",
        ),
        (
            serde_json::json!({"weekdays": "1-5"}),
            "behaviors[1].end.weekdays[0]",
            "write `1,2,3,4,5` instead",
        ),
        (
            serde_json::json!({"hours": "9-17"}),
            "behaviors[1].end.hours[0]",
            "write `9,10,11,12,13,14,15,16,17` instead",
        ),
        (
            serde_json::json!({"hours": "6, 9-12"}),
            "behaviors[1].end.hours[1]",
            "write `6,9,10,11,12` instead",
        ),
        (
            serde_json::json!({"hours": "22-2"}),
            "behaviors[1].end.hours[0]",
            "write `22,23,0,1,2` instead",
        ),
        (
            serde_json::json!({"hours": "*/2"}),
            "behaviors[1].end.hours[0]",
            "write `0,2,4,6,8,10,12,14,16,18,20,22` instead",
        ),
        (
            serde_json::json!({"minutes": "0-45/15"}),
            "behaviors[1].end.minutes[0]",
            "write `0,15,30,45` instead",
        ),
        (
            serde_json::json!({"minutes": "30/10"}),
            "behaviors[1].end.minutes[0]",
            "write `30,40,50` instead",
        ),
        (
            serde_json::json!({"days": "*/10"}),
            "behaviors[1].end.days[0]",
            "write `1,11,21,31` instead",
        ),
        (
            serde_json::json!({"months": "Jan-Mar"}),
            "behaviors[1].end.months[0]",
            "write `Jan,Feb,Mar` instead",
        ),
        (
            serde_json::json!({"months": "*"}),
            "behaviors[1].end.months[0]",
            "write `1,2,3,4,5,6,7,8,9,10,11,12` instead",
        ),
    ];
    for (end, field, fix) in cases {
        let (got_field, got_message) = error_for(end.clone());
        assert_eq!(got_field, field, "{end}");
        assert!(
            got_message.ends_with(&format!("ranges and steps are not supported: {fix}")),
            "{end}: {got_message}"
        );
    }
    // Ranges whose bounds are themselves wrong get the general advice.
    for bad in [
        "9-25",
        "5-",
        "*/0",
        "*/x",
        "a/b/c",
        "Mon-Funday",
        "1-99999999999",
    ] {
        let (field, message) = error_for(serde_json::json!({"hours": bad}));
        assert_eq!(field, "behaviors[1].end.hours[0]", "{bad}");
        assert!(
            message.ends_with(
                "ranges and steps are not supported: list every value, separated by commas"
            ),
            "{bad}: {message}"
        );
    }
}

#[test]
fn an_unknown_time_zone_is_named_with_examples() {
    for tz in ["Mars/Olympus_Mons", "PST8PDT8", "", "america/los_angeles"] {
        let spec: ScheduleSpec =
            serde_json::from_value(serde_json::json!({"timezone": tz, "defaultReplicas": 1}))
                .unwrap();
        let err = Schedule::new(&spec).unwrap_err();
        assert_eq!(err.field, "timezone", "{tz}");
        assert!(err.message.contains(&format!("{tz:?}")), "{err}");
        assert!(err.message.contains("\"Europe/Berlin\""), "{err}");
    }
    // A very long name is clipped in the message.
    let long = "X".repeat(10_000);
    let spec: ScheduleSpec =
        serde_json::from_value(serde_json::json!({"timezone": long, "defaultReplicas": 1}))
            .unwrap();
    let err = Schedule::new(&spec).unwrap_err();
    assert!(err.message.len() < 1_000, "{}", err.message.len());
}

#[test]
fn valid_spellings_keep_working() {
    for (yaml, hours) in [
        ("{hours: 9}", vec![9]),
        ("{hours: '9'}", vec![9]),
        ("{hours: '17, 9'}", vec![9, 17]),
        ("{hours: [17, '9']}", vec![9, 17]),
    ] {
        let p: Pattern = karpenter_core::api::from_yaml_str(yaml).unwrap();
        assert_eq!(p.check().unwrap().hours, hours, "{yaml}");
    }
    let p: Pattern =
        karpenter_core::api::from_yaml_str("{weekdays: [Monday, tue, 3, 7], months: 'Dec,jan'}")
            .unwrap();
    let r = p.check().unwrap();
    assert_eq!(r.months, Some(vec![1, 12]));
    assert_eq!(r.weekdays.map(|w| w.len()), Some(4));
}

#[tokio::test]
async fn the_producer_reports_the_full_element_path() {
    let p: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "office", "namespace": "default"},
        "spec": {"scheduleSpec": {
            "defaultReplicas": 1,
            "behaviors": [
                {"replicas": 2, "start": {"hours": 8}, "end": {"hours": 9}},
                {"replicas": 3, "start": {"hours": 9}, "end": {"hours": 25}}
            ]
        }}
    }))
    .unwrap();
    let registry = ProviderRegistry::new();
    let now = chrono::Utc::now();
    let err = evaluate(&p, &ProducerContext::new(now, &registry))
        .await
        .unwrap_err();
    match &err {
        ProducerError::InvalidSpec { field, message, .. } => {
            assert_eq!(field, "spec.scheduleSpec.behaviors[1].end.hours[0]");
            assert!(message.contains("use numbers 0-23"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn validation_explains_ranges_too() {
    let p: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "office"},
        "spec": {"scheduleSpec": {
            "defaultReplicas": 1,
            "behaviors": [{"replicas": 2, "start": {"weekdays": "Mon-Fri", "hours": 9}, "end": {"hours": "9-17"}}]
        }}
    }))
    .unwrap();
    let errs = p.validate().unwrap_err().to_string();
    assert!(
        errs.contains("write `Mon,Tue,Wed,Thu,Fri` instead"),
        "{errs}"
    );
    assert!(
        errs.contains("write `9,10,11,12,13,14,15,16,17` instead"),
        "{errs}"
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    use chrono::{DateTime, Utc};
    use karpenter_core::producers::schedule::ScheduleEvaluator;
    for tz in [
        "UTC",
        "Europe/Berlin",
        "America/Los_Angeles",
        "Pacific/Kiritimati",
    ] {
        let spec: ScheduleSpec = serde_json::from_value(serde_json::json!({
            "timezone": tz,
            "defaultReplicas": 1,
            "behaviors": [
                {"replicas": 2, "start": {"hours": 8}, "end": {"hours": 9}},
                {"replicas": 3, "start": {"months": 2, "days": 29}, "end": {"days": 1}},
                {"replicas": 4, "start": {"days": 31, "months": "Feb"}, "end": {"hours": 1}}
            ]
        }))
        .unwrap();
        let s = Schedule::new(&spec).unwrap();
        let mut evaluator = ScheduleEvaluator::new(s.clone());
        for t in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::UNIX_EPOCH,
        ] {
            let value = s.value_at(t);
            let next = s.next_change(t);
            assert_eq!(evaluator.evaluate(t), (value, next), "{tz} {t}");
        }
    }
}

#[test]
fn the_range_message_is_the_one_documented() {
    // docs/producers.md, "Patterns".
    let p: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "office"},
        "spec": {"scheduleSpec": {
            "defaultReplicas": 1,
            "behaviors": [{"replicas": 2, "start": {"weekdays": "Mon-Fri", "hours": 9}, "end": {"hours": 17}}]
        }}
    }))
    .unwrap();
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "spec.scheduleSpec.behaviors[0].start.weekdays: \"Mon-Fri\": \"Mon-Fri\" is not a weekday; \
         use Sun, Mon, Tue, Wed, Thu, Fri, Sat (or full names) or 0-7 with 0 and 7 = Sunday; \
         ranges and steps are not supported: write `Mon,Tue,Wed,Thu,Fri` instead"
    );
}
