//! [`Timeline`]: what a simulation recorded, step by step, written as CSV and
//! as an SVG chart.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use plotters::prelude::*;

use crate::clock::seconds_between;
use crate::error::SimError;

/// Most points per line in the chart; longer timelines keep each bucket's
/// largest value, so peaks survive.
const CHART_POINTS: usize = 1500;

/// Most panels in one chart.
const MAX_PANELS: usize = 8;
/// Most lines in one panel.
const MAX_LINES: usize = 8;

/// Colours of the chart's lines, in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One recorded quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// CSV header, e.g. `ml-training.ready_replicas`.
    pub name: String,
    /// Title of the chart panel it is drawn in; columns with the same panel
    /// share axes.
    pub panel: String,
    /// Legend entry in the chart.
    pub legend: String,
    /// Factor applied in the chart only (e.g. 100 to show a fraction as a
    /// percent); the CSV holds the raw value.
    pub chart_scale: f64,
    /// A horizontal reference line in the panel (chart units), e.g. the
    /// metric's target.
    pub target: Option<f64>,
    /// Drawn dashed, on top of the solid lines (e.g. desired replicas over
    /// ready replicas).
    pub dashed: bool,
}

impl Column {
    /// A column drawn in `panel` as `legend`, unscaled, without target.
    pub fn new(
        name: impl Into<String>,
        panel: impl Into<String>,
        legend: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            panel: panel.into(),
            legend: legend.into(),
            chart_scale: 1.0,
            target: None,
            dashed: false,
        }
    }

    /// The same column, drawn dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// The values of every column at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Simulated time.
    pub time: DateTime<Utc>,
    /// One value per column; `None` when it could not be read.
    pub values: Vec<Option<f64>>,
}

/// A table of recorded values: one [`Row`] per simulation step.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::{Column, Row, Timeline};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
/// let mut t = Timeline::new(start, vec![Column::new("g.ready_replicas", "Nodes", "g ready")]);
/// t.push(Row { time: start, values: vec![Some(0.0)] });
/// t.push(Row { time: start + chrono::Duration::seconds(15), values: vec![Some(4.0)] });
/// assert_eq!(t.to_csv(), "time,elapsed_seconds,g.ready_replicas\n\
///                         2026-01-05T00:00:00Z,0,0\n\
///                         2026-01-05T00:00:15Z,15,4\n");
/// assert_eq!(t.values("g.ready_replicas").unwrap(), vec![Some(0.0), Some(4.0)]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    start: DateTime<Utc>,
    columns: Vec<Column>,
    rows: Vec<Row>,
}

impl Timeline {
    /// An empty timeline whose elapsed time counts from `start`.
    pub fn new(start: DateTime<Utc>, columns: Vec<Column>) -> Self {
        Self {
            start,
            columns,
            rows: Vec::new(),
        }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The rows, oldest first.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Appends a row (its values line up with [`columns`](Self::columns)).
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Index of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Every value of column `name`, oldest first.
    pub fn values(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let i = self.column(name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.values.get(i).copied().flatten())
                .collect(),
        )
    }

