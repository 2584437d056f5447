//! Hand-written CPU kernels for the few places where candle's generic ops cost more than the work:
//! matrix products split across cores, fused element-wise passes, and in-place updates.
//!
//! FACTS behind them: candle hands the whole product to `gemm`, which keeps a 128x784x256 product on
//! one core; and every candle op allocates its result, so a chain of three ops makes three passes
//! and three buffers where one would do.

use crate::error::{bail, Result};
use candle_core::{CpuStorage, Layout, Storage, Tensor};
use rayon::prelude::*;

/// Borrow a tensor's f32 values (row-major; the tensor is made contiguous first when it is not).
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = if t.is_contiguous() { t.clone() } else { t.contiguous()? };
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("internal: tensor is not contiguous") };
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => Ok(f(&v[start..end])),
        _ => bail!("this operation needs an f32 array, got {:?}", t.dtype()),
    }
}

/// A new f32 tensor of `shape` from `values`, without copying.
pub(crate) fn tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, &candle_core::Device::Cpu)?)
}

/// Products smaller than this many multiply-adds stay on one thread (splitting costs more).
const SPLIT_MIN_MACS: usize = 1 << 19;

/// `op(a) . op(b)` for 2-d f32 tensors, `op` transposing when asked. The rows of the result are
/// split across the rayon pool's threads, each running a single-threaded gemm on its share.
pub(crate) fn matmul(a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor> {
    let (ar, ac) = a.dims2()?;
    let (br, bc) = b.dims2()?;
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if tb { (bc, br) } else { (br, bc) };
    if k != k2 {
        bail!("matmul: inner dimensions {k} and {k2} differ");
    }
    // Strides (row, column) of op(a) and op(b) over their row-major storage.
    let (a_rs, a_cs) = if ta { (1, ac) } else { (ac, 1) };
    let (b_rs, b_cs) = if tb { (1, bc) } else { (bc, 1) };
    let mut dst = vec![0f32; m * n];
    if m * n == 0 {
        return tensor(dst, &[m, n]);
    }
    let threads = rayon::current_num_threads();
    let rows = if m * n * k < SPLIT_MIN_MACS || threads < 2 { m } else { m.div_ceil(threads).max(1) };
    with_f32(a, |av| {
        with_f32(b, |bv| {
            dst.par_chunks_mut(rows * n).enumerate().for_each(|(c, d)| {
                let r0 = c * rows;
                let mc = d.len() / n;
                // SAFETY: the pointers and strides describe the mc x k rows of op(a) starting at r0,
                // the k x n op(b) and the mc x n block `d`, all inside their slices.
                unsafe {
                    gemm::gemm(
                        mc,
                        n,
                        k,
                        d.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        av.as_ptr().add(r0 * a_rs),
                        a_cs as isize,
                        a_rs as isize,
                        bv.as_ptr(),
                        b_cs as isize,
                        b_rs as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            })
        })
    })??;
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
                if keep == 1.0 {
                    d.iter_mut().zip(s).for_each(|(x, &y)| *x += scale * y);
                } else {
                    d.iter_mut().zip(s).for_each(|(x, &y)| *x = keep * *x + scale * y);
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
