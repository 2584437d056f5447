//! mlcmp's `candle` backend: the recipe written the way a Rust user writes it today with
//! candle-nn, like candle's own MNIST example: a `VarMap` and `VarBuilder`, `candle_nn::linear`
//! (and for LeNet `candle_nn::conv2d`, `ops::sigmoid`, `avg_pool2d`) layers, `loss::cross_entropy`,
//! `optim::SGD` and candle's backprop. Nothing in candle is tuned: the row is what candle-nn gives
//! a user.
//!
//! ```no_run
//! use mlcmp_core::backend::{Backend, Job};
//! use mlcmp_core::recipe::Recipe;
//! let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! let mut candle = mlcmp_backend_candle::CandleBackend::new(2);
//! let run = candle.run(&Job::new(&Recipe::article(), &data), &mut |_| {}).unwrap();
//! println!("{:?}", run.epochs.last());
//! ```

use anyhow::Result;
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{loss, Conv2d, Conv2dConfig, Linear, Optimizer, VarBuilder, VarMap, SGD};
use mlcmp_core::backend::{Backend, Event, Job};
use mlcmp_core::model::Model;
use mlcmp_core::recipe::Recipe;
use mlcmp_core::run::RunResult;
use mlcmp_core::shared::Shared;
use mlcmp_core::tracker::{Phase, Tracker};
use mlcmp_data::Split;

pub struct CandleBackend {
    threads: usize,
}

impl CandleBackend {
    /// A backend whose candle ops may use `threads` threads (candle's rayon pool).
    pub fn new(threads: usize) -> CandleBackend {
        CandleBackend { threads }
    }
}

/// `Linear(784, hidden) -> ReLU -> Linear(hidden, 10)`, as in candle's MNIST example.
pub struct Mlp {
    ln1: Linear,
    ln2: Linear,
}

