//! mlcmp's PyTorch-style backend: the recipe's network over libtorch, written the way PyTorch code
//! is: the article's MLP (Sequential of Linear, ReLU, Linear) or d2l's LeNet (Conv2d, Sigmoid,
//! AvgPool2d, Flatten, Linear); mean cross-entropy; SGD; `zero_grad(); backward(); step()`.
//!
//! ```no_run
//! use mlcmp_core::backend::{Backend, Job};
//! use mlcmp_core::recipe::Recipe;
//! let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! let mut torch = mlcmp_backend_torch::TorchBackend::new(2);
//! let run = torch.run(&Job::new(&Recipe::article(), &data), &mut |_| {}).unwrap();
//! println!("{:?}", run.epochs.last());
//! ```

use anyhow::{bail, Result};
use mlcmp_core::backend::{weights_misfit, Backend, Evaluation, Event, Job};
use mlcmp_core::model::Model;
use mlcmp_core::recipe::{InitMode, Recipe};
use mlcmp_core::run::RunResult;
use mlcmp_core::tracker::{Phase, Tracker};
use mlcmp_data::Split;
use std::path::Path;
use std::time::Instant;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The libtorch version this crate was built against.
pub const LIBTORCH_VERSION: &str = env!("MLCMP_LIBTORCH_VERSION");

pub struct TorchBackend {
    threads: usize,
}

impl TorchBackend {
    /// A backend that sets libtorch's intra-op threads to `threads` (and reads the count back).
    pub fn new(threads: usize) -> TorchBackend {
        TorchBackend { threads }
    }
}

/// PyTorch's default initialisation of `nn.Linear` and `nn.Conv2d`: weight and bias both
/// ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). tch's own default (Kaiming, no random bias) differs.
fn torch_default(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// `nn.init.xavier_uniform_(m.weight)`, as d2l applies it to LeNet's layers.
fn xavier_uniform(fan_in: i64, fan_out: i64) -> nn::Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// `nn.Linear(fan_in, fan_out)`, PyTorch's initialisation (the weight Xavier-uniform with `xavier`).
pub fn linear(p: nn::Path, fan_in: i64, fan_out: i64, xavier: bool) -> nn::Linear {
    let bs = torch_default(fan_in);
    let ws = if xavier { xavier_uniform(fan_in, fan_out) } else { bs };
    nn::linear(p, fan_in, fan_out, nn::LinearConfig { ws_init: ws, bs_init: Some(bs), bias: true })
}

/// `nn.Conv2d(in, out, kernel_size, padding)`, PyTorch's initialisation (the weight Xavier-uniform
/// with `xavier`).
pub fn conv2d(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, padding: i64, xavier: bool) -> nn::Conv2D {
    let k = kernel * kernel;
    let bs = torch_default(c_in * k);
    let ws = if xavier { xavier_uniform(c_in * k, c_out * k) } else { bs };
    nn::conv2d(
        p,
        c_in,
        c_out,
        kernel,
        nn::ConvConfig { padding, ws_init: ws, bs_init: bs, ..Default::default() },
    )
}

/// The recipe's network: the article's MLP or d2l's LeNet.
pub fn net(p: &nn::Path, m: &Model, init: InitMode) -> nn::Sequential {
    let xavier = init == InitMode::Xavier;
    match *m {
        Model::Mlp { .. } => mlp(p, m, xavier),
        Model::LeNet { .. } => lenet(p, m, xavier),
    }
}

/// `nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))`.
pub fn mlp(p: &nn::Path, m: &Model, xavier: bool) -> nn::Sequential {
    let [(inputs, hidden), (_, classes)] = m.dense()[..] else { panic!("the MLP has two dense layers") };
    let (inputs, hidden, classes) = (inputs as i64, hidden as i64, classes as i64);
    nn::seq().add(linear(p / "0", inputs, hidden, xavier)).add_fn(|x| x.relu()).add(linear(
        p / "2",
        hidden,
        classes,
        xavier,
    ))
}

/// d2l's LeNet ("Dive into Deep Learning", 7.6), with `net.apply(init_weights)` when `xavier`:
///
/// ```text
/// nn.Sequential(
///     nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
///     nn.AvgPool2d(kernel_size=2, stride=2),
///     nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
///     nn.AvgPool2d(kernel_size=2, stride=2),
///     nn.Flatten(),
///     nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
///     nn.Linear(120, 84), nn.Sigmoid(),
///     nn.Linear(84, 10))
/// ```
pub fn lenet(p: &nn::Path, m: &Model, xavier: bool) -> nn::Sequential {
    let (c, d) = (m.convs(), m.dense());
    let conv = |i: usize, name: &str| {
        let c = c[i];
        conv2d(p / name, c.channels as i64, c.out as i64, c.kernel as i64, c.pad as i64, xavier)
    };
    let dense = |i: usize, name: &str| linear(p / name, d[i].0 as i64, d[i].1 as i64, xavier);
    nn::seq()
        .add(conv(0, "0"))
        .add_fn(|x| x.sigmoid())
        .add_fn(avg_pool2d)
        .add(conv(1, "3"))
        .add_fn(|x| x.sigmoid())
        .add_fn(avg_pool2d)
        .add_fn(|x| x.flatten(1, -1))
        .add(dense(0, "7"))
        .add_fn(|x| x.sigmoid())
        .add(dense(1, "9"))
        .add_fn(|x| x.sigmoid())
        .add(dense(2, "11"))
}

/// `nn.AvgPool2d(kernel_size=2, stride=2)`. (tch's `avg_pool2d_default` passes divisor_override
/// 1, a sum pooling; PyTorch's module divides by the window.)
fn avg_pool2d(x: &Tensor) -> Tensor {
    x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>)
}

