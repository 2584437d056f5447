//! The bench tables: epoch time per backend, paired speed ratios, where the time goes, the epoch at libtorch's matmul rate.

use super::table::Table;
use super::table::{num as f, right, table, width, Style};
use crate::bench::summary::{self, groups, libtorch_best_s, libtorch_s};
use crate::results::Results;
use crate::run::{EpochResult, Load, Status, Variant};
use crate::stats::median;
use comfy_table::Cell;

/// Per backend (and sweep point): median / min / max epoch, throughput, multiple of the time at the
/// hardware's multiply-add rate and at libtorch's rates, peak memory (of the process that trained: the Python process for the real frameworks), repeats.
pub fn timing_table(res: &Results, style: Style) -> Table {
    let mut t = table(
        style,
        &[
            "backend",
            "batch",
            "hidden",
            "median s",
            "min s",
            "max s",
            "samples/s",
            "x peak",
            "x libtorch",
            "x libtorch best",
            "peak RSS MB",
            "threads",
            "repeats",
            "epochs timed",
            "others' CPU",
            "steal",
            "busy repeats",
            "status",
        ],
    );
    for g in groups(res) {
        let times = g.times();
        let med = median(&times);
        let rss = g.runs.iter().filter_map(|r| r.peak_rss_mb).fold(f64::NAN, f64::max);
        let bad: Vec<String> =
            g.runs.iter().filter(|r| r.status != Status::Ok).map(|r| r.status.to_string()).collect();
        let loads: Vec<Load> = g.runs.iter().filter_map(|r| r.load).collect();
        let share = |get: fn(&Load) -> f64| match loads.is_empty() {
            true => "-".to_string(),
            false => format!("{:.0}%", 100.0 * median(&loads.iter().map(get).collect::<Vec<_>>())),
        };
        t.add_row(vec![
            Cell::new(g.label()),
            right(g.variant.batch_size),
            right(width(g.variant.hidden)),
            right(f(med, 3)),
            right(f(times.iter().copied().fold(f64::NAN, f64::min), 3)),
            right(f(times.iter().copied().fold(f64::NAN, f64::max), 3)),
            right(f(g.samples() as f64 / med, 0)),
            right(f(med / summary::peak_s(res, g.variant, g.runs[0].threads), 2)),
            right(f(summary::x_libtorch(res, g.variant, &g.runs), 2)),
            right(f(med / libtorch_best_s(res, g.variant), 2)),
            right(f(rss, 0)),
            right(g.runs[0].threads),
            right(g.runs.len()),
            right(times.len()),
            right(share(|l| l.others_share)),
            right(share(|l| l.steal_share)),
            right(format!("{}/{}", loads.iter().filter(|l| l.busy()).count(), g.runs.len())),
            Cell::new(if bad.is_empty() { "ok".to_string() } else { bad.join(", ") }),
        ]);
    }
    t
}

