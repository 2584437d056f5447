//! The fused dense layer, `act(x W^T + b)`, forward and backward on f32 slices: the one home of
//! the layer's arithmetic, used by `nd::fully_connected` (imperative) and by hybridize's plan.

use super::gemm::{gemm_into, gemm_new, mat};
use crate::error::{bail, Result};

/// An activation function by MXNet name (`act_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Relu,
    Sigmoid,
    Tanh,
    SoftRelu,
}

impl Act {
    pub fn parse(name: &str) -> Result<Act> {
        Ok(match name {
            "relu" => Act::Relu,
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "softrelu" => Act::SoftRelu,
            _ => bail!("unknown activation '{name}'; use relu, sigmoid, tanh or softrelu"),
        })
    }
}

/// Apply an activation in place.
pub(crate) fn activate(a: Act, v: &mut [f32]) {
    match a {
        Act::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Act::Sigmoid => v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
        Act::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
        Act::SoftRelu => v.iter_mut().for_each(|x| *x = x.exp().ln_1p()),
    }
}

/// `dz *= act'(z)`, written with the activation's output `y` (what the forward kept).
pub(crate) fn activate_backward(a: Act, dz: &mut [f32], y: &[f32]) {
    let it = dz.iter_mut().zip(y);
    match a {
        Act::Relu => it.for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
        Act::Sigmoid => it.for_each(|(d, &y)| *d *= y * (1.0 - y)),
        Act::Tanh => it.for_each(|(d, &y)| *d *= 1.0 - y * y),
        Act::SoftRelu => it.for_each(|(d, &y)| *d *= 1.0 - (-y).exp()),
    }
}

/// The sizes of one dense layer applied to a batch: `n` rows of `k` inputs, `units` outputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense {
    pub n: usize,
    pub k: usize,
    pub units: usize,
    pub act: Option<Act>,
}

/// What the backward is asked for, and what it gives.
#[derive(Default)]
pub(crate) struct DenseGrads {
    pub dx: Option<Vec<f32>>,
    pub dw: Option<Vec<f32>>,
    pub db: Option<Vec<f32>>,
}

impl Dense {
    /// `out = act(x W^T + b)` for x (n, k), w (units, k) and b (units), into `out` (its buffer
    /// reused). The product accumulates on top of the bias rows and the activation runs in place:
    /// one pass where the unfused ops take three.
    pub(crate) fn forward(&self, out: &mut Vec<f32>, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Result<()> {
        let Dense { n, k, units, act } = *self;
        out.clear();
        match b {
            Some(b) => (0..n).for_each(|_| out.extend_from_slice(b)),
            None => out.resize(n * units, 0.0),
        }
        gemm_into(out, mat(x, k, false), mat(w, k, true), true)?;
        if let Some(a) = act {
            activate(a, out);
        }
        Ok(())
    }

    /// From the output gradient `dz` (overwritten with the pre-activation gradient) and the
    /// forward's output `y`: the gradients asked for by `(dx, dw, db)`. dx = dz W, dW = dz^T x,
    /// db = the column sums of dz.
    pub(crate) fn backward(
        &self,
        dz: &mut [f32],
        y: &[f32],
        x: &[f32],
        w: &[f32],
        need: (bool, bool, bool),
    ) -> Result<DenseGrads> {
        let Dense { k, units, act, .. } = *self;
        if let Some(a) = act {
            activate_backward(a, dz, y);
        }
        let mut g = DenseGrads::default();
        if need.0 {
            g.dx = Some(gemm_new(mat(dz, units, false), mat(w, k, false))?);
        }
        if need.1 {
            g.dw = Some(gemm_new(mat(dz, units, true), mat(x, k, false))?);
        }
        if need.2 {
            let mut db = vec![0f32; units];
            dz.chunks(units).for_each(|row| db.iter_mut().zip(row).for_each(|(d, &v)| *d += v));
            g.db = Some(db);
        }
        Ok(g)
    }
}