/// The parameters' names in the order of [`Model::param_shapes`] (tch names them after their
/// index in the Sequential, as PyTorch does).
pub fn param_names(m: &Model) -> Vec<String> {
    let layers: &[&str] = match m {
        Model::Mlp { .. } => &["0", "2"],
        Model::LeNet { .. } => &["0", "3", "7", "9", "11"],
    };
    layers.iter().flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")]).collect()
}

/// A split as tensors: u8 images (N, pixels) and i64 labels (N,).
pub struct TensorSplit {
    pub images: Tensor,
    pub labels: Tensor,
}

impl TensorSplit {
    /// The images as the model takes them: (N, pixels) for the MLP (the article's `X.view(-1, 784)`),
    /// (N, 1, rows, cols) for LeNet (what ToTensor gives).
    pub fn new(s: &Split, m: &Model) -> TensorSplit {
        let n = s.len() as i64;
        let shape = match m {
            Model::Mlp { .. } => vec![n, -1],
            Model::LeNet { .. } => vec![n, 1, s.images.rows as i64, s.images.cols as i64],
        };
        TensorSplit {
            images: Tensor::from_slice(&s.images.pixels).view(shape.as_slice()),
            labels: Tensor::from_slice(&s.labels).to_kind(Kind::Int64),
        }
    }

    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch `idx`: ToTensor (u8 -> f32 in [0, 1]) then Normalize(mean, std), as torchvision does.
    pub fn batch(&self, idx: &Tensor, mean: f64, std: f64) -> (Tensor, Tensor) {
        let x = self.images.index_select(0, idx).to_kind(Kind::Float) / 255.0;
        ((x - mean) / std, self.labels.index_select(0, idx))
    }
}

/// Overwrite the network's parameters (for `--init shared`).
fn load_params(vs: &nn::VarStore, values: &[Vec<f32>], model: &Model) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for ((name, v), shape) in param_names(model).iter().zip(values).zip(model.param_shapes()) {
            let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            vars[name].shallow_clone().copy_(&Tensor::from_slice(v).view(shape.as_slice()));
        }
    });
}

/// The named tensors of a `.ot` or `.safetensors` file. libtorch's error for a file it cannot read
/// (a `torch.save` pickle, a damaged file) is a C++ backtrace: only its first line is kept.
fn read_named(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let read = match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Tensor::read_safetensors(path),
        _ => Tensor::load_multi(path),
    };
    read.map_err(|e| {
        let text = e.to_string();
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown error");
        let first = first.trim_start_matches("Internal torch error: ");
        let first = first.split(". ").next().unwrap_or(first).trim_end_matches('.');
        anyhow::anyhow!(
            "{}: cannot read the weights ({}); mlcmp reads a VarStore saved by `mlcmp train --backend torch --save-params` (tch's vs.save, or safetensors), not a torch.save() pickle",
            path.display(),
            mlcmp_core::child::shorten(first, 160)
        )
    })
}

