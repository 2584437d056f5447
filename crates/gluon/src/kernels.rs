//! Hand-written CPU kernels for the few places where candle's generic ops cost more than the work:
//! matrix products split across cores, fused element-wise passes, and in-place updates.
//!
//! FACTS behind them: candle hands the whole product to `gemm`, which keeps a 128x784x256 product on
//! one core; and every candle op allocates its result, so a chain of three ops makes three passes
//! and three buffers where one would do.

use crate::error::{bail, Result};
use crate::nn::Act;
use candle_core::{CpuStorage, Layout, Storage, Tensor};
use rayon::prelude::*;

mod pair;

/// Borrow a tensor's values as `T` (row-major; the tensor is made contiguous first when it is not).
fn with_slice<T: candle_core::WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = if t.is_contiguous() { t.clone() } else { t.contiguous()? };
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("internal: tensor is not contiguous") };
    match &*storage {
        Storage::Cpu(cpu) => match cpu.as_slice::<T>() {
            Ok(v) => Ok(f(&v[start..end])),
            Err(_) => bail!("this operation needs a {:?} array, got {:?}", T::DTYPE, t.dtype()),
        },
        _ => bail!("this engine runs on the CPU only"),
    }
}

/// Borrow a tensor's f32 values.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    with_slice(t, f)
}

/// Borrow a tensor's u8 values (images before ToTensor).
pub(crate) fn with_u8<R>(t: &Tensor, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
    with_slice(t, f)
}

/// A new f32 tensor of `shape` from `values`, without copying.
pub(crate) fn tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, &candle_core::Device::Cpu)?)
}

/// Element-wise updates smaller than this stay on one thread.
const SPLIT_MIN_ELEMS: usize = 1 << 16;

/// Products smaller than this many multiply-adds stay on one thread (splitting costs more).
const SPLIT_MIN_MACS: usize = 1 << 19;

/// A row-major matrix operand: its values, its stored column count and whether to use it transposed.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub v: &'a [f32],
    pub cols: usize,
    pub t: bool,
}

/// `Mat { v, cols, t }`.
pub(crate) fn mat(v: &[f32], cols: usize, t: bool) -> Mat<'_> {
    Mat { v, cols, t }
}

impl Mat<'_> {
    /// Rows and columns of op(self).
    fn shape(&self) -> (usize, usize) {
        let rows = self.v.len() / self.cols.max(1);
        if self.t {
            (self.cols, rows)
        } else {
            (rows, self.cols)
        }
    }

    /// (row stride, column stride) of op(self) over the stored values.
    fn strides(&self) -> (usize, usize) {
        if self.t {
            (1, self.cols)
        } else {
            (self.cols, 1)
        }
    }
}

/// `dst (+)= op(a) . op(b)` into a row-major `dst` of m x n, adding to what is there when
/// `accumulate`.
pub(crate) fn gemm_into(dst: &mut [f32], a: Mat, b: Mat, accumulate: bool) -> Result<()> {
    let (m, n) = check(a, b)?;
    if dst.len() != m * n {
        bail!("matmul: a {m}x{n} product into {} values", dst.len());
    }
    // SAFETY: `dst` holds the m x n values the product writes.
    unsafe { gemm_ptr(dst.as_mut_ptr(), a, b, accumulate) };
    Ok(())
}

/// `op(a) . op(b)` as a new m x n vector (the product writes every value: no zero-filling first).
pub(crate) fn gemm_new(a: Mat, b: Mat) -> Result<Vec<f32>> {
    let (m, n) = check(a, b)?;
    let mut v = Vec::with_capacity(m * n);
    // SAFETY: with `accumulate` false the product writes all m x n values before they are read.
    unsafe {
        gemm_ptr(v.as_mut_ptr(), a, b, false);
        v.set_len(m * n);
    }
    Ok(v)
}

fn check(a: Mat, b: Mat) -> Result<(usize, usize)> {
    let ((m, k), (k2, n)) = (a.shape(), b.shape());
    if k != k2 {
        bail!("matmul: inner dimensions differ, ({m}x{k}).({k2}x{n})");
    }
    Ok((m, n))
}

