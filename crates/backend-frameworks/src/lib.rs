//! mlcmp's `pytorch` and `mxnet` backends: the textbooks' own code on the real frameworks: the
//! article's ("Ten minutes from PyTorch to MXNet") for the MLP, d2l's for LeNet. Each runs
//! `python/<framework>_<article|lenet>.py` in the framework's virtual environment as a child process
//! and reads one JSON line per epoch; the Rust ports (`torch`, `gluon`) are checked against them.
//!
//! ```no_run
//! use mlcmp_backend_frameworks::{Framework, FrameworkBackend};
//! use mlcmp_core::backend::{Backend, Job};
//! use mlcmp_core::recipe::Recipe;
//! let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! let mut mxnet = FrameworkBackend::new(Framework::Mxnet, 2);
//! let run = mxnet.run(&Job::new(&Recipe::article(), &data), &mut |_| {}).unwrap();
//! println!("{:?}", run.epochs.last());
//! ```

use anyhow::{bail, Context, Result};
use mlcmp_core::backend::{Backend, Event, Job};
use mlcmp_core::child::follow;
use mlcmp_core::model::ModelKind;
use mlcmp_core::run::{EpochResult, Phases, RunResult, Status, StopPoint};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A runner says it is alive every 50 batches; one silent this long has hung. (MXNet 1.9.1's
/// DataLoader with 4 worker processes hung on a 2-core machine: no output for 25 minutes.)
const QUIET_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The runners, carried in the binary so an installed mlcmp runs them too.
const RUNNER: &str = include_str!("../python/mlcmp_runner.py");
const PYTORCH: &str = include_str!("../python/pytorch_article.py");
const MXNET: &str = include_str!("../python/mxnet_article.py");
const PYTORCH_LENET: &str = include_str!("../python/pytorch_lenet.py");
const MXNET_LENET: &str = include_str!("../python/mxnet_lenet.py");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Pytorch,
    Mxnet,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Pytorch => "pytorch",
            Framework::Mxnet => "mxnet",
        }
    }

    /// The virtual environment `scripts/setup` installs it into, under the checkout.
    fn venv(self) -> &'static str {
        match self {
            Framework::Pytorch => ".venv",
            Framework::Mxnet => ".venv-mxnet",
        }
    }

    /// `$MLCMP_PYTORCH_PYTHON` / `$MLCMP_MXNET_PYTHON` point at another interpreter.
    fn env_var(self) -> &'static str {
        match self {
            Framework::Pytorch => "MLCMP_PYTORCH_PYTHON",
            Framework::Mxnet => "MLCMP_MXNET_PYTHON",
        }
    }

    /// The runner for `model`: its file name and text.
    fn script(self, model: ModelKind) -> (&'static str, &'static str) {
        match (self, model) {
            (Framework::Pytorch, ModelKind::Mlp) => ("pytorch_article.py", PYTORCH),
            (Framework::Mxnet, ModelKind::Mlp) => ("mxnet_article.py", MXNET),
            (Framework::Pytorch, ModelKind::Lenet) => ("pytorch_lenet.py", PYTORCH_LENET),
            (Framework::Mxnet, ModelKind::Lenet) => ("mxnet_lenet.py", MXNET_LENET),
        }
    }

    /// The Python that has this framework, or why there is none and how to fix it.
    pub fn python(self) -> std::result::Result<PathBuf, String> {
        if let Some(p) = std::env::var_os(self.env_var()).filter(|p| !p.is_empty()) {
            return Ok(p.into());
        }
        let here = std::env::current_dir().ok();
        let exe = std::env::current_exe().ok();
        let Some(checkout) =
            [here.as_deref(), exe.as_deref()].into_iter().flatten().find_map(mlcmp_data::checkout_of)
        else {
            return Err(format!(
                "no mlcmp checkout here to find {}; run from the checkout or set {}",
                self.venv(),
                self.env_var()
            ));
        };
        let venv = checkout.join(self.venv());
        let name = self.name();
        if let Ok(why) = std::fs::read_to_string(venv.join(format!("mlcmp-{name}-unavailable"))) {
            return Err(format!("{}; see scripts/setup frameworks, or set {}", why.trim(), self.env_var()));
        }
        if venv.join(format!("mlcmp-{name}-ok")).is_file() {
            Ok(venv.join("bin/python"))
        } else {
            Err(format!("{name} is not installed in {}; run scripts/setup frameworks", venv.display()))
        }
    }
}