/// `vs.load(path)` with the names and shapes checked first (libtorch's `copy_` would broadcast a
/// wrong shape silently): a `.ot` file (libtorch's format, `vs.save`) or `.safetensors`.
pub fn load_var_store(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let file = path.display();
    let named = read_named(path)?;
    let vars = vs.variables();
    let mut plan = vec![];
    for (name, var) in &vars {
        let Some((_, src)) = named.iter().find(|(n, _)| n == name) else {
            let has: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
            bail!("{file}: parameter '{name}' is missing from the file, which has {has:?}; load a file saved from this network");
        };
        if src.size() != var.size() || src.kind() != var.kind() {
            bail!(
                "{file}: parameter '{name}' is {:?} {:?} in this network but {:?} {:?} in the file; build the network the file was saved from",
                var.kind(),
                var.size(),
                src.kind(),
                src.size()
            );
        }
        plan.push((var, src));
    }
    if let Some((extra, _)) = named.iter().find(|(n, _)| !vars.contains_key(n)) {
        bail!("{file}: '{extra}' in the file is not a parameter of this network; load a file saved from this network");
    }
    tch::no_grad(|| plan.into_iter().for_each(|(var, src)| var.shallow_clone().copy_(src)));
    Ok(())
}

/// `vs.save(path)` to a temporary file beside `path`, then renamed over it: never half-written.
pub fn save_var_store(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The temporary name keeps the extension: it picks the format.
    let tmp = path.with_file_name(format!(".{}.tmp.{name}", std::process::id()));
    let saved = vs.save(&tmp).map_err(anyhow::Error::from).and_then(|_| Ok(std::fs::rename(&tmp, path)?));
    if let Err(e) = saved {
        let _ = std::fs::remove_file(&tmp);
        bail!("{}: cannot write the weights ({e})", path.display());
    }
    Ok(())
}

fn read_params(vs: &nn::VarStore, m: &Model) -> Result<Vec<Vec<f32>>> {
    let vars = vs.variables();
    param_names(m).iter().map(|n| Ok(Vec::<f32>::try_from(vars[n].flatten(0, -1))?)).collect()
}

const EVAL_CHUNK: i64 = mlcmp_core::model::EVAL_CHUNK as i64;

/// Accuracy of `net` on a whole split, in chunks, without gradients.
pub fn accuracy(net: &impl Module, s: &TensorSplit, r: &Recipe) -> f64 {
    tch::no_grad(|| {
        let n = s.len();
        let mut correct = 0i64;
        for start in (0..n).step_by(EVAL_CHUNK as usize) {
            let idx = Tensor::arange_start(start, (start + EVAL_CHUNK).min(n), (Kind::Int64, Device::Cpu));
            let (x, y) = s.batch(&idx, r.mean, r.std);
            correct += net.forward(&x).argmax(-1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
        }
        correct as f64 / n as f64
    })
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        "torch"
    }

    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> Result<RunResult> {
        let (r, data, model) = (job.recipe, job.data, job.recipe.model());
        tch::set_num_threads(self.threads as i32);
        let mut t = Tracker::new(RunResult::new(self.name(), tch::get_num_threads() as usize), on);
        tch::manual_seed(r.seed as i64);
        let (train, test) = (TensorSplit::new(&data.train, &model), TensorSplit::new(&data.test, &model));

        let vs = nn::VarStore::new(Device::Cpu);
        let net = net(&vs.root(), &model, r.init);
        if let Some(shared) = job.shared {
            load_params(&vs, &shared.params, &model);
        }
        if let Some(path) = job.params.load {
            load_var_store(&vs, path)?;
        }
        let mut opt = nn::Sgd::default().build(&vs, r.lr)?;

        let n = train.len();
        let bs = r.batch_size as i64;
        let batches = r.batches_per_epoch(n as usize);
        for epoch in 0..r.epochs {
            t.start_epoch(epoch, batches);
            let order = match job.shared {
                Some(s) => {
                    let flat: Vec<i64> = s.epochs[epoch].iter().flatten().map(|&i| i as i64).collect();
                    Tensor::from_slice(&flat)
                }
                None if r.shuffle => Tensor::randperm(n, (Kind::Int64, Device::Cpu)),
                None => Tensor::arange(n, (Kind::Int64, Device::Cpu)),
            };
            for b in 0..batches {
                let lo = b as i64 * bs;
                let (x, y) = train.batch(&order.narrow(0, lo, bs.min(n - lo)), r.mean, r.std);
                t.lap(Phase::Data);
                opt.zero_grad();
                let loss = net.forward(&x).cross_entropy_for_logits(&y);
                let l = loss.double_value(&[]) as f32;
                t.lap(Phase::Forward);
                loss.backward();
                t.lap(Phase::Backward);
                opt.step();
                t.lap(Phase::Update);
                if !t.end_batch(l) {
                    break;
                }
            }
            let evaluate = || Ok::<_, anyhow::Error>((accuracy(&net, &train, r), accuracy(&net, &test, r)));
            if !t.end_epoch(n as usize, evaluate)? {
                break;
            }
        }
        let mut run = t.finish();
        run.final_params = read_params(&vs, &model)?;
        run.save_weights(job.params.save, |path| save_var_store(&vs, path)); // vs.save("w.ot")
        Ok(run)
    }

    fn check_weights(&mut self, recipe: &Recipe, params: &Path) -> Result<()> {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = net(&vs.root(), &recipe.model(), recipe.init);
        load_var_store(&vs, params).map_err(|e| {
            let shapes: Vec<Vec<usize>> = read_named(params)
                .map(|named| {
                    named.iter().map(|(_, t)| t.size().iter().map(|&d| d as usize).collect()).collect()
                })
                .unwrap_or_default();
            weights_misfit(e, recipe, &shapes)
        })
    }

    fn evaluate(&mut self, job: &Job, params: &Path, train: bool) -> Result<Evaluation> {
        let (r, data, model) = (job.recipe, job.data, job.recipe.model());
        tch::set_num_threads(self.threads as i32);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = net(&vs.root(), &model, r.init);
        load_var_store(&vs, params)?;
        let test_acc = accuracy(&net, &TensorSplit::new(&data.test, &model), r);
        let train_acc = train.then(|| accuracy(&net, &TensorSplit::new(&data.train, &model), r));
        Ok(Evaluation { test_acc, train_acc })
    }
}

