//! What a bench's runs add up to: runs grouped by sweep point and backend, median epochs, paired
//! speed ratios and the epoch at libtorch's matmul rate. Numbers only; [`crate::export::bench`] turns them into tables.

use crate::bench::sweep;
use crate::results::Results;
use crate::run::{RunResult, Variant};
use crate::stats::median;

/// One backend at one sweep point, quiet or beside the busy neighbour, over its repeats.
pub struct Group<'a> {
    pub variant: Variant,
    pub backend: String,
    pub neighbour: bool,
    pub runs: Vec<&'a RunResult>,
}

impl Group<'_> {
    /// The backend's name, marked when the group ran beside the busy neighbour.
    pub fn label(&self) -> String {
        match self.neighbour {
            true => format!("{} + busy neighbour", self.backend),
            false => self.backend.clone(),
        }
    }

    /// Every timed epoch of every repeat.
    pub fn times(&self) -> Vec<f64> {
        self.runs.iter().flat_map(|r| r.timed_epochs()).collect()
    }

    /// Samples per epoch (from the first run with an epoch).
    pub fn samples(&self) -> usize {
        self.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0)
    }
}

/// The runs grouped by sweep point, backend and neighbour, in first-seen order (the quiet groups
/// first).
pub fn groups(res: &Results) -> Vec<Group<'_>> {
    let mut g: Vec<Group> = vec![];
    for neighbour in [false, true] {
        for r in res.runs.iter().filter(|r| r.neighbour == neighbour) {
            let v =
                r.variant.unwrap_or(Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden });
            match g.iter_mut().find(|x| x.variant == v && x.backend == r.backend && x.neighbour == neighbour)
            {
                Some(x) => x.runs.push(r),
                None => g.push(Group { variant: v, backend: r.backend.clone(), neighbour, runs: vec![r] }),
            }
        }
    }
    g
}

/// Median timed epoch of a backend over all its quiet runs (every sweep point).
pub fn median_epoch(res: &Results, backend: &str) -> Option<f64> {
    let v: Vec<f64> = res
        .runs
        .iter()
        .filter(|r| r.backend == backend && !r.neighbour)
        .flat_map(|r| r.timed_epochs())
        .collect();
    (!v.is_empty()).then(|| median(&v))
}

/// The speed reference's (torch's) median epoch over `backend`'s: above 1, `backend` is faster.
pub fn speed_ratio(res: &Results, backend: &str) -> Option<f64> {
    Some(median_epoch(res, crate::registry::reference())? / median_epoch(res, backend)?)
}

/// Per repeat, torch's median epoch over `group`'s (runs paired by repeat order).
pub fn paired_ratios(torch: &Group, group: &Group) -> Vec<f64> {
    torch
        .runs
        .iter()
        .zip(&group.runs)
        .map(|(t, o)| median(&t.timed_epochs()) / median(&o.timed_epochs()))
        .filter(|x| x.is_finite())
        .collect()
}

/// Per repeat, `busy`'s median epoch over `quiet`'s: how much the busy neighbour slowed it.
pub fn slowdowns(quiet: &Group, busy: &Group) -> Vec<f64> {
    paired_ratios(busy, quiet)
}

/// FLOPs of one training epoch at a sweep point.
pub fn epoch_flops(res: &Results, v: Variant, samples: usize) -> f64 {
    sweep::at(&res.recipe, v).model().train_flops_per_sample() * samples as f64
}

/// Seconds per epoch at a sweep point at libtorch's matmul rate: the epoch's FLOPs over the rate
/// the bench first probed on the recipe's largest product.
pub fn libtorch_s(res: &Results, v: Variant) -> f64 {
    at_rate(res, v, res.bench.as_ref().map(|b| b.matmul_gflops))
}

/// `runs`' epochs over their time at libtorch's rate: per run, its median epoch over the
/// epoch's FLOPs at the rate probed before its repeat (the bench's first probe for a run without one), then the median. Pairing
/// each run with its own probe keeps the machine's drift in speed out of the multiple.
pub fn x_libtorch(res: &Results, v: Variant, runs: &[&RunResult]) -> f64 {
    let first = res.bench.as_ref().map(|b| b.matmul_gflops);
    let per_run: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            let gflops = r.libtorch_gflops.or(first)?;
            let at_rate = epoch_flops(res, v, r.epochs.first()?.samples) / (gflops * 1e9);
            Some(median(&r.timed_epochs()) / at_rate)
        })
        .filter(|x| x.is_finite())
        .collect();
    median(&per_run)
}

/// The rates probed before each repeat: (lowest, highest), if any run has one.
pub fn probed_range(res: &Results) -> Option<(f64, f64)> {
    let rates: Vec<f64> = res.runs.iter().filter_map(|r| r.libtorch_gflops).collect();
    (!rates.is_empty()).then(|| {
        (rates.iter().copied().fold(f64::INFINITY, f64::min), rates.iter().copied().fold(0.0, f64::max))
    })
}

/// Seconds per epoch at sweep point `v` at the hardware's multiply-add rate for `threads` threads
/// ([`crate::bench::peak`]): the hardware floor. NaN for a file without the probe.
pub fn peak_s(res: &Results, v: Variant, threads: usize) -> f64 {
    at_rate(res, v, res.bench.as_ref().and_then(|b| b.hardware_peak.as_ref()).and_then(|p| p.gflops(threads)))
}

/// Seconds per epoch at libtorch's best rate (the best GEMM over a few shapes).
pub fn libtorch_best_s(res: &Results, v: Variant) -> f64 {
    at_rate(res, v, res.bench.as_ref().and_then(|b| b.libtorch_best.as_ref()).map(|p| p.gflops))
}

fn at_rate(res: &Results, v: Variant, gflops: Option<f64>) -> f64 {
    let samples = res.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0);
    match gflops {
        Some(g) => epoch_flops(res, v, samples) / (g * 1e9),
        None => f64::NAN,
    }
}
