//! mlcmp's `candle` backend: the article's recipe written the way a Rust user writes it today with
//! candle-nn, like candle's own MNIST example: a `VarMap` and `VarBuilder`, `candle_nn::linear`
//! layers, `loss::cross_entropy`, `optim::SGD` and candle's backprop. Nothing in candle is tuned:
//! the row is what candle-nn gives a user.
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
use candle_nn::{loss, Linear, Optimizer, VarBuilder, VarMap, SGD};
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
        Ok(Mlp {
            ln1: candle_nn::linear(m.inputs, m.hidden, vb.pp("ln1"))?,
            ln2: candle_nn::linear(m.hidden, m.classes, vb.pp("ln2"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.ln2.forward(&self.ln1.forward(xs)?.relu()?)
    }
}

/// The variables in the order of [`Model::param_shapes`]: w1, b1, w2, b2.
const NAMES: [&str; 4] = ["ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"];

/// A split on the device: u8 images (N, 784) and u32 labels.
struct Data {
    images: Tensor,
    labels: Tensor,
}

impl Data {
    fn new(s: &Split, dev: &Device) -> candle_core::Result<Data> {
        let n = s.len();
        Ok(Data {
            images: Tensor::from_slice(&s.images.pixels, (n, s.images.rows * s.images.cols), dev)?,
            labels: Tensor::from_slice(&s.labels, n, dev)?.to_dtype(DType::U32)?,
        })
    }

    /// Samples `idx`: ToTensor (/255) then Normalize(mean, std), and their labels.
    fn batch(&self, idx: &Tensor, r: &Recipe) -> candle_core::Result<(Tensor, Tensor)> {
        let x = (self.images.index_select(idx, 0)?.to_dtype(DType::F32)? / 255.0)?;
        Ok((((x - r.mean)? / r.std)?, self.labels.index_select(idx, 0)?))
    }

    fn accuracy(&self, net: &Mlp, r: &Recipe) -> candle_core::Result<f64> {
        let n = self.labels.dims1()?;
        let mut correct = 0u32;
        for start in (0..n).step_by(2_000) {
            let idx = Tensor::arange(start as u32, (start + 2_000).min(n) as u32, self.images.device())?;
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
        let (train, test) = (Data::new(&job.data.train, &dev)?, Data::new(&job.data.test, &dev)?);

        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let net = Mlp::new(vb, &model)?;
        // candle's CPU generator cannot be seeded, and candle_nn::linear draws Kaiming-normal
        // weights: PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from the recipe's seed
        // instead (the shared draw, which also gives a seeded batch order), loaded into the VarMap.
        let n = job.data.train.len();
        let own;
        let plan = match job.shared {
            Some(s) => s,
            None => {
                own = Shared::draw(r, &model, n);
                &own
            }
        };
        for ((name, v), shape) in NAMES.iter().zip(&plan.params).zip(model.param_shapes()) {
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
        run.final_params = NAMES
            .iter()
            .map(|k| Ok(vars[*k].as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .collect::<Result<_>>()?;
        Ok(run)
    }
}
