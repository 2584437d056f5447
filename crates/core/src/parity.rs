//! How far two runs from shared weights and batches ([`crate::shared::Shared`]) end up apart.

use crate::run::{RunResult, StopPoint};
use serde::{Deserialize, Serialize};

/// How far two runs from shared weights and batches are apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    pub batches_compared: usize,
    /// Largest |loss_a - loss_b| over all batches, and where it was.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub max_batch_loss_diff: f64,
    pub max_batch_loss_diff_at: StopPoint,
    /// The same, relative to the loss, through the first epoch.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub max_batch_loss_rel_epoch0: f64,
    /// Largest |avg loss difference| over the epochs.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub max_avg_loss_diff: f64,
    /// Largest |w_a - w_b| over every parameter at the end.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub max_weight_diff: f64,
    /// The same measures between one backend's run and its reruns from perturbed weights
    /// ([`crate::shared::Shared::floors`]), each the largest over the reruns: what f32 rounding
    /// alone produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Box<Parity>>,
}

impl Parity {
    /// Whether both the batch losses and the final weights agree within `tol`.
    pub fn within(&self, tol: f64) -> bool {
        self.max_batch_loss_diff <= tol && self.max_weight_diff <= tol
    }
}

impl Parity {
    /// Each measure the larger of the two (the batch count and place of `self`'s largest batch gap
    /// kept where `self` has the larger one).
    pub fn max(self, other: Parity) -> Parity {
        let (at, batch) = if other.max_batch_loss_diff > self.max_batch_loss_diff {
            (other.max_batch_loss_diff_at, other.max_batch_loss_diff)
        } else {
            (self.max_batch_loss_diff_at, self.max_batch_loss_diff)
        };
        Parity {
            batches_compared: self.batches_compared.min(other.batches_compared),
            max_batch_loss_diff: batch,
            max_batch_loss_diff_at: at,
            max_batch_loss_rel_epoch0: self.max_batch_loss_rel_epoch0.max(other.max_batch_loss_rel_epoch0),
            max_avg_loss_diff: self.max_avg_loss_diff.max(other.max_avg_loss_diff),
            max_weight_diff: self.max_weight_diff.max(other.max_weight_diff),
            floor: self.floor,
        }
    }
}

/// Compare two runs; `None` when either has no epochs or no final weights to compare.
pub fn compare(a: &RunResult, b: &RunResult) -> Option<Parity> {
    if a.epochs.is_empty() || b.epochs.is_empty() || a.final_params.len() != b.final_params.len() {
        return None;
    }
    let mut p = Parity {
        batches_compared: 0,
        max_batch_loss_diff: 0.0,
        max_batch_loss_diff_at: StopPoint { epoch: 0, batch: 0 },
        max_batch_loss_rel_epoch0: 0.0,
        max_avg_loss_diff: 0.0,
        max_weight_diff: 0.0,
        floor: None,
    };
    for (ea, eb) in a.epochs.iter().zip(&b.epochs) {
        p.max_avg_loss_diff = p.max_avg_loss_diff.max((ea.avg_loss - eb.avg_loss).abs());
        for (i, (&la, &lb)) in ea.batch_losses.iter().zip(&eb.batch_losses).enumerate() {
            let d = (la as f64 - lb as f64).abs();
            p.batches_compared += 1;
            if d > p.max_batch_loss_diff {
                p.max_batch_loss_diff = d;
                p.max_batch_loss_diff_at = StopPoint { epoch: ea.epoch, batch: i };
            }
            if ea.epoch == 0 {
                p.max_batch_loss_rel_epoch0 =
                    p.max_batch_loss_rel_epoch0.max(d / (la.abs() as f64).max(1e-12));
            }
        }
    }
    for (wa, wb) in a.final_params.iter().zip(&b.final_params) {
        if wa.len() != wb.len() {
            return None;
        }
        for (x, y) in wa.iter().zip(wb) {
            p.max_weight_diff = p.max_weight_diff.max((x - y).abs() as f64);
        }
    }
    Some(p)
}

/// Two backends compared from shared weights and batches, beside the floor of one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairParity {
    pub a: String,
    pub b: String,
    /// Which backend's reruns gave `parity.floor`.
    pub floor_of: String,
    /// How many reruns `parity.floor` is the largest of (1 in files from before mlcmp took several).
    #[serde(default = "one")]
    pub floor_runs: usize,
    pub parity: Parity,
    /// Each floor rerun's gaps to the backend's own run (empty in files from before schema 4):
    /// the floor's distribution, which [`rank_test`] places the pair's gaps in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floors: Vec<Parity>,
}

