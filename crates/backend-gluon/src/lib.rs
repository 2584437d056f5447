//! mlcmp's Gluon-style backend: the recipe's network written with the `gluon` crate exactly as MXNet
//! Gluon code is: the article's MLP (`name_scope`, `Dense(256, activation='relu')`, `initialize()`)
//! or d2l's LeNet (`Conv2D(6, kernel_size=5, padding=2, activation='sigmoid')`, `AvgPool2D`,
//! `initialize(init=init.Xavier())`), then `autograd::record`, `backward`,
//! `trainer.step(batch_size)`, `asscalar`.
//!
//! ```no_run
//! use mlcmp_core::backend::{Backend, Job};
//! use mlcmp_core::recipe::Recipe;
//! let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! let run = mlcmp_backend_gluon::GluonBackend::new(2).run(&Job::new(&Recipe::article(), &data), &mut |_| {}).unwrap();
//! println!("{:?}", run.epochs.last());
//! ```

use anyhow::Result;
use mlcmp_core::backend::{weights_misfit, Backend, Evaluation, Event, Job};
use mlcmp_core::model::{Model, ModelKind};
use mlcmp_core::recipe::{InitMode, Recipe};
use mlcmp_core::run::RunResult;
use mlcmp_core::tracker::{Phase, Tracker};
use mlcmp_data::Split;
use mlcmp_gluon_engine::data::vision::{transforms, MNIST};
use mlcmp_gluon_engine::data::{ArrayDataset, DataLoader, Dataset, TransformFirst};
use mlcmp_gluon_engine::nn::{self, Block, LoadOptions};
use mlcmp_gluon_engine::{autograd, loss, nd, Init, Trainer};
use std::path::Path;

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

/// `gluon.data.vision.MNIST(...).transform_first(Compose([ToTensor(), Normalize(mean, std)]))`;
/// ToTensor alone for mean 0 and std 1 (d2l's LeNet).
pub fn dataset(split: &Split, mean: f64, std: f64) -> mlcmp_gluon_engine::Result<MnistData> {
    let mnist =
        MNIST::from_raw(split.images.pixels.clone(), &split.labels, split.images.rows, split.images.cols)?;
    let mut steps: Vec<Box<dyn mlcmp_gluon_engine::data::Transform>> = vec![Box::new(transforms::ToTensor)];
    if (mean, std) != (0.0, 1.0) {
        steps.push(Box::new(transforms::Normalize::new(mean as f32, std as f32)));
    }
    Ok(mnist.transform_first(transforms::Compose::new(steps)))
}

/// The recipe's network: the article's MLP or d2l's LeNet.
pub fn net(m: &Model) -> nn::Sequential {
    match m {
        Model::Mlp { .. } => mlp(m),
        Model::LeNet { .. } => lenet(m),
    }
}

/// The article's network (the input size is inferred at the first call, as in Gluon):
/// `net = nn.Sequential(); with net.name_scope(): net.add(nn.Dense(256, activation='relu')); net.add(nn.Dense(10))`.
pub fn mlp(m: &Model) -> nn::Sequential {
    let [(_, hidden), (_, classes)] = m.dense()[..] else { panic!("the MLP has two dense layers") };
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(hidden).activation("relu"));
        net.add(nn::Dense::new(classes));
    });
    net
}

/// d2l's LeNet ("Dive into Deep Learning", MXNet edition, 6.6); in-channels and in_units are
/// inferred at the first call:
///
/// ```text
/// net = nn.Sequential()
/// net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation='sigmoid'),
///         nn.AvgPool2D(pool_size=2, strides=2),
///         nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
///         nn.AvgPool2D(pool_size=2, strides=2),
///         nn.Dense(120, activation='sigmoid'),
///         nn.Dense(84, activation='sigmoid'),
///         nn.Dense(10))
/// ```
pub fn lenet(m: &Model) -> nn::Sequential {
    let (c, d) = (m.convs(), m.dense());
    let net = nn::Sequential::new();
    net.name_scope(|| {
        for conv in c {
            net.add(nn::Conv2D::new(conv.out, conv.kernel).padding(conv.pad).activation("sigmoid"));
            net.add(nn::AvgPool2D::new(2).strides(2));
        }
        net.add(nn::Dense::new(d[0].1).activation("sigmoid"));
        net.add(nn::Dense::new(d[1].1).activation("sigmoid"));
        net.add(nn::Dense::new(d[2].1));
    });
    net
}

/// `net.load_parameters(path)`; a file of full names (`net.collect_params().save(path)`) loads
/// with `net.collect_params().load(path)`, as a Gluon user would load it.
pub fn load_weights(net: &nn::Sequential, path: &Path) -> mlcmp_gluon_engine::Result<()> {
    let full_names = match nd::load(path)? {
        nd::Arrays::Dict(d) => !d.is_empty() && d.iter().all(|(k, _)| k.starts_with(net.prefix())),
        nd::Arrays::List(_) => false,
    };
    match full_names {
        true => net.collect_params().load(path, LoadOptions::default(), ""),
        false => net.load_parameters(path, LoadOptions::default()),
    }
}

use mlcmp_core::model::EVAL_CHUNK;

/// Accuracy over a whole dataset, in chunks, outside `record` (predict mode).
pub fn accuracy(net: &impl Block, data: &MnistData) -> mlcmp_gluon_engine::Result<f64> {
    let mut correct = 0.0;
    for start in (0..data.len()).step_by(EVAL_CHUNK) {
        let idx: Vec<usize> = (start..(start + EVAL_CHUNK).min(data.len())).collect();
        let (x, y) = data.get_batch(&idx)?;
        let pred = autograd::predict_mode(|| net.forward(&x))?;
        correct += pred.argmax(-1)?.equal(&y)?.sum(None, false)?.asscalar()? as f64;
    }
    Ok(correct / data.len() as f64)
}

