//! [`Curve`]: a value over time (an arrival rate, a pod count), built from
//! constant, step, daily, weekly and replayed shapes.

use std::f64::consts::PI;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::series::Series;
use super::time::At;

/// A value over time. Exactly one shape per mapping; `sum` adds shapes.
///
/// ```yaml
/// constant: 2                     # always 2
/// steps: [{at: 0s, value: 1}, {at: 2h, value: 5}]   # 0 before the first step
/// daily: {min: 0.5, max: 5, peak: "14:00", timezone: Europe/Berlin}
/// weekly: {timezone: America/Los_Angeles, default: 0.2,
///          windows: [{days: [Mon, Tue, Wed, Thu, Fri], from: "09:00", to: "17:00", value: 3}]}
/// series: {csv: arrivals.csv}     # or {prometheus: arrivals.json}: replayed, each value held
/// sum: [{constant: 1}, {daily: {...}}]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Curve {
    /// The same value at every instant.
    Constant(f64),
    /// Each step's value holds from its `at` until the next step; 0 before
    /// the first.
    Steps(Vec<CurveStep>),
    /// A smooth daily cycle between `min` and `max`, highest at `peak`
    /// local time (a cosine with a 24 h period).
    Daily(Daily),
    /// A weekly schedule: `value` inside each window, `default` outside.
    Weekly(Weekly),
    /// A recorded series, each sample's value held until the next (the
    /// first value before the series starts).
    Series(SeriesFile),
    /// The sum of several curves.
    Sum(Vec<Curve>),
}

/// One step of [`Curve::Steps`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurveStep {
    /// When the value starts to hold.
    pub at: At,
    /// The value.
    pub value: f64,
}

/// [`Curve::Daily`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Daily {
    /// The lowest value, 12 hours from the peak.
    pub min: f64,
    /// The highest value, at `peak`.
    pub max: f64,
    /// Local time of the peak, `HH:MM` (default `12:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<String>,
    /// IANA time zone of `peak` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// [`Curve::Weekly`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Weekly {
    /// IANA time zone of the windows (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The value outside every window (default 0).
    #[serde(default)]
    pub default: f64,
    /// The windows; where several hold, the first listed wins.
    pub windows: Vec<Window>,
}

/// A window of [`Weekly`]: on `days`, from `from` (included) to `to`
/// (excluded), local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// The days the window is open.
    pub days: Vec<Weekday>,
    /// Opening time, `HH:MM`.
    pub from: String,
    /// Closing time, `HH:MM` (`24:00` for midnight at the end of the day).
    pub to: String,
    /// The value inside the window.
    pub value: f64,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A recorded series file: exactly one of `csv` and `prometheus`, relative
/// to the scenario file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeriesFile {
    /// A CSV file: `time,value[,replicas]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
    /// The JSON body of a Prometheus `/api/v1/query_range` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PathBuf>,
}

/// `HH:MM` as minutes after midnight (`24:00` is 1440).
pub(crate) fn parse_hhmm(text: &str) -> Option<u32> {
    if text.trim() == "24:00" {
        return Some(1440);
    }
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .ok()
        .map(|t| t.hour() * 60 + t.minute())
}

/// A curve ready to evaluate: time zones parsed, series loaded.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Constant(f64),
    /// (instant, value), sorted.
    Steps(Vec<(DateTime<Utc>, f64)>),
    Daily {
        min: f64,
        max: f64,
        peak_minutes: f64,
        tz: Tz,
    },
    Weekly {
        tz: Tz,
        default: f64,
        /// (days as a bit set, from minute, to minute, value)
        windows: Vec<(u8, u32, u32, f64)>,
    },
    Series(Arc<Series>),
    Sum(Vec<Compiled>),
}

impl Compiled {
    /// The largest value the curve takes (an upper bound for `sum`).
    pub(crate) fn max_value(&self) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Steps(steps) => steps.iter().map(|s| s.1).fold(0.0, f64::max),
            Self::Daily { max, .. } => *max,
            Self::Weekly {
                default, windows, ..
            } => windows.iter().map(|w| w.3).fold(*default, f64::max),
            Self::Series(s) => s
                .points()
                .iter()
                .filter_map(|p| p.value)
                .fold(0.0, f64::max),
            Self::Sum(parts) => parts.iter().map(Compiled::max_value).sum(),
        }
    }

    /// The value at `t`.
    pub(crate) fn at(&self, t: DateTime<Utc>) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Steps(steps) => {
                let i = steps.partition_point(|s| s.0 <= t);
                i.checked_sub(1)
                    .and_then(|i| steps.get(i))
                    .map_or(0.0, |s| s.1)
            }
            Self::Daily {
                min,
                max,
                peak_minutes,
                tz,
            } => {
                let local = t.with_timezone(tz);
                let minutes = f64::from(local.hour() * 60 + local.minute())
                    + f64::from(local.second()) / 60.0;
                let phase = 2.0 * PI * (minutes - peak_minutes) / 1440.0;
                min + (max - min) * (1.0 + phase.cos()) / 2.0
            }
            Self::Weekly {
                tz,
                default,
                windows,
            } => {
                let local = t.with_timezone(tz);
                let day = 1u8 << local.weekday().num_days_from_monday();
                let minute = local.hour() * 60 + local.minute();
                windows
                    .iter()
                    .find(|(days, from, to, _)| days & day != 0 && *from <= minute && minute < *to)
                    .map_or(*default, |w| w.3)
            }
            Self::Series(s) => s.held_at(t),
            Self::Sum(parts) => parts.iter().map(|p| p.at(t)).sum(),
        }
    }
}

impl Weekday {
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}
