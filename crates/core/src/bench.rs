//! `mlcmp bench`: each backend in its own worker process (one thread pool at a time, peak memory per
//! backend), a warm-up epoch, repeats interleaved across backends, medians and ratios, and the floor.

use crate::backend::{stop_requested, RunResult, Status, Variant};
use crate::recipe::Recipe;
use crate::report::{median, Style};
use crate::results::Results;
use comfy_table::{presets, Cell, CellAlignment, Table};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};

/// f32 multiply-adds x 2 per epoch: forward x.W1^T and h.W2^T, backward dW2, dh and dW1 (no
/// gradient for the data batch). 49.1 GFLOP for the article's recipe.
pub fn flops_per_epoch(hidden: usize, samples: usize) -> f64 {
    let per_sample = 2.0 * (784 * hidden) as f64 * 2.0 + 2.0 * (hidden * 10) as f64 * 3.0;
    per_sample * samples as f64
}

/// What a bench run measured beside the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchInfo {
    pub repeats: usize,
    pub warmup_epochs: usize,
    /// libtorch's matmul rate at (batch x 784).(784 x hidden) for the recipe's sizes, in a worker
    /// process with the bench's threads: the best of three medians of 200 products.
    pub matmul_gflops: f64,
    pub matmul_shape: String,
}

/// What a worker prints on stdout: its run and its peak resident memory.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerReport {
    pub run: RunResult,
    pub peak_rss_mb: f64,
}

/// Peak resident set size of this process (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The gluon backend's worker: a binary without libtorch, so its memory is the engine's own (the
/// main binary maps about 110 MB of libtorch before doing anything).
pub const GLUON_WORKER: &str = "mlcmp-gluon-worker";

/// Run `backend` in a child process (`exe worker ...`, or the libtorch-free gluon worker beside
/// `exe`), `warmup` extra epochs first.
pub fn run_worker(exe: &Path, backend: &str, recipe: &Recipe, warmup: usize, data_dir: &Path) -> RunResult {
    let json = serde_json::to_string(recipe).expect("recipe serialises");
    let gluon_worker = exe.with_file_name(GLUON_WORKER);
    let exe =
        if backend.starts_with("gluon") && gluon_worker.is_file() { gluon_worker.as_path() } else { exe };
    let out = Command::new(exe)
        .args(["worker", "--backend", backend, "--warmup", &warmup.to_string(), "--recipe-json", &json])
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    let failed = |why: String| {
        let mut r = RunResult::new(backend, recipe.threads.resolve());
        r.status = if stop_requested() { Status::Interrupted } else { Status::Failed };
        r.error = Some(why);
        r
    };
    match out {
        Err(e) => failed(format!("cannot start the worker {}: {e}", exe.display())),
        Ok(o) => match serde_json::from_slice::<WorkerReport>(&o.stdout) {
            Ok(w) => RunResult { peak_rss_mb: Some(w.peak_rss_mb), ..w.run },
            Err(_) => failed(format!("the worker exited with {} without a result", o.status)),
        },
    }
}

/// The worker side: train `backend` with `warmup` extra epochs first (marked as warm-up) on the
/// recipe in `recipe_json`, and print a [`WorkerReport`] as one JSON line.
pub fn worker(
    backend: &mut dyn crate::Backend,
    warmup: usize,
    recipe_json: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut recipe = Recipe::parse(recipe_json, "--recipe-json")?;
    let threads = recipe.threads.resolve();
    let mut data = mlcmp_data::Mnist::load(dir)?;
    if let Some(n) = recipe.limit {
        data.train.truncate(n);
        data.test.truncate(n);
    }
    recipe.epochs += warmup;
    let job = crate::Job { recipe: &recipe, data: &data, shared: None };
    let mut run = crate::backend::run_backend(backend, &job, threads, &mut |_| {});
    for e in run.epochs.iter_mut().take(warmup) {
        e.warmup = true;
    }
    let report = WorkerReport { run, peak_rss_mb: peak_rss_mb() };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Timed (non-warm-up) epoch times of one run.
pub fn timed(r: &RunResult) -> Vec<f64> {
    r.epochs.iter().filter(|e| !e.warmup).map(|e| e.time_s).collect()
}

fn right(s: String) -> Cell {
    Cell::new(s).set_alignment(CellAlignment::Right)
}

fn table(style: Style, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(match style {
        Style::Text => presets::UTF8_FULL_CONDENSED,
        Style::Markdown => presets::ASCII_MARKDOWN,
    });
    t.set_header(header.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    t
}

/// The runs grouped by sweep point and backend, in first-seen order.
fn groups(res: &Results) -> Vec<(Variant, String, Vec<&RunResult>)> {
    let mut g: Vec<(Variant, String, Vec<&RunResult>)> = vec![];
    for r in &res.runs {
        let v = r.variant.unwrap_or(Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden });
        match g.iter_mut().find(|(gv, gb, _)| *gv == v && *gb == r.backend) {
            Some((_, _, runs)) => runs.push(r),
            None => g.push((v, r.backend.clone(), vec![r])),
        }
    }
    g
}

/// Median timed epoch of a backend at a sweep point (over every repeat).
pub fn median_epoch(res: &Results, v: Variant, backend: &str) -> f64 {
    groups(res)
        .into_iter()
        .find(|(gv, gb, _)| *gv == v && gb == backend)
        .map(|(_, _, runs)| median(&runs.iter().flat_map(|r| timed(r)).collect::<Vec<_>>()))
        .unwrap_or(f64::NAN)
}

/// Floor seconds per epoch at a sweep point: FLOPs / the measured matmul rate.
pub fn floor_s(res: &Results, v: Variant) -> f64 {
    let samples = res.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0);
    match &res.bench {
        Some(b) => flops_per_epoch(v.hidden, samples) / (b.matmul_gflops * 1e9),
        None => f64::NAN,
    }
}

