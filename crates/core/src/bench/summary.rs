//! What a bench's runs add up to: runs grouped by sweep point and backend, median epochs, paired
//! speed ratios and the floor. Numbers only; [`crate::export::bench`] turns them into tables.

use crate::bench::sweep;
use crate::results::Results;
use crate::run::{RunResult, Variant};
use crate::stats::median;

/// One backend at one sweep point, over its repeats.
pub struct Group<'a> {
    pub variant: Variant,
    pub backend: String,
    pub runs: Vec<&'a RunResult>,
}

impl Group<'_> {
    /// Every timed epoch of every repeat.
    pub fn times(&self) -> Vec<f64> {
        self.runs.iter().flat_map(|r| r.timed_epochs()).collect()
    }

    /// Samples per epoch (from the first run with an epoch).
    pub fn samples(&self) -> usize {
        self.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0)
    }
}

/// The runs grouped by sweep point and backend, in first-seen order.
pub fn groups(res: &Results) -> Vec<Group<'_>> {
    let mut g: Vec<Group> = vec![];
    for r in &res.runs {
        let v = r.variant.unwrap_or(Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden });
        match g.iter_mut().find(|x| x.variant == v && x.backend == r.backend) {
            Some(x) => x.runs.push(r),
            None => g.push(Group { variant: v, backend: r.backend.clone(), runs: vec![r] }),
        }
    }
    g
}

/// Median timed epoch of a backend over all its runs (every sweep point).
pub fn median_epoch(res: &Results, backend: &str) -> Option<f64> {
    let v: Vec<f64> =
        res.runs.iter().filter(|r| r.backend == backend).flat_map(|r| r.timed_epochs()).collect();
    (!v.is_empty()).then(|| median(&v))
}

/// torch's median epoch over `backend`'s: above 1, `backend` is faster.
pub fn speed_ratio(res: &Results, backend: &str) -> Option<f64> {
    Some(median_epoch(res, "torch")? / median_epoch(res, backend)?)
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

/// FLOPs of one training epoch at a sweep point.
pub fn epoch_flops(res: &Results, v: Variant, samples: usize) -> f64 {
    sweep::at(&res.recipe, v).model().train_flops_per_sample() * samples as f64
}

/// Floor seconds per epoch at a sweep point: the epoch's FLOPs at the measured matmul rate.
pub fn floor_s(res: &Results, v: Variant) -> f64 {
    let samples = res.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0);
    match &res.bench {
        Some(b) => epoch_flops(res, v, samples) / (b.matmul_gflops * 1e9),
        None => f64::NAN,
    }
}
