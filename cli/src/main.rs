//! `mlcmp`: argument parsing and printing. The ML lives in the crates under `crates/`.

mod args;
mod backends;
mod bench;
mod data;
mod eval;
mod outputs;
mod preflight;
mod progress;
mod regress;
mod report;
mod train;
mod worker_args;

use anyhow::Result;
use args::{Cli, Cmd};
use clap::Parser;
use mlcmp_core::results::Results;
use outputs::say;
use regress::{finish_with_regress, regress, regress_needs_json};
use std::process::ExitCode;

fn main() -> ExitCode {
    mlcmp_core::malloc::keep_freed_memory();
    // One line instead of a backtrace; a backend's panic becomes a failed run (core::backend).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("mlcmp: internal error: {}", mlcmp_core::backend::panic_message(info.payload()));
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mlcmp: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Train { backend, opts, exports, params } => train::train(&opts, &exports, &backend, &params),
        Cmd::Eval { backend, params, train_accuracy, config, hidden, threads, limit, data_dir } => {
            let opts = args::RunOpts { config, hidden, threads, limit, data_dir, ..Default::default() };
            eval::eval(&opts, &backend, &params, train_accuracy)
        }
        Cmd::Compare {
            opts,
            exports,
            no_save,
            check_parity,
            floor_reruns,
            regress: baseline,
            backends: list,
            seeds,
        } => {
            regress_needs_json(&baseline, &exports)?;
            let list = backends::compare_list(&list)?;
            let c = train::CompareOpts {
                save: !no_save,
                check_parity,
                floor_reruns,
                seeds: &seeds,
                unavailable: &list.unavailable,
            };
            let code = train::compare(&opts, &exports, &list.names, &c)?;
            finish_with_regress(code, baseline.as_deref(), exports.json.as_deref())
        }
        Cmd::Bench {
            opts,
            exports,
            repeats,
            warmup,
            backends,
            sweep,
            no_save,
            regress: baseline,
            neighbour,
            against,
            epochs_for,
            inject_slowdown,
        } => {
            regress_needs_json(&baseline, &exports)?;
            let busy = neighbour == args::NeighbourArg::Busy;
            let plan = bench::Plan {
                repeats,
                warmup,
                names: &backends,
                sweep: &sweep,
                save: !no_save,
                busy_neighbour: busy,
                against: against.as_deref(),
                slowdown: inject_slowdown.as_deref(),
                epochs_for: epochs_for.as_deref(),
            };
            let code = bench::bench(&opts, &exports, &plan)?;
            finish_with_regress(code, baseline.as_deref(), exports.json.as_deref())
        }
        Cmd::Worker { args, probe_matmul } => bench::worker(&args, probe_matmul.as_deref()),
        Cmd::Spin => mlcmp_core::bench::neighbour::spin(),
        Cmd::ProbePeak { threads } => {
            let threads: Vec<usize> = threads.into_iter().map(usize::from).collect();
            say!("{}", serde_json::to_string(&mlcmp_core::bench::peak::probe(&threads))?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Regress { baseline, current, update, exports } => {
            regress::check_exports(&baseline, &current, &exports)?;
            let cur = Results::load(&current)?;
            if update {
                mlcmp_core::regress::check_baseline(&cur, &current.display().to_string())?;
                cur.save(&baseline, true)?;
                say!("baseline {} replaced by {} (--update)", baseline.display(), current.display());
                return Ok(ExitCode::SUCCESS);
            }
            regress(&baseline, &cur, &current.display().to_string(), &exports)
        }
        Cmd::Report { files, format, plot, force } => report::report(&files, format, plot.as_deref(), force),
        Cmd::Ndarray => {
            backends::print_ndarray_example()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Data { cmd, data_dir: dir } => {
            let user_named = dir.is_some() || std::env::var_os("MLCMP_DATA").is_some_and(|d| !d.is_empty());
            data::data_cmd(cmd, &args::data_dir(&dir), user_named)
        }
    }
}
