//! Verdicts: each claim a results file can answer, as a measured value, a 95% interval where there
//! is one, the rule that turns them into a word, and the word. Computed from the runs alone, so a
//! file of any schema gets them on load.
//!
//! - The article's speed claim (MXNet 2.47x PyTorch) for the article's code on today's frameworks
//!   (pytorch/mxnet) and for the Rust ports (torch/gluon).
//! - Why: the phase that accounts for most of each pair's difference.
//! - Accuracy: each port against its framework (with `--seeds`, their loss ranges per epoch).
//! - Time to accuracy (DAWNBench's metric): who first reaches 97% test accuracy.
//! - Parity (with `--init shared`): each compared pair against its f32 floor.

use crate::article;
pub use crate::claims::{Verdict, Word};
use crate::results::Results;
use crate::run::{Phases, RunResult, Status};
use crate::stats::{mean, ratio_independent, ratio_paired, Interval};

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// How far a measured speed ratio may lie from the article's and still reproduce it: a factor of
/// 1.25 either way (2.47x: 1.98x to 3.09x). The article timed one run per framework on an unstated
/// CPU, so a closer match would claim more than it measured.
pub const BAND: f64 = 1.25;

/// The test accuracy DAWNBench-style time to accuracy is measured at (the recipe's MLP and LeNet
/// both reach it within their epochs on a full run).
pub const TARGET_ACC: f64 = 0.97;

/// Two final test accuracies that differ by less than this (half a point: about 50 of 10,000 test
/// images) agree; one seed is one draw, and draws of one recipe spread about that much.
pub const ACC_AGREES: f64 = 0.005;

/// The word for a ratio interval against a claimed value within [`BAND`].
pub fn judge(i: &Interval, claim: f64) -> Word {
    let (lo, hi) = (claim / BAND, claim * BAND);
    if i.lo >= lo && i.hi <= hi {
        Word::Reproduced
    } else if i.hi < lo || i.lo > hi {
        Word::Refuted
    } else {
        Word::Inconclusive
    }
}

/// How a file's speed intervals were made, for the line under the table.
pub fn method(res: &Results) -> &'static str {
    match res.bench {
        Some(_) => "intervals: 95% Student's t on the logs of the paired per-repeat ratios (each repeat's median epoch, both backends in the same repeat), back-transformed: a ratio of geometric means",
        None => "intervals: 95% Welch's t on the logs of each backend's epoch times (epoch 0, the warm-up, left out), back-transformed: a ratio of geometric means",
    }
}

/// How many times a typical floor rerun's gaps a pair's must be to differ (besides p): the same
/// 2x that the largest of a few reruns was held to before, now against the median of many.
pub const PARITY_TIMES: f64 = 2.0;

/// Every verdict `res` can answer, in the order of the table.
pub fn verdicts(res: &Results) -> Vec<Verdict> {
    let mut out = vec![];
    let pairs = crate::registry::ARTICLE_PAIRS;
    for &(label, a, b) in pairs {
        out.push(speed(res, label, a, b));
    }
    for &(_, a, b) in pairs {
        if let Some(v) = why(res, a, b) {
            out.push(v);
        }
    }
    for &(port, framework) in crate::registry::PARITY_PAIRS {
        if crate::registry::get(framework).is_some_and(|f| f.real_framework) {
            if let Some(v) = accuracy(res, port, framework) {
                out.push(v);
            }
        }
    }
    if let Some(v) = time_to_accuracy(res) {
        out.push(v);
    }
    out.extend(parity(res));
    out
}

fn finished<'a>(res: &'a Results, backend: &str) -> Vec<&'a RunResult> {
    res.runs.iter().filter(|r| r.backend == backend && r.status == Status::Ok && !r.neighbour).collect()
}

/// Why a backend has no usable run: its error (unavailable: not installed), or that it did not run.
fn missing(res: &Results, backend: &str) -> Option<String> {
    if !finished(res, backend).is_empty() {
        return None;
    }
    Some(match res.runs.iter().find(|r| r.backend == backend) {
        Some(r) => format!("{backend} {}: {}", r.status, r.error.as_deref().unwrap_or("no reason given")),
        None => format!("{backend} did not run (add it to --backends)"),
    })
}

