use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::horizontal_autoscaler::default_api_version;
use super::{Condition, ObjectMeta};

/// Turns the world into numbers, exported as Prometheus gauges labelled with
/// the producer's `name` and `namespace`. Exactly one producer kind is set.
///
/// ```
/// use karpenter_core::api::v1alpha1::MetricsProducer;
///
/// let mp: MetricsProducer = serde_json::from_str(r#"{
///   "metadata": {"name": "ml-training-queue"},
///   "spec": {"queue": {"type": "AWSSQSQueue",
///            "id": "arn:aws:sqs:us-west-2:1234567890:ml-training-queue"}}
/// }"#).unwrap();
/// assert!(mp.spec.queue.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsProducer {
    /// `autoscaling.karpenter.sh/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `MetricsProducer`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Which producer.
    pub spec: MetricsProducerSpec,
    /// The last computed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MetricsProducerStatus>,
}

fn default_kind() -> String {
    "MetricsProducer".to_string()
}

/// Exactly one of the producer kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsProducerSpec {
    /// Queue length and oldest message age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSpec>,
    /// Reserved / capacity / utilization of cpu, memory and pods on the
    /// selected nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_capacity: Option<ReservedCapacitySpec>,
    /// Replicas by time of day, week and year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_spec: Option<ScheduleSpec>,
    /// Nodes a group must add so that the pending pods that fit it can run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_capacity: Option<PendingCapacitySpec>,
}

/// A queue to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSpec {
    /// Queue type: `AWSSQSQueue`, or any type a registered provider claims.
    #[serde(rename = "type")]
    pub type_: String,
    /// The queue's URL, ARN or name, as the provider understands it.
    pub id: String,
    /// Also count the messages being worked on (received but not yet
    /// deleted), as KEDA does; for SQS, `ApproximateNumberOfMessagesNotVisible`
    /// is added to `ApproximateNumberOfMessages`. Default `false`: only the
    /// messages waiting, as Karpenter v0.1 counted. Providers that cannot
    /// tell in-flight messages apart reject `true` when the queue is checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_in_flight: bool,
}

/// Nodes whose reserved capacity to measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReservedCapacitySpec {
    /// Label selector (all labels must match) of the nodes to measure.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

/// The node group whose pending pods to count, and how to find it.
///
/// - The group's **nodes** are the nodes whose labels contain every label of
///   `nodeSelector` (as in Karpenter v0.1): they give the template (a Ready
///   node's allocatable, labels and taints) and the count of registered
///   nodes.
/// - `scalableNodeGroupRef` names the group's ScalableNodeGroup (in the
///   producer's namespace): its provider gives the desired size (so nodes
///   asked for but not registered yet absorb pending pods first) and, when
///   no node of the group is Ready, the template of the node a scale-up
///   would add (scale from zero). Without it, a group with no Ready node
///   has no template and upcoming nodes are not known.
///
/// ```
/// use karpenter_core::api::v1alpha1::MetricsProducer;
///
/// let mp: MetricsProducer = karpenter_core::api::parse::from_str(r#"
/// apiVersion: autoscaling.karpenter.sh/v1alpha1
/// kind: MetricsProducer
/// metadata: {name: gpu-pending}
/// spec:
///   pendingCapacity:
///     nodeSelector: {karpenter.sh/node-group: gpu}
///     scalableNodeGroupRef: {name: gpu}
/// "#).unwrap();
/// let pc = mp.spec.pending_capacity.unwrap();
/// assert_eq!(pc.scalable_node_group_ref.unwrap().name, "gpu");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingCapacitySpec {
    /// Label selector (all labels must match) of the node group's nodes.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// The ScalableNodeGroup (same namespace) these nodes belong to: its
    /// provider's desired size and node template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalable_node_group_ref: Option<ScalableNodeGroupRef>,
}

/// A reference to a ScalableNodeGroup in the referring object's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalableNodeGroupRef {
    /// `metadata.name` of the ScalableNodeGroup.
    pub name: String,
}

