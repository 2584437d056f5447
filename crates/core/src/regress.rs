//! `mlcmp regress`: does a result fall behind its baseline? Accuracy and loss per backend, and the
//! speed of each backend relative to torch measured in the same run (absolute times vary with the
//! machine, so they are shown but not gated).

use crate::bench::summary::{median_epoch, speed_ratio};
use crate::recipe::{Recipe, Threads, Tolerances};
use crate::results::Results;
use crate::run::{EpochResult, Status};
use crate::stats::median;
use anyhow::{bail, Result};

/// One gated (or shown) metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// What is allowed, in words (`>= 0.9612`); empty for shown-only rows.
    pub allowed: String,
    /// None: shown, not gated.
    pub pass: Option<bool>,
}

/// Final epoch of a backend, over its finished runs (bench repeats: the median). A failed or
/// interrupted run's last epoch is not its final one, so it never counts.
fn final_metric(res: &Results, backend: &str, get: fn(&EpochResult) -> f64) -> Option<f64> {
    let v: Vec<f64> = res
        .main_runs()
        .filter(|r| r.backend == backend && r.status == Status::Ok)
        .filter_map(|r| r.epochs.last().map(get))
        .collect();
    (!v.is_empty()).then(|| median(&v))
}

/// Epochs trained per finished run of `backend` in `res` (warm-up ones included), where its
/// finished runs agree.
fn epochs_trained(res: &Results, backend: &str) -> Option<usize> {
    let mut n =
        res.main_runs().filter(|r| r.backend == backend && r.status == Status::Ok).map(|r| r.epochs.len());
    let first = n.next()?;
    n.all(|m| m == first).then_some(first)
}

/// Why none of `backend`'s runs in `res` finished: its first run's status and error, in words.
fn why_unfinished(res: &Results, backend: &str) -> String {
    match res.main_runs().find(|r| r.backend == backend) {
        None => "missing from the current results".into(),
        Some(r) => {
            let why = r.error.as_deref().map(|e| format!(": {}", crate::child::shorten(e, 200)));
            format!("{}{}", r.status, why.unwrap_or_default())
        }
    }
}

/// A results file fit to be a baseline: every run finished and every number possible.
pub fn check_baseline(res: &Results, source: &str) -> Result<()> {
    res.check_plausible(source)?;
    if let Some(r) = res.runs.iter().find(|r| r.status != Status::Ok) {
        bail!(
            "{source}: the {} run {} and cannot be a baseline; record a baseline from a run that finished",
            r.backend,
            r.status
        );
    }
    Ok(())
}

/// The recipe keys that must match for a comparison to mean anything.
fn same_recipe(a: &Recipe, b: &Recipe) -> Result<()> {
    let pairs = [
        ("model", format!("{:?}", a.model).to_lowercase(), format!("{:?}", b.model).to_lowercase()),
        ("epochs", a.epochs.to_string(), b.epochs.to_string()),
        ("batch_size", a.batch_size.to_string(), b.batch_size.to_string()),
        ("lr", a.lr.to_string(), b.lr.to_string()),
        ("hidden", a.hidden.to_string(), b.hidden.to_string()),
        ("mean", a.mean.to_string(), b.mean.to_string()),
        ("std", a.std.to_string(), b.std.to_string()),
        ("shuffle", a.shuffle.to_string(), b.shuffle.to_string()),
        ("threads", threads(a.threads), threads(b.threads)),
        ("workers", a.workers.to_string(), b.workers.to_string()),
        ("seed", a.seed.to_string(), b.seed.to_string()),
        ("limit", limit(a.limit), limit(b.limit)),
        ("init", format!("{:?}", a.init).to_lowercase(), format!("{:?}", b.init).to_lowercase()),
    ];
    for (k, x, y) in pairs {
        if x != y {
            bail!("the baseline's recipe differs from the current one (key '{k}': {x} vs {y}); compare like with like or update the baseline with --update");
        }
    }
    Ok(())
}

fn threads(t: Threads) -> String {
    match t {
        Threads::Count(n) => n.to_string(),
        Threads::All(_) => "\"all\"".into(),
    }
}

/// `--limit` as a reader writes it: a number, or none (the whole data set).
fn limit(l: Option<usize>) -> String {
    l.map_or("none (the whole data set)".into(), |n| n.to_string())
}

