//! Element-wise passes: fused where candle would make one pass and one buffer per op, and the
//! in-place updates of the optimizer.

use super::simd::widest;
use super::storage::{tensor, with_f32, with_slice};
use super::threads::{for_each_part, num_threads};
use crate::error::{bail, Result};
use candle_core::{CpuStorage, Layout, Tensor};
use std::mem::MaybeUninit;
use std::sync::Mutex;

/// Element-wise updates smaller than this stay on one thread.
const SPLIT_MIN_ELEMS: usize = 1 << 16;

/// One pass over two same-shape f32 tensors into a new one.
pub(crate) fn zip_map(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<Tensor> {
    if a.dims() != b.dims() {
        bail!("internal: zip_map on shapes {:?} and {:?}", a.dims(), b.dims());
    }
    let out =
        with_f32(a, |av| with_f32(b, |bv| av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect::<Vec<_>>()))??;
    tensor(out, a.dims())
}

/// A new vector of `len` values, written across the engine's threads: `fill(start, dst)` must
/// write every value of `dst`, which holds values `start..start + dst.len()`. Parts start at
/// multiples of `unit` (a sample, say), so `fill` can work in whole units; under
/// `SPLIT_MIN_ELEMS` values it runs once, here.
pub(crate) fn fill_split<T: Send>(
    len: usize,
    unit: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let mut out = Vec::with_capacity(len);
    let units = len.div_ceil(unit.max(1));
    let parts = if len >= SPLIT_MIN_ELEMS { num_threads().min(units).max(1) } else { 1 };
    let chunk = (units.div_ceil(parts) * unit).max(1);
    let dst: Vec<Mutex<&mut [MaybeUninit<T>]>> =
        out.spare_capacity_mut()[..len].chunks_mut(chunk).map(Mutex::new).collect();
    for_each_part(dst.len(), |i| fill(i * chunk, &mut dst[i].lock().unwrap_or_else(|e| e.into_inner())));
    drop(dst);
    // SAFETY: the parts cover all `len` values and `fill` writes every value of its part; a
    // panicking `fill` is resumed by `for_each_part` before this line.
    unsafe { out.set_len(len) };
    out
}

/// Rows `idx` of `t` (along its first axis), stacked: a batch gathered from a dataset. Split
/// across the engine's threads in whole rows: the rows are scattered over a large array and
/// mostly not in cache, so two cores wait on twice as many of them at once.
pub(crate) fn gather_rows<T: candle_core::WithDType>(t: &Tensor, idx: &[usize]) -> Result<Tensor> {
    let dims = t.dims();
    let (rows, row) = (dims.first().copied().unwrap_or(0), dims.iter().skip(1).product::<usize>());
    if let Some(bad) = idx.iter().find(|&&i| i >= rows) {
        bail!("index {bad} is out of range for {rows} rows");
    }
    let step = row.max(1); // rows of no values: an empty batch, whatever the indices
    let out = with_slice(t, |src: &[T]| {
        fill_split(idx.len() * row, step, |start, dst| {
            for (d, &i) in dst.chunks_mut(step).zip(&idx[start / step..]) {
                for (o, &v) in d.iter_mut().zip(&src[i * row..(i + 1) * row]) {
                    o.write(v);
                }
            }
        })
    })?;
    let mut shape = dims.to_vec();
    if let Some(first) = shape.first_mut() {
        *first = idx.len();
    }
    Ok(Tensor::from_vec(out, shape, &super::storage::DEV)?)
}

/// Ask the CPU to bring rows `idx` of `t` towards its caches, without waiting for them: the
/// loader does this for the next batch, so that batch's scattered rows arrive while the current
/// one trains instead of stalling its gather. Indices out of range are skipped (the gather itself
/// reports them); on a CPU without a prefetch instruction this does nothing.
pub(crate) fn prefetch_rows<T: candle_core::WithDType>(t: &Tensor, idx: &[usize]) {
    let dims = t.dims();
    let (rows, row) = (dims.first().copied().unwrap_or(0), dims.iter().skip(1).product::<usize>());
    let _ = with_slice(t, |src: &[T]| {
        let bytes = row * std::mem::size_of::<T>();
        for &i in idx.iter().filter(|&&i| i < rows) {
            let start = src[i * row..].as_ptr().cast::<u8>();
            for offset in (0..bytes).step_by(64) {
                // SAFETY: `offset` is inside row `i`, which lies inside `src`.
                prefetch(unsafe { start.add(offset) });
            }
        }
    });
}

/// A hint to load the cache line at `p`; it never faults and changes no value.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `dst = dst * keep + scale * (pre * src)`, in place, elementwise.
struct Axpby {
    keep: f32,
    scale: f32,
    pre: f32,
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
                let (keep, scale, pre) = (self.keep, self.scale, self.pre);
                let update = |d: &mut [f32], s: &[f32]| {
                    widest(
                        #[inline(always)]
                        || match (keep == 1.0, pre == 1.0) {
                            (true, true) => d.iter_mut().zip(s).for_each(|(x, &y)| *x += scale * y),
                            (true, false) => d.iter_mut().zip(s).for_each(|(x, &y)| *x += scale * (pre * y)),
                            _ => d.iter_mut().zip(s).for_each(|(x, &y)| *x = keep * *x + scale * (pre * y)),
                        },
                    )
                };
                // Large updates (a 784x256 weight) are memory-bound: more cores cut the time.
                let parts = if d.len() >= SPLIT_MIN_ELEMS { num_threads() } else { 1 };
                let chunk = d.len().div_ceil(parts);
                let parts: Vec<Mutex<(&mut [f32], &[f32])>> =
                    d.chunks_mut(chunk).zip(s.chunks(chunk)).map(Mutex::new).collect();
                for_each_part(parts.len(), |i| {
                    let mut p = parts[i].lock().unwrap_or_else(|e| e.into_inner());
                    let (d, s) = &mut *p;
                    update(d, s)
                });
                Ok(())
            }
            _ => candle_core::bail!("axpby needs f32 tensors"),
        }
    }
}