/// A weekly/yearly schedule of replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleSpec {
    /// IANA time zone the patterns are read in, e.g. `America/Los_Angeles`.
    /// Defaults to `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Replicas when no behavior is active.
    pub default_replicas: i32,
    /// Time ranges with their replicas; the first active one wins.
    #[serde(default)]
    pub behaviors: Vec<ScheduledBehavior>,
}

/// Replicas between a start and an end pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledBehavior {
    /// Replicas while active.
    pub replicas: i32,
    /// When it becomes active.
    pub start: Pattern,
    /// When it stops being active.
    pub end: Pattern,
}

/// A strongly typed time pattern. Each field is a list (YAML list, a number,
/// or a comma-separated string such as `Mon,Tue`); missing `minutes` and
/// `hours` mean 0, other missing fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pattern {
    /// Minutes of the hour, 0..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<PatternList>,
    /// Hours of the day, 0..=23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<PatternList>,
    /// Days of the month, 1..=31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<PatternList>,
    /// Months: 1..=12 or `Jan`..`Dec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<PatternList>,
    /// Weekdays: `Sun`..`Sat` (full names accepted) or 0..=7 with 0 and 7 =
    /// Sunday (as in cron and Karpenter v0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<PatternList>,
}

/// A list of pattern elements as written: `9`, `"Mon,Tue"` or `[Mon, Tue]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternList {
    /// A single number, e.g. `hours: 9`.
    Number(i64),
    /// Comma-separated elements, e.g. `weekdays: Mon,Tue,Wed`.
    Text(String),
    /// A YAML/JSON list of numbers or names.
    List(Vec<PatternElement>),
}

/// One element of a [`PatternList`] list form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternElement {
    /// A number.
    Number(i64),
    /// A name, e.g. `Mon` or `Jan`.
    Name(String),
}

impl PatternList {
    /// The elements as strings, trimmed, in order.
    pub fn elements(&self) -> Vec<String> {
        match self {
            Self::Number(n) => vec![n.to_string()],
            Self::Text(s) => s.split(',').map(|e| e.trim().to_string()).collect(),
            Self::List(items) => items
                .iter()
                .map(|e| match e {
                    PatternElement::Number(n) => n.to_string(),
                    PatternElement::Name(s) => s.trim().to_string(),
                })
                .collect(),
        }
    }
}

/// A [`Pattern`] checked and turned into sorted, deduplicated numbers, ready
/// for matching against a local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPattern {
    /// Minutes of the hour, 0..=59; `[0]` when the pattern has none.
    pub minutes: Vec<u32>,
    /// Hours of the day, 0..=23; `[0]` when the pattern has none.
    pub hours: Vec<u32>,
    /// Days of the month, 1..=31; `None` means any day.
    pub days: Option<Vec<u32>>,
    /// Months, 1..=12; `None` means any month.
    pub months: Option<Vec<u32>>,
    /// Weekdays, in order from Sunday; `None` means any weekday.
    pub weekdays: Option<Vec<Weekday>>,
}

impl ResolvedPattern {
    /// Whether a local date-time matches the pattern (to the minute; seconds
    /// are ignored).
    ///
    /// When both `days` and `weekdays` are given, a date matches when
    /// **either** matches (cron's rule, which Karpenter v0.1 inherited):
    /// `days: 1, weekdays: Mon` is "the 1st and every Monday".
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
    ///
    /// let p = Pattern {
    ///     days: Some(PatternList::Number(1)),
    ///     weekdays: Some(PatternList::Text("Mon".into())),
    ///     ..Pattern::default()
    /// }
    /// .resolve()
    /// .unwrap();
    /// // Wednesday 1 April 2026: the day matches, the weekday does not.
    /// let first = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    /// // Monday 6 April 2026: the weekday matches, the day does not.
    /// let monday = NaiveDate::from_ymd_opt(2026, 4, 6).unwrap().and_hms_opt(0, 0, 0).unwrap();
    /// let tuesday = NaiveDate::from_ymd_opt(2026, 4, 7).unwrap().and_hms_opt(0, 0, 0).unwrap();
    /// assert!(p.matches(&first) && p.matches(&monday) && !p.matches(&tuesday));
    /// ```
    pub fn matches<T: Datelike + Timelike>(&self, t: &T) -> bool {
        self.minutes.contains(&t.minute())
            && self.hours.contains(&t.hour())
            && self.months.as_ref().is_none_or(|m| m.contains(&t.month()))
            && self.date_matches(t.day(), t.weekday())
    }