/// The reference row of `mlcmp bench`: the same training with no harness at all. The whole training
/// set is normalised once up front and batches are `index_select`ed from it; no evaluation-side
/// conveniences, no per-batch conversion. The torch backend's distance to this is its harness cost.
pub struct BareTorch {
    threads: usize,
}

impl BareTorch {
    pub fn new(threads: usize) -> BareTorch {
        BareTorch { threads }
    }
}

impl Backend for BareTorch {
    fn name(&self) -> &'static str {
        "torch-bare"
    }

    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> Result<RunResult> {
        let (r, data, model) = (job.recipe, job.data, job.recipe.model());
        tch::set_num_threads(self.threads as i32);
        let mut t = Tracker::new(RunResult::new(self.name(), tch::get_num_threads() as usize), on);
        tch::manual_seed(r.seed as i64);
        let (train, test) = (TensorSplit::new(&data.train, &model), TensorSplit::new(&data.test, &model));
        let xs = (train.images.to_kind(Kind::Float) / 255.0 - r.mean) / r.std;
        let vs = nn::VarStore::new(Device::Cpu);
        let net = net(&vs.root(), &model, r.init);
        let mut opt = nn::Sgd::default().build(&vs, r.lr)?;
        let (n, bs) = (train.len(), r.batch_size as i64);
        let batches = r.batches_per_epoch(n as usize);
        for epoch in 0..r.epochs {
            t.start_epoch(epoch, batches);
            let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
            for b in 0..batches {
                let idx = order.narrow(0, b as i64 * bs, bs.min(n - b as i64 * bs));
                let loss = net
                    .forward(&xs.index_select(0, &idx))
                    .cross_entropy_for_logits(&train.labels.index_select(0, &idx));
                opt.backward_step(&loss);
                if !t.end_batch(loss.double_value(&[]) as f32) {
                    break;
                }
            }
            let evaluate = || Ok::<_, anyhow::Error>((accuracy(&net, &train, r), accuracy(&net, &test, r)));
            if !t.end_epoch(n as usize, evaluate)? {
                break;
            }
        }
        Ok(t.finish())
    }
}

/// libtorch's f32 matmul rate in GFLOP/s for an (m x k) . (k x n) product (the bench asks for the
/// recipe's largest, (batch x inputs) . (inputs x hidden)):
/// the median of `reps` timed products after a warm-up, with `threads` threads; the best of three
/// such medians, since a shared machine only ever makes it look slower.
pub fn matmul_gflops(m: i64, k: i64, n: i64, threads: usize, reps: usize) -> f64 {
    tch::set_num_threads(threads as i32);
    let a = Tensor::randn([m, k], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([k, n], (Kind::Float, Device::Cpu));
    for _ in 0..20 {
        let _ = a.matmul(&b);
    }
    let median_s = || {
        let times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                let c = a.matmul(&b);
                let dt = t.elapsed().as_secs_f64();
                drop(c);
                dt
            })
            .collect();
        mlcmp_core::stats::median(&times)
    };
    let best = (0..3).map(|_| median_s()).fold(f64::INFINITY, f64::min);
    2.0 * (m * k * n) as f64 / best / 1e9
}
