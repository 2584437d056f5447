//! The arguments `mlcmp bench` gives a worker process, shared by `mlcmp worker` and
//! `mlcmp-gluon-worker`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub backend: String,
    /// Extra epochs first, marked as warm-up.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// The recipe, as JSON.
    #[arg(long)]
    pub recipe_json: String,
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Before every epoch, print `ready EPOCH` and wait for a line on stdin (`bench --against`
    /// runs both builds' workers in turn).
    #[arg(long)]
    pub lockstep: bool,
}