/// A real framework running the article's code.
pub struct FrameworkBackend {
    framework: Framework,
    threads: usize,
}

impl FrameworkBackend {
    pub fn new(framework: Framework, threads: usize) -> FrameworkBackend {
        FrameworkBackend { framework, threads }
    }
}

/// What a runner prints, one JSON object per line.
#[derive(Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Line {
    Epoch {
        epoch: usize,
        avg_loss: f64,
        time_s: f64,
        train_acc: f64,
        test_acc: f64,
        eval_s: f64,
        samples: usize,
        phases: Phases,
        batch_losses: Vec<f32>,
    },
    Batch {
        epoch: usize,
        batch: usize,
        loss: f32,
    },
    Stopped {
        status: Status,
        epoch: usize,
        batch: usize,
    },
    End {
        threads: usize,
        /// The Python process's peak resident memory, in MB.
        peak_rss_mb: Option<f64>,
    },
}

/// A runner's folder in the temporary directory: `mlcmp-runner-<pid of mlcmp>-<random>`.
const FOLDER_PREFIX: &str = "mlcmp-runner-";

/// Remove the runner folders of mlcmp processes that no longer exist. A runner removes its own
/// folder when mlcmp dies (it gets SIGTERM then), but not when it is killed itself.
fn remove_orphaned_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid =
            name.to_str().and_then(|n| n.strip_prefix(FOLDER_PREFIX)).and_then(|rest| rest.split('-').next());
        if let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) {
            if !mlcmp_core::child::alive(pid) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Write the shared weights (raw little-endian f32, in the model's order) and batches for a runner.
fn write_shared(dir: &Path, job: &Job) -> Result<()> {
    let Some(s) = job.shared else { return Ok(()) };
    let bytes: Vec<u8> = s.params.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("params.f32"), bytes)?;
    std::fs::write(dir.join("batches.json"), serde_json::to_vec(&s.epochs)?)?;
    Ok(())
}

/// The runner's final parameters, split by the model's shapes.
fn read_params(path: &Path, job: &Job) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).context("the runner wrote no final parameters")?;
    let mut flat = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let shapes = job.recipe.model().param_shapes();
    let params: Vec<Vec<f32>> =
        shapes.iter().map(|s| flat.by_ref().take(s.iter().product()).collect()).collect();
    if params.iter().zip(&shapes).any(|(p, s)| p.len() != s.iter().product::<usize>())
        || flat.next().is_some()
    {
        bail!("the runner's final parameters do not match the model's shapes");
    }
    Ok(params)
}

