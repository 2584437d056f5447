//! The operators. Each one computes its result eagerly and, when recording, keeps an [`Op`] whose
//! `backward` turns the output gradient into the inputs' gradients. Forward and backward of an op sit
//! next to each other so one can be checked against the other.

use super::array::{fmt_shape, NDArray, DEV};
use super::op::{reduced_shape, sum_keepdim, CustomOp, Op};
use super::tape::record;
use crate::error::{bail, Result};
use crate::kernels::conv::{Conv, Pool, PoolKind, Window};
use crate::kernels::dense::{exp_in_place, Act, Dense};
use crate::kernels::gemm::matmul;
use crate::kernels::storage::{tensor, with_f32};
use candle_core::shape::ShapeWithOneHole;
use candle_core::{DType, Shape, Tensor, D};
use std::sync::Arc;

fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => bail!(
                "operands could not be broadcast together with shapes {} and {}",
                fmt_shape(a),
                fmt_shape(b)
            ),
        })
        .collect()
}

fn axis(ndim: usize, a: isize) -> Result<usize> {
    let r = if a < 0 { a + ndim as isize } else { a };
    if r < 0 || r as usize >= ndim {
        bail!("axis {a} is out of range for an array with {ndim} dimension(s)");
    }
    Ok(r as usize)
}