/// Per repeat, torch's epoch time over each other backend's (paired runs), and the median ratio.
pub fn ratio_table(res: &Results, style: Style) -> Table {
    let mut t = table(style, &["batch", "hidden", "ratio", "per repeat", "median"]);
    let all = groups(res);
    let reference = crate::registry::reference();
    for g in all.iter().filter(|g| g.backend != reference) {
        let Some(torch) = all
            .iter()
            .find(|x| x.variant == g.variant && x.backend == reference && x.neighbour == g.neighbour)
        else {
            continue;
        };
        let ratios = summary::paired_ratios(torch, g);
        let busy = if g.neighbour { " (busy neighbour)" } else { "" };
        t.add_row(vec![
            right(g.variant.batch_size),
            right(width(g.variant.hidden)),
            Cell::new(format!("{reference} / {}{busy}", g.backend)),
            Cell::new(ratios.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ")),
            right(if ratios.is_empty() { "-".into() } else { format!("{}x", f(median(&ratios), 2)) }),
        ]);
    }
    t
}

/// Where each backend's epoch goes: median seconds per phase, and the evaluation after it.
pub fn phase_table(res: &Results, style: Style) -> Table {
    let mut t = table(
        style,
        &["backend", "batch", "hidden", "data s", "forward s", "backward s", "update s", "epoch s", "eval s"],
    );
    for g in groups(res) {
        let eps: Vec<&EpochResult> =
            g.runs.iter().flat_map(|r| r.epochs.iter().filter(|e| !e.warmup)).collect();
        let m = |get: fn(&EpochResult) -> f64| f(median(&eps.iter().map(|e| get(e)).collect::<Vec<_>>()), 3);
        let untimed = eps.iter().all(|e| e.phases == Default::default());
        let p = |get: fn(&EpochResult) -> f64| if untimed { "-".to_string() } else { m(get) };
        t.add_row(vec![
            Cell::new(g.label()),
            right(g.variant.batch_size),
            right(width(g.variant.hidden)),
            right(p(|e| e.phases.data_s)),
            right(p(|e| e.phases.forward_s)),
            right(p(|e| e.phases.backward_s)),
            right(p(|e| e.phases.update_s)),
            right(m(|e| e.time_s)),
            right(m(|e| e.eval_s)),
        ]);
    }
    t
}

/// `--neighbour busy`: each backend's epoch beside the spinning neighbour against its quiet epochs
/// from the same bench run (paired by repeat). `None` without neighbour runs.
pub fn neighbour_table(res: &Results, style: Style) -> Option<Table> {
    let all = groups(res);
    if !all.iter().any(|g| g.neighbour) {
        return None;
    }
    let mut t = table(
        style,
        &["backend", "batch", "hidden", "quiet median s", "busy median s", "slowdown per repeat", "slowdown"],
    );
    for busy in all.iter().filter(|g| g.neighbour) {
        let Some(quiet) =
            all.iter().find(|q| !q.neighbour && q.backend == busy.backend && q.variant == busy.variant)
        else {
            continue;
        };
        let s = summary::slowdowns(quiet, busy);
        t.add_row(vec![
            Cell::new(&busy.backend),
            right(busy.variant.batch_size),
            right(width(busy.variant.hidden)),
            right(f(median(&quiet.times()), 3)),
            right(f(median(&busy.times()), 3)),
            Cell::new(s.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ")),
            right(if s.is_empty() { "-".into() } else { format!("{}x", f(median(&s), 2)) }),
        ]);
    }
    Some(t)
}

/// One paragraph on the reference rates: how they were measured and what the multiples mean.
pub fn rates_text(res: &Results) -> String {
    let Some(b) = &res.bench else { return String::new() };
    let v = Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden };
    let samples = res.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0);
    peak_text(res, v, samples)
        + &format!(
        "x libtorch, a second reference and no hardware limit: against {:.1} GFLOP per epoch ({} model, batch {}, hidden {}) / {:.0} GFLOP/s (libtorch matmul {}, {} threads, best of 3 medians of 200, in a worker process) = {:.3} s per epoch",
        summary::epoch_flops(res, v, samples) / 1e9,
        res.recipe.model.name(),
        v.batch_size,
        width(v.hidden),
        b.matmul_gflops,
        b.matmul_shape,
        res.machine.threads,
        libtorch_s(res, v)
    ) + &match summary::probed_range(res) {
        Some((lo, hi)) => format!(
            "; probed again before each repeat: {lo:.0} to {hi:.0} GFLOP/s, and x libtorch sets each run against its own repeat's probe (the median over runs)"
        ),
        None => String::new(),
    } + &match &b.libtorch_best {
        Some(p) => format!(
            "\nx libtorch best: {:.0} GFLOP/s, the best libtorch matmul rate over {} ({} threads); x libtorch best is the epoch against the recipe's FLOPs at that rate ({:.3} s)",
            p.gflops,
            p.shapes,
            res.machine.threads,
            summary::libtorch_best_s(res, v)
        ),
        None => String::new(),
    } + "\nothers' CPU: what every other process used while a worker ran, as a share of the machine; steal: time the hypervisor gave other guests; a repeat is busy above 10% or 5%"
}

/// The hardware floor: the probe's rates and what x peak is against.
fn peak_text(res: &Results, v: Variant, samples: usize) -> String {
    let Some(p) = res.bench.as_ref().and_then(|b| b.hardware_peak.as_ref()) else {
        return "x peak: not measured (a file from before the hardware probe)\n".into();
    };
    let threads = res.machine.threads;
    let rates: Vec<String> = p
        .rates
        .iter()
        .filter(|r| r.isa == p.isa)
        .map(|r| {
            format!(
                "{:.0} GFLOP/s on {} thread{}",
                r.gflops,
                r.threads,
                if r.threads == 1 { "" } else { "s" }
            )
        })
        .collect();
    let others: Vec<String> = p
        .rates
        .iter()
        .filter(|r| r.isa != p.isa && r.threads == 1)
        .map(|r| format!("{} {:.0}", r.isa, r.gflops))
        .collect();
    format!(
        "x peak: against {:.1} GFLOP per epoch at the hardware's f32 multiply-add rate, {:.0} GFLOP/s at {threads} threads = {:.3} s per epoch (the hardware floor). The rate is the CPU's own: a {} kernel of 12 independent chains per thread, all threads at once, in a worker process ({}; one thread of the narrower kernels: {}).{}\n",
        summary::epoch_flops(res, v, samples) / 1e9,
        p.gflops(threads).unwrap_or(f64::NAN),
        summary::peak_s(res, v, threads),
        p.isa,
        rates.join(", "),
        if others.is_empty() { "none".to_string() } else { others.join(", ") },
        p.unknown.as_ref().map(|u| format!(" Unknown CPU: {u}.")).unwrap_or_default()
    )
}