/// Epoch times of `backend` for a ratio: per repeat (a bench) or per epoch (a comparison).
fn epoch_times(runs: &[&RunResult], bench: bool) -> Vec<f64> {
    match bench {
        true => runs.iter().map(|r| crate::stats::median(&r.timed_epochs())).collect(),
        false => runs
            .iter()
            .flat_map(|r| r.epochs.iter().filter(|e| e.epoch > 0 && !e.warmup).map(|e| e.time_s))
            .collect(),
    }
}

/// `a`'s epoch over `b`'s with its interval: paired by repeat in a bench (at the recipe's own
/// sizes), independent epochs in a comparison.
pub fn ratio(res: &Results, a: &str, b: &str) -> Option<Interval> {
    let at_recipe = |r: &&&RunResult| {
        r.variant.is_none_or(|v| v.batch_size == res.recipe.batch_size && v.hidden == res.recipe.hidden)
    };
    let (ra, rb): (Vec<&RunResult>, Vec<&RunResult>) = (
        finished(res, a).into_iter().filter(|r| at_recipe(&r)).collect(),
        finished(res, b).into_iter().filter(|r| at_recipe(&r)).collect(),
    );
    match res.bench.is_some() {
        true => {
            let pairs: Vec<(f64, f64)> = ra
                .iter()
                .filter_map(|x| {
                    let y = rb.iter().find(|y| y.repeat == x.repeat)?;
                    Some((epoch_times(&[x], true)[0], epoch_times(&[y], true)[0]))
                })
                .collect();
            ratio_paired(&pairs, LEVEL)
        }
        false => ratio_independent(&epoch_times(&ra, false), &epoch_times(&rb, false), LEVEL),
    }
}

fn speed(res: &Results, label: &str, a: &str, b: &str) -> Verdict {
    let claim = format!(
        "the article's speed claim, {label}: {b} {:.2}x {a} (PyTorch-style epoch / Gluon-style)",
        article::RATIO
    );
    let rule = format!(
        "reproduced if the interval lies within {:.2}x-{:.2}x (the claim /{BAND} to x{BAND}), refuted if outside it",
        article::RATIO / BAND,
        article::RATIO * BAND
    );
    match (missing(res, a).or_else(|| missing(res, b)), ratio(res, a, b)) {
        (Some(why), _) => Verdict { claim, measured: why, interval: None, rule, word: Word::Unavailable },
        (None, None) => Verdict {
            claim,
            measured: "too few epochs or repeats for an interval (at least 2 timed each)".into(),
            interval: None,
            rule,
            word: Word::Inconclusive,
        },
        (None, Some(i)) => Verdict {
            claim,
            measured: format!("{a}/{b} {:.2}x [{:.2}, {:.2}]", i.estimate, i.lo, i.hi),
            word: judge(&i, article::RATIO),
            interval: Some(i),
            rule,
        },
    }
}

/// Mean seconds per epoch of each phase over `runs`' epochs (epoch 0 left out where there are
/// others), and the mean epoch.
fn phase_means(runs: &[&RunResult]) -> Option<([f64; 4], f64)> {
    let epochs: Vec<_> = runs.iter().flat_map(|r| r.epochs.iter().filter(|e| !e.warmup)).collect();
    let later: Vec<_> = epochs.iter().filter(|e| e.epoch > 0).copied().collect();
    let use_: Vec<_> = if later.is_empty() { epochs } else { later };
    if use_.is_empty() {
        return None;
    }
    let get = |f: fn(&Phases) -> f64| mean(&use_.iter().map(|e| f(&e.phases)).collect::<Vec<_>>());
    let phases = [get(|p| p.data_s), get(|p| p.forward_s), get(|p| p.backward_s), get(|p| p.update_s)];
    Some((phases, mean(&use_.iter().map(|e| e.time_s).collect::<Vec<_>>())))
}

