//! # mlcmp-gluon-engine: an MXNet Gluon-style deep learning engine in Rust
//!
//! Imperative NDArrays on candle-core CPU tensors, with this crate's own tape-based autograd
//! (`autograd::record`, `backward`, grad_req write/add/null), Blocks with deferred shape inference and
//! MXNet naming, `initialize()`, per-sample losses, `Trainer::step(batch_size)` and a DataLoader.
//! The module map follows `mxnet.gluon`: [`nd`], [`autograd`], [`nn`], [`loss`], [`trainer`],
//! [`init`], [`data`]. Under them, private f32 kernels (products split across cores, the fused
//! dense layer) run on the engine's own threads: `set_num_threads(n)` sets how many, and
//! `num_threads()` reports what the kernels really use.
//!
//! The article "Ten minutes from PyTorch to MXNet" trains an MNIST MLP like this; in Rust, line for line:
//!
//! ```no_run
//! use mlcmp_gluon_engine::data::vision::{transforms, MNIST};
//! use mlcmp_gluon_engine::data::{DataLoader, Dataset};
//! use mlcmp_gluon_engine::nn::{self, Block};
//! use mlcmp_gluon_engine::{autograd, loss, Trainer};
//! # let (pixels, labels) = (vec![0u8; 784], vec![0u8; 1]);
//!
//! // mnist_train = datasets.MNIST(train=True)
//! let mnist_train = MNIST::from_raw(pixels, &labels, 28, 28)?;
//! // transformer = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.13, 0.31)])
//! let transformer = transforms::Compose::new(vec![
//!     Box::new(transforms::ToTensor),
//!     Box::new(transforms::Normalize::new(0.13, 0.31)),
//! ]);
//! // mnist_train = mnist_train.transform_first(transformer)
//! let mnist_train = mnist_train.transform_first(transformer);
//! // train_data = gluon.data.DataLoader(mnist_train, batch_size=128, shuffle=True, num_workers=4)
//! let train_data = DataLoader::new(mnist_train, 128)?.shuffle(true).num_workers(4);
//!
//! // net = nn.Sequential()
//! // with net.name_scope():
//! //     net.add(nn.Dense(256, activation='relu'))
//! //     net.add(nn.Dense(10))
//! let net = nn::Sequential::new();
//! net.name_scope(|| {
//!     net.add(nn::Dense::new(256).activation("relu"));
//!     net.add(nn::Dense::new(10));
//! });
//! // net.initialize()
//! net.initialize()?;
//!
//! // loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
//! let loss_fn = loss::SoftmaxCrossEntropyLoss::new();
//! // trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
//! let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.1)])?;
//!
//! for epoch in 0..5 {
//!     let (mut total_loss, mut batches) = (0.0, 0);
//!     // for X, y in train_data:
//!     for batch in train_data.iter() {
//!         let (x, y) = batch?;
//!         // with autograd.record():
//!         //     loss = loss_fn(net(X), y)
//!         let loss = autograd::record(|| loss_fn.forward(&net.forward(&x)?, &y))?;
//!         // loss.backward()
//!         loss.backward()?;
//!         // trainer.step(batch_size=128)
//!         trainer.step(128)?;
//!         // total_loss += loss.mean().asscalar()
//!         total_loss += loss.mean(None, false)?.asscalar()?;
//!         batches += 1;
//!     }
//!     println!("epoch {epoch}, avg loss {:.4}", total_loss / batches as f32);
//! }
//! # Ok::<(), mlcmp_gluon_engine::Error>(())
//! ```

pub mod autograd;
pub mod data;
mod error;
pub mod init;
mod kernels;
pub mod loss;
pub mod nd;
pub mod nn;
pub mod trainer;

pub use autograd::GradReq;
pub use error::{Error, Result};
pub use init::Init;
pub use nd::NDArray;
pub use trainer::Trainer;

/// Threads for the engine's parallel kernels (matrix products, large updates): `n`, from now on.
/// The engine's own setting; nothing in the environment changes. See `kernels/threads.rs` for the
/// policy.
pub use kernels::threads::{num_threads, set_num_threads};

/// Sum every matrix product's inner dimension in two halves: another valid f32 rounding of the
/// same maths (for measuring what rounding alone does to a training run).
pub use kernels::gemm::set_split_sums;

/// candle's shape type, so `nd::ones((5, 3))` takes a tuple like NumPy.
pub use candle_core::{DType, Shape};
