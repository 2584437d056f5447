//! `mlcmp-gluon-worker`: the gluon backend's bench worker, a binary that does not link libtorch so
//! the peak memory `mlcmp bench` reports for gluon is the engine's own. Same arguments as
//! `mlcmp worker`; `mlcmp bench` starts it.

use clap::Parser;
use std::process::ExitCode;

mod worker_args;

#[derive(Parser)]
#[command(name = "mlcmp-gluon-worker", about = "(internal) gluon worker for mlcmp bench")]
enum Cli {
    Worker(worker_args::WorkerArgs),
}

fn main() -> ExitCode {
    mlcmp_core::malloc::keep_freed_memory();
    let Cli::Worker(worker_args::WorkerArgs { backend, warmup, recipe_json, data_dir, lockstep }) =
        Cli::parse();
    let engine_only =
        |b: &mlcmp_core::registry::BackendInfo| b.worker == mlcmp_core::registry::Worker::EngineOnly;
    if !mlcmp_core::registry::get(&backend).is_some_and(engine_only) {
        let here = mlcmp_core::registry::list(engine_only);
        eprintln!("mlcmp-gluon-worker: error: only {here} run here, not '{backend}'");
        return ExitCode::from(2);
    }
    if let Err(e) = ctrlc::set_handler(mlcmp_core::interrupt::note_stop) {
        eprintln!("mlcmp-gluon-worker: error: cannot install the Ctrl-C handler: {e}");
    }
    let threads = match mlcmp_core::recipe::Recipe::parse(&recipe_json, "--recipe-json") {
        Ok(r) => r.threads.resolve(),
        Err(e) => {
            eprintln!("mlcmp-gluon-worker: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    use mlcmp_core::backend::Backend as _;
    let variants = [
        mlcmp_backend_gluon::GluonBackend::new(threads),
        mlcmp_backend_gluon::GluonBackend::hybridized(threads),
    ];
    let Some(mut backend) = variants.into_iter().find(|b| b.name() == backend) else {
        eprintln!("mlcmp-gluon-worker: error: '{backend}' is not one of the engine's backends");
        return ExitCode::from(2);
    };
    match mlcmp_core::bench::worker::worker(&mut backend, warmup, &recipe_json, &data_dir, lockstep) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlcmp-gluon-worker: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
