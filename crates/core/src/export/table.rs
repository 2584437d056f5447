//! What every table shares: the two styles, the header, right-aligned numbers and their formats.

use comfy_table::{presets, Cell, CellAlignment, ColumnConstraint, ContentArrangement};

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

/// A table of `style`: a comfy-table (rows are added through it) that prints to fit. A text table
/// wider than the terminal (`$COLUMNS` where set, else the terminal's width; full width when stdout
/// is no terminal) prints as several tables one under the other, each with the first column and
/// as many of the others as fit: squeezing 24 columns into 80 characters wraps every cell into a
/// letter per line.
#[derive(Debug, Clone)]
pub struct Table(comfy_table::Table, Style);

impl std::ops::Deref for Table {
    type Target = comfy_table::Table;
    fn deref(&self) -> &comfy_table::Table {
        &self.0
    }
}

impl std::ops::DerefMut for Table {
    fn deref_mut(&mut self) -> &mut comfy_table::Table {
        &mut self.0
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok());
        let Some(width) = columns.or(self.0.width().map(usize::from)).filter(|_| self.1 == Style::Text)
        else {
            return write!(f, "{}", self.0);
        };
        // A column takes its content, a space either side and one separator.
        let widths: Vec<usize> = self.0.column_max_content_widths().iter().map(|&w| w as usize + 3).collect();
        if widths.iter().sum::<usize>() < width {
            return write!(f, "{}", self.0);
        }
        let mut parts: Vec<Vec<usize>> = vec![];
        for i in 1..widths.len() {
            match parts.last_mut() {
                Some(p) if widths[0] + p.iter().map(|&j| widths[j]).sum::<usize>() + widths[i] < width => {
                    p.push(i)
                }
                _ => parts.push(vec![i]),
            }
        }
        for (n, part) in parts.iter().enumerate() {
            let mut t = self.0.clone();
            // A column of long text (an error, a note) still wraps within the width.
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width.min(u16::MAX as usize) as u16);
            for (i, c) in t.column_iter_mut().enumerate() {
                if i != 0 && !part.contains(&i) {
                    c.set_constraint(ColumnConstraint::Hidden);
                }
            }
            write!(f, "{}{t}", if n == 0 { "" } else { "\n" })?;
        }
        Ok(())
    }
}

/// An empty table in `style` with this header; a text table draws its lines in ASCII where the
/// locale is not UTF-8.
pub fn table<S: ToString>(style: Style, header: &[S]) -> Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(match style {
        Style::Text if utf8_locale() => presets::UTF8_FULL_CONDENSED,
        Style::Text => presets::ASCII_FULL_CONDENSED,
        Style::Markdown => presets::ASCII_MARKDOWN,
    });
    t.set_header(header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    Table(t, style)
}

/// Whether the locale's character set is UTF-8: the first of LC_ALL, LC_CTYPE and LANG that is
/// set decides, as in C's setlocale; none set is the C locale (ASCII).
fn utf8_locale() -> bool {
    let set =
        ["LC_ALL", "LC_CTYPE", "LANG"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    set.is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("utf-8") || v.contains("utf8")
    })
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
