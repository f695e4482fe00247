//! Recorded series: a CSV file (`time,value[,replicas]`) or the JSON that
//! Prometheus's `/api/v1/query_range` returns.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};

/// One sample of a recorded series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// The value; `None` is a gap (an empty CSV field): no sample then.
    pub value: Option<f64>,
    /// The replicas that were running then, when the file records them.
    pub replicas: Option<f64>,
}

/// A recorded series, sorted by time.
///
/// ```
/// use karpenter_fake::scenario::Series;
///
/// let s = Series::from_csv("time,value,replicas\n2026-03-02T09:00:00Z,10,2\n2026-03-02T09:01:00Z,,3\n1772442120,12.5,3\n").unwrap();
/// assert_eq!(s.points().len(), 3);
/// assert_eq!(s.points()[1].value, None); // a gap
/// assert!(s.has_replicas());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    points: Vec<Point>,
    has_replicas: bool,
}

/// Why a recorded series could not be read: the line (CSV) or sample
/// (JSON) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct SeriesError {
    /// 1-based line of the CSV file, when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SeriesError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(seconds) = t.parse::<f64>() {
        if !seconds.is_finite() {
            return None;
        }
        let millis = (seconds * 1000.0).round();
        if millis.abs() > 1e15 {
            return None;
        }
        return Utc.timestamp_millis_opt(millis as i64).single();
    }
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn q(s: &str) -> String {
    karpenter_core::api::clip(&format!("{s:?}"))
}

impl Series {
    /// The samples, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Whether the file recorded the replicas that were running.
    pub fn has_replicas(&self) -> bool {
        self.has_replicas
    }

