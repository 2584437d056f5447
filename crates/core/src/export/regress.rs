//! The regression checks as a table, as CSV and as JSON.

use super::csv::field;
use super::table::Table;
use super::table::{num, right, table, Style};
use crate::regress::Check;
use comfy_table::Cell;

pub fn table_of(checks: &[Check], style: Style) -> Table {
    let mut t = table(style, &["metric", "baseline", "current", "allowed", "verdict"]);
    for c in checks {
        let verdict = match c.pass {
            Some(true) => "ok",
            Some(false) => "REGRESSED",
            None => "",
        };
        t.add_row(vec![
            Cell::new(&c.metric),
            right(num(c.baseline, 4)),
            right(num(c.current, 4)),
            Cell::new(&c.allowed),
            Cell::new(verdict),
        ]);
    }
    t
}

/// The checks as CSV, a row each; `verdict` is `ok`, `regressed` or empty (shown, not gated).
pub fn csv_of(checks: &[Check]) -> String {
    let mut out = String::from("metric,baseline,current,allowed,verdict\n");
    for c in checks {
        let verdict = match c.pass {
            Some(true) => "ok",
            Some(false) => "regressed",
            None => "",
        };
        out +=
            &format!("{},{},{},{},{verdict}\n", field(&c.metric), c.baseline, c.current, field(&c.allowed));
    }
    out
}

/// The checks as JSON: which files were compared, every check, and whether any regressed.
pub fn json_of(baseline: &str, current: &str, checks: &[Check]) -> String {
    let value = serde_json::json!({
        "baseline": baseline,
        "current": current,
        "regressed": checks.iter().any(|c| c.pass == Some(false)),
        "checks": checks,
    });
    serde_json::to_string_pretty(&value).expect("checks serialise")
}
