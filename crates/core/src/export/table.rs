//! What every table shares: the two styles, the header, right-aligned numbers and their formats.

use comfy_table::{presets, Cell, CellAlignment, Table};

/// Text tables for a terminal, or Markdown for the README and CI logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Markdown,
}

impl Style {
    /// A section title in this style.
    pub fn title(self, s: &str) -> String {
        match self {
            Style::Text => format!("{s}\n"),
            Style::Markdown => format!("### {s}\n\n"),
        }
    }
}

/// An empty table in `style` with this header.
pub fn table<S: ToString>(style: Style, header: &[S]) -> Table {
    let mut t = Table::new();
    t.load_preset(match style {
        Style::Text => presets::UTF8_FULL_CONDENSED,
        Style::Markdown => presets::ASCII_MARKDOWN,
    });
    t.set_header(header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    t
}

/// A right-aligned cell (numbers).
/// A hidden width, or `-` for a model without one (LeNet).
pub fn width(hidden: usize) -> String {
    match hidden {
        0 => "-".into(),
        h => h.to_string(),
    }
}

pub fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

/// `x` with `digits` decimals, `-` when not finite (a missing value).
pub fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "-".into()
    }
}

/// A fraction as a percentage with two decimals, `-` when not finite.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "-".into()
    }
}
