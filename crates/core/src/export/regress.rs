//! The regression checks as a table.

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