    /// The day-of-month and weekday part of [`ResolvedPattern::matches`].
    fn date_matches(&self, day: u32, weekday: Weekday) -> bool {
        let day_ok = |d: &Vec<u32>| d.contains(&day);
        let weekday_ok = |w: &Vec<Weekday>| w.contains(&weekday);
        match (&self.days, &self.weekdays) {
            // Cron's rule: with both restricted, either one is enough.
            (Some(d), Some(w)) => day_ok(d) || weekday_ok(w),
            (Some(d), None) => day_ok(d),
            (None, Some(w)) => weekday_ok(w),
            (None, None) => true,
        }
    }
}

const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Sunday first, so the index is the number users write (0 = Sunday).
const WEEKDAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Sun,
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
];

/// Index of `name` in `names`, matching the full name or its 3-letter
/// abbreviation, case-insensitively.
fn lookup_name(names: &[&str], name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .position(|full| lower == *full || (lower.len() == 3 && full.starts_with(&lower)))
}

/// How one pattern field reads its elements.
struct FieldRule {
    field: &'static str,
    min: u32,
    max: u32,
    /// Names accepted instead of numbers, and the number of the first name.
    names: Option<(&'static [&'static str], u32)>,
    /// The fix, appended to every error for this field.
    help: &'static str,
}

const MINUTES: FieldRule = FieldRule {
    field: "minutes",
    min: 0,
    max: 59,
    names: None,
    help: "use numbers 0-59",
};
const HOURS: FieldRule = FieldRule {
    field: "hours",
    min: 0,
    max: 23,
    names: None,
    help: "use numbers 0-23",
};
const DAYS: FieldRule = FieldRule {
    field: "days",
    min: 1,
    max: 31,
    names: None,
    help: "use numbers 1-31",
};
const MONTHS: FieldRule = FieldRule {
    field: "months",
    min: 1,
    max: 12,
    names: Some((&MONTH_NAMES, 1)),
    help: "use Jan, Feb, Mar, Apr, May, Jun, Jul, Aug, Sep, Oct, Nov, Dec (or full names) or 1-12",
};
const WEEKDAY_RULE: FieldRule = FieldRule {
    field: "weekdays",
    min: 0,
    max: 7,
    names: Some((&WEEKDAY_NAMES, 0)),
    help: "use Sun, Mon, Tue, Wed, Thu, Fri, Sat (or full names) or 0-7 with 0 and 7 = Sunday",
};

/// A problem with one element (or the whole list) of a pattern field.
struct ElementError {
    /// Position of the bad element in the list as written; `None` when the
    /// list as a whole is wrong (empty).
    index: Option<usize>,
    /// What is wrong and the fix, without the field name.
    message: String,
}

/// A pattern field that cannot be used, with where it is and how to fix it.
///
/// ```
/// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
///
/// let p = Pattern { hours: Some(PatternList::Text("9-17".into())), ..Pattern::default() };
/// let err = p.check().unwrap_err();
/// assert_eq!(err.path(), "hours[0]");
/// assert!(err.message.contains("write `9,10,11,12,13,14,15,16,17` instead"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.path())]
pub struct PatternError {
    /// The field: `minutes`, `hours`, `days`, `months` or `weekdays`.
    pub field: &'static str,
    /// Position of the bad element in the list as written (a single value or
    /// a comma-separated string counts as a list); `None` when the whole
    /// list is wrong, e.g. empty.
    pub index: Option<usize>,
    /// The list as written, what is wrong and the fix.
    pub message: String,
}