impl Backend for FrameworkBackend {
    fn name(&self) -> &'static str {
        self.framework.name()
    }

    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> Result<RunResult> {
        let fw = self.framework;
        let python = fw.python().map_err(|why| anyhow::anyhow!("unavailable: {why}"))?;
        remove_orphaned_folders();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{FOLDER_PREFIX}{}-", std::process::id()))
            .tempdir()
            .context("cannot make a folder for the runner")?;
        std::fs::write(dir.path().join("mlcmp_runner.py"), RUNNER)?;
        let (script, text) = fw.script(job.recipe.model);
        std::fs::write(dir.path().join(script), text)?;
        write_shared(dir.path(), job)?;
        let final_params = dir.path().join("final.f32");
        let mut cmd = Command::new(&python);
        // SIGTERM, not SIGKILL: the runner then removes its folder (mlcmp_runner.py).
        mlcmp_core::child::die_with_parent(&mut cmd, mlcmp_core::child::Orphaned::Terminate);
        cmd.arg(dir.path().join(script))
            .args(["--recipe-json", &serde_json::to_string(job.recipe)?])
            .arg("--data-dir")
            .arg(&job.data.dir)
            .arg("--final-params")
            .arg(&final_params)
            .args(["--eval-chunk", &mlcmp_core::model::EVAL_CHUNK.to_string()])
            .args(["--diverged-loss", &mlcmp_core::divergence::DIVERGED_LOSS.to_string()])
            .env("OMP_NUM_THREADS", self.threads.to_string())
            .env("PYTHONWARNINGS", "ignore")
            .env("MLCMP_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a hung runner is stopped with every process it forked (the DataLoader's loader workers).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if job.shared.is_some() {
            cmd.arg("--shared").arg(dir.path());
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {}", python.display()))?;

        let mut run = RunResult::new(fw.name(), self.threads);
        let mut bad: Option<String> = None;
        let mut ended = false;
        let batches = job.recipe.batches_per_epoch(job.data.train.len());
        on(Event::EpochStart { epoch: 0, batches });
        let done = follow(child, Some(QUIET_LIMIT), |line| match serde_json::from_str::<Line>(line) {
            Ok(Line::Epoch {
                epoch,
                avg_loss,
                time_s,
                train_acc,
                test_acc,
                eval_s,
                samples,
                phases,
                batch_losses,
            }) => {
                let e = EpochResult {
                    avg_loss,
                    train_acc,
                    test_acc,
                    time_s,
                    eval_s,
                    phases,
                    ..EpochResult::new(epoch, batch_losses, samples)
                };
                on(Event::EpochEnd(&e));
                run.epochs.push(e);
                if epoch + 1 < job.recipe.epochs {
                    on(Event::EpochStart { epoch: epoch + 1, batches });
                }
            }
            Ok(Line::Batch { epoch, batch, loss }) => on(Event::Batch { epoch, batch, loss }),
            Ok(Line::Stopped { status, epoch, batch }) => {
                run.status = status;
                run.stopped_at = Some(StopPoint { epoch, batch });
            }
            Ok(Line::End { threads, peak_rss_mb }) => {
                run.threads = threads;
                run.peak_rss_mb = peak_rss_mb;
                ended = true;
            }
            Err(e) => bad = Some(format!("{e}: {}", mlcmp_core::child::shorten(line, 200))),
        })?;
        if let Some(b) = bad {
            bail!("{} printed a line mlcmp cannot read ({b})", fw.name());
        }
        // A runner that hangs or dies keeps the epochs it finished: a failed run with the reason.
        let failure = if done.silent_too_long {
            Some(format!(
                "{} printed nothing for {} s and was stopped with the processes it forked (a hung DataLoader, for instance)",
                fw.name(),
                QUIET_LIMIT.as_secs()
            ))
        } else if !ended {
            if mlcmp_core::interrupt::stop_requested() {
                run.status = Status::Interrupted;
                return Ok(run);
            }
            let said = match done.stderr_tail.as_slice() {
                [] => "and printed nothing on stderr".to_string(),
                tail => format!("saying: {}", tail.join(" | ")),
            };
            Some(format!("{} ended ({}) before its last line, {said}", fw.name(), done.status))
        } else {
            None
        };
        if let Some(why) = failure {
            if run.epochs.is_empty() {
                bail!(why);
            }
            run.status = Status::Failed;
            run.stopped_at = Some(StopPoint { epoch: run.epochs.len(), batch: 0 });
            run.error = Some(why);
            return Ok(run);
        }
        if job.shared.is_some() && run.status == Status::Ok {
            run.final_params = read_params(&final_params, job)?;
        }
        Ok(run)
    }
}
