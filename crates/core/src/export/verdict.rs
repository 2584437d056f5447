//! The verdict table: one row per claim, its measured value and interval, the rule and the word,
//! with a sentence of the answer above it and the interval method below.

use super::table::{table, Style, Table};
use crate::results::Results;
use crate::verdict::{method, verdicts, Verdict, Word, BAND};
use comfy_table::Cell;

pub fn verdict_table(verdicts: &[Verdict], style: Style) -> Table {
    let mut t = table(style, &["claim", "measured", "verdict", "rule"]);
    for v in verdicts {
        t.add_row(vec![Cell::new(&v.claim), Cell::new(&v.measured), Cell::new(v.word), Cell::new(&v.rule)]);
    }
    t
}

/// The answer in one sentence: each speed verdict's word and interval, on which machine.
pub fn answer(res: &Results, verdicts: &[Verdict]) -> String {
    let speed: Vec<String> = verdicts
        .iter()
        .filter(|v| v.claim.starts_with("the article's speed claim"))
        .map(|v| {
            let label =
                v.claim.split(':').next().unwrap_or_default().replace("the article's speed claim, ", "");
            match v.word {
                Word::Unavailable => format!("{label}: unavailable ({})", v.measured),
                w => format!("{label}: {w}, {}", v.measured),
            }
        })
        .collect();
    format!(
        "The article's 2.47x on {} ({} cores, {} threads): {}.",
        res.machine.cpu,
        res.machine.cores,
        res.machine.threads,
        speed.join("; ")
    )
}

/// The section: the sentence, the table, and how the intervals were made.
pub fn render(res: &Results, style: Style) -> String {
    let all = verdicts(res);
    let sep = if style == Style::Markdown { "\n\n" } else { "\n" };
    format!(
        "{}{}\n\n{}\n\n{}{sep}the band: a ratio reproduces the article's within a factor of {BAND} either way (one run per framework on an unstated CPU); {}\n",
        style.title("Verdict"),
        answer(res, &all),
        verdict_table(&all, style),
        method(res),
        "words: reproduced / refuted (the interval inside / outside the band), inconclusive (across its edge), agrees / differs (a port against its framework), unavailable (a backend did not run), shown (measured, no claim)"
    )
}