struct SendPtr(*mut f32);
// SAFETY: the blocks handed to different threads never overlap.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// The product into `dst` (m x n, row-major), its rows split across threads. (Splitting the
/// columns instead measured slower for dW = dz^T.x and no better for x.W^T.)
///
/// # Safety
/// `dst` must point to m x n writable f32 values.
unsafe fn gemm_ptr(dst: *mut f32, a: Mat, b: Mat, accumulate: bool) {
    let ((m, k), (_, n)) = (a.shape(), b.shape());
    if m * n == 0 {
        return;
    }
    let ((a_rs, a_cs), (b_rs, b_cs)) = (a.strides(), b.strides());
    let dst = SendPtr(dst);
    // Rows r0..r1 of dst.
    let block = |r0: usize, r1: usize| {
        let d = &dst;
        // SAFETY: the pointers and strides describe rows r0..r1 of op(a), op(b) and those rows of
        // dst, all inside their buffers.
        unsafe {
            gemm::gemm(
                r1 - r0,
                n,
                k,
                d.0.add(r0 * n),
                1,
                n as isize,
                accumulate,
                a.v.as_ptr().add(r0 * a_rs),
                a_cs as isize,
                a_rs as isize,
                b.v.as_ptr(),
                b_cs as isize,
                b_rs as isize,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    let threads = rayon::current_num_threads();
    if m * n * k < SPLIT_MIN_MACS || threads < 2 {
        block(0, m);
    } else if threads == 2 {
        // Two cores: this thread takes one half while the (usually still spinning) helper takes the
        // other, instead of waking two pool threads and waiting.
        let h = m / 2;
        pair::join(|| block(0, h), || block(h, m));
    } else {
        let rows = m.div_ceil(threads);
        (0..m.div_ceil(rows)).into_par_iter().for_each(|c| block(c * rows, ((c + 1) * rows).min(m)));
    }
}

/// `op(a) . op(b)` for 2-d f32 tensors, `op` transposing when asked.
pub(crate) fn matmul(a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor> {
    let ((_, ac), (_, bc)) = (a.dims2()?, b.dims2()?);
    let m = if ta { ac } else { a.dims()[0] };
    let n = if tb { b.dims()[0] } else { bc };
    let dst = with_f32(a, |av| with_f32(b, |bv| gemm_new(mat(av, ac, ta), mat(bv, bc, tb))))???;
    tensor(dst, &[m, n])
}

/// One pass over two same-shape f32 tensors into a new one.
pub(crate) fn zip_map(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<Tensor> {
    if a.dims() != b.dims() {
        bail!("internal: zip_map on shapes {:?} and {:?}", a.dims(), b.dims());
    }
    let out =
        with_f32(a, |av| with_f32(b, |bv| av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect::<Vec<_>>()))??;
    tensor(out, a.dims())
}

/// `dst = dst * keep + src * scale`, in place, elementwise.
struct Axpby {
    keep: f32,
    scale: f32,
}

impl candle_core::InplaceOp2 for Axpby {
    fn name(&self) -> &'static str {
        "axpby"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((d0, d1)), Some((s0, s1))) = (dst_l.contiguous_offsets(), src_l.contiguous_offsets())
        else {
            candle_core::bail!("axpby needs contiguous tensors")
        };
        match (dst, src) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => {
                let (d, s) = (&mut d[d0..d1], &s[s0..s1]);
                if d.len() != s.len() {
                    candle_core::bail!("axpby: {} values updated from {}", d.len(), s.len());
                }
                let (keep, scale) = (self.keep, self.scale);
                let update = |d: &mut [f32], s: &[f32]| {
                    if keep == 1.0 {
                        d.iter_mut().zip(s).for_each(|(x, &y)| *x += scale * y);
                    } else {
                        d.iter_mut().zip(s).for_each(|(x, &y)| *x = keep * *x + scale * y);
                    }
                };
                // Large updates (a 784x256 weight) are memory-bound: both cores halve the time.
                if d.len() >= SPLIT_MIN_ELEMS && rayon::current_num_threads() == 2 {
                    let half = d.len() / 2;
                    let (d0, d1) = d.split_at_mut(half);
                    let d1 = std::sync::Mutex::new(d1);
                    pair::join(|| update(d0, &s[..half]), || update(&mut d1.lock().unwrap(), &s[half..]));
                } else {
                    update(d, s);
                }
                Ok(())
            }
            _ => candle_core::bail!("axpby needs f32 tensors"),
        }
    }
}

/// `dst = dst * keep + src * scale` in place: the SGD step, momentum and gradient accumulation
/// without allocating. `dst` must own its storage (no other tensor sees the change).
pub(crate) fn axpby(dst: &Tensor, keep: f32, src: &Tensor, scale: f32) -> Result<()> {
    let src = if src.is_contiguous() { src.clone() } else { src.contiguous()? };
    if !dst.is_contiguous() || dst.dims() != src.dims() {
        bail!("internal: in-place update of {:?} from {:?}", dst.dims(), src.dims());
    }
    dst.inplace_op2(&src, &Axpby { keep, scale })?;
    Ok(())
}

/// Sum a contiguous f32 tensor over `axes` (sorted, distinct), keeping them as size-1 dimensions.
/// One axis at a time as (outer, n, inner) blocks, inner-most contiguous so the adds vectorise;
/// candle's reduction over a leading axis walks strided memory and costs 20x more here.
pub(crate) fn sum_keepdim(t: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let mut dims = t.dims().to_vec();
    let mut cur = with_f32(t, |v| v.to_vec())?;
    for &a in axes.iter().rev() {
        let (outer, n, inner) =
            (dims[..a].iter().product::<usize>(), dims[a], dims[a + 1..].iter().product::<usize>());
        let mut out = vec![0f32; outer * inner];
        for o in 0..outer {
            let dst = &mut out[o * inner..(o + 1) * inner];
            for j in 0..n {
                let src = &cur[(o * n + j) * inner..(o * n + j + 1) * inner];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += s);
            }
        }
        dims[a] = 1;
        cur = out;
    }
    tensor(cur, &dims)
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
