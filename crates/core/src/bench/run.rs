//! The bench's run: the matmul probes, then every sweep point's repeats, each backend of a repeat
//! in its own worker process (quiet, then beside the busy neighbour when asked), into one
//! [`Results`]. The counterpart of [`crate::driver::run_all`] for `compare`.

use crate::bench::lockstep::{can_take_turns, run_pair};
use crate::bench::worker::{probe_matmul, probe_peak, run_worker};
use crate::interrupt::stop_requested;
use crate::results::{BenchInfo, BestRate, Results};
use crate::run::{RunResult, Variant};
use std::collections::BTreeMap;
use std::path::Path;

/// What a bench runs besides the recipe.
pub struct Plan<'a> {
    pub repeats: usize,
    /// Warm-up epochs before the timed ones, in each worker.
    pub warmup: usize,
    /// Backends, in this order within each repeat.
    pub names: &'a [String],
    /// The sweep points ([`crate::bench::sweep::sweep_points`]); one point is the recipe's sizes.
    pub points: &'a [Variant],
    /// Also run every repeat beside a process spinning on one core.
    pub busy_neighbour: bool,
    /// `--against OLD`: the baseline build's `mlcmp`, each backend of which runs beside this
    /// build's in every repeat ([`crate::bench::ab`]).
    pub against: Option<&'a Path>,
    /// `--inject-slowdown` (tests and the gate's power study only): the value of
    /// [`crate::tracker::SLOWDOWN_VAR`] for this build's workers; the baseline's never get one.
    pub slowdown: Option<&'a str>,
    /// `--epochs-for`: timed epochs per worker of these backends, in place of the recipe's.
    pub epochs_for: &'a BTreeMap<String, usize>,
}

/// `--epochs-for` (`pytorch=2,mxnet=2`): timed epochs per backend, each one of `names` (the bench's
/// backends) and at least 1; an error in words otherwise. A backend whose epochs are many times
/// longer than the others' can keep the recipe's few while the rest time more.
///
/// ```
/// use mlcmp_core::bench::run::epochs_for;
/// let names = ["torch".to_string(), "mxnet".to_string()];
/// assert_eq!(epochs_for("mxnet=2", &names).unwrap()["mxnet"], 2);
/// assert!(epochs_for("mxnet=2,mxnet=3", &names).unwrap_err().contains("twice"));
/// assert!(epochs_for("pytorch=2", &names).is_err()); // not one of this bench's backends
/// ```
pub fn epochs_for(spec: &str, names: &[String]) -> Result<BTreeMap<String, usize>, String> {
    let mut out = BTreeMap::new();
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let Some((b, n)) = item.split_once('=').and_then(|(b, n)| Some((b, n.parse::<usize>().ok()?))) else {
            return Err(format!("'{item}' is not BACKEND=EPOCHS, e.g. mxnet=2"));
        };
        if !names.iter().any(|x| x == b) {
            return Err(format!("'{b}' is not one of this bench's backends ({})", names.join(", ")));
        }
        if n == 0 {
            return Err(format!("'{item}': a worker times at least 1 epoch"));
        }
        if out.insert(b.to_string(), n).is_some() {
            return Err(format!("'{b}' is given twice"));
        }
    }
    Ok(out)
}

/// Where one worker run sits in the plan, for a progress line.
pub struct At {
    pub repeat: usize,
    pub repeats: usize,
    pub variant: Variant,
    /// The run is the baseline build's (`--against`).
    pub baseline: bool,
    /// The repeat belongs to the confirming run of a backend the gate flagged.
    pub confirming: bool,
}