    /// The timeline as CSV: `time` (RFC 3339, UTC), `elapsed_seconds`, then
    /// one column per recorded quantity; an unreadable value is empty.
    /// Formatting is exact and deterministic.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(64 + self.rows.len() * (24 + 8 * self.columns.len()));
        out.push_str("time,elapsed_seconds");
        for c in &self.columns {
            out.push(',');
            out.push_str(&csv_field(&c.name));
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&r.time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            let _ = write!(out, ",{}", seconds_between(self.start, r.time));
            for v in &r.values {
                out.push(',');
                if let Some(v) = v {
                    let _ = write!(out, "{v}");
                }
            }
            out.push('\n');
        }
        out
    }

    /// Writes [`to_csv`](Self::to_csv) to `path`, creating parent directories.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), SimError> {
        write_file(path.as_ref(), &self.to_csv())
    }

    /// The chart as an SVG document: one panel per distinct
    /// [`Column::panel`] (the first 8 panels, the first 8 lines in each),
    /// time on the x axis, values drawn as steps. Timelines longer than 1,500
    /// rows keep each bucket's largest value, so peaks survive.
    pub fn to_svg(&self, title: &str) -> Result<String, String> {
        let mut panels: Vec<&str> = Vec::new();
        for c in &self.columns {
            if !panels.contains(&c.panel.as_str()) {
                panels.push(&c.panel);
            }
        }
        // A chart stays readable: the CSV has everything.
        panels.truncate(MAX_PANELS);
        let (unit, divisor) = time_unit(
            self.rows
                .last()
                .map_or(0.0, |r| seconds_between(self.start, r.time)),
        );
        let points = self.chart_points(divisor);
        let x_max = points.last().map_or(0.0, |p| p.0);
        let x_max = if x_max > 0.0 { x_max } else { 1.0 };
        let panel_height = 230u32;
        let height = 50 + panel_height * u32::try_from(panels.len().max(1)).unwrap_or(1);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let root = root
                .titled(title, ("sans-serif", 22))
                .map_err(|e| e.to_string())?;
            let areas = root.split_evenly((panels.len().max(1), 1));
            for (panel, area) in panels.iter().zip(areas.iter()) {
                let mut cols: Vec<usize> = self
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.panel == *panel)
                    .map(|(i, _)| i)
                    .collect();
                let caption = if cols.len() > MAX_LINES {
                    format!(
                        "{panel} (first {MAX_LINES} of {} lines; all are in the CSV)",
                        cols.len()
                    )
                } else {
                    (*panel).to_string()
                };
                cols.truncate(MAX_LINES);
                // Solid lines first, dashed ones on top; colours stay by position.
                let colors: Vec<(usize, RGBColor)> = cols
                    .iter()
                    .enumerate()
                    .map(|(n, &i)| (i, PALETTE[n % PALETTE.len()]))
                    .collect();
                cols.sort_by_key(|&i| self.columns.get(i).is_some_and(|c| c.dashed));
                let mut y_max: f64 = 1.0;
                for &i in &cols {
                    let scale = self.columns.get(i).map_or(1.0, |c| c.chart_scale);
                    for p in &points {
                        if let Some(Some(v)) = p.1.get(i)
                            && v.is_finite()
                        {
                            y_max = y_max.max(v * scale);
                        }
                    }
                    if let Some(t) = self.columns.get(i).and_then(|c| c.target) {
                        y_max = y_max.max(t);
                    }
                }
                let y_max = y_max * 1.08;
                let mut chart = ChartBuilder::on(area)
                    .caption(caption, ("sans-serif", 16))
                    .margin(10)
                    .x_label_area_size(32)
                    .y_label_area_size(60)
                    .build_cartesian_2d(0f64..x_max, 0f64..y_max)
                    .map_err(|e| e.to_string())?;
                let y_fmt = |v: &f64| {
                    if y_max >= 20.0 {
                        format!("{v:.0}")
                    } else {
                        trim_number(*v)
                    }
                };
                let x_fmt = |v: &f64| trim_number(*v);
                chart
                    .configure_mesh()
                    .x_desc(format!("simulated {unit}"))
                    .x_label_formatter(&x_fmt)
                    .y_label_formatter(&y_fmt)
                    .light_line_style(RGBColor(235, 235, 235))
                    .x_labels(12)
                    .y_labels(6)
                    .draw()
                    .map_err(|e| e.to_string())?;
                for &i in &cols {
                    let Some(column) = self.columns.get(i) else {
                        continue;
                    };
                    let color = colors.iter().find(|c| c.0 == i).map_or(PALETTE[0], |c| c.1);
                    let scale = column.chart_scale;
                    // Values hold from one step to the next: draw steps.
                    let mut line: Vec<(f64, f64)> = Vec::with_capacity(points.len() * 2);
                    for p in &points {
                        let Some(Some(v)) = p.1.get(i) else {
                            continue;
                        };
                        if !v.is_finite() {
                            continue;
                        }
                        if let Some(&(_, prev)) = line.last() {
                            line.push((p.0, prev));
                        }
                        line.push((p.0, v * scale));
                    }
                    let style = color.stroke_width(2);
                    let anno = if column.dashed {
                        chart.draw_series(DashedLineSeries::new(line, 6, 4, style))
                    } else {
                        chart.draw_series(LineSeries::new(line, style))
                    }
                    .map_err(|e| e.to_string())?;
                    anno.label(column.legend.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
                    if let Some(t) = column.target {
                        let faint = color.mix(0.6).stroke_width(1);
                        chart
                            .draw_series(DashedLineSeries::new(
                                vec![(0.0, t), (x_max, t)],
                                3,
                                3,
                                faint,
                            ))
                            .map_err(|e| e.to_string())?
                            .label(format!("target {}", trim_number(t)))
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 18, y)], faint)
                            });
                    }
                }
                // Put the legend where the lines are not: low if the right
                // quarter of the panel is mostly high, else high.
                let right: Vec<f64> = cols
                    .iter()
                    .flat_map(|&i| {
                        let scale = self.columns.get(i).map_or(1.0, |c| c.chart_scale);
                        points
                            .iter()
                            .filter(|p| p.0 >= x_max * 0.75)
                            .filter_map(move |p| p.1.get(i).copied().flatten().map(|v| v * scale))
                    })
                    .collect();
                let high = right.iter().filter(|v| **v > y_max * 0.55).count();
                let position = if high * 2 > right.len() {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                };
                chart
                    .configure_series_labels()
                    .position(position)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(200, 200, 200))
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }

    /// Writes [`to_svg`](Self::to_svg) to `path`, creating parent directories.
    pub fn write_svg(&self, path: impl AsRef<Path>, title: &str) -> Result<(), SimError> {
        let path = path.as_ref();
        let svg = self.to_svg(title).map_err(|message| SimError::Chart {
            path: path.to_path_buf(),
            message,
        })?;
        write_file(path, &svg)
    }

    /// `(x in chart units, values)`, reduced to at most [`CHART_POINTS`] by
    /// keeping each bucket's largest value per column.
    fn chart_points(&self, divisor: f64) -> Vec<(f64, Vec<Option<f64>>)> {
        let bucket = self.rows.len().div_ceil(CHART_POINTS).max(1);
        self.rows
            .chunks(bucket)
            .map(|chunk| {
                let x = chunk
                    .first()
                    .map_or(0.0, |r| seconds_between(self.start, r.time) / divisor);
                let values = (0..self.columns.len())
                    .map(|i| {
                        chunk
                            .iter()
                            .filter_map(|r| r.values.get(i).copied().flatten())
                            .fold(None, |acc: Option<f64>, v| {
                                Some(acc.map_or(v, |a| a.max(v)))
                            })
                    })
                    .collect();
                (x, values)
            })
            .collect()
    }
}

/// The x-axis unit for a run of `seconds`, and seconds per unit.
fn time_unit(seconds: f64) -> (&'static str, f64) {
    if seconds <= 3.0 * 3600.0 {
        ("minutes", 60.0)
    } else if seconds <= 3.0 * 86400.0 {
        ("hours", 3600.0)
    } else {
        ("days", 86400.0)
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_file(path: &Path, contents: &str) -> Result<(), SimError> {
    let io = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}
