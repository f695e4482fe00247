//! [`FakeMetricStore`]: named series with labels, answering the exact-selector
//! queries autoscalers use, e.g. `karpenter_queue_length{name="ml-training-queue"}`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use karpenter_core::api::v1alpha1::Metric;
use karpenter_core::producers::MetricSink;
use karpenter_core::provider::{MetricSource, ProviderError, ProviderErrorKind, ProviderResult};

/// What the store can resolve, for error messages.
const SUPPORTED: &str = "the fake metric store resolves exact selectors only: a metric name with optional label=\"value\" matchers, e.g. karpenter_queue_length{name=\"ml-training-queue\"}";

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query uses PromQL the fake store does not implement.
    #[error("query {query:?} is not supported: {what}; {SUPPORTED}")]
    Unsupported {
        /// The query as written.
        query: String,
        /// The unsupported construct.
        what: String,
    },
    /// The query is answered by a replayed series that has no sample at
    /// this instant (a gap in the recording, or outside its span).
    #[error(
        "query {query:?} is answered by a replayed series, which has no sample within the lookback at this instant (a gap, or outside the recording)"
    )]
    NoSample {
        /// The query as written.
        query: String,
    },
    /// The query is not a valid selector.
    #[error("query {query:?} is invalid at column {column}: {what}; {SUPPORTED}")]
    Syntax {
        /// The query as written.
        query: String,
        /// 1-based column of the problem.
        column: usize,
        /// What was expected.
        what: String,
    },
    /// No series matches.
    #[error(
        "query {query:?} matched no series; {known}. Check the metric name and label values, and that the MetricsProducer exporting it has run"
    )]
    NoSeries {
        /// The query as written.
        query: String,
        /// The series the store has under the same name, or that it has none.
        known: String,
    },
    /// More than one series matches.
    #[error(
        "query {query:?} matched {count} series ({matched}); add label matchers so that exactly one matches: the autoscaler needs exactly one sample"
    )]
    SeveralSeries {
        /// The query as written.
        query: String,
        /// How many matched.
        count: usize,
        /// The first few matches.
        matched: String,
    },
}

impl From<QueryError> for ProviderError {
    fn from(e: QueryError) -> Self {
        let kind = match e {
            QueryError::Unsupported { .. } | QueryError::Syntax { .. } => {
                ProviderErrorKind::InvalidId
            }
            QueryError::NoSeries { .. } | QueryError::NoSample { .. } => {
                ProviderErrorKind::NotFound
            }
            QueryError::SeveralSeries { .. } => ProviderErrorKind::Other,
        };
        ProviderError::new(kind, e.to_string())
    }
}

/// A parsed exact selector: `metric{label="value",...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// `label = value` matchers, in query order.
    pub matchers: Vec<(String, String)>,
}

