//! `mlcmp bench --against OLD`: every backend of this build against the same backend of another
//! build, both run in alternation (ABBA) in their own worker processes, so drift and a neighbour
//! hit both alike. Per backend and round: new/old from the paired repeats with a 95% interval, a
//! word, the smallest slowdown the gate catches at the run's spread, and whether the gate fails.
//!
//! ```
//! use mlcmp_core::bench::ab::{judge, Change};
//! use mlcmp_core::stats::Interval;
//! let i = Interval { estimate: 1.08, lo: 1.05, hi: 1.11, n: 5 };
//! assert_eq!(judge(&i), (Change::Slower, true)); // slower, and beyond the gate's 2%
//! ```

pub use crate::claims::{AbCheck, Change};
use crate::results::Results;
use crate::run::{RunResult, Variant};
use crate::stats::{median, ratio_paired, Interval};

/// The gate fails a backend whose new/old interval lies wholly above 1 + GATE, in a run and again
/// in its confirming run. Not 0: two builds of different commits differ by a percent or so in
/// code layout alone, which is no regression; not more: the gate is there to see 5%.
pub const GATE: f64 = 0.02;

/// The probability at which [`AbCheck::detectable`] is computed: the slowdown the gate catches
/// this often at the run's spread.
pub const POWER: f64 = 0.8;

/// The word for a new/old interval, and whether it is beyond the gate.
pub fn judge(i: &Interval) -> (Change, bool) {
    let change = if i.lo > 1.0 {
        Change::Slower
    } else if i.hi < 1.0 {
        Change::Faster
    } else {
        Change::NoChangeDetected
    };
    (change, i.lo > 1.0 + GATE)
}

/// Per repeat, (new median epoch, old median epoch) for the runs of one backend, sweep point,
/// neighbour and round.
fn pairs(res: &Results, key: &Key, rounds: usize) -> Vec<(f64, f64)> {
    let of = |runs: &[RunResult]| -> Vec<(usize, f64)> {
        runs.iter()
            .filter(|r| key.matches(res, r) && r.repeat.is_some_and(|k| k / rounds == key.round))
            .map(|r| (r.repeat.unwrap_or(0), median(&r.timed_epochs())))
            .filter(|(_, m)| m.is_finite())
            .collect()
    };
    let (new, old) = (of(&res.runs), of(&res.baseline_runs));
    new.iter().filter_map(|&(k, n)| old.iter().find(|(j, _)| *j == k).map(|&(_, o)| (n, o))).collect()
}

struct Key {
    backend: String,
    variant: Variant,
    neighbour: bool,
    round: usize,
}

impl Key {
    fn matches(&self, res: &Results, r: &RunResult) -> bool {
        r.backend == self.backend && r.neighbour == self.neighbour && variant(res, r) == self.variant
    }
}

fn variant(res: &Results, r: &RunResult) -> Variant {
    r.variant.unwrap_or(Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden })
}

/// Every backend's A/B in `res`, round by round (repeats `0..repeats` are round 0, the confirming
/// run's follow); empty for a bench without a baseline build.
pub fn checks(res: &Results) -> Vec<AbCheck> {
    let Some(repeats) = res.bench.as_ref().filter(|b| b.against.is_some()).map(|b| b.repeats.max(1)) else {
        return vec![];
    };
    let mut keys: Vec<Key> = vec![];
    for r in &res.runs {
        let round = r.repeat.unwrap_or(0) / repeats;
        let (v, n) = (variant(res, r), r.neighbour);
        if !keys
            .iter()
            .any(|k| k.backend == r.backend && k.variant == v && k.neighbour == n && k.round == round)
        {
            keys.push(Key { backend: r.backend.clone(), variant: v, neighbour: n, round });
        }
    }
    keys.sort_by_key(|k| k.round);
    let mut out: Vec<AbCheck> = keys
        .iter()
        .map(|k| {
            let p = pairs(res, k, repeats);
            let ratio = ratio_paired(&p, crate::verdict::LEVEL);
            let (change, flagged) = ratio.as_ref().map_or((Change::NotMeasured, false), judge);
            AbCheck {
                backend: k.backend.clone(),
                variant: k.variant,
                neighbour: k.neighbour,
                round: k.round,
                new_s: median(&p.iter().map(|x| x.0).collect::<Vec<_>>()),
                old_s: median(&p.iter().map(|x| x.1).collect::<Vec<_>>()),
                ratio,
                detectable: detectable(&p),
                change,
                flagged,
                failed: false,
            }
        })
        .collect();
    for i in 0..out.len() {
        let c = &out[i];
        let same =
            |d: &AbCheck| d.backend == c.backend && d.variant == c.variant && d.neighbour == c.neighbour;
        let confirm = out.iter().find(|d| d.round == 1 && same(d));
        out[i].failed = c.round == 0 && c.flagged && confirm.is_none_or(|d| d.flagged);
    }
    out
}

/// The slowdown the gate catches with probability [`POWER`] from pairs spread like `pairs`: the
/// interval's lower bound must clear ln(1 + GATE), so the true log ratio must exceed it by the
/// half-width plus the t quantile of the power times the standard error.
fn detectable(pairs: &[(f64, f64)]) -> f64 {
    let logs: Vec<f64> = pairs.iter().map(|(n, o)| (n / o).ln()).filter(|x| x.is_finite()).collect();
    if logs.len() < 2 {
        return f64::NAN;
    }
    let n = logs.len() as f64;
    let se = (crate::stats::mean_var(&logs).1 / n).sqrt();
    let t = |p: f64| crate::stats::t_inverse(p, n - 1.0);
    let level = crate::verdict::LEVEL;
    ((1.0 + GATE).ln() + (t(0.5 + level / 2.0) + t(POWER)) * se).exp() - 1.0
}

/// The checks the gate fails ([`AbCheck::failed`]).
pub fn regressed(checks: &[AbCheck]) -> Vec<&AbCheck> {
    checks.iter().filter(|c| c.failed).collect()
}

/// The backends round 0 flagged, to run again in the confirming round.
pub fn to_confirm(checks: &[AbCheck]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for c in checks.iter().filter(|c| c.round == 0 && c.flagged) {
        if !out.contains(&c.backend) {
            out.push(c.backend.clone());
        }
    }
    out
}
