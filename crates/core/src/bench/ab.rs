//! `mlcmp bench --against OLD`: every backend of this build against the same backend of another
//! build, both run in alternation (ABBA) in their own worker processes, so drift and a neighbour
//! hit both alike. Per backend, the run: new/old from the paired repeats with a 95% t interval and
//! a word. A backend whose estimate is beyond the gate runs again, and the gate looks at all its
//! repeats so far pooled (Hodges-Lehmann estimate, exact signed-rank 95% interval): it fails the
//! backend when that interval lies wholly beyond the gate, passes it when the estimate is back
//! within, and otherwise runs it again, up to [`CONFIRMING_RUNS`] times (a group-sequential
//! design: unchanged code rarely pays for more than the run, a real slowdown gets the repeats it
//! takes to show).
//!
//! ```
//! use mlcmp_core::bench::ab::{judge, screened, Change};
//! use mlcmp_core::stats::Interval;
//! let i = Interval { estimate: 1.08, lo: 1.05, hi: 1.11, n: 5 };
//! assert_eq!(judge(&i), (Change::Slower, true)); // slower, and wholly beyond the gate's 2%
//! let j = Interval { estimate: 1.04, lo: 0.97, hi: 1.11, n: 5 };
//! assert!(screened(&j)); // no change detected yet, but worth a second look
//! ```

pub use crate::claims::{AbCheck, Change};
use crate::results::Results;
use crate::run::{RunResult, Variant};
use crate::stats::{median, ratio_paired, ratio_signed_rank, Interval};

/// The gate fails a backend whose pooled new/old interval lies wholly above 1 + GATE. Not 0: two
/// builds of different commits differ by a percent or so in code layout alone, which is no
/// regression; not more: the gate is there to see 5%.
pub const GATE: f64 = 0.02;

/// At most this many confirming runs, each of the run's repeats, for a backend whose builds take
/// turns epoch by epoch ([`confirming_runs`]): the gate decides on at most (1 + CONFIRMING_RUNS)
/// x the repeats. Replaying the measured trials' repeats, a third look
/// caught most of what a fourth would (results/README.md, "The CI gate's power").
pub const CONFIRMING_RUNS: usize = 3;

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

/// Whether a run's estimate is beyond the gate, so the backend runs again. The estimate, not the
/// lower bound: a few repeats on a shared VM rarely bound a 5% slowdown away from 2%, so the
/// pooled interval of the run and its confirming runs decides; an unchanged backend screened by
/// chance is cleared by it (`scripts/gate-power` counts how often either happens).
pub fn screened(i: &Interval) -> bool {
    i.estimate > 1.0 + GATE
}

/// How many confirming runs `backend` may get in `res`: [`CONFIRMING_RUNS`] where its two builds'
/// workers took turns epoch by epoch, one where they alternated whole workers (the real
/// frameworks, or a baseline build without turns). Whole-worker pairs spread several times wider
/// (results/README.md, the CI A/B step), so more looks cannot bound 5% there and each costs
/// minutes; one keeps a false alarm two in a row.
pub fn confirming_runs(res: &Results, backend: &str) -> usize {
    let turns =
        res.bench.as_ref().is_some_and(|b| b.lockstep) && crate::bench::lockstep::can_take_turns(backend);
    if turns {
        CONFIRMING_RUNS
    } else {
        1
    }
}

