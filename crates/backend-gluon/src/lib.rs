//! mlcmp's Gluon-style backend: the article's MNIST MLP written with the `gluon` crate exactly as
//! the article's MXNet Gluon code is (`name_scope`, `Dense(256, activation='relu')`, `initialize()`,
//! `autograd::record`, `backward`, `trainer.step(batch_size)`, `asscalar`).
//!
//! ```no_run
//! use mlcmp_core::{Backend, Job, Recipe};
//! let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! let run = mlcmp_gluon::GluonBackend::new(2).run(&Job { recipe: &Recipe::article(), data: &data, shared: None }, &mut |_| {}).unwrap();
//! println!("{:?}", run.epochs.last());
//! ```

use anyhow::Result;
use gluon::data::vision::{transforms, MNIST};
use gluon::data::{ArrayDataset, DataLoader, Dataset, TransformFirst};
use gluon::nn::{self, Block};
use gluon::{autograd, loss, nd, Trainer};
use mlcmp_core::backend::{
    check_batch, Backend, EpochResult, Event, Job, Phase, PhaseClock, RunResult, Status,
};
use mlcmp_core::parity::param_shapes;
use mlcmp_data::Split;
use std::time::Instant;

pub struct GluonBackend {
    threads: usize,
    hybridize: bool,
}

impl GluonBackend {
    /// A backend whose matrix products may use `threads` cores.
    pub fn new(threads: usize) -> GluonBackend {
        GluonBackend { threads, hybridize: false }
    }

    /// The same recipe with `net.hybridize()` after `net.initialize()` (backend name `gluon-hybrid`).
    pub fn hybridized(threads: usize) -> GluonBackend {
        GluonBackend { threads, hybridize: true }
    }
}

type MnistData = TransformFirst<ArrayDataset, transforms::Compose>;

/// `gluon.data.vision.MNIST(...).transform_first(Compose([ToTensor(), Normalize(mean, std)]))`.
pub fn dataset(split: &Split, mean: f64, std: f64) -> gluon::Result<MnistData> {
    let mnist =
        MNIST::from_raw(split.images.pixels.clone(), &split.labels, split.images.rows, split.images.cols)?;
    let transformer = transforms::Compose::new(vec![
        Box::new(transforms::ToTensor),
        Box::new(transforms::Normalize::new(mean as f32, std as f32)),
    ]);
    Ok(mnist.transform_first(transformer))
}

/// The article's network:
/// `net = nn.Sequential(); with net.name_scope(): net.add(nn.Dense(256, activation='relu')); net.add(nn.Dense(10))`.
pub fn mlp(hidden: usize) -> nn::Sequential {
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(hidden).activation("relu"));
        net.add(nn::Dense::new(10));
    });
    net
}

/// Samples per evaluation batch: big enough to keep the products efficient, small enough that
/// the evaluation does not set the process's peak memory.
const EVAL_CHUNK: usize = 2_000;

/// Accuracy over a whole dataset, in chunks, outside `record` (predict mode).
pub fn accuracy(net: &impl Block, data: &MnistData) -> gluon::Result<f64> {
    let mut correct = 0.0;
    for start in (0..data.len()).step_by(EVAL_CHUNK) {
        let idx: Vec<usize> = (start..(start + EVAL_CHUNK).min(data.len())).collect();
        let (x, y) = data.get_batch(&idx)?;
        let pred = autograd::predict_mode(|| net.forward(&x))?;
        correct += pred.argmax(-1)?.equal(&y)?.sum(None, false)?.asscalar()? as f64;
    }
    Ok(correct / data.len() as f64)
}

impl Backend for GluonBackend {
    fn name(&self) -> &'static str {
        if self.hybridize {
            "gluon-hybrid"
        } else {
            "gluon"
        }
    }

    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> Result<RunResult> {
        let (r, data) = (job.recipe, job.data);
        gluon::set_num_threads(self.threads);
        let mut run = RunResult::new(self.name(), gluon::num_threads());
        nd::random::seed(r.seed);

        let train_data = DataLoader::new(dataset(&data.train, r.mean, r.std)?, r.batch_size)?
            .shuffle(r.shuffle)
            .seed(r.seed)
            .num_workers(r.workers);
        let test = dataset(&data.test, r.mean, r.std)?;

        let net = mlp(r.hidden);
        net.initialize()?;
        if let Some(shared) = job.shared {
            for ((p, v), shape) in net.collect_params().iter().zip(&shared.params).zip(param_shapes(r.hidden))
            {
                p.set_data(&nd::NDArray::from_vec(v.clone(), shape)?)?;
            }
        }
        if self.hybridize {
            net.hybridize();
        }
        let softmax_cross_entropy = loss::SoftmaxCrossEntropyLoss::new();
        let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", r.lr)])?;

        let batches = train_data.len();
        for epoch in 0..r.epochs {
            on(Event::EpochStart { epoch, batches });
            let start = Instant::now();
            let mut losses = Vec::with_capacity(batches);
            let epoch_batches = match job.shared {
                Some(s) => train_data.iter_batches(s.epochs[epoch].clone()),
                None => train_data.iter(),
            };
            let mut clock = PhaseClock::start();
            for (b, batch) in epoch_batches.enumerate() {
                let (x, y) = batch?;
                clock.lap(Phase::Data);
                let loss = autograd::record(|| softmax_cross_entropy.forward(&net.forward(&x)?, &y))?;
                let l = loss.mean(None, false)?.asscalar()?;
                clock.lap(Phase::Forward);
                loss.backward()?;
                clock.lap(Phase::Backward);
                // As in the article: step(batch_size) with the configured size, also for the last,
                // smaller batch. In shared mode, the actual size, so every batch matches PyTorch's mean.
                trainer.step(if job.shared.is_some() { y.size() } else { r.batch_size })?;
                clock.lap(Phase::Update);
                losses.push(l);
                on(Event::Batch { epoch, batch: b, loss: l });
                if !check_batch(l, epoch, b, &mut run) {
                    break;
                }
            }
            let time_s = start.elapsed().as_secs_f64();
            if run.status != Status::Ok {
                break;
            }
            let e = EpochResult::evaluated(epoch, time_s, losses, data.train.len(), clock.phases, || {
                Ok::<_, gluon::Error>((accuracy(&net, train_data.dataset())?, accuracy(&net, &test)?))
            })?;
            on(Event::EpochEnd(&e));
            run.epochs.push(e);
        }
        run.final_params =
            net.collect_params().iter().map(|p| p.data()?.to_vec()).collect::<gluon::Result<_>>()?;
        Ok(run)
    }
}