impl Mlp {
    pub fn new(vb: VarBuilder, m: &Model) -> candle_core::Result<Mlp> {
        let [(inputs, hidden), (_, classes)] = m.dense()[..] else { panic!("the MLP has two dense layers") };
        Ok(Mlp {
            ln1: candle_nn::linear(inputs, hidden, vb.pp("ln1"))?,
            ln2: candle_nn::linear(hidden, classes, vb.pp("ln2"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.ln2.forward(&self.ln1.forward(xs)?.relu()?)
    }
}

/// d2l's LeNet: two sigmoid convolutions each followed by 2x2 average pooling, then three linear
/// layers (sigmoid between them).
pub struct LeNet {
    c1: Conv2d,
    c2: Conv2d,
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl LeNet {
    pub fn new(vb: VarBuilder, m: &Model) -> candle_core::Result<LeNet> {
        let conv = |i: usize, name: &str| {
            let c = m.convs()[i];
            let cfg = Conv2dConfig { padding: c.pad, ..Default::default() };
            candle_nn::conv2d(c.channels, c.out, c.kernel, cfg, vb.pp(name))
        };
        let linear = |i: usize, name: &str| {
            let (fan_in, fan_out) = m.dense()[i];
            candle_nn::linear(fan_in, fan_out, vb.pp(name))
        };
        Ok(LeNet {
            c1: conv(0, "c1")?,
            c2: conv(1, "c2")?,
            l1: linear(0, "l1")?,
            l2: linear(1, "l2")?,
            l3: linear(2, "l3")?,
        })
    }
}

impl Module for LeNet {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let sigmoid = candle_nn::ops::sigmoid;
        let x = sigmoid(&self.c1.forward(xs)?)?.avg_pool2d(2)?;
        let x = sigmoid(&self.c2.forward(&x)?)?.avg_pool2d(2)?.flatten_from(1)?;
        let x = sigmoid(&self.l1.forward(&x)?)?;
        self.l3.forward(&sigmoid(&self.l2.forward(&x)?)?)
    }
}

/// The recipe's network.
pub enum Net {
    Mlp(Mlp),
    LeNet(LeNet),
}

impl Net {
    pub fn new(vb: VarBuilder, m: &Model) -> candle_core::Result<Net> {
        Ok(match m {
            Model::Mlp { .. } => Net::Mlp(Mlp::new(vb, m)?),
            Model::LeNet { .. } => Net::LeNet(LeNet::new(vb, m)?),
        })
    }
}

impl Module for Net {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Net::Mlp(n) => n.forward(xs),
            Net::LeNet(n) => n.forward(xs),
        }
    }
}

/// The variables in the order of [`Model::param_shapes`].
fn names(m: &Model) -> Vec<String> {
    let layers: &[&str] = match m {
        Model::Mlp { .. } => &["ln1", "ln2"],
        Model::LeNet { .. } => &["c1", "c2", "l1", "l2", "l3"],
    };
    layers.iter().flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")]).collect()
}

/// A split on the device: u8 images as the model takes them ((N, 784) for the MLP, (N, 1, 28, 28)
/// for LeNet) and u32 labels.
struct Data {
    images: Tensor,
    labels: Tensor,
}

impl Data {
    fn new(s: &Split, m: &Model, dev: &Device) -> candle_core::Result<Data> {
        let n = s.len();
        let (rows, cols) = (s.images.rows, s.images.cols);
        let shape: Vec<usize> = match m {
            Model::Mlp { .. } => vec![n, rows * cols],
            Model::LeNet { .. } => vec![n, 1, rows, cols],
        };
        Ok(Data {
            images: Tensor::from_slice(&s.images.pixels, shape, dev)?,
            labels: Tensor::from_slice(&s.labels, n, dev)?.to_dtype(DType::U32)?,
        })
    }

    /// Samples `idx`: ToTensor (/255) then Normalize(mean, std), and their labels.
    fn batch(&self, idx: &Tensor, r: &Recipe) -> candle_core::Result<(Tensor, Tensor)> {
        let x = (self.images.index_select(idx, 0)?.to_dtype(DType::F32)? / 255.0)?;
        Ok((((x - r.mean)? / r.std)?, self.labels.index_select(idx, 0)?))
    }

    fn accuracy(&self, net: &Net, r: &Recipe) -> candle_core::Result<f64> {
        let n = self.labels.dims1()?;
        let mut correct = 0u32;
        let chunk = mlcmp_core::model::EVAL_CHUNK;
        for start in (0..n).step_by(chunk) {
            let idx = Tensor::arange(start as u32, (start + chunk).min(n) as u32, self.images.device())?;
            let (x, y) = self.batch(&idx, r)?;
            correct += net
                .forward(&x)?
                .argmax(D::Minus1)?
                .eq(&y)?
                .to_dtype(DType::U32)?
                .sum_all()?
                .to_scalar::<u32>()?;
        }
        Ok(correct as f64 / n as f64)
    }
}

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> Result<RunResult> {
        let (r, model, dev) = (job.recipe, job.recipe.model(), Device::Cpu);
        // candle's CPU ops run on rayon's global pool: size it before the first op (this fails
        // harmlessly when the process already built it) and report what it really has.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(self.threads).build_global();
        let mut t = Tracker::new(RunResult::new(self.name(), rayon::current_num_threads()), on);
        let (train, test) =
            (Data::new(&job.data.train, &model, &dev)?, Data::new(&job.data.test, &model, &dev)?);

        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let net = Net::new(vb, &model)?;
        // candle's CPU generator cannot be seeded, and candle_nn::linear draws Kaiming-normal
        // weights: the shared draw from the recipe's seed instead (PyTorch's U(-1/sqrt(fan_in),
        // 1/sqrt(fan_in)) for the MLP, d2l's Xavier for LeNet; it also gives a seeded batch
        // order), loaded into the VarMap.
        let n = job.data.train.len();
        let own;
        let plan = match job.shared {
            Some(s) => s,
            None => {
                own = Shared::draw(r, &model, n);
                &own
            }
        };
        let names = names(&model);
        for ((name, v), shape) in names.iter().zip(&plan.params).zip(model.param_shapes()) {
            varmap.set_one(name, Tensor::from_slice(v, shape, &dev)?)?;
        }
        let mut sgd = SGD::new(varmap.all_vars(), r.lr)?;

        let batches = r.batches_per_epoch(n);
        for epoch in 0..r.epochs {
            t.start_epoch(epoch, batches);
            for idx in &plan.epochs[epoch] {
                let idx = Tensor::from_iter(idx.iter().map(|&i| i as u32), &dev)?;
                let (x, y) = train.batch(&idx, r)?;
                t.lap(Phase::Data);
                let loss = loss::cross_entropy(&net.forward(&x)?, &y)?;
                let l = loss.to_scalar::<f32>()?;
                t.lap(Phase::Forward);
                let grads = loss.backward()?;
                t.lap(Phase::Backward);
                sgd.step(&grads)?; // sgd.backward_step(&loss) in one call, split for the phases
                t.lap(Phase::Update);
                if !t.end_batch(l) {
                    break;
                }
            }
            let evaluate = || Ok::<_, anyhow::Error>((train.accuracy(&net, r)?, test.accuracy(&net, r)?));
            if !t.end_epoch(n, evaluate)? {
                break;
            }
        }
        let mut run = t.finish();
        let vars = varmap.data().lock().expect("the VarMap lock");
        run.final_params = names
            .iter()
            .map(|k| Ok(vars[k].as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .collect::<Result<_>>()?;
        Ok(run)
    }
}