    /// Reads CSV text: one sample per line, `time,value` or
    /// `time,value,replicas`, comma-separated without quoting. `time` is RFC
    /// 3339 or Unix seconds; an empty `value` is a gap (no sample then). A
    /// first line whose `time` is not a time is a header naming the columns
    /// (`time`, `value`, `replicas`, in any order). Times must increase;
    /// values must be finite numbers.
    pub fn from_csv(text: &str) -> Result<Self, SeriesError> {
        let text = karpenter_core::api::parse::strip_bom(text);
        let mut columns = (0usize, 1usize, Some(2usize));
        let mut points: Vec<Point> = Vec::new();
        let mut has_replicas = false;
        let mut width = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            if points.is_empty()
                && width.is_none()
                && fields.first().is_some_and(|f| parse_time(f).is_none())
            {
                let find = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
                let (Some(t), Some(v)) = (find("time"), find("value")) else {
                    return Err(SeriesError::at(
                        line,
                        format!(
                            "the header {} must name the columns time and value (and optionally replicas); or start with a sample such as 2026-03-02T09:00:00Z,12",
                            q(l)
                        ),
                    ));
                };
                columns = (t, v, find("replicas"));
                width = Some(fields.len());
                continue;
            }
            let expected = width.unwrap_or(fields.len());
            if fields.len() != expected || !(2..=3).contains(&fields.len()) && width.is_none() {
                return Err(SeriesError::at(
                    line,
                    format!(
                        "expected {} comma-separated fields (time,value{}), got {}: {}",
                        if width.is_none() {
                            "2 or 3".to_string()
                        } else {
                            expected.to_string()
                        },
                        if width.is_none() { "[,replicas]" } else { "" },
                        fields.len(),
                        q(l)
                    ),
                ));
            }
            let field = |i: usize| fields.get(i).copied().unwrap_or("");
            let Some(time) = parse_time(field(columns.0)) else {
                return Err(SeriesError::at(
                    line,
                    format!(
                        "time {} is neither RFC 3339 (2026-03-02T09:00:00Z) nor Unix seconds (1772442000)",
                        q(field(columns.0))
                    ),
                ));
            };
            if let Some(last) = points.last()
                && time <= last.time
            {
                return Err(SeriesError::at(
                    line,
                    format!(
                        "time {} is not after the previous sample's ({}): sort the file by time and remove duplicates",
                        time.to_rfc3339(),
                        last.time.to_rfc3339()
                    ),
                ));
            }
            let number = |name: &str, text: &str| -> Result<Option<f64>, SeriesError> {
                if text.is_empty() {
                    return Ok(None);
                }
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(Some(v)),
                    _ => Err(SeriesError::at(
                        line,
                        format!(
                            "{name} {} is not a finite number; leave it empty for a gap (no sample at this time)",
                            q(text)
                        ),
                    )),
                }
            };
            let value = number("value", field(columns.1))?;
            let replicas = match columns.2 {
                Some(c) if c < fields.len() => {
                    let r = number("replicas", field(c))?;
                    if r.is_some_and(|r| r < 0.0) {
                        return Err(SeriesError::at(
                            line,
                            format!("replicas {} must be >= 0", q(field(c))),
                        ));
                    }
                    has_replicas |= r.is_some();
                    r
                }
                _ => None,
            };
            points.push(Point {
                time,
                value,
                replicas,
            });
        }
        if points.is_empty() {
            return Err(SeriesError::whole(
                "the file has no samples; write one per line: time,value[,replicas]",
            ));
        }
        Ok(Self {
            points,
            has_replicas,
        })
    }

    /// Reads the JSON body of a Prometheus `/api/v1/query_range` answer:
    /// `status: success`, `resultType: matrix`, exactly one series, values
    /// that are finite numbers, and samples at a regular step (a gap larger
    /// than 1.5 steps is rejected). Each problem is named with what to do.
    pub fn from_prometheus_json(text: &str) -> Result<Self, SeriesError> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            SeriesError::at(
                e.line(),
                format!("not valid JSON ({e}); save the body of the query_range answer as it is"),
            )
        })?;
        let status = doc.get("status").and_then(|s| s.as_str()).unwrap_or("");
        if status != "success" {
            let error = doc.get("error").and_then(|s| s.as_str()).unwrap_or("");
            return Err(SeriesError::whole(format!(
                "status is {} (not \"success\"){}; export a query that succeeded",
                q(status),
                if error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", q(error))
                }
            )));
        }
        let data = doc.get("data").cloned().unwrap_or_default();
        let result_type = data
            .get("resultType")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        if result_type != "matrix" {
            return Err(SeriesError::whole(format!(
                "data.resultType is {}, not \"matrix\": export with /api/v1/query_range (a range), not /api/v1/query (an instant)",
                q(result_type)
            )));
        }
        let result = data
            .get("result")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        let labels = |s: &serde_json::Value| -> String {
            let m = s.get("metric").and_then(|m| m.as_object());
            let inner: Vec<String> = m
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                v.as_str()
                                    .map_or_else(|| v.to_string(), |s| format!("{s:?}"))
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", inner.join(","))
        };
        let series = match result.as_slice() {
            [one] => one,
            [] => {
                return Err(SeriesError::whole(
                    "data.result has no series: the query matched nothing in that range; check the query and the range",
                ));
            }
            several => {
                let shown: Vec<String> = several.iter().take(3).map(labels).collect();
                return Err(SeriesError::whole(format!(
                    "data.result has {} series ({}{}); a replayed query must give exactly one: aggregate it (e.g. sum(...)) or add label matchers",
                    several.len(),
                    shown.join(", "),
                    if several.len() > 3 { ", ..." } else { "" }
                )));
            }
        };
        let values = series
            .get("values")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if values.is_empty() {
            return Err(SeriesError::whole(
                "data.result[0].values is empty or missing: a range answer lists [time, \"value\"] pairs",
            ));
        }
        let mut points: Vec<Point> = Vec::with_capacity(values.len());
        for (i, pair) in values.iter().enumerate() {
            let bad =
                |what: String| SeriesError::whole(format!("data.result[0].values[{i}]: {what}"));
            let (Some(t), Some(v)) = (
                pair.get(0).and_then(serde_json::Value::as_f64),
                pair.get(1).and_then(|v| v.as_str()),
            ) else {
                return Err(bad(format!(
                    "expected [unix seconds, \"value\"], got {}",
                    karpenter_core::api::clip(&pair.to_string())
                )));
            };
            let time = parse_time(&t.to_string())
                .ok_or_else(|| bad(format!("time {t} is out of range")))?;
            let value = match v.parse::<f64>() {
                Ok(x) if x.is_finite() => x,
                _ => {
                    return Err(bad(format!(
                        "value {} at {} is not a finite number; the replay needs a number at every sample: filter the query (e.g. `> -Inf`) or fix the source",
                        q(v),
                        time.to_rfc3339()
                    )));
                }
            };
            if let Some(last) = points.last()
                && time <= last.time
            {
                return Err(bad(format!(
                    "time {} is not after the previous sample's",
                    time.to_rfc3339()
                )));
            }
            points.push(Point {
                time,
                value: Some(value),
                replicas: None,
            });
        }
        check_regular(&points)?;
        Ok(Self {
            points,
            has_replicas: false,
        })
    }

    /// The value an instant query at `t` would return: the latest sample at
    /// or before `t` if it is at most `lookback` old and not a gap.
    pub fn value_at(&self, t: DateTime<Utc>, lookback: chrono::TimeDelta) -> Option<f64> {
        let i = self.points.partition_point(|p| p.time <= t);
        let p = self.points.get(i.checked_sub(1)?)?;
        if t - p.time > lookback {
            return None;
        }
        p.value
    }

    /// The value held at `t` for a curve: the latest sample at or before
    /// `t` (gaps hold the value before them), the first one before the
    /// series starts.
    pub fn held_at(&self, t: DateTime<Utc>) -> f64 {
        let i = self.points.partition_point(|p| p.time <= t);
        self.points[..i]
            .iter()
            .rev()
            .find_map(|p| p.value)
            .or_else(|| self.points.iter().find_map(|p| p.value))
            .unwrap_or(0.0)
    }

    /// The recorded replicas integrated over `[from, to)` in node-seconds,
    /// each sample's count holding until the next sample (the last until
    /// `to`, a sample without replicas holding the one before it); `None`
    /// when the file records no replicas.
    pub fn replica_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        if !self.has_replicas || to <= from {
            return self.has_replicas.then_some(0.0);
        }
        let mut total = 0.0;
        let mut current: Option<f64> = None;
        let mut t = from;
        for p in &self.points {
            if p.time >= to {
                break;
            }
            if p.time > t {
                total += current.unwrap_or(0.0) * (p.time - t).num_milliseconds() as f64 / 1000.0;
                t = p.time;
            }
            if p.replicas.is_some() {
                current = p.replicas;
            }
        }
        total += current.unwrap_or(0.0) * (to - t).num_milliseconds() as f64 / 1000.0;
        Some(total)
    }

    /// The first and last sample times.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((self.points.first()?.time, self.points.last()?.time))
    }
}

/// Rejects a Prometheus range whose samples are not at a regular step.
fn check_regular(points: &[Point]) -> Result<(), SeriesError> {
    if points.len() < 3 {
        return Ok(());
    }
    let mut steps: Vec<i64> = points
        .windows(2)
        .map(|w| (w[1].time - w[0].time).num_milliseconds())
        .collect();
    let gaps = steps.clone();
    steps.sort_unstable();
    let step = steps[steps.len() / 2];
    for (i, gap) in gaps.iter().enumerate() {
        if *gap * 2 > step * 3 {
            let (a, b) = (points[i].time, points[i + 1].time);
            return Err(SeriesError::whole(format!(
                "a gap in the samples: {} to {} is {}, the step is {}: the series was absent for a while (exporter down, target gone). The replay needs a continuous series: export a range without the gap, or convert it to CSV and leave the missing values empty to replay the gap on purpose",
                a.to_rfc3339(),
                b.to_rfc3339(),
                Seconds(*gap),
                Seconds(step)
            )));
        }
    }
    Ok(())
}

struct Seconds(i64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0));
        write!(f, "{}", humantime::format_duration(d))
    }
}
