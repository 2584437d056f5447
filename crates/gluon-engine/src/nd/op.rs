//! What an op records for its backward ([`Op`]), and each op's backward: the output gradient in,
//! the inputs' gradients out. Forwards live in `ops`; each op's backward is found here by name.

use crate::error::Result;
use crate::kernels::conv::{Conv, Pool, PoolKind, Window};
use crate::kernels::dense::{Act, Dense};
use crate::kernels::elementwise::zip_map;
use crate::kernels::gemm::matmul;
use crate::kernels::storage::{tensor, with_f32, DEV};
use candle_core::{DType, Tensor, D};
use std::sync::Arc;

/// An operator defined outside `nd` (like MXNet's `CustomOp`): it computes its own forward and
/// records itself with [`super::ops::record_custom`]; backward calls this.
pub trait CustomOp: Send + Sync {
    /// A name for debugging output.
    fn name(&self) -> String;

    /// Gradients of the inputs (values `inputs`, output `out`) from the output gradient `g`; only
    /// those with `needs[i]` must be computed.
    fn backward(
        &self,
        inputs: &[Tensor],
        out: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>>;
}

impl std::fmt::Debug for dyn CustomOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// A recorded operation and what its backward needs beyond its inputs and output.
#[derive(Debug, Clone)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    /// `x * mul + add`: the scalar forms of + - * / and negation.
    Affine {
        mul: f64,
    },
    /// `x ** p`.
    Pow(f64),
    Exp,
    Log,
    Sqrt,
    Relu,
    Sigmoid,
    Tanh,
    /// `dot(a, b)` with optional transposes of either operand (2-d).
    Dot {
        ta: bool,
        tb: bool,
    },
    /// Sum over `axes`; the backward broadcasts back over them.
    Sum {
        axes: Vec<usize>,
        scale: f64,
    },
    Max {
        axes: Vec<usize>,
    },
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    /// `pick(x, index)` along the last axis.
    Pick {
        index: Vec<u32>,
    },
    Softmax,
    LogSoftmax,
    /// Fused `-log_softmax(x)[label]` per row, keeping the probabilities for the backward.
    SoftmaxCrossEntropy {
        prob: Tensor,
        label: Vec<u32>,
    },
    /// `act(x W^T + b)`: inputs x, weight and (when `bias`) the bias; the output is the activation's.
    FullyConnected {
        act: Option<Act>,
        bias: bool,
    },
    /// `act(conv(x, W) + b)` over NCHW: inputs x, weight and (when `bias`) the bias; the output is
    /// the activation's.
    Convolution {
        win: Window,
        act: Option<Act>,
        bias: bool,
    },
    /// Max or average over sliding windows of the last two axes.
    Pooling {
        win: Window,
        kind: PoolKind,
    },
    /// An operator defined outside this module (hybridize's planned executor).
    Custom(Arc<dyn CustomOp>),
}

/// Sum `g` down to `shape`, undoing a broadcast.
pub(super) fn unbroadcast(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.dims() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.len();
    let mut axes: Vec<usize> = (0..lead).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.dims()[lead + i] != 1 {
            axes.push(lead + i);
        }
    }
    Ok(sum_keepdim(g, &axes)?.reshape(shape)?)
}

/// `t.sum_keepdim(axes)`, with this crate's kernel for f32.
pub(super) fn sum_keepdim(t: &Tensor, axes: &[usize]) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        crate::kernels::elementwise::sum_keepdim(t, axes)
    } else {
        Ok(t.sum_keepdim(axes.to_vec())?)
    }
}

/// The shape after reducing `axes` without keepdims: MXNet keeps at least one dimension, `(1,)`.
pub(super) fn reduced_shape(dims: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    let mut s: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match axes.contains(&i) {
            true if keepdims => Some(1),
            true => None,
            false => Some(d),
        })
        .collect();
    if s.is_empty() {
        s.push(1);
    }
    s
}