/// The engine's summation order for one run, back to the usual one when the run ends.
struct SumOrder;

impl SumOrder {
    fn set(split: bool) -> SumOrder {
        mlcmp_gluon_engine::set_split_sums(split);
        SumOrder
    }
}

impl Drop for SumOrder {
    fn drop(&mut self) {
        mlcmp_gluon_engine::set_split_sums(false);
    }
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
        let (r, data, model) = (job.recipe, job.data, job.recipe.model());
        mlcmp_gluon_engine::set_num_threads(self.threads);
        // The parity floor's rerun sums every product in another order (reset when the run ends).
        let _order = SumOrder::set(job.shared.is_some_and(|s| s.reorder_sums));
        let mut t = Tracker::new(RunResult::new(self.name(), mlcmp_gluon_engine::num_threads()), on);
        nd::random::seed(r.seed);

        let train_data = DataLoader::new(dataset(&data.train, r.mean, r.std)?, r.batch_size)?
            .shuffle(r.shuffle)
            .seed(r.seed)
            .num_workers(r.workers);
        let test = dataset(&data.test, r.mean, r.std)?;

        let net = net(&model);
        match r.init {
            // net.initialize(init=init.Xavier())
            InitMode::Xavier => net.initialize_with(&Init::xavier(), false)?,
            _ => net.initialize()?,
        }
        if let Some(shared) = job.shared {
            for ((p, v), shape) in net.collect_params().iter().zip(&shared.params).zip(model.param_shapes()) {
                p.set_data(&nd::NDArray::from_vec(v.clone(), shape)?)?;
            }
        }
        if let Some(path) = job.params.load {
            load_weights(&net, path)?;
        }
        if self.hybridize {
            net.hybridize();
        }
        let softmax_cross_entropy = loss::SoftmaxCrossEntropyLoss::new();
        let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", r.lr)])?;

        let batches = train_data.len();
        for epoch in 0..r.epochs {
            t.start_epoch(epoch, batches);
            let epoch_batches = match job.shared {
                Some(s) => train_data.iter_batches(s.epochs[epoch].clone()),
                None => train_data.iter(),
            };
            for batch in epoch_batches {
                let (x, y) = batch?;
                t.lap(Phase::Data);
                let loss = autograd::record(|| softmax_cross_entropy.forward(&net.forward(&x)?, &y))?;
                let l = loss.mean(None, false)?.asscalar()?;
                t.lap(Phase::Forward);
                loss.backward()?;
                t.lap(Phase::Backward);
                // As in the article: step(batch_size) with the configured size, also for the last,
                // smaller batch. d2l's train_ch6 (LeNet) steps by X.shape[0], the actual size, and
                // so does shared mode, so every batch matches PyTorch's mean.
                let actual = job.shared.is_some() || model.kind() == ModelKind::Lenet;
                trainer.step(if actual { y.size() } else { r.batch_size })?;
                t.lap(Phase::Update);
                if !t.end_batch(l) {
                    break;
                }
            }
            let evaluate = || {
                Ok::<_, mlcmp_gluon_engine::Error>((
                    accuracy(&net, train_data.dataset())?,
                    accuracy(&net, &test)?,
                ))
            };
            if !t.end_epoch(data.train.len(), evaluate)? {
                break;
            }
        }
        let mut run = t.finish();
        run.final_params = net
            .collect_params()
            .iter()
            .map(|p| p.data()?.to_vec())
            .collect::<mlcmp_gluon_engine::Result<_>>()?;
        // net.save_parameters('w.params')
        run.save_weights(job.params.save, |path| net.save_parameters(path).map_err(anyhow::Error::msg));
        Ok(run)
    }

    /// The file's arrays have the network's shapes. Their names are checked when the run loads
    /// them: building a network here would take the process's first name (`sequential0_`), which
    /// a file of full names must meet in the run's network.
    fn check_weights(&mut self, recipe: &Recipe, params: &Path) -> Result<()> {
        let shapes: Vec<Vec<usize>> = match nd::load(params)? {
            nd::Arrays::Dict(d) => d.iter().map(|(_, a)| a.shape()).collect(),
            nd::Arrays::List(l) => l.iter().map(|a| a.shape()).collect(),
        };
        let (mut have, mut want) = (shapes.clone(), recipe.model().param_shapes());
        have.sort();
        want.sort();
        if have != want {
            let e = anyhow::anyhow!(
                "{}: holds arrays of shapes {have:?} where the recipe's network has {want:?}",
                params.display()
            );
            return Err(weights_misfit(e, recipe, &shapes));
        }
        Ok(())
    }

    /// `net.load_parameters(path)` into a fresh network, then the accuracy loop of training.
    fn evaluate(&mut self, job: &Job, params: &Path, train: bool) -> Result<Evaluation> {
        let (r, data) = (job.recipe, job.data);
        mlcmp_gluon_engine::set_num_threads(self.threads);
        let net = net(&r.model());
        load_weights(&net, params)?;
        let test_acc = accuracy(&net, &dataset(&data.test, r.mean, r.std)?)?;
        let train_acc = match train {
            true => Some(accuracy(&net, &dataset(&data.train, r.mean, r.std)?)?),
            false => None,
        };
        Ok(Evaluation { test_acc, train_acc })
    }
}
