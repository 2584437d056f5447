//! Running the recipe through backends, one after the other, into one [`Results`].

use crate::backend::{run_backend, Backend, Event, Job, ParamFiles};
use crate::interrupt::stop_requested;
use crate::parity::{self, Parity};
use crate::recipe::{InitMode, Recipe};
use crate::results::Results;
use crate::run::RunResult;
use crate::shared::Shared;
use anyhow::{bail, Result};
use mlcmp_data::{FileStatus, Mnist};
use std::path::Path;

/// Load MNIST from `dir` after checking every file's SHA-256, keeping the first `limit` samples of
/// each split when asked.
pub fn load_data(dir: &Path, limit: Option<usize>) -> Result<Mnist> {
    if let Some(why) = mlcmp_data::folder_problem(dir) {
        bail!("{}: {why}", dir.display());
    }
    for (path, status) in mlcmp_data::verify(dir) {
        match status {
            FileStatus::Ok => {}
            FileStatus::Missing => bail!(
                "{}: missing; run `mlcmp data fetch` (or scripts/setup), or point --data-dir / MLCMP_DATA at the four MNIST IDX files",
                path.display()
            ),
            FileStatus::Unreadable { reason } => bail!(
                "{}: cannot be read ({reason}); put a readable copy of the MNIST file there (or delete it and run `mlcmp data fetch`)",
                path.display()
            ),
            FileStatus::Mismatch { actual } => bail!(
                "{}: checksum mismatch (SHA-256 {actual}); the file is corrupted or not MNIST: delete it and run `mlcmp data fetch`",
                path.display()
            ),
        }
    }
    let mut m = Mnist::load(dir)?;
    m.limit(limit);
    Ok(m)
}

/// `compare --seeds`: after [`run_all`] with the recipe's seed (the first), each backend again for
/// each other seed, each run marked with its seed. Shared mode draws each seed's weights and
/// batches; parity is measured for the recipe's seed only.
pub fn run_seeds(
    recipe: &Recipe,
    data: &Mnist,
    backends: &mut [Box<dyn Backend>],
    results: &mut Results,
    other_seeds: &[u64],
    floor_reruns: usize,
    on: &mut dyn FnMut(&str, Event),
) {
    run_all(recipe, data, backends, results, ParamFiles::default(), floor_reruns, on);
    for r in &mut results.runs {
        r.seed = Some(recipe.seed);
    }
    let threads = recipe.threads.resolve();
    for &seed in other_seeds {
        let recipe = Recipe { seed, ..recipe.clone() };
        let shared = (recipe.init == InitMode::Shared)
            .then(|| Shared::draw(&recipe, &recipe.model(), data.train.len()));
        let job = Job { shared: shared.as_ref(), ..Job::new(&recipe, data) };
        for b in backends.iter_mut() {
            if stop_requested() {
                return;
            }
            let label = format!("{}, seed {seed}", b.name());
            let mut run = run_backend(b.as_mut(), &job, threads, &mut |e| on(&label, e));
            run.seed = Some(seed);
            results.runs.push(run);
        }
    }
}

/// Run each backend in turn (never two at once: their thread pools would fight for the cores),
/// appending its run to `results`. A failing or diverging backend does not stop the next one; a
/// requested stop (Ctrl-C) does. With `init: shared` every backend gets the same initial weights and
/// batch order, and `results.parities` compares each port with its framework and the two ports,
/// each beside the f32 floor of one of them: `floor_reruns` reruns from perturbed weights, each
/// pair's gaps then ranked among theirs ([`parity::rank_test`]). `params`
/// (`train --load-params/--save-params`) applies to the backends' runs, never to the floor reruns.
pub fn run_all(
    recipe: &Recipe,
    data: &Mnist,
    backends: &mut [Box<dyn Backend>],
    results: &mut Results,
    params: ParamFiles,
    floor_reruns: usize,
    on: &mut dyn FnMut(&str, Event),
) {
    let threads = recipe.threads.resolve();
    let shared =
        (recipe.init == InitMode::Shared).then(|| Shared::draw(recipe, &recipe.model(), data.train.len()));
    let job = Job { shared: shared.as_ref(), params, ..Job::new(recipe, data) };
    for b in backends.iter_mut() {
        if stop_requested() {
            break;
        }
        let name = b.name();
        let run = run_backend(b.as_mut(), &job, threads, &mut |e| on(name, e));
        results.runs.push(run);
    }
    let Some(shared) = &shared else { return };
    let names: Vec<&str> = results.runs.iter().map(|r| r.backend.as_str()).collect();
    let pairs = parity::pairs(&names);
    // The floors: each needed backend again, from weights a rounding step or two away (once each).
    let floors = shared.floors(floor_reruns);
    let mut reruns: Vec<(String, Vec<RunResult>)> = vec![];
    for (a, b) in &pairs {
        let name = parity::floor_of(a, b);
        if reruns.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(backend) = backends.iter_mut().find(|x| x.name() == name) else { continue };
        let mut runs = vec![];
        for (i, floor) in floors.iter().enumerate() {
            if stop_requested() {
                break;
            }
            let job = Job { shared: Some(floor), ..Job::new(recipe, data) };
            let label = format!("{name}, floor rerun {}/{}", i + 1, floors.len());
            runs.push(run_backend(backend.as_mut(), &job, threads, &mut |e| on(&label, e)));
        }
        reruns.push((name.to_string(), runs));
    }
    for (a, b) in pairs {
        let (Some(ra), Some(rb)) = (results.run(&a), results.run(&b)) else { continue };
        let Some(mut p) = parity::compare(ra, rb) else { continue };
        let floor_name = parity::floor_of(&a, &b).to_string();
        let (mut floor_runs, mut floors) = (0, vec![]);
        if let (Some(orig), Some((_, runs))) =
            (results.run(&floor_name), reruns.iter().find(|(n, _)| *n == floor_name))
        {
            floors = runs.iter().filter_map(|r| parity::compare(orig, r)).collect();
            floor_runs = floors.len();
            p.floor = floors.iter().cloned().reduce(Parity::max).map(Box::new);
        }
        results.parities.push(parity::PairParity {
            a,
            b,
            floor_of: floor_name,
            floor_runs,
            parity: p,
            floors,
        });
    }
}