impl Op {
    /// Gradients of the inputs given the output gradient `g`; only those with `needs[i]` are computed.
    pub(crate) fn backward(
        &self,
        x: &[Tensor],
        out: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let xt = |i: usize| x[i].clone();
        let shape = |i: usize| x[i].dims().to_vec();
        let one = |t: Result<Tensor>| Ok(vec![Some(t?)]);
        match self {
            Op::Add | Op::Sub => {
                let ga = if need(0) { Some(unbroadcast(g, &shape(0))?) } else { None };
                let gb = if need(1) {
                    let gb = unbroadcast(g, &shape(1))?;
                    Some(if matches!(self, Op::Sub) { gb.neg()? } else { gb })
                } else {
                    None
                };
                Ok(vec![ga, gb])
            }
            Op::Mul => {
                let ga =
                    if need(0) { Some(unbroadcast(&g.broadcast_mul(&xt(1))?, &shape(0))?) } else { None };
                let gb =
                    if need(1) { Some(unbroadcast(&g.broadcast_mul(&xt(0))?, &shape(1))?) } else { None };
                Ok(vec![ga, gb])
            }
            Op::Div => {
                let b = xt(1);
                let ga = if need(0) { Some(unbroadcast(&g.broadcast_div(&b)?, &shape(0))?) } else { None };
                // d(a/b)/db = -out / b
                let gb = if need(1) {
                    Some(unbroadcast(
                        &g.mul(&out.broadcast_div(&b)?.neg()?.broadcast_as(g.shape())?)?,
                        &shape(1),
                    )?)
                } else {
                    None
                };
                Ok(vec![ga, gb])
            }
            Op::Affine { mul } => one(Ok(g.affine(*mul, 0.0)?)),
            Op::Pow(p) => one(Ok(g.mul(&xt(0).powf(p - 1.0)?.affine(*p, 0.0)?)?)),
            Op::Exp => one(Ok(g.mul(out)?)),
            Op::Log => one(Ok(g.div(&xt(0))?)),
            Op::Sqrt => one(Ok(g.div(&out.affine(2.0, 0.0)?)?)),
            Op::Relu => one(zip_map(g, &xt(0), |g, x| if x > 0.0 { g } else { 0.0 })),
            Op::Sigmoid => one(Ok(g.mul(&out.mul(&out.affine(-1.0, 1.0)?)?)?)),
            Op::Tanh => one(Ok(g.mul(&out.sqr()?.affine(-1.0, 1.0)?)?)),
            Op::Dot { ta, tb } => {
                let (a, b, g) = (xt(0), xt(1), g.contiguous()?);
                // out = A'B' with A' = op(a), B' = op(b): dA' = g B'^T and dB' = A'^T g, transposed
                // back where the operand was; each case is one product with transpose flags.
                let ga = match (need(0), ta, tb) {
                    (false, ..) => None,
                    (true, false, false) => Some(matmul(&g, false, &b, true)?),
                    (true, false, true) => Some(matmul(&g, false, &b, false)?),
                    (true, true, false) => Some(matmul(&b, false, &g, true)?),
                    (true, true, true) => Some(matmul(&b, true, &g, true)?),
                };
                let gb = match (need(1), ta, tb) {
                    (false, ..) => None,
                    (true, false, false) => Some(matmul(&a, true, &g, false)?),
                    (true, true, false) => Some(matmul(&a, false, &g, false)?),
                    (true, false, true) => Some(matmul(&g, true, &a, false)?),
                    (true, true, true) => Some(matmul(&g, true, &a, true)?),
                };
                Ok(vec![ga, gb])
            }
            Op::Sum { axes, scale } => {
                let s = shape(0);
                let keep = reduced_shape(&s, axes, true);
                one(Ok(g.reshape(keep)?.broadcast_as(s)?.affine(*scale, 0.0)?))
            }
            Op::Max { axes } => {
                let s = shape(0);
                let keep = reduced_shape(&s, axes, true);
                let mask = xt(0).broadcast_eq(&out.reshape(keep.clone())?)?.to_dtype(g.dtype())?;
                one(Ok(mask.broadcast_mul(&g.reshape(keep)?)?))
            }
            Op::Reshape => one(Ok(g.reshape(shape(0))?)),
            Op::Transpose { perm } => {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                one(Ok(g.permute(inv)?.contiguous()?))
            }
            Op::Pick { index } => {
                let s = shape(0);
                let c = *s.last().unwrap();
                let gv = g.flatten_all()?.to_vec1::<f32>()?;
                let mut dx = vec![0f32; gv.len() * c];
                for (r, (&i, &gi)) in index.iter().zip(&gv).enumerate() {
                    dx[r * c + i as usize] = gi;
                }
                one(Ok(Tensor::from_vec(dx, s, &DEV)?))
            }
            Op::Softmax => {
                let gy = g.mul(out)?;
                one(Ok(gy.broadcast_sub(&out.broadcast_mul(&gy.sum_keepdim(D::Minus1)?)?)?))
            }
            Op::LogSoftmax => {
                one(Ok(g.broadcast_sub(&out.exp()?.broadcast_mul(&g.sum_keepdim(D::Minus1)?)?)?))
            }
            Op::FullyConnected { act, bias } => {
                let (xv, w) = (xt(0), xt(1));
                let (n, k) = xv.dims2()?;
                let layer = Dense { n, k, units: w.dims()[0], act: *act };
                let mut dz = with_f32(g, |v| v.to_vec())?;
                let want = (need(0), need(1), *bias && need(2));
                let d = with_f32(out, |y| {
                    with_f32(&xv, |xs| with_f32(&w, |wv| layer.backward(&mut dz, y, xs, wv, want)))
                })????;
                let mut grads = vec![
                    d.dx.map(|v| tensor(v, &[n, k])).transpose()?,
                    d.dw.map(|v| tensor(v, &[layer.units, k])).transpose()?,
                ];
                if *bias {
                    grads.push(d.db.map(|v| tensor(v, &[layer.units])).transpose()?);
                }
                Ok(grads)
            }
            Op::Convolution { win, act, bias } => {
                let (xv, w) = (xt(0), xt(1));
                let (n, c, h, wd) = xv.dims4()?;
                let o = w.dims()[0];
                let conv = Conv { n, c, h, w: wd, o, win: *win, act: *act };
                let mut dz = with_f32(g, |v| v.to_vec())?;
                let want = (need(0), need(1), *bias && need(2));
                let d = with_f32(out, |y| {
                    with_f32(&xv, |xs| with_f32(&w, |wv| conv.backward(&mut dz, y, xs, wv, want)))
                })????;
                let mut grads = vec![
                    d.dx.map(|v| tensor(v, xv.dims())).transpose()?,
                    d.dw.map(|v| tensor(v, w.dims())).transpose()?,
                ];
                if *bias {
                    grads.push(d.db.map(|v| tensor(v, &[o])).transpose()?);
                }
                Ok(grads)
            }
            Op::Pooling { win, kind } => {
                let xv = xt(0);
                let (n, c, h, w) = xv.dims4()?;
                let pool = Pool { planes: n * c, h, w, win: *win, kind: *kind };
                let dx = with_f32(g, |gv| with_f32(&xv, |xs| pool.backward(gv, xs)))???;
                one(tensor(dx, xv.dims()))
            }
            Op::Custom(op) => op.backward(x, out, g, needs),
            Op::SoftmaxCrossEntropy { prob, label } => {
                // d/dx of -log softmax(x)[y] is softmax(x) - onehot(y), scaled by each row's gradient.
                let (rows, c) = prob.dims2()?;
                let mut p = prob.flatten_all()?.to_vec1::<f32>()?;
                let gv = g.flatten_all()?.to_vec1::<f32>()?;
                for r in 0..rows {
                    p[r * c + label[r] as usize] -= 1.0;
                    p[r * c..(r + 1) * c].iter_mut().for_each(|v| *v *= gv[r]);
                }
                one(Ok(Tensor::from_vec(p, (rows, c), &DEV)?))
            }
        }
    }
}