/// Every check of `current` against `baseline`, with the current recipe's tolerances (else the
/// baseline's, else the defaults).
pub fn checks(baseline: &Results, current: &Results) -> Result<Vec<Check>> {
    check_baseline(baseline, "the baseline")?;
    current.check_plausible("the current results")?;
    same_recipe(&baseline.recipe, &current.recipe)?;
    let tol = tolerances(baseline, current);
    let mut out = vec![];
    let mut backends: Vec<&str> = baseline.runs.iter().map(|r| r.backend.as_str()).collect();
    backends.sort_unstable();
    backends.dedup();
    for b in backends {
        let (Some(base_acc), Some(base_loss)) =
            (final_metric(baseline, b, |e| e.test_acc), final_metric(baseline, b, |e| e.avg_loss))
        else {
            continue;
        };
        let Some(cur_acc) = final_metric(current, b, |e| e.test_acc) else {
            out.push(Check {
                metric: format!("{b}: {}", why_unfinished(current, b)),
                baseline: 1.0,
                current: 0.0,
                allowed: "a finished run".into(),
                pass: Some(false),
            });
            continue;
        };
        // The recipe's epochs can match while a backend's do not (bench --epochs-for, --warmup):
        // accuracies after different epochs are not comparable.
        if let (Some(x), Some(y)) = (epochs_trained(baseline, b), epochs_trained(current, b)) {
            if x != y {
                bail!("{b} trained {x} epochs per run in the baseline and {y} in the current results (bench --epochs, --epochs-for, --warmup); compare like with like or update the baseline with --update");
            }
        }
        let cur_loss = final_metric(current, b, |e| e.avg_loss).unwrap_or(f64::NAN);
        out.push(gate(
            format!("{b}: final test accuracy"),
            base_acc,
            cur_acc,
            Bound::AtLeast(base_acc - tol.accuracy),
        ));
        if let (Some(bt), Some(ct)) =
            (final_metric(baseline, b, |e| e.train_acc), final_metric(current, b, |e| e.train_acc))
        {
            out.push(gate(format!("{b}: final train accuracy"), bt, ct, Bound::AtLeast(bt - tol.accuracy)));
        }
        out.push(gate(
            format!("{b}: final avg loss"),
            base_loss,
            cur_loss,
            Bound::AtMost(base_loss + tol.loss),
        ));
        if b != crate::registry::reference() {
            if let (Some(bs), Some(cs)) = (speed_ratio(baseline, b), speed_ratio(current, b)) {
                let metric = format!("speed ratio {} / {b}", crate::registry::reference());
                let ab = current.bench.as_ref().is_some_and(|b| b.against.is_some());
                out.push(if ab {
                    // An A/B run gates each backend against its own old build (`bench --against`),
                    // which sees far smaller changes than a ratio to another backend.
                    Check {
                        metric: format!(
                            "{metric} (not gated: the A/B against the baseline build gates speed)"
                        ),
                        baseline: bs,
                        current: cs,
                        allowed: String::new(),
                        pass: None,
                    }
                } else if baseline.machine.cpu == current.machine.cpu {
                    gate(metric, bs, cs, Bound::AtLeast(bs * (1.0 - tol.speed_ratio)))
                } else {
                    // How two libraries' kernels compare depends on the CPU (the vector width
                    // each library's kernels use, MKL's paths on AMD CPUs): a ratio is gated only
                    // against a baseline from the same CPU model.
                    Check {
                        metric: format!("{metric} (not gated: baseline from {})", baseline.machine.cpu),
                        baseline: bs,
                        current: cs,
                        allowed: String::new(),
                        pass: None,
                    }
                });
            }
        }
        if let (Some(bs), Some(cs)) = (median_epoch(baseline, b), median_epoch(current, b)) {
            out.push(Check {
                metric: format!("{b}: median epoch s (shown, not gated)"),
                baseline: bs,
                current: cs,
                allowed: String::new(),
                pass: None,
            });
        }
    }
    let mut new: Vec<&str> = current
        .runs
        .iter()
        .map(|r| r.backend.as_str())
        .filter(|b| !baseline.runs.iter().any(|r| r.backend == *b))
        .collect();
    new.dedup();
    for b in new {
        out.push(Check {
            metric: format!("{b}: new, no baseline (shown, not gated)"),
            baseline: f64::NAN,
            current: final_metric(current, b, |e| e.test_acc).unwrap_or(f64::NAN),
            allowed: String::new(),
            pass: None,
        });
    }
    if out.iter().all(|c| c.pass.is_none()) {
        bail!("nothing to compare: the baseline and the current results share no finished backend");
    }
    Ok(out)
}

enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

fn gate(metric: String, baseline: f64, current: f64, bound: Bound) -> Check {
    let (allowed, pass) = match bound {
        Bound::AtLeast(x) => (format!(">= {x:.4}"), current >= x),
        Bound::AtMost(x) => (format!("<= {x:.4}"), current <= x),
    };
    Check { metric, baseline, current, allowed, pass: Some(pass && current.is_finite()) }
}

/// The tolerances in force for a pair of results.
pub fn tolerances(baseline: &Results, current: &Results) -> Tolerances {
    current.recipe.regress.or(baseline.recipe.regress).unwrap_or_default()
}
