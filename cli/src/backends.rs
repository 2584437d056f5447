//! Which backends this binary has, and the versions that go into the results.

use crate::args::BackendName;
use crate::outputs::say;
use anyhow::Result;
use clap::ValueEnum;
use mlcmp_backend_frameworks::{Framework, FrameworkBackend};
use mlcmp_core::backend::Backend;
use mlcmp_core::machine::Versions;

pub fn make(name: BackendName, threads: usize) -> Result<Box<dyn Backend>> {
    Ok(match name {
        BackendName::Gluon => Box::new(mlcmp_backend_gluon::GluonBackend::new(threads)),
        BackendName::GluonHybrid => Box::new(mlcmp_backend_gluon::GluonBackend::hybridized(threads)),
        BackendName::Pytorch => Box::new(FrameworkBackend::new(Framework::Pytorch, threads)),
        BackendName::Mxnet => Box::new(FrameworkBackend::new(Framework::Mxnet, threads)),
        BackendName::Candle => Box::new(mlcmp_backend_candle::CandleBackend::new(threads)),
        #[cfg(feature = "torch")]
        BackendName::Torch => Box::new(mlcmp_backend_torch::TorchBackend::new(threads)),
        #[cfg(not(feature = "torch"))]
        BackendName::Torch => anyhow::bail!(
            "this mlcmp was built without the torch backend; run scripts/setup, then build with the default features (cargo build --release -p mlcmp)"
        ),
    })
}

/// Every backend by name, including the bench-only reference: torch, gluon, gluon-hybrid, torch-bare.
pub fn make_named(name: &str, threads: usize) -> Result<Box<dyn Backend>> {
    match name {
        "torch" => make(BackendName::Torch, threads),
        "gluon" => make(BackendName::Gluon, threads),
        "gluon-hybrid" => make(BackendName::GluonHybrid, threads),
        "pytorch" => make(BackendName::Pytorch, threads),
        "mxnet" => make(BackendName::Mxnet, threads),
        "candle" => make(BackendName::Candle, threads),
        #[cfg(feature = "torch")]
        "torch-bare" => Ok(Box::new(mlcmp_backend_torch::BareTorch::new(threads))),
        #[cfg(not(feature = "torch"))]
        "torch-bare" => make(BackendName::Torch, threads),
        _ => anyhow::bail!(
            "unknown backend '{name}'; use torch, gluon, gluon-hybrid, candle, pytorch, mxnet or torch-bare"
        ),
    }
}

/// The backends `--backends LIST` names, in order; `all` is every backend this binary can run
/// here (a real framework setup could not install is left out, with a note on stderr).
pub fn compare_list(list: &[String], hybridize: bool) -> Result<Vec<BackendName>> {
    let mut names = vec![];
    for item in list {
        match item.as_str() {
            "all" => {
                names.push(BackendName::Torch);
                names.push(BackendName::Gluon);
                names.push(BackendName::Candle);
                for (fw, name) in [(Framework::Pytorch, BackendName::Pytorch), (Framework::Mxnet, BackendName::Mxnet)] {
                    match fw.python() {
                        Ok(_) => names.push(name),
                        Err(why) => eprintln!("mlcmp: note: {} left out of `all`: unavailable: {why}", fw.name()),
                    }
                }
            }
            "torch-bare" => anyhow::bail!("torch-bare is bench's reference row; compare runs torch, gluon, gluon-hybrid, candle, pytorch, mxnet"),
            other => {
                let n = BackendName::from_str(other, true).map_err(|_| {
                    anyhow::anyhow!("--backends: unknown backend '{other}'; use torch, gluon, gluon-hybrid, candle, pytorch, mxnet or all")
                })?;
                names.push(n);
            }
        }
    }
    if hybridize && !names.contains(&BackendName::GluonHybrid) {
        names.push(BackendName::GluonHybrid);
    }
    names.dedup();
    Ok(names)
}

/// libtorch's matmul rate (GFLOP/s) for an (m x k).(k x n) product, when torch is built in.
pub fn matmul_gflops(m: usize, k: usize, n: usize, threads: usize) -> Option<f64> {
    #[cfg(feature = "torch")]
    return Some(mlcmp_backend_torch::matmul_gflops(m as i64, k as i64, n as i64, threads, 200));
    #[cfg(not(feature = "torch"))]
    {
        let _ = (m, k, n, threads);
        None
    }
}

pub fn versions() -> Versions {
    #[cfg(feature = "torch")]
    let libtorch = mlcmp_backend_torch::LIBTORCH_VERSION.to_string();
    #[cfg(not(feature = "torch"))]
    let libtorch = "none (built without the torch feature)".to_string();
    Versions {
        mlcmp: env!("CARGO_PKG_VERSION").into(),
        tch: env!("MLCMP_TCH_VERSION").into(),
        libtorch,
        candle: env!("MLCMP_CANDLE_VERSION").into(),
        git: env!("MLCMP_GIT").into(),
    }
}

/// The article's first example, `ones(5,3) + 1`, printed by each framework.
pub fn print_ndarray_example() -> Result<()> {
    #[cfg(feature = "torch")]
    {
        say!("PyTorch style (tch):  torch.ones(5, 3) + 1");
        let x = tch::Tensor::ones([5, 3], (tch::Kind::Float, tch::Device::Cpu)) + 1;
        say!("{x}\n");
    }
    say!("Gluon style (gluon):  nd.ones((5,3)) + 1");
    let y = (mlcmp_gluon_engine::nd::ones((5, 3)) + 1)?;
    say!("{y}");
    Ok(())
}