fn axes_of(ndim: usize, axes: Option<&[isize]>) -> Result<Vec<usize>> {
    let mut v = match axes {
        None => (0..ndim).collect(),
        Some(a) => a.iter().map(|&x| axis(ndim, x)).collect::<Result<Vec<_>>>()?,
    };
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

fn sigmoid(t: &Tensor) -> Result<Tensor> {
    Ok((t.neg()?.exp()? + 1.0)?.recip()?)
}

fn softmax_last(t: &Tensor) -> Result<Tensor> {
    let e = t.broadcast_sub(&t.max_keepdim(D::Minus1)?)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

fn to_labels(label: &NDArray, rows: usize, classes: usize, what: &str) -> Result<Vec<u32>> {
    let v = label.to_vec()?;
    if v.len() != rows {
        bail!("{what}: {} labels for {rows} rows (label shape {})", v.len(), fmt_shape(&label.shape()));
    }
    v.iter()
        .map(|&l| {
            if l < 0.0 || l as usize >= classes || l.fract() != 0.0 {
                bail!("{what}: label {l} is not a class index in 0..{classes}");
            }
            Ok(l as u32)
        })
        .collect()
}

macro_rules! unary {
    ($(#[$doc:meta])* $name:ident, $op:expr, $f:expr) => {
        $(#[$doc])*
        pub fn $name(&self) -> Result<NDArray> {
            let f: fn(&Tensor) -> Result<Tensor> = $f;
            Ok(record($op, &[self], f(&self.tensor())?))
        }
    };
}

impl NDArray {
    fn binary(&self, rhs: &NDArray, op: Op) -> Result<NDArray> {
        let (a, b) = (self.tensor(), rhs.tensor());
        if a.dtype() != b.dtype() {
            bail!(
                "operands have different dtypes {:?} and {:?}; convert one with astype()",
                a.dtype(),
                b.dtype()
            );
        }
        broadcast_shape(a.dims(), b.dims())?;
        let out = match op {
            Op::Add => a.broadcast_add(&b)?,
            Op::Sub => a.broadcast_sub(&b)?,
            Op::Mul => a.broadcast_mul(&b)?,
            Op::Div => a.broadcast_div(&b)?,
            _ => unreachable!("binary op"),
        };
        Ok(record(op, &[self, rhs], out))
    }

    /// Elementwise `self + rhs` with NumPy broadcasting.
    pub fn add(&self, rhs: &NDArray) -> Result<NDArray> {
        self.binary(rhs, Op::Add)
    }
    pub fn sub(&self, rhs: &NDArray) -> Result<NDArray> {
        self.binary(rhs, Op::Sub)
    }
    pub fn mul(&self, rhs: &NDArray) -> Result<NDArray> {
        self.binary(rhs, Op::Mul)
    }
    pub fn div(&self, rhs: &NDArray) -> Result<NDArray> {
        self.binary(rhs, Op::Div)
    }

    /// `self * mul + add` for scalars.
    pub fn affine(&self, mul: f64, add: f64) -> Result<NDArray> {
        Ok(record(Op::Affine { mul }, &[self], self.tensor().affine(mul, add)?))
    }

    /// `self ** p` for a scalar exponent.
    pub fn pow(&self, p: f64) -> Result<NDArray> {
        Ok(record(Op::Pow(p), &[self], self.tensor().powf(p)?))
    }

    pub fn neg(&self) -> Result<NDArray> {
        self.affine(-1.0, 0.0)
    }

    pub fn square(&self) -> Result<NDArray> {
        self.pow(2.0)
    }

    unary!(exp, Op::Exp, |t| Ok(t.exp()?));
    unary!(log, Op::Log, |t| Ok(t.log()?));
    unary!(sqrt, Op::Sqrt, |t| Ok(t.sqrt()?));
    unary!(relu, Op::Relu, |t| Ok(t.relu()?));
    unary!(sigmoid, Op::Sigmoid, sigmoid);
    unary!(tanh, Op::Tanh, |t| Ok(t.tanh()?));
    unary!(
        /// Softmax over the last axis.
        softmax,
        Op::Softmax,
        softmax_last
    );
    unary!(
        /// Log-softmax over the last axis, computed stably.
        log_softmax,
        Op::LogSoftmax,
        |t| {
            let z = t.broadcast_sub(&t.max_keepdim(D::Minus1)?)?;
            Ok(z.broadcast_sub(&z.exp()?.sum_keepdim(D::Minus1)?.log()?)?)
        }
    );

    /// Matrix product of two 2-d arrays (`nd.dot(a, b)`).
    pub fn dot(&self, rhs: &NDArray) -> Result<NDArray> {
        dot(self, rhs, false, false)
    }

    /// Sum over `axis` (all when `None`); MXNet keeps a `(1,)` shape for a full reduction.
    pub fn sum(&self, axis: Option<&[isize]>, keepdims: bool) -> Result<NDArray> {
        let axes = axes_of(self.ndim(), axis)?;
        let t = self.tensor();
        let out = sum_keepdim(&t, &axes)?.reshape(reduced_shape(t.dims(), &axes, keepdims))?;
        Ok(record(Op::Sum { axes, scale: 1.0 }, &[self], out))
    }

    /// Mean over `axis` (all when `None`).
    pub fn mean(&self, axis: Option<&[isize]>, keepdims: bool) -> Result<NDArray> {
        let axes = axes_of(self.ndim(), axis)?;
        let t = self.tensor();
        let n: usize = axes.iter().map(|&a| t.dims()[a]).product();
        let scale = 1.0 / n.max(1) as f64;
        let out = t.sum_keepdim(axes.clone())?.affine(scale, 0.0)?.reshape(reduced_shape(
            t.dims(),
            &axes,
            keepdims,
        ))?;
        Ok(record(Op::Sum { axes, scale }, &[self], out))
    }

    /// Maximum over `axis` (all when `None`); ties share the gradient.
    pub fn max(&self, axis: Option<&[isize]>, keepdims: bool) -> Result<NDArray> {
        let axes = axes_of(self.ndim(), axis)?;
        let mut t = self.tensor();
        let dims = t.dims().to_vec();
        for &a in &axes {
            t = t.max_keepdim(a)?;
        }
        Ok(record(Op::Max { axes: axes.clone() }, &[self], t.reshape(reduced_shape(&dims, &axes, keepdims))?))
    }

    /// Index of the maximum along `axis`, as f32 like MXNet (not differentiable).
    pub fn argmax(&self, axis: isize) -> Result<NDArray> {
        let a = axis_of(self, axis)?;
        Ok(NDArray::from_tensor(self.tensor().argmax(a)?.to_dtype(DType::F32)?))
    }

    /// Elementwise `self == rhs` as 0/1 f32 (not differentiable); with broadcasting.
    pub fn equal(&self, rhs: &NDArray) -> Result<NDArray> {
        broadcast_shape(&self.shape(), &rhs.shape())?;
        Ok(NDArray::from_tensor(self.tensor().broadcast_eq(&rhs.tensor())?.to_dtype(DType::F32)?))
    }

    /// New shape with the same elements; one dimension may be `()` to infer it: `x.reshape((n, ()))`.
    pub fn reshape<S: ShapeWithOneHole>(&self, shape: S) -> Result<NDArray> {
        let t = self.tensor();
        let s = shape.into_shape(t.elem_count()).map_err(|e| {
            crate::error::Error(format!("cannot reshape an array of shape {}: {e}", fmt_shape(t.dims())))
        })?;
        Ok(record(Op::Reshape, &[self], t.reshape(s)?))
    }

    /// Keep the first axis and flatten the rest: `(batch, -1)`.
    pub fn flatten(&self) -> Result<NDArray> {
        let s = self.shape();
        let rest: usize = s.iter().skip(1).product();
        self.reshape((s.first().copied().unwrap_or(1), rest))
    }

    /// Reverse the axes (`x.T`).
    pub fn transpose(&self) -> Result<NDArray> {
        self.transpose_axes(&(0..self.ndim()).rev().collect::<Vec<_>>())
    }

    /// Permute the axes.
    pub fn transpose_axes(&self, perm: &[usize]) -> Result<NDArray> {
        let mut sorted = perm.to_vec();
        sorted.sort_unstable();
        if sorted != (0..self.ndim()).collect::<Vec<_>>() {
            bail!("axes {perm:?} are not a permutation of the {} axes", self.ndim());
        }
        let out = self.tensor().permute(perm.to_vec())?.contiguous()?;
        Ok(record(Op::Transpose { perm: perm.to_vec() }, &[self], out))
    }

    /// `nd.pick(x, index)`: per row, the element of the last axis at `index` (e.g. each sample's
    /// score of its label). `index` holds one class index per row.
    pub fn pick(&self, index: &NDArray) -> Result<NDArray> {
        let s = self.shape();
        let Some((&c, lead)) = s.split_last() else { bail!("pick needs an array with at least one axis") };
        let rows: usize = lead.iter().product();
        let index = to_labels(index, rows, c, "pick")?;
        let v = self.tensor().flatten_all()?.to_vec1::<f32>()?;
        let out: Vec<f32> = index.iter().enumerate().map(|(r, &i)| v[r * c + i as usize]).collect();
        let shape = if lead.is_empty() { vec![1] } else { lead.to_vec() };
        Ok(record(Op::Pick { index }, &[self], Tensor::from_vec(out, shape, &DEV)?))
    }
}

fn axis_of(x: &NDArray, a: isize) -> Result<usize> {
    axis(x.ndim(), a)
}

/// `nd.dot(a, b, transpose_a, transpose_b)` for 2-d arrays.
pub fn dot(a: &NDArray, b: &NDArray, transpose_a: bool, transpose_b: bool) -> Result<NDArray> {
    let (at, bt) = (a.tensor(), b.tensor());
    if at.rank() != 2 || bt.rank() != 2 {
        bail!("dot needs 2-d arrays, got shapes {} and {}", fmt_shape(at.dims()), fmt_shape(bt.dims()));
    }
    let at2 = if transpose_a { at.t()? } else { at.clone() };
    let bt2 = if transpose_b { bt.t()? } else { bt.clone() };
    if at2.dims()[1] != bt2.dims()[0] {
        bail!(
            "dot: shapes {} and {} do not align (inner dimensions {} != {})",
            fmt_shape(&a.shape()),
            fmt_shape(&b.shape()),
            at2.dims()[1],
            bt2.dims()[0]
        );
    }
    let out = if at.dtype() == DType::F32 && bt.dtype() == DType::F32 {
        matmul(&at, transpose_a, &bt, transpose_b)?
    } else {
        at2.matmul(&bt2)?
    };
    Ok(record(Op::Dot { ta: transpose_a, tb: transpose_b }, &[a, b], out))
}

/// `nd.FullyConnected(x, weight, bias)` with an optional activation fused in: `act(x W^T + b)` for
/// x (batch, in), weight (units, in) and bias (units). The product accumulates on top of the bias
/// rows and the activation runs in place: one pass where the unfused ops take three.
pub fn fully_connected(
    x: &NDArray,
    weight: &NDArray,
    bias: Option<&NDArray>,
    act: Option<Act>,
) -> Result<NDArray> {
    let (xv, w) = (x.tensor(), weight.tensor());
    let ((n, k), (units, k2)) = (xv.dims2()?, w.dims2()?);
    if k != k2 {
        bail!("FullyConnected: input has {k} features but the weight is {units}x{k2}");
    }
    if let Some(b) = bias.filter(|b| b.shape() != [units]) {
        bail!("FullyConnected: bias shape {:?} for {units} units", b.shape());
    }
    let bias_t = bias.map(NDArray::tensor);
    let layer = Dense { n, k, units, act };
    let mut out = Vec::with_capacity(n * units);
    with_f32(&xv, |xs| {
        with_f32(&w, |wv| match &bias_t {
            Some(b) => with_f32(b, |bv| layer.forward(&mut out, xs, wv, Some(bv)))?,
            None => layer.forward(&mut out, xs, wv, None),
        })
    })???;
    let out = tensor(out, &[n, units])?;
    let op = Op::FullyConnected { act, bias: bias.is_some() };
    Ok(match bias {
        Some(b) => record(op, &[x, weight, b], out),
        None => record(op, &[x, weight], out),
    })
}

/// The (n, c, h, w) of a 4-d array, or an error naming the op and the shape it got.
fn nchw(x: &NDArray, op: &str) -> Result<(usize, usize, usize, usize)> {
    match x.shape()[..] {
        [n, c, h, w] => Ok((n, c, h, w)),
        ref s => bail!("{op} needs a 4-d (batch, channels, height, width) input, got shape {}", fmt_shape(s)),
    }
}

/// `nd.Convolution(x, weight, bias, kernel, stride, pad)` with an optional activation fused in:
/// `act(conv(x, W) + b)` for x (batch, channels, h, w), weight (filters, channels, kh, kw) and
/// bias (filters), NCHW like MXNet. Each sample is one product of the filters with the sample
/// lowered to columns, on top of the bias; the activation runs in place.
pub fn convolution(
    x: &NDArray,
    weight: &NDArray,
    bias: Option<&NDArray>,
    win: Window,
    act: Option<Act>,
) -> Result<NDArray> {
    let (n, c, h, w) = nchw(x, "Convolution")?;
    let ws = weight.shape();
    if ws.len() != 4 || ws[1] != c || (ws[2], ws[3]) != win.kernel {
        bail!(
            "Convolution: weight shape {} does not fit {c} input channels and kernel {}x{}; use (filters, {c}, {}, {})",
            fmt_shape(&ws),
            win.kernel.0,
            win.kernel.1,
            win.kernel.0,
            win.kernel.1
        );
    }
    let o = ws[0];
    if let Some(b) = bias.filter(|b| b.shape() != [o]) {
        bail!("Convolution: bias shape {} for {o} filters", fmt_shape(&b.shape()));
    }
    let conv = Conv { n, c, h, w, o, win, act };
    let (ho, wo) = conv.out_hw().map_err(|e| crate::error::Error(format!("Convolution: {e}")))?;
    let (xv, wt, bias_t) = (x.tensor(), weight.tensor(), bias.map(NDArray::tensor));
    let mut out = Vec::new();
    with_f32(&xv, |xs| {
        with_f32(&wt, |wv| match &bias_t {
            Some(b) => with_f32(b, |bv| conv.forward(&mut out, xs, wv, Some(bv)))?,
            None => conv.forward(&mut out, xs, wv, None),
        })
    })???;
    let out = tensor(out, &[n, o, ho, wo])?;
    let op = Op::Convolution { win, act, bias: bias.is_some() };
    Ok(match bias {
        Some(b) => record(op, &[x, weight, b], out),
        None => record(op, &[x, weight], out),
    })
}

/// `nd.Pooling(x, kernel, pool_type, stride, pad)` over the last two axes of an NCHW array.
/// Average pooling divides by the whole window, padding included, as MXNet and PyTorch do by
/// default; max pooling's gradient goes to the first maximum of each window.
pub fn pooling(x: &NDArray, win: Window, kind: PoolKind) -> Result<NDArray> {
    let (n, c, h, w) = nchw(x, "Pooling")?;
    let pool = Pool { planes: n * c, h, w, win, kind };
    let (ho, wo) = pool.out_hw().map_err(|e| crate::error::Error(format!("Pooling: {e}")))?;
    let mut out = Vec::new();
    with_f32(&x.tensor(), |xs| pool.forward(&mut out, xs))??;
    Ok(record(Op::Pooling { win, kind }, &[x], tensor(out, &[n, c, ho, wo])?))
}

/// `nd.Activation(x, act_type)`.
pub fn activation(x: &NDArray, act: Act) -> Result<NDArray> {
    match act {
        Act::Relu => x.relu(),
        Act::Sigmoid => x.sigmoid(),
        Act::Tanh => x.tanh(),
        Act::SoftRelu => (x.exp()? + 1.0)?.log(),
    }
}

/// Record the output `out` of a [`CustomOp`] computed from `inputs` (when recording).
pub fn record_custom(op: Arc<dyn CustomOp>, inputs: &[NDArray], out: Tensor) -> NDArray {
    let refs: Vec<&NDArray> = inputs.iter().collect();
    record(Op::Custom(op), &refs, out)
}

/// Per-row softmax cross-entropy of `pred` (rows x classes) against class indices `label`: the fused
/// `-pick(log_softmax(pred), label)`, one loss per row.
pub fn softmax_cross_entropy(pred: &NDArray, label: &NDArray) -> Result<NDArray> {
    let t = pred.tensor();
    let (rows, c) = t.dims2().map_err(|_| {
        crate::error::Error(format!(
            "softmax cross-entropy needs (batch, classes) scores, got {}",
            fmt_shape(t.dims())
        ))
    })?;
    let label = to_labels(label, rows, c, "SoftmaxCrossEntropyLoss")?;
    // The stable log-sum-exp per row gives the loss, and the probabilities are kept for the
    // backward. MXNet's log_softmax, (x - max) - log(sum), and its backward's exp of it: the same
    // f32 steps as MXNet's SoftmaxCrossEntropyLoss, with the exponentials taken over the whole
    // batch at once (vectorised; a row of 10 classes is too short for that).
    let (loss, prob) = with_f32(&t, |v| {
        let mut shifted: Vec<f32> = v
            .chunks(c)
            .flat_map(|row| {
                let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.iter().map(move |&x| x - m)
            })
            .collect();
        let mut e = shifted.clone();
        exp_in_place(&mut e);
        let lse: Vec<f32> = e.chunks(c).map(|row| row.iter().sum::<f32>().ln()).collect();
        let loss: Vec<f32> = (0..rows).map(|r| -(shifted[r * c + label[r] as usize] - lse[r])).collect();
        for (row, &l) in shifted.chunks_mut(c).zip(&lse) {
            row.iter_mut().for_each(|x| *x -= l);
        }
        exp_in_place(&mut shifted);
        (loss, shifted)
    })?;
    let prob = tensor(prob, &[rows, c])?;
    Ok(record(Op::SoftmaxCrossEntropy { prob, label }, &[pred], Tensor::from_vec(loss, rows, &DEV)?))
}

/// Stack arrays of one shape along a new first axis (not recorded: used to batch samples).
pub fn stack(arrays: &[NDArray]) -> Result<NDArray> {
    if arrays.is_empty() {
        bail!("stack needs at least one array");
    }
    let ts: Vec<Tensor> = arrays.iter().map(|a| a.tensor()).collect();
    let first = ts[0].dims().to_vec();
    if let Some(t) = ts.iter().find(|t| t.dims() != first.as_slice()) {
        bail!("stack: arrays have different shapes {} and {}", fmt_shape(&first), fmt_shape(t.dims()));
    }
    Ok(NDArray::from_tensor(Tensor::stack(&ts, 0)?))
}

/// Convert a shape-like value to dims (for callers that build shapes generically).
pub fn dims_of(shape: impl Into<Shape>) -> Vec<usize> {
    shape.into().dims().to_vec()
}

macro_rules! std_binary {
    ($tr:ident, $m:ident, $f:ident, $mul:expr, $add:expr) => {
        impl std::ops::$tr<&NDArray> for &NDArray {
            type Output = Result<NDArray>;
            fn $m(self, rhs: &NDArray) -> Result<NDArray> {
                NDArray::$f(self, rhs)
            }
        }
        impl std::ops::$tr<NDArray> for NDArray {
            type Output = Result<NDArray>;
            fn $m(self, rhs: NDArray) -> Result<NDArray> {
                NDArray::$f(&self, &rhs)
            }
        }
        impl std::ops::$tr<&NDArray> for NDArray {
            type Output = Result<NDArray>;
            fn $m(self, rhs: &NDArray) -> Result<NDArray> {
                NDArray::$f(&self, rhs)
            }
        }
        std_binary!(@scalar $tr, $m, $mul, $add, f64);
        std_binary!(@scalar $tr, $m, $mul, $add, i32);
    };
    (@scalar $tr:ident, $m:ident, $mul:expr, $add:expr, $t:ty) => {
        impl std::ops::$tr<$t> for &NDArray {
            type Output = Result<NDArray>;
            fn $m(self, s: $t) -> Result<NDArray> {
                let f: fn(f64) -> (f64, f64) = |s| ($mul(s), $add(s));
                let (m, a) = f(s as f64);
                self.affine(m, a)
            }
        }
        impl std::ops::$tr<$t> for NDArray {
            type Output = Result<NDArray>;
            fn $m(self, s: $t) -> Result<NDArray> {
                std::ops::$tr::$m(&self, s)
            }
        }
    };
}

std_binary!(Add, add, add, |_| 1.0, |s| s);
std_binary!(Sub, sub, sub, |_| 1.0, |s: f64| -s);
std_binary!(Mul, mul, mul, |s| s, |_| 0.0);
std_binary!(Div, div, div, |s: f64| 1.0 / s, |_| 0.0);

/// Scalar on the left: `1.0 - x`, `2.0 / x`, ...
macro_rules! std_scalar_left {
    ($t:ty) => {
        impl std::ops::Add<&NDArray> for $t {
            type Output = Result<NDArray>;
            fn add(self, x: &NDArray) -> Result<NDArray> {
                x.affine(1.0, self as f64)
            }
        }
        impl std::ops::Sub<&NDArray> for $t {
            type Output = Result<NDArray>;
            fn sub(self, x: &NDArray) -> Result<NDArray> {
                x.affine(-1.0, self as f64)
            }
        }
        impl std::ops::Mul<&NDArray> for $t {
            type Output = Result<NDArray>;
            fn mul(self, x: &NDArray) -> Result<NDArray> {
                x.affine(self as f64, 0.0)
            }
        }
        impl std::ops::Div<&NDArray> for $t {
            type Output = Result<NDArray>;
            fn div(self, x: &NDArray) -> Result<NDArray> {
                x.pow(-1.0)?.affine(self as f64, 0.0)
            }
        }
    };
}
std_scalar_left!(f64);

impl std::ops::Neg for &NDArray {
    type Output = Result<NDArray>;
    fn neg(self) -> Result<NDArray> {
        NDArray::neg(self)
    }
}