impl PatternError {
    /// The field path below the pattern, e.g. `hours[0]`, or `hours` for an
    /// empty list.
    pub fn path(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.field),
            None => self.field.to_string(),
        }
    }
}

/// Quoted for an error message, clipped so a huge input stays readable.
fn quoted(s: &str) -> String {
    crate::api::clip(&format!("{s:?}"))
}

impl FieldRule {
    /// The sorted, deduplicated numbers of `list`, or an error naming the
    /// list as written, the bad element and the fix.
    fn resolve(&self, list: &PatternList) -> Result<Vec<u32>, ElementError> {
        let written = match list {
            PatternList::Number(n) => n.to_string(),
            PatternList::Text(s) => s.clone(),
            PatternList::List(_) => list.elements().join(","),
        };
        let elements = list.elements();
        let fail = |index: Option<usize>, why: String| ElementError {
            index,
            message: format!("{}: {why}; {}", quoted(&written), self.help),
        };
        let mut out = Vec::with_capacity(elements.len());
        for (i, e) in elements.iter().enumerate() {
            let value = self.value(e).map_err(|why| {
                let mut err = fail(Some(i), why);
                err.message.push_str(&self.range_fix(&elements, e));
                err
            })?;
            // 7 is Sunday too, as in cron and Karpenter v0.1.
            out.push(if self.field == "weekdays" && value == 7 {
                0
            } else {
                value
            });
        }
        if out.is_empty() {
            return Err(ElementError {
                index: None,
                message: format!(
                    "{}: empty list; write at least one value ({}), or leave `{}` out for {}",
                    quoted(&written),
                    self.help,
                    self.field,
                    // Missing minutes and hours mean 0, other fields "any".
                    if matches!(self.field, "minutes" | "hours") {
                        "0"
                    } else {
                        "any"
                    },
                ),
            });
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The number of one element, or why it is not one (without the fix).
    fn value(&self, e: &str) -> Result<u32, String> {
        if e.is_empty() {
            return Err("empty element".to_string());
        }
        if let Ok(n) = e.parse::<i64>() {
            return match u32::try_from(n) {
                Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
                _ => Err(format!(
                    "{} is out of range {}-{}",
                    quoted(e),
                    self.min,
                    self.max
                )),
            };
        }
        let Some((names, base)) = self.names else {
            return Err(format!("{} is not a number", quoted(e)));
        };
        match lookup_name(names, e) {
            // Index < 12, so the cast cannot truncate.
            Some(i) => Ok(i as u32 + base),
            None if self.field == "months" => Err(format!("{} is not a month", quoted(e))),
            None => Err(format!("{} is not a weekday", quoted(e))),
        }
    }

    /// For an element written as a cron range or step (`9-17`, `*/2`,
    /// `Mon-Fri`, `*`), the sentence telling the list to write instead, with
    /// every such element of the list expanded; empty for anything else.
    /// Patterns are lists only (as in Karpenter v0.1), so the fix is spelled
    /// out rather than the syntax guessed at.
    fn range_fix(&self, elements: &[String], bad: &str) -> String {
        if !is_range_syntax(bad) {
            return String::new();
        }
        if self.expand(bad).is_none() {
            return "; ranges and steps are not supported: list every value, separated by commas"
                .to_string();
        }
        let expanded: Vec<String> = elements
            .iter()
            .map(|e| self.expand(e).unwrap_or_else(|| vec![e.clone()]).join(","))
            .collect();
        format!(
            "; ranges and steps are not supported: write `{}` instead",
            expanded.join(",")
        )
    }

    /// The values a cron range or step element stands for, written the way
    /// the element was (names for names, numbers for numbers); `None` if
    /// `e` is not one or its bounds are bad.
    fn expand(&self, e: &str) -> Option<Vec<String>> {
        if !is_range_syntax(e) {
            return None;
        }
        let (range, step) = match e.split_once('/') {
            Some((r, s)) => (r.trim(), s.trim().parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (e, 1),
        };
        // Weekday 7 is Sunday again, so a range wraps after Saturday.
        let top = if self.field == "weekdays" {
            6
        } else {
            self.max
        };
        let (from, to, named) = if range == "*" {
            (self.min, top, false)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (a.trim(), b.trim());
            let named = a.parse::<u32>().is_err() || b.parse::<u32>().is_err();
            (self.value(a).ok()?, self.value(b).ok()?, named)
        } else {
            // `a/n`: from a to the end, as in cron.
            (self.value(range).ok()?, top, range.parse::<u32>().is_err())
        };
        let span: Vec<u32> = if from <= to {
            (from..=to).collect()
        } else {
            (from..=top).chain(self.min..=to).collect()
        };
        let name = |v: u32| -> String {
            match self.names {
                Some((names, base)) if named => {
                    let full = names[((v - base) as usize) % names.len()];
                    let mut short: Vec<char> = full.chars().take(3).collect();
                    short[0] = short[0].to_ascii_uppercase();
                    short.into_iter().collect()
                }
                _ => v.to_string(),
            }
        };
        Some(span.into_iter().step_by(step as usize).map(name).collect())
    }
}

/// Whether an element is written in cron's range or step syntax.
fn is_range_syntax(e: &str) -> bool {
    e == "*" || e.contains('/') || (e.contains('-') && !e.starts_with('-'))
}

impl Pattern {
    /// Checks every field and returns the numbers it stands for. The error
    /// names the field, the bad element and what is allowed, e.g.
    /// `weekdays: "Mon,Tus": "Tus" is not a weekday; use Sun, Mon, ...`.
    /// [`Pattern::check`] says the same with the element's position.
    ///
    /// ```
    /// use chrono::Weekday;
    /// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
    ///
    /// let p = Pattern {
    ///     hours: Some(PatternList::Text("17,9".into())),
    ///     weekdays: Some(PatternList::Text("Mon,Fri".into())),
    ///     ..Pattern::default()
    /// };
    /// let r = p.resolve().unwrap();
    /// assert_eq!(r.minutes, vec![0]);
    /// assert_eq!(r.hours, vec![9, 17]);
    /// assert_eq!(r.days, None);
    /// assert_eq!(r.weekdays, Some(vec![Weekday::Mon, Weekday::Fri]));
    /// ```
    pub fn resolve(&self) -> Result<ResolvedPattern, String> {
        self.check()
            .map_err(|e| format!("{}: {}", e.field, e.message))
    }

    /// Like [`Pattern::resolve`], with the first bad field (in field order)
    /// as a [`PatternError`] that knows the element's position.
    ///
    /// ```
    /// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
    ///
    /// let p = Pattern { weekdays: Some(PatternList::Text("Mon-Fri".into())), ..Pattern::default() };
    /// let err = p.check().unwrap_err();
    /// assert_eq!(err.path(), "weekdays[0]");
    /// assert!(err.message.ends_with("write `Mon,Tue,Wed,Thu,Fri` instead"), "{err}");
    /// ```
    pub fn check(&self) -> Result<ResolvedPattern, PatternError> {
        let named = |rule: &FieldRule, l: &PatternList| {
            rule.resolve(l).map_err(|e| PatternError {
                field: rule.field,
                index: e.index,
                message: e.message,
            })
        };
        let required = |rule: &FieldRule, l: &Option<PatternList>| match l {
            Some(l) => named(rule, l),
            None => Ok(vec![0]),
        };
        let optional = |rule: &FieldRule, l: &Option<PatternList>| {
            l.as_ref().map(|l| named(rule, l)).transpose()
        };
        // Field order, so the first error reported is the first in the manifest.
        let minutes = required(&MINUTES, &self.minutes)?;
        let hours = required(&HOURS, &self.hours)?;
        let days = optional(&DAYS, &self.days)?;
        let months = optional(&MONTHS, &self.months)?;
        let weekdays = optional(&WEEKDAY_RULE, &self.weekdays)?.map(|ds| {
            ds.into_iter()
                .filter_map(|d| WEEKDAYS.get(d as usize).copied())
                .collect()
        });
        Ok(ResolvedPattern {
            minutes,
            hours,
            days,
            months,
            weekdays,
        })
    }

    /// Every invalid field, in field order; empty when [`Pattern::check`]
    /// succeeds.
    ///
    /// ```
    /// use karpenter_core::api::v1alpha1::{Pattern, PatternList};
    ///
    /// let p = Pattern {
    ///     minutes: Some(PatternList::Number(60)),
    ///     weekdays: Some(PatternList::Text("Mon,Tus".into())),
    ///     ..Pattern::default()
    /// };
    /// let paths: Vec<String> = p.errors().iter().map(|e| e.path()).collect();
    /// assert_eq!(paths, ["minutes[0]", "weekdays[1]"]);
    /// ```
    pub fn errors(&self) -> Vec<PatternError> {
        [
            (&MINUTES, &self.minutes),
            (&HOURS, &self.hours),
            (&DAYS, &self.days),
            (&MONTHS, &self.months),
            (&WEEKDAY_RULE, &self.weekdays),
        ]
        .into_iter()
        .filter_map(|(rule, list)| {
            let err = rule.resolve(list.as_ref()?).err()?;
            Some(PatternError {
                field: rule.field,
                index: err.index,
                message: err.message,
            })
        })
        .collect()
    }

    /// Every invalid field, in field order, as (field name, message without
    /// the field name); empty when [`Pattern::resolve`] succeeds.
    pub(crate) fn field_errors(&self) -> Vec<(&'static str, String)> {
        self.errors()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }
}

/// The last values a producer computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsProducerStatus {
    /// Human-readable last values, e.g. `cpu: "62.50%, 10/16"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// For schedules: when the scheduled replicas next change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_change: Option<DateTime<Utc>>,
    /// `Active`, and `Calculable` when values could be computed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error, if the last computation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Weekday};

    use super::*;

    fn pattern(yaml: &str) -> Pattern {
        crate::api::parse::from_yaml_str(yaml).unwrap()
    }

    #[test]
    fn empty_pattern_is_midnight_any_day() {
        let r = Pattern::default().resolve().unwrap();
        assert_eq!(
            r,
            ResolvedPattern {
                minutes: vec![0],
                hours: vec![0],
                days: None,
                months: None,
                weekdays: None,
            }
        );
    }

    #[test]
    fn accepts_every_written_shape() {
        let cases: &[(&str, ResolvedPattern)] = &[
            (
                "{hours: 9}",
                ResolvedPattern {
                    minutes: vec![0],
                    hours: vec![9],
                    days: None,
                    months: None,
                    weekdays: None,
                },
            ),
            (
                "{hours: '17', minutes: '30,0, 15', weekdays: 'Mon,Tue,Wed,Thu,Fri'}",
                ResolvedPattern {
                    minutes: vec![0, 15, 30],
                    hours: vec![17],
                    days: None,
                    months: None,
                    weekdays: Some(vec![
                        Weekday::Mon,
                        Weekday::Tue,
                        Weekday::Wed,
                        Weekday::Thu,
                        Weekday::Fri,
                    ]),
                },
            ),
            (
                "{hours: [9, 9, 1], weekdays: [sunday, 6, SAT, Wednesday], months: [Dec, 1, february, may], days: '31,1'}",
                ResolvedPattern {
                    minutes: vec![0],
                    hours: vec![1, 9],
                    days: Some(vec![1, 31]),
                    months: Some(vec![1, 2, 5, 12]),
                    weekdays: Some(vec![Weekday::Sun, Weekday::Wed, Weekday::Sat]),
                },
            ),
            (
                "{minutes: [0, 59], hours: [0, 23], days: [1, 31], months: '1,12', weekdays: '0,6'}",
                ResolvedPattern {
                    minutes: vec![0, 59],
                    hours: vec![0, 23],
                    days: Some(vec![1, 31]),
                    months: Some(vec![1, 12]),
                    weekdays: Some(vec![Weekday::Sun, Weekday::Sat]),
                },
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(&pattern(yaml).resolve().unwrap(), want, "{yaml}");
        }
    }

    #[test]
    fn rejects_bad_elements_with_the_fix() {
        let cases: &[(&str, &str)] = &[
            (
                "{weekdays: 'Mon,Tus'}",
                r#"weekdays: "Mon,Tus": "Tus" is not a weekday; use Sun, Mon, Tue, Wed, Thu, Fri, Sat (or full names) or 0-7 with 0 and 7 = Sunday"#,
            ),
            ("{weekdays: 8}", r#"weekdays: "8": "8" is out of range 0-7"#),
            (
                "{minutes: 60}",
                r#"minutes: "60": "60" is out of range 0-59; use numbers 0-59"#,
            ),
            (
                "{hours: [9, 24]}",
                r#"hours: "9,24": "24" is out of range 0-23"#,
            ),
            ("{hours: -1}", r#"hours: "-1": "-1" is out of range 0-23"#),
            (
                "{hours: nine}",
                r#"hours: "nine": "nine" is not a number; use numbers 0-23"#,
            ),
            ("{days: 0}", r#"days: "0": "0" is out of range 1-31"#),
            ("{months: 13}", r#"months: "13": "13" is out of range 1-12"#),
            (
                "{months: 'Jun,Jly'}",
                r#"months: "Jun,Jly": "Jly" is not a month; use Jan"#,
            ),
            ("{months: 'Ju'}", r#""Ju" is not a month"#),
            ("{hours: '9,,17'}", r#"hours: "9,,17": empty element"#),
            ("{hours: ''}", r#"hours: "": empty element"#),
            ("{hours: []}", r#"hours: "": empty list"#),
            (
                "{hours: 99999999999}",
                r#"hours: "99999999999": "99999999999" is out of range 0-23"#,
            ),
        ];
        for (yaml, want) in cases {
            let err = pattern(yaml).resolve().unwrap_err();
            assert!(err.starts_with(want) || err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn weekday_seven_is_sunday() {
        let r = pattern("{weekdays: '7,1,0'}").resolve().unwrap();
        assert_eq!(r.weekdays, Some(vec![Weekday::Sun, Weekday::Mon]));
        let r = pattern("{weekdays: 7}").resolve().unwrap();
        assert_eq!(r.weekdays, Some(vec![Weekday::Sun]));
    }

    #[test]
    fn first_bad_field_in_field_order_is_reported() {
        let err = pattern("{weekdays: Xyz, minutes: 61}")
            .resolve()
            .unwrap_err();
        assert!(err.starts_with("minutes:"), "{err}");
    }

    #[test]
    fn matches_local_time() {
        let r = pattern("{hours: 9, minutes: '0,30', weekdays: Mon-ignored}").resolve();
        assert!(r.is_err(), "ranges are not supported");
        let r = pattern("{hours: 9, minutes: '0,30', weekdays: 'Mon', months: Mar}")
            .resolve()
            .unwrap();
        // 2026-03-02 is a Monday.
        let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert!(r.matches(&monday.and_hms_opt(9, 30, 59).unwrap()));
        assert!(!r.matches(&monday.and_hms_opt(9, 31, 0).unwrap()));
        assert!(!r.matches(&monday.and_hms_opt(10, 0, 0).unwrap()));
        let tuesday = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        assert!(!r.matches(&tuesday.and_hms_opt(9, 0, 0).unwrap()));
        let april_monday = NaiveDate::from_ymd_opt(2026, 4, 6).unwrap();
        assert!(!r.matches(&april_monday.and_hms_opt(9, 0, 0).unwrap()));
    }
}