/// Run `plan` with the workers of `exe` (the `mlcmp` binary) on the MNIST files in `dir` (already
/// verified), appending each run to `res` and calling `on` after it. A requested stop (Ctrl-C)
/// ends the bench after the current worker; what finished is kept.
pub fn run(exe: &Path, plan: &Plan, dir: &Path, res: &mut Results, on: &mut dyn FnMut(&RunResult, &At)) {
    let recipe = res.recipe.clone();
    let model = recipe.model();
    let product = model.largest_product(recipe.batch_size);
    // The hardware's rate first, on an idle machine: one thread, the recipe's, every core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, recipe.threads.resolve().min(cores), cores];
    counts.dedup();
    let hardware_peak = probe_peak(exe, &counts);
    let probed_first = probe_matmul(exe, product, &recipe, dir);
    // libtorch's best rate: the recipe's product and two square ones big enough for its kernels to
    // reach their top speed.
    let squares = [[512; 3], [1024; 3]];
    let best = squares.iter().map(|&s| probe_matmul(exe, s, &recipe, dir)).fold(probed_first, f64::max);
    res.bench = Some(BenchInfo {
        hardware_peak,
        repeats: plan.repeats,
        warmup_epochs: plan.warmup,
        matmul_gflops: probed_first,
        matmul_shape: model.largest_product_text(recipe.batch_size),
        libtorch_best: best.is_finite().then(|| BestRate {
            gflops: best,
            shapes: format!("{}, 512x512x512, 1024x1024x1024", model.largest_product_text(recipe.batch_size)),
        }),
        against: plan.against.map(|p| p.display().to_string()),
        lockstep: plan.against.is_some_and(crate::bench::lockstep::supported),
        epochs_for: plan.epochs_for.clone(),
    });
    let probe = |i: usize, rep: usize| match (i, rep) {
        (0, 0) => probed_first,
        _ => probe_matmul(exe, product, &recipe, dir),
    };
    repeats(exe, plan, plan.names, 0, dir, res, &probe, on);
    // The confirming runs: a backend the gate screened gets more A/B repeats of its own until its
    // pooled interval decides, so a false alarm needs the run and the pooled repeats to agree.
    if plan.against.is_some() {
        for round in 1..=crate::bench::ab::CONFIRMING_RUNS {
            let again = crate::bench::ab::to_confirm(&crate::bench::ab::checks(res));
            if again.is_empty() || stop_requested() {
                break;
            }
            repeats(exe, plan, &again, round * plan.repeats, dir, res, &probe, on);
        }
    }
    // A repeat's probe can beat the first ones: the best is the best rate seen.
    let fastest = res.runs.iter().filter_map(|r| r.libtorch_gflops).fold(best, f64::max);
    if let Some(p) = res.bench.as_mut().and_then(|b| b.libtorch_best.as_mut()) {
        p.gflops = fastest;
    }
}

/// `plan.repeats` repeats of `names` at every sweep point, numbered from `first`; with a baseline
/// build, each backend's two builds in ABBA order: epoch by epoch where both take turns
/// ([`crate::bench::lockstep`]), else whole workers.
#[allow(clippy::too_many_arguments)]
fn repeats(
    exe: &Path,
    plan: &Plan,
    names: &[String],
    first: usize,
    dir: &Path,
    res: &mut Results,
    probe: &dyn Fn(usize, usize) -> f64,
    on: &mut dyn FnMut(&RunResult, &At),
) {
    let recipe = res.recipe.clone();
    let lockstep = res.bench.as_ref().is_some_and(|b| b.lockstep);
    for (i, &v) in plan.points.iter().enumerate() {
        let at_point = crate::bench::sweep::at(&recipe, v);
        for rep in first..first + plan.repeats {
            // The machine's speed drifts: each repeat's runs get the rate probed just before them,
            // so "x libtorch" sets a run against the machine's speed at that moment.
            let probed = probe(i, rep);
            for neighbour in [false, true].into_iter().filter(|&n| !n || plan.busy_neighbour) {
                for (k, name) in names.iter().enumerate() {
                    if stop_requested() {
                        return;
                    }
                    let mut r = at_point.clone();
                    r.epochs = plan.epochs_for.get(name).copied().unwrap_or(r.epochs);
                    // ABBA: the order flips every repeat and starts differently per backend, so a
                    // trend over the repeats weighs on both builds alike.
                    let new_first = (rep + k) % 2 == 0;
                    let runs: Vec<(RunResult, bool)> = match plan.against {
                        None => vec![(
                            run_worker(exe, name, &r, plan.warmup, dir, neighbour, plan.slowdown),
                            false,
                        )],
                        Some(old) if lockstep && can_take_turns(name) => {
                            let [new, old] = run_pair(
                                [exe, old],
                                [plan.slowdown, None],
                                name,
                                &r,
                                plan.warmup,
                                dir,
                                neighbour,
                                usize::from(!new_first),
                            );
                            vec![(new, false), (old, true)]
                        }
                        Some(old) => {
                            let order = if new_first {
                                [(exe, false), (old, true)]
                            } else {
                                [(old, true), (exe, false)]
                            };
                            let mut out = vec![];
                            for (build, baseline) in order {
                                if stop_requested() {
                                    break;
                                }
                                let slowdown = if baseline { None } else { plan.slowdown };
                                out.push((
                                    run_worker(build, name, &r, plan.warmup, dir, neighbour, slowdown),
                                    baseline,
                                ));
                            }
                            out
                        }
                    };
                    for (mut run, baseline) in runs {
                        run.repeat = Some(rep);
                        run.libtorch_gflops = probed.is_finite().then_some(probed);
                        if plan.points.len() > 1 {
                            run.variant = Some(v);
                        }
                        let at = At {
                            repeat: rep - first,
                            repeats: plan.repeats,
                            variant: v,
                            baseline,
                            confirming: first > 0,
                        };
                        on(&run, &at);
                        match baseline {
                            false => res.runs.push(run),
                            true => res.baseline_runs.push(run),
                        }
                    }
                }
            }
        }
    }
}
