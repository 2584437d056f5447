//! Which backends this binary has, and the versions that go into the results.

use crate::outputs::say;
use anyhow::{bail, Result};
use mlcmp_backend_frameworks::{Framework, FrameworkBackend};
use mlcmp_core::backend::Backend;
use mlcmp_core::machine::Versions;
use mlcmp_core::registry;

/// Every backend this binary was built with: each crate's constructors (they only keep the thread
/// count). The names are the backends' own (`Backend::name`) and the registry's.
fn built(threads: usize) -> Vec<Box<dyn Backend>> {
    let mut all: Vec<Box<dyn Backend>> = vec![
        Box::new(mlcmp_backend_gluon::GluonBackend::new(threads)),
        Box::new(mlcmp_backend_gluon::GluonBackend::hybridized(threads)),
        Box::new(mlcmp_backend_candle::CandleBackend::new(threads)),
        Box::new(FrameworkBackend::new(Framework::Pytorch, threads)),
        Box::new(FrameworkBackend::new(Framework::Mxnet, threads)),
    ];
    all.extend(torch_backends(threads));
    all
}

#[cfg(feature = "torch")]
fn torch_backends(threads: usize) -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(mlcmp_backend_torch::TorchBackend::new(threads)),
        Box::new(mlcmp_backend_torch::BareTorch::new(threads)),
    ]
}

#[cfg(not(feature = "torch"))]
fn torch_backends(_threads: usize) -> Vec<Box<dyn Backend>> {
    vec![]
}

/// The backend called `name` (a registry name), for `threads` threads.
pub fn make(name: &str, threads: usize) -> Result<Box<dyn Backend>> {
    if let Some(b) = built(threads).into_iter().find(|b| b.name() == name) {
        return Ok(b);
    }
    match registry::get(name) {
        // Only libtorch's backends can be left out of a build (--no-default-features).
        Some(_) => bail!(
            "this mlcmp was built without the torch backend; run scripts/setup, then build with the default features (cargo build --release -p mlcmp)"
        ),
        None => bail!("unknown backend '{name}'; use {}", registry::list(|_| true)),
    }
}

/// The backends `--backends LIST` names, in order; `all` is the registry's `all` backends this
/// binary can run here (a real framework setup could not install is left out, with a note).
pub fn compare_list(list: &[String]) -> Result<Vec<String>> {
    let mut names: Vec<String> = vec![];
    for item in list {
        if item != "all" {
            names.push(item.clone());
            continue;
        }
        for b in registry::BACKENDS.iter().filter(|b| b.in_all) {
            let framework = [Framework::Pytorch, Framework::Mxnet].into_iter().find(|f| f.name() == b.name);
            match framework.map(|f| f.python()) {
                Some(Err(why)) => eprintln!("mlcmp: note: {} left out of `all`: unavailable: {why}", b.name),
                _ => names.push(b.name.to_string()),
            }
        }
    }
    // `all,gluon-hybrid` or `torch,all`: each backend once, where it first appears.
    let mut seen: Vec<String> = vec![];
    names.retain(|n| match seen.contains(n) {
        true => false,
        false => {
            seen.push(n.clone());
            true
        }
    });
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