/// The phase that accounts for most of the difference between `a`'s epoch and `b`'s.
fn why(res: &Results, a: &str, b: &str) -> Option<Verdict> {
    let ((pa, ta), (pb, tb)) = (phase_means(&finished(res, a))?, phase_means(&finished(res, b))?);
    let gap = ta - tb;
    if !gap.is_finite() || !pa.iter().chain(&pb).all(|x| x.is_finite()) {
        return None;
    }
    let names = ["data", "forward", "backward", "update"];
    let diffs: Vec<f64> = (0..4).map(|i| pa[i] - pb[i]).collect();
    // The phase moving the most in the gap's direction.
    let i = (0..4).max_by(|&x, &y| (diffs[x] * gap.signum()).total_cmp(&(diffs[y] * gap.signum())))?;
    let (slower, faster) = if gap > 0.0 { (a, b) } else { (b, a) };
    Some(Verdict {
        claim: format!("why {a} and {b} differ"),
        measured: format!(
            "{slower}'s epoch is {:.3} s longer than {faster}'s; {} accounts for {:.3} s of it ({:.0}%)",
            gap.abs(),
            names[i],
            diffs[i].abs(),
            100.0 * diffs[i] / gap
        ),
        interval: None,
        rule: "the phase (data, forward, backward, update) with the largest share of the difference in mean seconds per epoch".into(),
        word: Word::Shown,
    })
}

fn accuracy(res: &Results, port: &str, framework: &str) -> Option<Verdict> {
    let (rp, rf) = (finished(res, port), finished(res, framework));
    if rp.is_empty() && rf.is_empty() {
        return None;
    }
    let claim = format!("{port} trains as {framework} does (accuracy and loss)");
    if let Some(why) = missing(res, port).or_else(|| missing(res, framework)) {
        let rule = "needs both".to_string();
        return Some(Verdict { claim, measured: why, interval: None, rule, word: Word::Unavailable });
    }
    if res.seeds().len() > 1 {
        return Some(seed_ranges(&claim, &rp, &rf));
    }
    let last = |r: &[&RunResult]| r.iter().find_map(|r| r.epochs.last().map(|e| (e.test_acc, e.avg_loss)));
    let ((ap, lp), (af, lf)) = (last(&rp)?, last(&rf)?);
    let agrees = (ap - af).abs() < ACC_AGREES;
    Some(Verdict {
        claim,
        measured: format!(
            "final test accuracy {port} {:.2}%, {framework} {:.2}% (avg loss {lp:.4} and {lf:.4})",
            100.0 * ap,
            100.0 * af
        ),
        interval: None,
        rule: format!("agrees if the final test accuracies are within {:.1} points (one seed is one draw; --seeds compares ranges)", 100.0 * ACC_AGREES),
        word: if agrees { Word::Agrees } else { Word::Differs },
    })
}