impl Selector {
    /// Parses an exact selector; anything else (functions, operators,
    /// `!=`/`=~`/`!~` matchers, ranges, `offset`) is a
    /// [`QueryError::Unsupported`].
    ///
    /// ```
    /// use karpenter_fake::Selector;
    ///
    /// let s = Selector::parse(r#"karpenter_queue_length{name="q", namespace='default'}"#)?;
    /// assert_eq!(s.metric, "karpenter_queue_length");
    /// assert_eq!(s.matchers.len(), 2);
    /// let err = Selector::parse("sum(rate(x[5m]))").unwrap_err();
    /// assert!(err.to_string().contains("functions such as sum(...)"));
    /// # Ok::<(), karpenter_fake::QueryError>(())
    /// ```
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        Parser {
            query,
            chars: query.char_indices().collect(),
            pos: 0,
        }
        .selector()
    }

    fn matches(&self, labels: &[(String, String)]) -> bool {
        self.matchers
            .iter()
            .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

struct Parser<'a> {
    query: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).map(|c| c.1)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn unsupported(&self, what: impl Into<String>) -> QueryError {
        QueryError::Unsupported {
            query: self.query.to_string(),
            what: what.into(),
        }
    }

    fn syntax(&self, what: impl Into<String>) -> QueryError {
        QueryError::Syntax {
            query: self.query.to_string(),
            column: self.pos + 1,
            what: what.into(),
        }
    }

    fn ident(&mut self, colon: bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (colon && c == ':')
                || (!out.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn selector(mut self) -> Result<Selector, QueryError> {
        self.skip_ws();
        let Some(first) = self.peek() else {
            return Err(self.syntax("the query is empty"));
        };
        if first == '{' {
            return Err(self
                .unsupported("a selector without a metric name (put the name before the braces)"));
        }
        if first.is_ascii_digit() || first == '.' || first == '-' || first == '+' {
            return Err(self.unsupported("number literals and arithmetic"));
        }
        if first == '(' {
            return Err(self.unsupported("parenthesised expressions"));
        }
        let metric = self.ident(true);
        if metric.is_empty() {
            return Err(self.syntax(format!("expected a metric name, found {first:?}")));
        }
        self.skip_ws();
        if self.peek() == Some('(') {
            return Err(self.unsupported(format!("functions such as {metric}(...)")));
        }
        if matches!(metric.as_str(), "sum" | "avg" | "min" | "max" | "count")
            && matches!(self.peek(), Some('b' | 'w'))
        {
            return Err(self.unsupported(format!("aggregations such as {metric} by (...)")));
        }
        let mut matchers = Vec::new();
        if self.peek() == Some('{') {
            self.pos += 1;
            loop {
                self.skip_ws();
                if self.peek() == Some('}') {
                    self.pos += 1;
                    break;
                }
                let label = self.ident(false);
                if label.is_empty() {
                    return Err(match self.peek() {
                        None => self.syntax("unclosed '{'"),
                        Some(c) => self.syntax(format!("expected a label name, found {c:?}")),
                    });
                }
                self.skip_ws();
                match (self.peek(), self.peek_at(1)) {
                    (Some('='), Some('~')) | (Some('!'), Some('=' | '~')) => {
                        let op: String = self.chars[self.pos..self.pos + 2]
                            .iter()
                            .map(|c| c.1)
                            .collect();
                        return Err(self.unsupported(format!(
                            "the {op} matcher ({label}{op}...); use {label}=\"value\""
                        )));
                    }
                    (Some('='), _) => self.pos += 1,
                    (Some(c), _) => {
                        return Err(
                            self.syntax(format!("expected '=' after label {label:?}, found {c:?}"))
                        );
                    }
                    (None, _) => return Err(self.syntax("unclosed '{'")),
                }
                self.skip_ws();
                let value = self.string()?;
                matchers.push((label, value));
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some('}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => {
                        return Err(self.syntax(format!("expected ',' or '}}', found {c:?}")));
                    }
                    None => return Err(self.syntax("unclosed '{'")),
                }
            }
        }
        self.skip_ws();
        match self.peek() {
            None => Ok(Selector { metric, matchers }),
            Some('[') => Err(self.unsupported("range vectors such as [5m]")),
            Some('@') => Err(self.unsupported("the @ modifier")),
            Some(c) if "+-*/%^<>=!".contains(c) => {
                Err(self.unsupported(format!("binary operators such as {c:?}")))
            }
            Some(_) => {
                let start = self.pos;
                let word = self.ident(false);
                self.pos = start;
                if matches!(word.as_str(), "offset") {
                    Err(self.unsupported("the offset modifier"))
                } else if matches!(word.as_str(), "and" | "or" | "unless") {
                    Err(self.unsupported(format!("the {word} operator")))
                } else {
                    Err(self.syntax("unexpected text after the selector"))
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, QueryError> {
        let Some(quote) = self.peek().filter(|c| matches!(c, '"' | '\'' | '`')) else {
            return Err(self.syntax("expected a quoted label value"));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.syntax("unterminated string"));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                let Some(e) = self.peek() else {
                    return Err(self.syntax("unterminated string"));
                };
                self.pos += 1;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            } else {
                out.push(c);
            }
        }
    }
}

fn render_labels(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Labels sorted by name: a series' identity within its metric name.
type LabelSet = Vec<(String, String)>;

#[derive(Debug, Default)]
struct StoreState {
    /// Metric name → sorted labels → index into `values`. Producers set
    /// every gauge on every tick, so the label lookup is a hash (foldhash:
    /// a fraction of SipHash's cost on short strings, and this store holds
    /// no untrusted keys); listings and messages sort.
    series: BTreeMap<String, HashMap<LabelSet, usize, foldhash::fast::RandomState>>,
    /// The value of each series.
    values: Vec<f64>,
    /// Query → the index of the one series it selects, or why none;
    /// cleared whenever a series is added, since that can change the answer.
    resolved: HashMap<String, Result<usize, QueryError>, foldhash::fast::RandomState>,
    /// Exact query text → its replayed value (`None`: no sample now).
    /// Consulted before `series`, for any PromQL.
    answers: HashMap<String, Option<f64>>,
}

impl StoreState {
    /// Sets the series `name{labels}`, creating it if needed.
    fn set(&mut self, name: &str, labels: &[(String, String)], value: f64) {
        let sorted;
        let key: &[(String, String)] = if labels.is_sorted() {
            labels
        } else {
            let mut v = labels.to_vec();
            v.sort();
            sorted = v;
            &sorted
        };
        let by_labels = match self.series.get_mut(name) {
            Some(by_labels) => by_labels,
            None => self.series.entry(name.to_string()).or_default(),
        };
        if let Some(slot) = by_labels.get(key).and_then(|&i| self.values.get_mut(i)) {
            *slot = value;
            return;
        }
        by_labels.insert(key.to_vec(), self.values.len());
        self.values.push(value);
        self.resolved.clear();
    }

    /// The value `query` selects, resolving (and remembering) it on first
    /// use.
    fn query(&mut self, query: &str) -> Result<f64, QueryError> {
        if let Some(answer) = self.answers.get(query) {
            return answer.ok_or_else(|| QueryError::NoSample {
                query: query.to_string(),
            });
        }
        let resolved = match self.resolved.get(query) {
            Some(r) => r,
            None => {
                let r = self.resolve(query);
                self.resolved.entry(query.to_string()).or_insert(r)
            }
        };
        let i = resolved.as_ref().map_err(Clone::clone)?;
        self.values
            .get(*i)
            .copied()
            .ok_or_else(|| QueryError::NoSeries {
                query: query.to_string(),
                known: "the store has no series".to_string(),
            })
    }

    fn resolve(&self, query: &str) -> Result<usize, QueryError> {
        let selector = Selector::parse(query)?;
        let no_series = |known: String| QueryError::NoSeries {
            query: query.to_string(),
            known,
        };
        let Some(same_name) = self.series.get(&selector.metric) else {
            return Err(no_series(format!(
                "the store has no series named {}",
                selector.metric
            )));
        };
        let mut matched: Vec<(&LabelSet, &usize)> = same_name
            .iter()
            .filter(|(labels, _)| selector.matches(labels))
            .collect();
        matched.sort();
        match matched.as_slice() {
            [(_, one)] => Ok(**one),
            [] => {
                let mut sorted: Vec<&LabelSet> = same_name.keys().collect();
                sorted.sort();
                let mut shown: Vec<String> = sorted.into_iter().map(|l| render_labels(l)).collect();
                let more = shown.len().saturating_sub(5);
                shown.truncate(5);
                let mut known = format!(
                    "the store has {} with labels {}",
                    selector.metric,
                    shown.join(", ")
                );
                if more > 0 {
                    known.push_str(&format!(" and {more} more"));
                }
                Err(no_series(known))
            }
            several => {
                let shown: Vec<String> = several
                    .iter()
                    .take(3)
                    .map(|(l, _)| render_labels(l))
                    .collect();
                Err(QueryError::SeveralSeries {
                    query: query.to_string(),
                    count: several.len(),
                    matched: shown.join(", "),
                })
            }
        }
    }
}

/// An in-memory metric store: the "metrics server" of a simulation.
///
/// Producers' gauges land here (it is the runner's metric sink in a
/// [`Simulation`](crate::Simulation)), and it serves the `prometheus` metric
/// source for autoscalers. It resolves exact selectors — a metric name with
/// optional `label="value"` matchers; a matcher may name a subset of a
/// series' labels — and says clearly when a query is not supported, matches
/// nothing, or matches several series. Clones share the store.
///
/// ```
/// use karpenter_fake::FakeMetricStore;
///
/// let store = FakeMetricStore::new();
/// let labels = |name: &str| vec![
///     ("name".to_string(), name.to_string()),
///     ("namespace".to_string(), "default".to_string()),
/// ];
/// store.set("karpenter_queue_length", &labels("ml-training-queue"), 2400.0);
/// store.set("karpenter_queue_length", &labels("other-queue"), 7.0);
///
/// assert_eq!(store.query(r#"karpenter_queue_length{name="ml-training-queue"}"#)?, 2400.0);
/// // Several series match a bare name: the autoscaler needs exactly one.
/// assert!(store.query("karpenter_queue_length").is_err());
/// let err = store.query(r#"sum(karpenter_queue_length)"#).unwrap_err();
/// assert!(err.to_string().contains("not supported"));
/// # Ok::<(), karpenter_fake::QueryError>(())
/// ```
#[derive(Clone, Default)]
pub struct FakeMetricStore {
    state: Arc<Mutex<StoreState>>,
}

impl fmt::Debug for FakeMetricStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeMetricStore")
            .field("series", &self.lock().series.len())
            .finish()
    }
}

impl FakeMetricStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the series `name{labels}` to `value`, creating it if needed.
    pub fn set(&self, name: &str, labels: &[(String, String)], value: f64) {
        self.lock().set(name, labels, value);
    }

    /// Answers the query whose text is exactly `query` with `value` from
    /// now on, whatever PromQL it is (`None`: no sample now, an error like
    /// a gap in a recording). This is how a recorded series is replayed:
    /// the query is bound by its text, not resolved.
    ///
    /// ```
    /// use karpenter_fake::FakeMetricStore;
    ///
    /// let store = FakeMetricStore::new();
    /// let q = r#"sum(rate(http_requests_total{job="web"}[5m]))"#;
    /// store.set_answer(q, Some(412.5));
    /// assert_eq!(store.query(q)?, 412.5);
    /// store.set_answer(q, None);
    /// assert!(store.query(q).unwrap_err().to_string().contains("no sample"));
    /// # Ok::<(), karpenter_fake::QueryError>(())
    /// ```
    pub fn set_answer(&self, query: &str, value: Option<f64>) {
        let mut state = self.lock();
        match state.answers.get_mut(query) {
            Some(slot) => *slot = value,
            None => {
                state.answers.insert(query.to_string(), value);
            }
        }
    }

    /// The value of the one series `query` selects.
    pub fn query(&self, query: &str) -> Result<f64, QueryError> {
        self.lock().query(query)
    }

    /// Every series, sorted by name and labels.
    pub fn series(&self) -> Vec<SeriesSample> {
        let state = self.lock();
        let mut samples: Vec<SeriesSample> = state
            .series
            .iter()
            .flat_map(|(name, by_labels)| {
                by_labels.iter().map(|(labels, &i)| SeriesSample {
                    name: name.clone(),
                    labels: labels.clone(),
                    value: state.values.get(i).copied().unwrap_or(f64::NAN),
                })
            })
            .collect();
        samples.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        samples
    }
}

