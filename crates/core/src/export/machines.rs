//! `mlcmp report A.json B.json ...`: results from several machines (CI runners, laptops) in one
//! table, a row per machine and backend, so teams compare runners side by side.

use super::table::Table;
use super::table::{num as f, right, table, Style};
use crate::bench::summary::{self, libtorch_s};
use crate::results::Results;
use crate::run::Variant;
use comfy_table::Cell;

/// One row per file and backend: the machine (cpu, cores, threads, libtorch's rates where the file
/// is a bench), the backend's median epoch, its multiple of the time at libtorch's rate and torch's time over it.
pub fn machines_table(files: &[(String, Results)], style: Style) -> Table {
    let mut t = table(
        style,
        &[
            "file",
            "recipe",
            "cpu",
            "cores",
            "threads",
            "libtorch s",
            "libtorch best GFLOP/s",
            "backend",
            "median s",
            "x libtorch",
            "torch / backend",
        ],
    );
    for (name, res) in files {
        let v = Variant { batch_size: res.recipe.batch_size, hidden: res.recipe.hidden };
        let best =
            res.bench.as_ref().and_then(|b| b.libtorch_best.as_ref()).map(|p| p.gflops).unwrap_or(f64::NAN);
        let mut backends: Vec<&str> = vec![];
        for r in &res.runs {
            if !backends.contains(&r.backend.as_str()) {
                backends.push(&r.backend);
            }
        }
        let groups = summary::groups(res);
        for b in backends {
            let med = summary::median_epoch(res, b).unwrap_or(f64::NAN);
            let ratio = summary::speed_ratio(res, b).unwrap_or(f64::NAN);
            // The backend's quiet runs at the recipe's own point, for x libtorch.
            let runs = groups
                .iter()
                .find(|g| !g.neighbour && g.backend == b && g.variant == v)
                .map_or(vec![], |g| g.runs.clone());
            t.add_row(vec![
                Cell::new(name),
                Cell::new(format!("{} ({})", res.recipe.name, res.recipe.model.name())),
                Cell::new(&res.machine.cpu),
                right(res.machine.cores),
                right(res.machine.threads),
                right(f(libtorch_s(res, v), 3)),
                right(f(best, 0)),
                Cell::new(b),
                right(f(med, 3)),
                right(f(summary::x_libtorch(res, v, &runs), 2)),
                right(if ratio.is_finite() { format!("{ratio:.2}x") } else { "-".into() }),
            ]);
        }
    }
    t
}