/// `dst = dst * keep + scale * (pre * src)` in place: the SGD step, momentum and gradient
/// accumulation without allocating. `pre` is applied first, as MXNet's optimizers apply
/// `rescale_grad` to the gradient before the learning rate (the same rounding as MXNet's
/// `(1 - lr*wd) * w - lr * (rescale_grad * g)`). `dst` must own its storage (no other tensor sees
/// the change).
pub(crate) fn axpby(dst: &Tensor, keep: f32, src: &Tensor, pre: f32, scale: f32) -> Result<()> {
    let src = if src.is_contiguous() { src.clone() } else { src.contiguous()? };
    if !dst.is_contiguous() || dst.dims() != src.dims() {
        bail!("internal: in-place update of {:?} from {:?}", dst.dims(), src.dims());
    }
    dst.inplace_op2(&src, &Axpby { keep, scale, pre })?;
    Ok(())
}

/// The sum of `v`, in 16 running partial sums (one per lane of the widest vector) added up at
/// the end: a plain `iter().sum()` is one chain of dependent adds, which the compiler may not
/// reorder, and runs at one add per add latency (LeNet's bias sums are long enough to show it).
pub(crate) fn sum(v: &[f32]) -> f32 {
    widest(
        #[inline(always)]
        || {
            let mut lanes = [0f32; 16];
            let chunks = v.chunks_exact(16);
            let rest = chunks.remainder().iter().sum::<f32>();
            for c in chunks {
                lanes.iter_mut().zip(c).for_each(|(l, &x)| *l += x);
            }
            lanes.iter().sum::<f32>() + rest
        },
    )
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

#[cfg(test)]
mod tests {
    #[test]
    fn sum_matches_the_exact_sum() {
        // Small integers add exactly in any order: every length around the 16-lane blocks.
        for n in 0..70 {
            let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
            let want: i64 = (0..n).map(|i| (i % 7) - 3).sum();
            assert_eq!(super::sum(&v), want as f32, "length {n}");
        }
        // A long sum of fractions stays within f32 rounding of the f64 sum.
        let v: Vec<f32> = (0..10_000).map(|i| ((i * 7919) % 1000) as f32 / 997.0).collect();
        let exact: f64 = v.iter().map(|&x| x as f64).sum();
        assert!((super::sum(&v) as f64 - exact).abs() < exact * 1e-5);
    }

    #[test]
    fn fill_split_writes_every_value_once_in_whole_units() {
        for threads in [1, 2, 3] {
            crate::set_num_threads(threads);
            for (len, unit) in [(0, 7), (1, 1), (65_535, 784), (65_536, 1), (100_003, 7), (150_000, 784)] {
                let starts = std::sync::Mutex::new(Vec::new());
                let v = super::fill_split(len, unit, |start, dst| {
                    starts.lock().unwrap().push((start, dst.len()));
                    for (k, d) in dst.iter_mut().enumerate() {
                        d.write((start + k) as f32);
                    }
                });
                assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32), "{len} values, {threads} threads");
                let mut starts = starts.into_inner().unwrap();
                starts.sort();
                assert!(starts.iter().all(|&(s, _)| s % unit == 0), "parts start on whole units: {starts:?}");
                let covered: usize = starts.iter().map(|&(_, n)| n).sum();
                assert_eq!(covered, len, "parts cover the vector once: {starts:?}");
                let want_parts = match len {
                    0 => 0,
                    _ if len >= super::SPLIT_MIN_ELEMS => threads.min(len.div_ceil(unit)),
                    _ => 1,
                };
                assert_eq!(starts.len(), want_parts, "{len} values, {threads} threads: {starts:?}");
            }
        }
        crate::set_num_threads(0);
    }
}
