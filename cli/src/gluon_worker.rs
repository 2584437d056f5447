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
    let Cli::Worker(worker_args::WorkerArgs { backend, warmup, recipe_json, data_dir }) = Cli::parse();
    if backend != "gluon" && backend != "gluon-hybrid" {
        eprintln!("mlcmp-gluon-worker: error: only gluon and gluon-hybrid run here, not '{backend}'");
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
    let mut backend = match backend.as_str() {
        "gluon-hybrid" => mlcmp_backend_gluon::GluonBackend::hybridized(threads),
        _ => mlcmp_backend_gluon::GluonBackend::new(threads),
    };
    match mlcmp_core::bench::worker::worker(&mut backend, warmup, &recipe_json, &data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mlcmp-gluon-worker: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
