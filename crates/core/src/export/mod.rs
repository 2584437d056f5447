//! Everything a results file turns into for a reader, one format per file (after hyperfine's
//! `export/`): the compare tables, the bench tables, the regression table, CSV and the SVG plot.
//! All of them read a [`crate::results::Results`] and nothing else.

pub mod bench;
pub mod compare;
pub mod csv;
pub mod machines;
pub mod plot;
pub mod regress;
pub mod table;
pub mod verdict;

pub use table::Style;

/// The tables that fit a results file: the bench tables for `mlcmp bench` results, else compare's.
pub fn render_any(res: &crate::results::Results, style: Style) -> String {
    if res.bench.is_some() {
        bench::render(res, style)
    } else {
        compare::render(res, style)
    }
}
