//! `data`: datasets, transforms and the DataLoader (`gluon.data`).
//!
//! ```
//! use mlcmp_gluon_engine::data::{vision::transforms, ArrayDataset, DataLoader, Dataset, LastBatch};
//! use mlcmp_gluon_engine::nd;
//! let images = nd::NDArray::from_u8(vec![0u8; 10 * 4], (10, 2, 2, 1)).unwrap();
//! let labels = nd::arange(0.0, 10.0, 1.0).unwrap();
//! let ds = ArrayDataset::new(images, labels).unwrap()
//!     .transform_first(transforms::Compose::new(vec![
//!         Box::new(transforms::ToTensor),
//!         Box::new(transforms::Normalize::new(0.13, 0.31)),
//!     ]));
//! let loader = DataLoader::new(ds, 4).unwrap().shuffle(true).seed(1).last_batch(LastBatch::Keep);
//! let sizes: Vec<usize> = loader.iter().map(|b| b.unwrap().0.shape()[0]).collect();
//! assert_eq!(sizes, vec![4, 4, 2]);
//! ```

pub mod vision;

use crate::error::{bail, Result};
use crate::nd::random::{self, Rng};
use crate::nd::{self, NDArray};
use candle_core::{DType, Tensor};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// One sample or one batch: (data, label).
pub type Sample = (NDArray, NDArray);

/// `gluon.data.Dataset`.
pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `idx`.
    fn get(&self, idx: usize) -> Result<Sample>;

    /// Samples `idx`, stacked along a new first axis. Datasets holding whole arrays override this
    /// with one gather instead of one array per sample.
    fn get_batch(&self, idx: &[usize]) -> Result<Sample> {
        let samples = idx.iter().map(|&i| self.get(i)).collect::<Result<Vec<_>>>()?;
        let (x, y): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
        Ok((nd::stack(&x)?, nd::stack(&y)?))
    }

    /// Start bringing samples `idx` into the CPU's caches (a hint: nothing is read or checked). The
    /// loader calls it for the next batch while the current one trains; datasets holding whole
    /// arrays override it.
    fn prefetch(&self, idx: &[usize]) {
        let _ = idx;
    }

    /// `dataset.transform_first(t)`: apply `t` to the data of each sample, not to its label.
    fn transform_first<T: Transform>(self, t: T) -> TransformFirst<Self, T>
    where
        Self: Sized,
    {
        TransformFirst { inner: self, t }
    }
}

/// A transform of one sample's data.
pub trait Transform: Send + Sync {
    fn apply(&self, x: &NDArray) -> Result<NDArray>;

    /// True when applying it to a stacked batch equals stacking the per-sample results (pixel-wise
    /// maps such as ToTensor and Normalize); the loader then transforms whole batches at once.
    fn batchable(&self) -> bool {
        false
    }

    /// For a per-channel `(x - mean[c]) / std[c]` (Normalize): the pairs for `channels` channels.
    /// Compose folds a chain of them into ToTensor's single pass, with MXNet's arithmetic.
    fn channel_normalize(&self, channels: usize) -> Option<Vec<(f32, f32)>> {
        let _ = channels;
        None
    }

    /// Whether this is ToTensor (u8 HWC -> f32 CHW / 255), the pass a chain of affine maps folds into.
    fn is_to_tensor(&self) -> bool {
        false
    }
}

/// `gluon.data.ArrayDataset(data, label)`: sample i is `(data[i], label[i])`.
pub struct ArrayDataset {
    data: Tensor,
    label: Tensor,
}

impl ArrayDataset {
    pub fn new(data: NDArray, label: NDArray) -> Result<ArrayDataset> {
        let (n, m) =
            (data.shape().first().copied().unwrap_or(0), label.shape().first().copied().unwrap_or(0));
        if n != m {
            bail!("ArrayDataset: data has {n} samples but label has {m}");
        }
        Ok(ArrayDataset { data: data.tensor(), label: label.tensor() })
    }
}