/// With several seeds: whether the port's range of average loss overlaps its framework's at every
/// epoch.
fn seed_ranges(claim: &str, rp: &[&RunResult], rf: &[&RunResult]) -> Verdict {
    let epochs = rp.iter().chain(rf).map(|r| r.epochs.len()).min().unwrap_or(0);
    let range = |runs: &[&RunResult], i: usize| {
        let v: Vec<f64> = runs.iter().filter_map(|r| r.epochs.get(i).map(|e| e.avg_loss)).collect();
        (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    };
    let apart: Vec<usize> = (0..epochs)
        .filter(|&i| {
            let ((plo, phi), (flo, fhi)) = (range(rp, i), range(rf, i));
            phi < flo || fhi < plo
        })
        .collect();
    Verdict {
        claim: claim.into(),
        measured: match apart.is_empty() {
            true => format!("the ranges over {} seeds overlap at all {epochs} epochs", rp.len().min(rf.len())),
            false => format!("the ranges are apart at epoch {apart:?} of {epochs}"),
        },
        interval: None,
        rule: "agrees if the port's range of average loss over the seeds overlaps its framework's at every epoch".into(),
        word: if apart.is_empty() { Word::Agrees } else { Word::Differs },
    }
}

/// Training seconds (evaluation excluded) until the test accuracy first reaches [`TARGET_ACC`].
pub fn time_to(r: &RunResult, target: f64) -> Option<f64> {
    let mut t = 0.0;
    for e in r.epochs.iter().filter(|e| !e.warmup) {
        t += e.time_s;
        if e.test_acc >= target {
            return Some(t);
        }
    }
    None
}

fn time_to_accuracy(res: &Results) -> Option<Verdict> {
    if res.bench.is_some() {
        return None; // a bench times epochs, it does not train to an accuracy
    }
    let mut reached: Vec<(f64, &str)> = res
        .main_runs()
        .filter(|r| r.status == Status::Ok)
        .filter_map(|r| Some((time_to(r, TARGET_ACC)?, r.backend.as_str())))
        .collect();
    reached.sort_by(|x, y| x.0.total_cmp(&y.0));
    let never: Vec<&str> = res
        .main_runs()
        .filter(|r| r.status == Status::Ok && time_to(r, TARGET_ACC).is_none())
        .map(|r| r.backend.as_str())
        .collect();
    if reached.is_empty() && never.is_empty() {
        return None;
    }
    let order: Vec<String> = reached.iter().map(|(t, b)| format!("{b} {t:.2} s")).collect();
    let mut measured = match reached.first() {
        Some((_, b)) => format!("{b} first: {}", order.join(", ")),
        None => "no backend reached it".into(),
    };
    if !never.is_empty() {
        measured += &format!("; not reached by {}", never.join(", "));
    }
    Some(Verdict {
        claim: format!(
            "who reaches {:.0}% test accuracy first (DAWNBench's time to accuracy)",
            100.0 * TARGET_ACC
        ),
        measured,
        interval: None,
        rule:
            "training seconds, evaluation excluded, until the test accuracy after an epoch first reaches it"
                .into(),
        word: Word::Shown,
    })
}

/// Each compared pair against its floor: where the pair's gaps rank among its floor reruns'
/// ([`crate::parity::rank_test`]), or, in files from before the reruns were kept, against twice
/// the largest of them.
fn parity(res: &Results) -> Vec<Verdict> {
    res.parities.iter().map(parity_verdict).collect()
}

/// One pair's parity verdict.
fn parity_verdict(pp: &crate::parity::PairParity) -> Verdict {
    let p = &pp.parity;
    let claim = format!("{} and {} compute the same function (shared weights and batches)", pp.a, pp.b);
    let Some(f) = &p.floor else {
        return Verdict {
            claim,
            measured: format!("max batch loss gap {:.1e}; no floor reruns", p.max_batch_loss_diff),
            interval: None,
            rule: "needs floor reruns".into(),
            word: Word::Inconclusive,
        };
    };
    let alpha = 1.0 - LEVEL;
    let Some(t) = crate::parity::rank_test(p, &pp.floors) else {
        // A file from before schema 4: only the largest of the reruns is known.
        let measures = crate::parity::MEASURES;
        let worst = measures.iter().map(|(_, get)| get(p) / get(f)).fold(0.0, f64::max);
        let text: Vec<String> =
            measures.iter().map(|(n, get)| format!("{n} {:.1e} ({:.1}x)", get(p), get(p) / get(f))).collect();
        return Verdict {
            claim,
            measured: format!("{}, against the largest of {} reruns of {}", text.join(", "), pp.floor_runs, pp.floor_of),
            interval: None,
            rule: "agrees if no measure is above twice its floor (a file without each rerun's gaps: the floor is the largest of them)".into(),
            word: if worst <= 2.0 { Word::Agrees } else { Word::Differs },
        };
    };
    let text: Vec<String> = crate::parity::MEASURES
        .iter()
        .zip(t.above)
        .map(|((n, get), above)| format!("{n} {:.1e} (above {above} of {})", get(p), t.reruns))
        .collect();
    // Significant is not enough: from one start the reruns can be so alike that a pair a few
    // percent further apart ranks above all of them. Differing also needs the gaps to be
    // [`PARITY_TIMES`] a typical rerun's.
    let far = t.times_median > PARITY_TIMES;
    let top = t.p <= 1.0 / (t.reruns + 1) as f64;
    let word = if t.p <= alpha && far {
        Word::Differs
    } else if top && far {
        // Above every rerun, but too few of them for p to reach the level.
        Word::Inconclusive
    } else {
        Word::Agrees
    };
    Verdict {
        claim,
        measured: format!(
            "{}; {:.1}x the median rerun, p = {:.2} against {} reruns of {}",
            text.join(", "),
            t.times_median,
            t.p,
            t.reruns,
            pp.floor_of
        ),
        interval: None,
        rule: format!(
            "differs if p <= {alpha:.2} and the gaps are over {PARITY_TIMES}x the median rerun's (geometric mean of the three); p: the rank of the pair's score among the floor reruns' (a run's score: the mean log of its three gaps over their medians), (1 + reruns scoring at least the pair) / (reruns + 1)"
        ),
        word,
    }
}

/// Store `res`'s verdicts in it, for the results JSON (tables compute them afresh).
pub fn attach(res: &mut Results) {
    res.verdicts = verdicts(res);
}