/// Per repeat, (new median epoch, old median epoch) for the runs of one backend, sweep point and
/// neighbour: round 0's, or for a confirming round every round's repeats up to it pooled.
fn pairs(res: &Results, key: &Key, repeats: usize) -> Vec<(f64, f64)> {
    let of = |runs: &[RunResult]| -> Vec<(usize, f64)> {
        runs.iter()
            .filter(|r| key.matches(res, r) && r.repeat.is_some_and(|k| k / repeats <= key.round))
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

/// Every backend's A/B in `res`: round 0 (repeats `0..repeats`) and, for a backend that ran
/// again, each confirming round r (repeats `r * repeats..(r + 1) * repeats`) pooled with all
/// before it; empty for a bench without a baseline build.
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
            let level = crate::verdict::LEVEL;
            let ratio = if k.round == 0 { ratio_paired(&p, level) } else { ratio_signed_rank(&p, level) };
            let (change, beyond) = ratio.as_ref().map_or((Change::NotMeasured, false), judge);
            let flagged = match k.round {
                0 => ratio.as_ref().is_some_and(screened),
                _ => beyond,
            };
            // A confirming round leaves the backend undecided while its estimate is beyond the
            // gate and its interval not wholly beyond it.
            let again = match k.round {
                0 => flagged,
                r => r < confirming_runs(res, &k.backend) && !beyond && ratio.as_ref().is_some_and(screened),
            };
            AbCheck {
                backend: k.backend.clone(),
                variant: k.variant,
                neighbour: k.neighbour,
                round: k.round,
                new_s: median(&p.iter().map(|x| x.0).collect::<Vec<_>>()),
                old_s: median(&p.iter().map(|x| x.1).collect::<Vec<_>>()),
                ratio,
                detectable: detectable(&p, if k.round == 0 { 2 } else { 1 }),
                change,
                flagged,
                failed: false,
                again,
            }
        })
        .collect();
    for i in 0..out.len() {
        let c = &out[i];
        let last = confirming(&out, c);
        // Without a confirming run (the bench was stopped), the run's own interval decides.
        let alone = c.ratio.as_ref().is_some_and(|i| judge(i).1);
        out[i].failed = c.round == 0 && c.flagged && last.map_or(alone, |d| d.flagged);
    }
    out
}

/// The gate's word for one check: round 0 "run again" when screened, a confirming round "fail"
/// when its pooled interval lies beyond the gate, "run again" when still undecided with runs
/// left; else "pass".
pub fn gate_word(c: &AbCheck) -> &'static str {
    if c.again {
        "run again"
    } else if c.round > 0 && c.flagged {
        "fail"
    } else {
        "pass"
    }
}

/// The slowdown the gate catches with probability [`POWER`] from pairs spread like `pairs` when it
/// decides on `times` as many (2 for a run: at least the run and one confirming run): the lower
/// bound must clear ln(1 + GATE), so the true log ratio must exceed it by the half-width plus the
/// t quantile of the power times the standard error (the t formula standing in for the signed-rank
/// interval's width).
fn detectable(pairs: &[(f64, f64)], times: usize) -> f64 {
    let logs: Vec<f64> = pairs.iter().map(|(n, o)| (n / o).ln()).filter(|x| x.is_finite()).collect();
    if logs.len() < 2 {
        return f64::NAN;
    }
    let n = (times * logs.len()) as f64;
    let se = (crate::stats::mean_var(&logs).1 / n).sqrt();
    let t = |p: f64| crate::stats::t_inverse(p, n - 1.0);
    let level = crate::verdict::LEVEL;
    ((1.0 + GATE).ln() + (t(0.5 + level / 2.0) + t(POWER)) * se).exp() - 1.0
}

/// The backends the gate fails ([`AbCheck::failed`]), each by the check that decided: the last
/// confirming round, or the run alone where it had no confirming run.
pub fn regressed(checks: &[AbCheck]) -> Vec<&AbCheck> {
    checks.iter().filter(|c| c.failed).map(|c| confirming(checks, c).unwrap_or(c)).collect()
}

/// The last confirming (pooled) check of the same backend, sweep point and neighbour as `c`.
fn confirming<'a>(checks: &'a [AbCheck], c: &AbCheck) -> Option<&'a AbCheck> {
    checks
        .iter()
        .filter(|d| {
            d.round > 0 && d.backend == c.backend && d.variant == c.variant && d.neighbour == c.neighbour
        })
        .max_by_key(|d| d.round)
}

/// The backends to run again: those whose last round (at any sweep point or neighbour) is round
/// 0 screened or a confirming round still undecided with runs left. A backend runs again whole.
pub fn to_confirm(checks: &[AbCheck]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for c in checks.iter().filter(|c| c.round == 0) {
        // The last round decides; round 0's `again` is its screen.
        if confirming(checks, c).unwrap_or(c).again && !out.contains(&c.backend) {
            out.push(c.backend.clone());
        }
    }
    out
}