/// All bench tables with titles.
pub fn render(res: &Results, style: Style) -> String {
    let ab = ab_table(res, style)
        .map(|t| {
            let against = res.bench.as_ref().and_then(|b| b.against.as_deref()).unwrap_or("?");
            let line = |s: String| match style {
                Style::Markdown => format!("{s}\n\n"),
                Style::Text => format!("{s}\n"),
            };
            format!(
                "{}{t}\n\n{}{}\n",
                style.title(&format!("A/B against the baseline build ({against})")),
                line(ab_method(res.bench.as_ref().is_some_and(|b| b.lockstep))),
                ab_gate(res)
            )
        })
        .unwrap_or_default();
    let neighbour = neighbour_table(res, style)
        .map(|t| format!("{}{t}\n\n", style.title("Beside a busy neighbour (one core spinning)")))
        .unwrap_or_default();
    let rates = match style {
        Style::Markdown => rates_text(res).replace('\n', "\n\n"),
        Style::Text => rates_text(res),
    };
    format!(
        "{}{}\n\n{ab}{}{}\n\n{neighbour}{}{}\n\n{rates}\n\n{}",
        style.title("Epoch time per backend"),
        timing_table(res, style),
        style.title("Speed ratios (paired repeats)"),
        ratio_table(res, style),
        style.title("Where the time goes (medians per epoch)"),
        phase_table(res, style),
        super::verdict::render(res, style),
    )
}

/// `--against`: per backend and round, each build's median epoch, new/old with its interval, the
/// smallest slowdown the gate catches, the word and the gate. `None` without a baseline build.
pub fn ab_table(res: &Results, style: Style) -> Option<Table> {
    let checks = crate::bench::ab::checks(res);
    if checks.is_empty() {
        return None;
    }
    let mut t = table(
        style,
        &[
            "backend",
            "batch",
            "hidden",
            "run",
            "new s",
            "baseline s",
            "new/old [95%]",
            "detectable",
            "verdict",
            "gate",
        ],
    );
    for c in &checks {
        let label = if c.neighbour { format!("{} + busy neighbour", c.backend) } else { c.backend.clone() };
        let ratio =
            c.ratio.as_ref().map_or("-".into(), |i| format!("{:.3}x [{:.3}, {:.3}]", i.estimate, i.lo, i.hi));
        t.add_row(vec![
            Cell::new(label),
            right(c.variant.batch_size),
            right(width(c.variant.hidden)),
            Cell::new(if c.round == 0 { "run".into() } else { format!("runs 1-{}", c.round + 1) }),
            right(f(c.new_s, 3)),
            right(f(c.old_s, 3)),
            right(ratio),
            right(if c.detectable.is_finite() {
                format!("+{:.1}%", 100.0 * c.detectable)
            } else {
                "-".into()
            }),
            Cell::new(c.change.to_string()),
            Cell::new(crate::bench::ab::gate_word(c)),
        ]);
    }
    Some(t)
}

/// The line under the A/B table: how its numbers were made.
pub fn ab_method(lockstep: bool) -> String {
    let order = match lockstep {
        true => "each in its own worker, the two workers of a backend taking turns epoch by epoch in ABBA order (the real frameworks: whole workers in ABBA order)",
        false => "the two builds in ABBA order within each repeat, each in its own worker",
    };
    format!(
        "new/old: per repeat the ratio of median epochs, {order}. run: their geometric mean, 95% Student's t on their logs; runs 1-k: the repeats of the run and of its confirming runs pooled, the Hodges-Lehmann estimate with the exact Wilcoxon signed-rank interval (confidence at least 95%). slower / faster: the interval excludes 1. The gate runs a backend again while the estimate is above +{gate:.0}% and the pooled interval still holds +{gate:.0}% (at most {} confirming runs where the builds take turns, 1 where they alternate whole workers), and fails it when that interval lies wholly above +{gate:.0}%. detectable: the slowdown the gate fails {:.0}% of the time at this run's spread.",
        crate::bench::ab::CONFIRMING_RUNS,
        100.0 * crate::bench::ab::POWER,
        gate = 100.0 * crate::bench::ab::GATE
    )
}

/// The gate's outcome in one line.
fn ab_gate(res: &Results) -> String {
    let checks = crate::bench::ab::checks(res);
    let failed = crate::bench::ab::regressed(&checks);
    if failed.is_empty() {
        "gate: pass (no backend slower beyond the gate over the run and its confirming runs)".into()
    } else {
        let names: Vec<String> = failed
            .iter()
            .map(|c| if c.neighbour { format!("{} + busy neighbour", c.backend) } else { c.backend.clone() })
            .collect();
        format!(
            "gate: fail ({} slower beyond the gate over the run and its confirming runs)",
            names.join(", ")
        )
    }
}
