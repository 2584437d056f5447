//! Worker processes: the bench runs each backend in a child process and reads its result back.

use crate::backend::{run_backend, Backend, Job};
use crate::bench::load;
use crate::bench::neighbour::Neighbour;
use crate::child::follow;
use crate::interrupt::stop_requested;
use crate::recipe::Recipe;
use crate::run::{RunResult, Status};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

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
/// `exe`), `warmup` extra epochs first; with `neighbour`, beside a process spinning on one core;
/// with `slowdown`, [`crate::tracker::SLOWDOWN_VAR`] set to it (else unset, whatever this process
/// has). The run records the machine's load while the worker ran.
pub fn run_worker(
    exe: &Path,
    backend: &str,
    recipe: &Recipe,
    warmup: usize,
    data_dir: &Path,
    neighbour: bool,
    slowdown: Option<&str>,
) -> RunResult {
    let before = load::snapshot();
    // Started after the first snapshot and stopped after the second, so its CPU time counts as
    // another process's, as a real neighbour's would.
    let spinner = match neighbour {
        true => match Neighbour::start(exe) {
            Ok(n) => Some(n),
            Err(e) => {
                return RunResult::failed(
                    backend,
                    recipe.threads.resolve(),
                    Status::Failed,
                    format!("cannot start the busy neighbour: {e}"),
                )
            }
        },
        false => None,
    };
    let child = worker_command(exe, backend, recipe, warmup, data_dir, slowdown).stdin(Stdio::null()).spawn();
    let mut stdout = String::new();
    let out = child.and_then(|c| follow(c, None, |line| stdout.push_str(&format!("{line}\n"))));
    let mut run = match out {
        Err(e) => failed_run(backend, recipe, format!("cannot start the worker {}: {e}", exe.display())),
        Ok(o) => report_of(&stdout, o.status, backend, recipe),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let (Some(a), Some(b)) = (before, load::snapshot()) {
        run.load = Some(load::between(&a, &b, cores));
    }
    drop(spinner);
    run.neighbour = neighbour;
    run
}

/// The command that starts a worker of `exe` for `backend` (the libtorch-free gluon worker beside
/// `exe` where the backend runs there), stdout piped, stderr inherited, killed with this process.
pub(crate) fn worker_command(
    exe: &Path,
    backend: &str,
    recipe: &Recipe,
    warmup: usize,
    data_dir: &Path,
    slowdown: Option<&str>,
) -> Command {
    let json = serde_json::to_string(recipe).expect("recipe serialises");
    let gluon_worker = exe.with_file_name(GLUON_WORKER);
    let engine_only =
        crate::registry::get(backend).is_some_and(|b| b.worker == crate::registry::Worker::EngineOnly);
    let exe = if engine_only && gluon_worker.is_file() { gluon_worker.as_path() } else { exe };
    // A worker has nothing to keep once the bench is gone; its own children die with it in turn.
    let mut cmd = Command::new(exe);
    match slowdown {
        Some(v) => cmd.env(crate::tracker::SLOWDOWN_VAR, v),
        None => cmd.env_remove(crate::tracker::SLOWDOWN_VAR),
    };
    crate::child::die_with_parent(&mut cmd, crate::child::Orphaned::Kill)
        .args(["worker", "--backend", backend, "--warmup", &warmup.to_string(), "--recipe-json", &json])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// The run a worker reported on `stdout` (its last line that is JSON), or a failed run saying how
/// it ended.
pub(crate) fn report_of(stdout: &str, status: ExitStatus, backend: &str, recipe: &Recipe) -> RunResult {
    match stdout.lines().rev().find(|l| l.starts_with('{')).map(serde_json::from_str::<WorkerReport>) {
        // A backend that runs in its own process (the real frameworks) reports that process's
        // peak; the worker's own would be only the Rust side waiting for it.
        Some(Ok(w)) => RunResult { peak_rss_mb: w.run.peak_rss_mb.or(Some(w.peak_rss_mb)), ..w.run },
        _ => failed_run(backend, recipe, format!("the worker exited with {status} without a result")),
    }
}

pub(crate) fn failed_run(backend: &str, recipe: &Recipe, why: String) -> RunResult {
    let status = if stop_requested() { Status::Interrupted } else { Status::Failed };
    RunResult::failed(backend, recipe.threads.resolve(), status, why)
}

/// The worker side: train `backend` with `warmup` extra epochs first (marked as warm-up) on the
/// recipe in `recipe_json`, and print a [`WorkerReport`] as one JSON line.
///
/// With `lockstep`, it takes turns with another worker ([`crate::turns`]).
pub fn worker(
    backend: &mut dyn Backend,
    warmup: usize,
    recipe_json: &str,
    dir: &Path,
    lockstep: bool,
) -> anyhow::Result<()> {
    let mut recipe = Recipe::parse(recipe_json, "--recipe-json")?;
    let threads = recipe.threads.resolve();
    // The parent checked the checksums once for all workers.
    let mut data = mlcmp_data::Mnist::load(dir)?;
    data.limit(recipe.limit);
    recipe.epochs += warmup;
    let job = Job::new(&recipe, &data);
    if lockstep {
        crate::turns::enable();
    }
    let mut run = run_backend(backend, &job, threads, &mut |_| {});
    for e in run.epochs.iter_mut().take(warmup) {
        e.warmup = true;
    }
    let report = WorkerReport { run, peak_rss_mb: peak_rss_mb() };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// libtorch's matmul rate in GFLOP/s for an (m x k).(k x n) product at the recipe's threads,
/// measured in a worker process like the runs (`exe worker --probe-matmul MxKxN`, the speed
/// reference's backend); NaN when it cannot be measured (a build without torch).
pub fn probe_matmul(exe: &Path, [m, k, n]: [usize; 3], recipe: &Recipe, data_dir: &Path) -> f64 {
    crate::child::die_with_parent(&mut Command::new(exe), crate::child::Orphaned::Kill)
        .args(["worker", "--backend", crate::registry::reference(), "--recipe-json"])
        .arg(serde_json::to_string(recipe).expect("recipe serialises"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--probe-matmul", &format!("{m}x{k}x{n}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// The hardware's f32 multiply-add rate at each of `threads` ([`crate::bench::peak`]), measured in
/// a worker process like the runs (`exe probe-peak --threads 1,2`); None when it cannot be run.
pub fn probe_peak(exe: &Path, threads: &[usize]) -> Option<crate::bench::peak::HardwarePeak> {
    let list: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
    crate::child::die_with_parent(&mut Command::new(exe), crate::child::Orphaned::Kill)
        .args(["probe-peak", "--threads", &list.join(",")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
}
