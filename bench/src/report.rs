//! The report: tables on stdout and in docs/benchmarks.md, and bar charts in docs/benchmarks.svg.

use std::fmt::Write as _;

/// Everything a run prints and writes: its tables (printed as they are made) and charts.
#[derive(Default)]
pub struct Report {
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
}

impl Report {
    pub fn table(&mut self, table: Table) {
        table.print();
        self.tables.push(table);
    }

    pub fn chart(&mut self, chart: Chart) {
        self.charts.push(chart);
    }
}

/// Milliseconds as the tables show them.
pub fn ms(value: f64) -> String {
    format!("{value:.2}")
}

/// `value` as a multiple of its baseline.
pub fn ratio(value: f64, floor: f64) -> String {
    if floor > 0.0 { format!("{:.2}×", value / floor) } else { "-".into() }
}

/// A plain-text/markdown table.
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub note: String,
}

impl Table {
    pub fn new(title: &str, header: &[&str], note: &str) -> Self {
        Self {
            title: title.to_owned(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            note: note.to_owned(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| self.rows.iter().map(|r| r[i].chars().count()).chain([self.header[i].len()]).max().unwrap_or(0))
            .collect();
        println!("\n{}", self.title);
        let line = |cells: &[String]| {
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect::<Vec<_>>().join("  ")
        };
        println!("{}", line(&self.header));
        for row in &self.rows {
            println!("{}", line(row));
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let _ = writeln!(out, "|{}|", self.header.iter().map(|_| "---:").collect::<Vec<_>>().join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if !self.note.is_empty() {
            let _ = writeln!(out, "\n{}", self.note);
        }
        out.push('\n');
        out
    }
}

/// One bar chart: labelled values, the first bar being the baseline.
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub bars: Vec<(String, f64)>,
}

/// Charts stacked in one SVG.
pub fn svg(charts: &[Chart]) -> String {
    let (width, bar_height, label_width) = (900.0, 18.0, 330.0);
    let mut y = 10.0;
    let mut body = String::new();
    for chart in charts {
        let max = chart.bars.iter().map(|(_, v)| *v).fold(f64::MIN_POSITIVE, f64::max);
        let _ = writeln!(
            body,
            r#"<text x="10" y="{}" font-weight="bold">{} ({})</text>"#,
            y + 14.0,
            escape(&chart.title),
            escape(&chart.unit)
        );
        y += 26.0;
        for (i, (label, value)) in chart.bars.iter().enumerate() {
            let length = (width - label_width - 90.0) * value / max;
            let color = if i == 0 { "#999999" } else { "#2b6cb0" };
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{label_width}" y="{}" width="{length:.1}" height="{}" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                label_width - 6.0,
                y + 13.0,
                escape(label),
                y,
                bar_height - 4.0,
                label_width + length + 6.0,
                y + 13.0,
                format_value(*value)
            );
            y += bar_height;
        }
        y += 16.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
{body}</svg>
"#
    )
}

fn format_value(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
