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

/// What `compare` runs: the backends, in order, and those it was asked for through the default
/// list or `all` that cannot run here (a real framework setup could not install), each with why.
pub struct CompareList {
    pub names: Vec<String>,
    pub unavailable: Vec<(String, String)>,
}

/// The backends `--backends LIST` names, in order; empty is the article's comparison
/// ([`registry::DEFAULT_COMPARE`]), `all` the registry's `all` backends. A real framework named
/// there that setup could not install is listed as unavailable instead (named alone, it fails).
pub fn compare_list(list: &[String]) -> Result<CompareList> {
    let default: Vec<String> = registry::DEFAULT_COMPARE.iter().map(|n| n.to_string()).collect();
    let list = if list.is_empty() { &default[..] } else { list };
    let lenient = list == default || list.iter().any(|i| i == "all");
    let mut names: Vec<String> = vec![];
    for item in list {
        match item.as_str() {
            "all" => names.extend(registry::BACKENDS.iter().filter(|b| b.in_all).map(|b| b.name.to_string())),
            _ => names.push(item.clone()),
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
    let mut unavailable = vec![];
    if lenient {
        names.retain(|n| {
            let framework = [Framework::Pytorch, Framework::Mxnet].into_iter().find(|f| f.name() == n);
            // A framework setup could not install, or a backend this binary was built without.
            let why = match framework.map(|f| f.python()) {
                Some(Err(why)) => Some(why),
                _ => make(n, 1).err().map(|e| format!("{e:#}")),
            };
            match why {
                Some(why) => {
                    eprintln!("mlcmp: note: {n} unavailable: {why}");
                    unavailable.push((n.clone(), why));
                    false
                }
                _ => true,
            }
        });
    }
    Ok(CompareList { names, unavailable })
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