impl Dataset for ArrayDataset {
    fn len(&self) -> usize {
        self.data.dims()[0]
    }

    fn get(&self, idx: usize) -> Result<Sample> {
        if idx >= self.len() {
            bail!("index {idx} is out of range for a dataset of {} samples", self.len());
        }
        Ok((NDArray::from_tensor(self.data.get(idx)?), NDArray::from_tensor(self.label.get(idx)?)))
    }

    fn get_batch(&self, idx: &[usize]) -> Result<Sample> {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.len()) {
            bail!("index {bad} is out of range for a dataset of {} samples", self.len());
        }
        use crate::kernels::elementwise::gather_rows;
        let gather = |t: &Tensor| match t.dtype() {
            DType::U8 => gather_rows::<u8>(t, idx),
            DType::F32 => gather_rows::<f32>(t, idx),
            _ => {
                let ids = idx.iter().map(|&i| i as u32).collect::<Vec<_>>();
                Ok(t.index_select(&Tensor::from_vec(ids, idx.len(), &candle_core::Device::Cpu)?, 0)?)
            }
        };
        Ok((NDArray::from_tensor(gather(&self.data)?), NDArray::from_tensor(gather(&self.label)?)))
    }

    fn prefetch(&self, idx: &[usize]) {
        use crate::kernels::elementwise::prefetch_rows;
        for t in [&self.data, &self.label] {
            match t.dtype() {
                DType::U8 => prefetch_rows::<u8>(t, idx),
                DType::F32 => prefetch_rows::<f32>(t, idx),
                _ => {}
            }
        }
    }
}

/// The dataset returned by [`Dataset::transform_first`].
pub struct TransformFirst<D, T> {
    inner: D,
    t: T,
}

impl<D: Dataset, T: Transform> Dataset for TransformFirst<D, T> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn get(&self, idx: usize) -> Result<Sample> {
        let (x, y) = self.inner.get(idx)?;
        Ok((self.t.apply(&x)?, y))
    }

    fn get_batch(&self, idx: &[usize]) -> Result<Sample> {
        if self.t.batchable() {
            let (x, y) = self.inner.get_batch(idx)?;
            return Ok((self.t.apply(&x)?, y));
        }
        let samples = idx.iter().map(|&i| self.get(i)).collect::<Result<Vec<_>>>()?;
        let (x, y): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
        Ok((nd::stack(&x)?, nd::stack(&y)?))
    }

    fn prefetch(&self, idx: &[usize]) {
        self.inner.prefetch(idx);
    }
}

/// What to do with the last samples of an epoch that do not fill a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastBatch {
    /// A smaller last batch.
    Keep,
    /// Drop them.
    Discard,
    /// Carry them over to the start of the next epoch.
    Rollover,
}

/// `gluon.data.DataLoader(dataset, batch_size, shuffle, last_batch, num_workers)`.
/// Each `iter()` is one epoch; with shuffle, each epoch draws a new order from the loader's seed.
pub struct DataLoader<D> {
    dataset: Arc<D>,
    batch_size: usize,
    shuffle: bool,
    last_batch: LastBatch,
    num_workers: usize,
    rng: Mutex<Rng>,
    leftover: Mutex<Vec<usize>>,
}