fn f(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "-".into()
    }
}

/// Per backend (and sweep point): median / min / max epoch, throughput, multiple of the floor, memory.
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
            "x floor",
            "peak RSS MB",
            "threads",
            "epochs timed",
            "status",
        ],
    );
    for (v, b, runs) in groups(res) {
        let times: Vec<f64> = runs.iter().flat_map(|r| timed(r)).collect();
        let med = median(&times);
        let samples = runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0) as f64;
        let rss = runs.iter().filter_map(|r| r.peak_rss_mb).fold(f64::NAN, f64::max);
        let bad: Vec<String> =
            runs.iter().filter(|r| r.status != Status::Ok).map(|r| r.status.to_string()).collect();
        t.add_row(vec![
            Cell::new(&b),
            right(v.batch_size.to_string()),
            right(v.hidden.to_string()),
            right(f(med, 3)),
            right(f(times.iter().copied().fold(f64::NAN, f64::min), 3)),
            right(f(times.iter().copied().fold(f64::NAN, f64::max), 3)),
            right(f(samples / med, 0)),
            right(f(med / floor_s(res, v), 2)),
            right(f(rss, 0)),
            right(runs[0].threads.to_string()),
            right(times.len().to_string()),
            Cell::new(if bad.is_empty() { "ok".to_string() } else { bad.join(", ") }),
        ]);
    }
    t
}

/// Per repeat, torch's epoch time over each other backend's (paired runs), and the median ratio.
pub fn ratio_table(res: &Results, style: Style) -> Table {
    let mut t = table(style, &["batch", "hidden", "ratio", "per repeat", "median"]);
    let g = groups(res);
    for (v, b, runs) in &g {
        if b == "torch" {
            continue;
        }
        let Some((_, _, torch)) = g.iter().find(|(gv, gb, _)| gv == v && gb == "torch") else { continue };
        let ratios: Vec<f64> = torch
            .iter()
            .zip(runs.iter())
            .map(|(tr, other)| median(&timed(tr)) / median(&timed(other)))
            .filter(|x| x.is_finite())
            .collect();
        t.add_row(vec![
            right(v.batch_size.to_string()),
            right(v.hidden.to_string()),
            Cell::new(format!("torch / {b}")),
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
    for (v, b, runs) in groups(res) {
        let eps: Vec<_> = runs.iter().flat_map(|r| r.epochs.iter().filter(|e| !e.warmup)).collect();
        let m = |get: fn(&crate::backend::EpochResult) -> f64| {
            f(median(&eps.iter().map(|e| get(e)).collect::<Vec<_>>()), 3)
        };
        let untimed = eps.iter().all(|e| e.phases == Default::default());
        let p = |get: fn(&crate::backend::EpochResult) -> f64| if untimed { "-".to_string() } else { m(get) };
        t.add_row(vec![
            Cell::new(&b),
            right(v.batch_size.to_string()),
            right(v.hidden.to_string()),
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

/// One paragraph on the floor: how it was measured and what it is.
pub fn floor_text(res: &Results) -> String {
    let Some(b) = &res.bench else { return String::new() };
    let v = Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden };
    let samples = res.runs.iter().find_map(|r| r.epochs.first().map(|e| e.samples)).unwrap_or(0);
    format!(
        "floor: {:.1} GFLOP per epoch (batch {}, hidden {}) / {:.0} GFLOP/s (libtorch matmul {}, {} threads, best of 3 medians of 200, in a worker process) = {:.3} s per epoch",
        flops_per_epoch(v.hidden, samples) / 1e9,
        v.batch_size,
        v.hidden,
        b.matmul_gflops,
        b.matmul_shape,
        res.machine.threads,
        floor_s(res, v)
    )
}

/// All bench tables with titles.
pub fn render(res: &Results, style: Style) -> String {
    let title = |s: &str| match style {
        Style::Text => format!("{s}\n"),
        Style::Markdown => format!("### {s}\n\n"),
    };
    format!(
        "{}{}\n\n{}{}\n\n{}{}\n\n{}\n",
        title("Epoch time per backend"),
        timing_table(res, style),
        title("Speed ratios (paired repeats)"),
        ratio_table(res, style),
        title("Where the time goes (medians per epoch)"),
        phase_table(res, style),
        floor_text(res)
    )
}

/// Parse `--sweep` items (`batch=32,128,512`, `hidden=256,1024`) into the sweep points, applied to
/// `base`'s sizes.
pub fn sweep_points(base: &Recipe, items: &[String]) -> anyhow::Result<Vec<Variant>> {
    let mut batches = vec![base.batch_size];
    let mut hiddens = vec![base.hidden];
    for it in items {
        let (k, vals) = it
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--sweep {it}: use KEY=V1,V2 (keys: batch, hidden)"))?;
        let parsed = vals
            .split(',')
            .map(|v| v.trim().parse::<usize>().ok().filter(|&n| n > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow::anyhow!("--sweep {it}: values must be positive integers"))?;
        match k {
            "batch" => batches = parsed,
            "hidden" => hiddens = parsed,
            _ => anyhow::bail!("--sweep {it}: unknown key '{k}' (keys: batch, hidden)"),
        }
    }
    Ok(batches
        .iter()
        .flat_map(|&b| hiddens.iter().map(move |&h| Variant { batch_size: b, hidden: h }))
        .collect())
}
