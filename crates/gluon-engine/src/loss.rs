//! `loss`: per-sample losses, shape `(batch,)`, as Gluon returns them (not the mean).

use crate::error::{bail, Result};
use crate::nd::{self, NDArray};

/// `gluon.loss.SoftmaxCrossEntropyLoss()`: sparse labels (class indices), one loss per sample.
#[derive(Debug, Clone, Default)]
pub struct SoftmaxCrossEntropyLoss;

impl SoftmaxCrossEntropyLoss {
    pub fn new() -> Self {
        SoftmaxCrossEntropyLoss
    }

    /// `loss(output, label)`: `-log softmax(output)[label]` for each row.
    pub fn forward(&self, pred: &NDArray, label: &NDArray) -> Result<NDArray> {
        nd::softmax_cross_entropy(pred, label)
    }
}

/// `gluon.loss.L2Loss()`: `0.5 * (pred - label)^2`, averaged over all but the batch axis.
#[derive(Debug, Clone, Default)]
pub struct L2Loss;

impl L2Loss {
    pub fn new() -> Self {
        L2Loss
    }

    pub fn forward(&self, pred: &NDArray, label: &NDArray) -> Result<NDArray> {
        if pred.size() != label.size() {
            bail!("L2Loss: prediction shape {:?} and label shape {:?} differ", pred.shape(), label.shape());
        }
        let label = label.reshape(pred.shape())?;
        let sq = (pred - &label)?.square()?.affine(0.5, 0.0)?;
        if sq.ndim() == 1 {
            return Ok(sq);
        }
        let axes: Vec<isize> = (1..sq.ndim() as isize).collect();
        sq.mean(Some(&axes), false)
    }
}