impl<D: Dataset + 'static> DataLoader<D> {
    pub fn new(dataset: D, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            bail!("DataLoader: batch_size must be at least 1");
        }
        let seed = random::with_rng(rand::RngCore::next_u64);
        Ok(DataLoader {
            dataset: Arc::new(dataset),
            batch_size,
            shuffle: false,
            last_batch: LastBatch::Keep,
            num_workers: 0,
            rng: Mutex::new(random::rng(seed)),
            leftover: Mutex::new(Vec::new()),
        })
    }

    pub fn shuffle(mut self, yes: bool) -> Self {
        self.shuffle = yes;
        self
    }

    /// Seed the shuffling (otherwise drawn from `nd::random`).
    pub fn seed(self, seed: u64) -> Self {
        *self.rng.lock().unwrap() = random::rng(seed);
        self
    }

    pub fn last_batch(mut self, mode: LastBatch) -> Self {
        self.last_batch = mode;
        self
    }

    /// Background threads that assemble batches ahead of the training loop (0: in the caller's thread).
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = n;
        self
    }

    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// Batches in the next epoch (for `Rollover`, without the carried-over samples).
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        match self.last_batch {
            LastBatch::Keep => n.div_ceil(self.batch_size),
            LastBatch::Discard | LastBatch::Rollover => n / self.batch_size,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample indices of the next epoch, cut into batches (advances the shuffle).
    pub fn next_epoch_batches(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.shuffle {
            random::shuffle(&mut self.rng.lock().unwrap(), &mut order);
        }
        if self.last_batch == LastBatch::Rollover {
            let mut carried = std::mem::take(&mut *self.leftover.lock().unwrap());
            carried.extend(order);
            order = carried;
        }
        let mut batches: Vec<Vec<usize>> = order.chunks(self.batch_size).map(|c| c.to_vec()).collect();
        if batches.last().is_some_and(|b| b.len() < self.batch_size) {
            match self.last_batch {
                LastBatch::Keep => {}
                LastBatch::Discard => drop(batches.pop()),
                LastBatch::Rollover => *self.leftover.lock().unwrap() = batches.pop().unwrap(),
            }
        }
        batches
    }

    /// One epoch of batches.
    pub fn iter(&self) -> Batches<D> {
        self.iter_batches(self.next_epoch_batches())
    }

    /// Batches of the given indices, in that order (e.g. an order shared with another framework).
    pub fn iter_batches(&self, batches: Vec<Vec<usize>>) -> Batches<D> {
        if self.num_workers == 0 {
            return Batches::Inline { dataset: self.dataset.clone(), batches: batches.into_iter() };
        }
        // Worker w assembles batches w, w+n, ...; the iterator takes them round-robin, keeping order.
        let n = self.num_workers.min(batches.len().max(1));
        let receivers = (0..n)
            .map(|w| {
                let (tx, rx) = sync_channel(2);
                let mine: Vec<Vec<usize>> = batches.iter().skip(w).step_by(n).cloned().collect();
                let ds = self.dataset.clone();
                std::thread::spawn(move || {
                    for b in mine {
                        if tx.send(ds.get_batch(&b)).is_err() {
                            return; // the epoch was abandoned
                        }
                    }
                });
                rx
            })
            .collect();
        Batches::Workers { receivers, next: 0, remaining: batches.len() }
    }
}

/// An epoch's batches.
pub enum Batches<D> {
    Inline { dataset: Arc<D>, batches: std::vec::IntoIter<Vec<usize>> },
    Workers { receivers: Vec<Receiver<Result<Sample>>>, next: usize, remaining: usize },
}

impl<D: Dataset> Iterator for Batches<D> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        match self {
            Batches::Inline { dataset, batches } => {
                let batch = batches.next().map(|b| dataset.get_batch(&b));
                // The next batch's rows are scattered over the dataset and cold: start loading
                // them now, so they arrive while this batch trains.
                if let Some(next) = batches.as_slice().first() {
                    dataset.prefetch(next);
                }
                batch
            }
            Batches::Workers { receivers, next, remaining } => {
                if *remaining == 0 {
                    return None;
                }
                *remaining -= 1;
                let rx = &receivers[*next % receivers.len()];
                *next += 1;
                Some(rx.recv().unwrap_or_else(|_| {
                    Err(crate::error::Error::msg("a DataLoader worker stopped unexpectedly"))
                }))
            }
        }
    }
}

/// Labels as f32 class indices, the dtype MXNet's losses take.
pub fn labels_from_u8(labels: &[u8]) -> NDArray {
    NDArray::from_tensor(
        Tensor::from_vec(labels.to_vec(), labels.len(), &candle_core::Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .expect("cpu conversion"),
    )
}