/// One series of a [`FakeMetricStore`] and its current value.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSample {
    /// Metric name.
    pub name: String,
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Current value.
    pub value: f64,
}

impl MetricSink for FakeMetricStore {
    fn set_gauge(&self, name: &str, labels: &[(String, String)], value: f64) {
        self.set(name, labels, value);
    }
}

#[async_trait]
impl MetricSource for FakeMetricStore {
    async fn value(&self, metric: &Metric) -> ProviderResult<f64> {
        let Some(source) = &metric.prometheus else {
            let kind = metric.source().map_or_else(
                || "none".to_string(),
                |(kind, _)| kind.type_name().to_string(),
            );
            return Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "the fake metric store serves prometheus metrics only, this metric's source is {kind:?}; use a prometheus query"
                ),
            ));
        };
        Ok(self.query(&source.query)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Selector, QueryError> {
        Selector::parse(q)
    }

    #[test]
    fn parses_exact_selectors() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case<'_>] = &[
            ("up", "up", &[]),
            ("  up{}  ", "up", &[]),
            ("a:b_c9{x=\"1\"}", "a:b_c9", &[("x", "1")]),
            ("m{ a = 'x' , b=\"y\", }", "m", &[("a", "x"), ("b", "y")]),
            (r#"m{a="q\"uote\\"}"#, "m", &[("a", "q\"uote\\")]),
            ("m{a=`raw\\n`}", "m", &[("a", "raw\\n")]),
        ];
        for (q, metric, matchers) in cases {
            let s = parse(q).unwrap();
            assert_eq!(s.metric, *metric, "{q}");
            let want: Vec<(String, String)> = matchers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(s.matchers, want, "{q}");
        }
    }

    #[test]
    fn rejects_unsupported_promql_with_the_construct_named() {
        let cases: &[(&str, &str)] = &[
            ("sum(x)", "functions such as sum(...)"),
            ("sum by (a) (x)", "aggregations"),
            ("x{a!=\"1\"}", "the != matcher"),
            ("x{a=~\"1.*\"}", "the =~ matcher"),
            ("x{a!~\"1\"}", "the !~ matcher"),
            ("x[5m]", "range vectors"),
            ("x / 2", "binary operators"),
            ("x > 2", "binary operators"),
            ("x offset 5m", "offset"),
            ("x and y", "the and operator"),
            ("x @ 100", "@ modifier"),
            ("{__name__=\"x\"}", "without a metric name"),
            ("42", "number literals"),
            ("(x)", "parenthesised"),
        ];
        for (q, what) in cases {
            let err = parse(q).unwrap_err();
            assert!(
                matches!(err, QueryError::Unsupported { .. }),
                "{q}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(what), "{q}: {msg}");
            assert!(msg.contains(&format!("{q:?}")), "{q}: {msg}");
            assert!(msg.contains("exact selectors only"), "{q}: {msg}");
        }
    }

    #[test]
    fn reports_syntax_errors_with_a_column() {
        let cases: &[(&str, usize)] = &[
            ("", 1),
            ("x{a=\"1\"", 8),
            ("x{a=1}", 5),
            ("x{a}", 4),
            ("x{a=\"1\" b=\"2\"}", 9),
            ("x{a=\"1", 7),
            ("x y", 3),
        ];
        for (q, column) in cases {
            match parse(q) {
                Err(QueryError::Syntax { column: c, .. }) => assert_eq!(c, *column, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn resolves_exactly_one_series() {
        let store = FakeMetricStore::new();
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        store.set("q", &l(&[("name", "a"), ("namespace", "default")]), 1.0);
        store.set("q", &l(&[("namespace", "default"), ("name", "b")]), 2.0);
        assert_eq!(store.query("q{name=\"a\"}").unwrap(), 1.0);
        // Label order does not matter for identity: this updates "b".
        store.set("q", &l(&[("name", "b"), ("namespace", "default")]), 3.0);
        assert_eq!(store.query("q{name='b',namespace='default'}").unwrap(), 3.0);
        assert_eq!(store.series().len(), 2);

        let err = store.query("q").unwrap_err();
        assert!(matches!(err, QueryError::SeveralSeries { count: 2, .. }));
        let err = store.query("q{name=\"c\"}").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("matched no series"), "{msg}");
        assert!(msg.contains(r#"{name="a",namespace="default"}"#), "{msg}");
        let err = store.query("nope").unwrap_err();
        assert!(err.to_string().contains("no series named nope"), "{err}");

        // A cached "no series" answer is dropped once the series appears.
        store.set("nope", &[], 5.0);
        assert_eq!(store.query("nope").unwrap(), 5.0);
    }

    #[test]
    fn listings_and_messages_are_sorted_whatever_the_insertion_order() {
        let store = FakeMetricStore::new();
        for name in ["e", "b", "d", "a", "c", "f", "g"] {
            store.set("q", &[("name".to_string(), name.to_string())], 1.0);
        }
        store.set("p", &[("name".to_string(), "z".to_string())], 2.0);
        let listed: Vec<(String, String)> = store
            .series()
            .into_iter()
            .map(|s| (s.name, s.labels[0].1.clone()))
            .collect();
        let names = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            listed,
            names(&[
                ("p", "z"),
                ("q", "a"),
                ("q", "b"),
                ("q", "c"),
                ("q", "d"),
                ("q", "e"),
                ("q", "f"),
                ("q", "g")
            ])
        );
        // The first five, in label order, then how many more.
        let msg = store.query("q{name=\"x\"}").unwrap_err().to_string();
        assert!(
            msg.contains(
                r#"{name="a"}, {name="b"}, {name="c"}, {name="d"}, {name="e"} and 2 more"#
            ),
            "{msg}"
        );
        // Several matches: the first three in label order.
        let QueryError::SeveralSeries { matched, count, .. } = store.query("q").unwrap_err() else {
            panic!("several series expected");
        };
        assert_eq!(count, 7);
        assert_eq!(matched, r#"{name="a"}, {name="b"}, {name="c"}"#);
    }
}