fn one() -> usize {
    1
}

/// The pairs worth comparing among `names`: each Rust port against the framework it stands for,
/// the two ports against each other, and candle against libtorch; when none of those is there, the
/// first two backends.
pub fn pairs(names: &[&str]) -> Vec<(String, String)> {
    let has = |n: &str| names.contains(&n);
    let mut out: Vec<(String, String)> = crate::registry::PARITY_PAIRS
        .iter()
        .filter(|(a, b)| has(a) && has(b))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    if out.is_empty() && names.len() >= 2 {
        out.push((names[0].to_string(), names[1].to_string()));
    }
    out
}

/// The backend of a pair whose reruns from perturbed weights give the pair's floor: the first of
/// [`crate::registry::FLOOR_PREFERENCE`] in the pair, else the second.
pub fn floor_of<'a>(a: &'a str, b: &'a str) -> &'a str {
    crate::registry::FLOOR_PREFERENCE.iter().find_map(|p| [a, b].into_iter().find(|n| n == p)).unwrap_or(b)
}

/// Floor reruns `compare --init shared` makes of each floor backend by default: with 19, a pair's
/// gap above every rerun's has p = 1/20 = 0.05, so the rank test can reach the 5% level.
pub const DEFAULT_FLOOR_RERUNS: usize = 19;

/// One measure of a [`Parity`].
pub type Measure = fn(&Parity) -> f64;

/// The measures the rank test combines: the largest batch-loss gap, the largest epoch-average loss
/// gap and the largest final-weight gap.
pub const MEASURES: [(&str, Measure); 3] = [
    ("batch loss", |p| p.max_batch_loss_diff),
    ("avg loss", |p| p.max_avg_loss_diff),
    ("weights", |p| p.max_weight_diff),
];

/// Where a pair's gaps fall among its floor reruns' gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct RankTest {
    /// The floor reruns.
    pub reruns: usize,
    /// Per measure of [`MEASURES`]: how many reruns' gaps the pair's gap is at least as large as.
    pub above: [usize; 3],
    /// The one-sided p-value of the combined score: (1 + reruns scoring at least the pair's)
    /// / (reruns + 1).
    pub p: f64,
    /// How far apart the pair is against a typical rerun: the geometric mean over [`MEASURES`] of
    /// the pair's gap over the median of the reruns' gaps.
    pub times_median: f64,
}

/// A Monte Carlo rank test (Barnard's, as in permutation tests): if the pair differs only by
/// rounding, its run is one more draw beside the floor reruns, so the pair's score is as likely to
/// be any of the `k + 1` ranks and `p` is exact. A run's score is the mean over [`MEASURES`] of
/// ln(gap / the median of that measure over all `k + 1`): a symmetric function of the set, so
/// exchangeability carries over, and continuous, so ties are rare (they count against the pair).
/// `None` without reruns.
pub fn rank_test(pair: &Parity, floors: &[Parity]) -> Option<RankTest> {
    if floors.is_empty() {
        return None;
    }
    let all: Vec<&Parity> = std::iter::once(pair).chain(floors).collect();
    // A zero gap (the same library both sides) scores lowest, not -inf.
    let ln = |x: f64| x.max(f64::MIN_POSITIVE).ln();
    let mut scores = vec![0.0; all.len()];
    let mut above = [0; 3];
    let mut log_times = 0.0;
    for (m, (_, get)) in MEASURES.iter().enumerate() {
        let v: Vec<f64> = all.iter().map(|p| get(p)).collect();
        let mid = ln(crate::stats::median(&v));
        for (s, x) in scores.iter_mut().zip(&v) {
            *s += (ln(*x) - mid) / MEASURES.len() as f64;
        }
        above[m] = v[1..].iter().filter(|&&x| v[0] >= x).count();
        log_times += (ln(v[0]) - ln(crate::stats::median(&v[1..]))) / MEASURES.len() as f64;
    }
    // A NaN score (a diverged rerun) counts against the pair.
    let at_least =
        scores[1..].iter().filter(|&&s| s.partial_cmp(&scores[0]) != Some(std::cmp::Ordering::Less)).count();
    let p = (1 + at_least) as f64 / (floors.len() + 1) as f64;
    Some(RankTest { reruns: floors.len(), above, p, times_median: log_times.exp() })
}
