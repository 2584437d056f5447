//! Matrix products on f32 slices: gemm's kernel on row or column blocks spread over the engine's
//! threads. (candle hands the whole product to gemm, which keeps a 128x784x256 product on one core.)
//! gemm is built with its `x86-v4` feature: on a CPU with AVX-512 it picks 512-bit kernels at run
//! time (else its AVX2/FMA ones). Without it the engine's products run on 256-bit kernels on a
//! CPU whose libtorch uses 512-bit ones, and the comparison with torch measures that instead.

use super::storage::{tensor, with_f32};
use super::threads::{for_each_part, num_threads};
use crate::error::{bail, Result};
use candle_core::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether products sum their inner dimension in two halves (see [`set_split_sums`]).
static SPLIT_SUMS: AtomicBool = AtomicBool::new(false);

/// Sum every product's inner dimension in two halves, the second added onto the first: the same
/// maths with a different, equally valid f32 rounding in every product, as another BLAS would
/// round. mlcmp's parity floor runs the engine this way to see what rounding alone does to a run.
pub fn set_split_sums(on: bool) {
    SPLIT_SUMS.store(on, Ordering::Relaxed);
}

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
    unsafe { gemm_ptr(dst.as_mut_ptr(), a, b, accumulate, true) };
    Ok(())
}

/// [`gemm_into`] on this thread only: for kernels that already split their work across the
/// engine's threads (a convolution's samples) and run one product per sample.
pub(crate) fn gemm_into_here(dst: &mut [f32], a: Mat, b: Mat, accumulate: bool) -> Result<()> {
    let (m, n) = check(a, b)?;
    if dst.len() != m * n {
        bail!("matmul: a {m}x{n} product into {} values", dst.len());
    }
    // SAFETY: `dst` holds the m x n values the product writes.
    unsafe { gemm_ptr(dst.as_mut_ptr(), a, b, accumulate, false) };
    Ok(())
}

/// `op(a) . op(b)` as a new m x n vector (the product writes every value: no zero-filling first).
pub(crate) fn gemm_new(a: Mat, b: Mat) -> Result<Vec<f32>> {
    let (m, n) = check(a, b)?;
    let mut v = Vec::with_capacity(m * n);
    // SAFETY: with `accumulate` false the product writes all m x n values before they are read.
    unsafe {
        gemm_ptr(v.as_mut_ptr(), a, b, false, true);
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

/// The product into `dst` (m x n, row-major), split across threads when `split` and the product is
/// large enough: by columns when gemm would pack op(b), else by rows.
///
/// # Safety
/// `dst` must point to m x n writable f32 values.
unsafe fn gemm_ptr(dst: *mut f32, a: Mat, b: Mat, accumulate: bool, split: bool) {
    let ((m, k), (_, n)) = (a.shape(), b.shape());
    if m * n == 0 {
        return;
    }
    let ((a_rs, a_cs), (b_rs, b_cs)) = (a.strides(), b.strides());
    let dst = SendPtr(dst);
    // The inner dimension in one piece, or (with the split summation order) in two halves, the
    // second accumulated onto the first: another valid f32 rounding of every product.
    let halves = if SPLIT_SUMS.load(Ordering::Relaxed) && k >= 2 {
        [(0, k / 2), (k / 2, k)]
    } else {
        [(0, k), (k, k)]
    };
    // Rows r0..r1 and columns c0..c1 of dst.
    let block = |(r0, r1): (usize, usize), (c0, c1): (usize, usize)| {
        let d = &dst;
        for (i, &(k0, k1)) in halves.iter().enumerate().filter(|(_, (k0, k1))| k1 > k0) {
            let acc = accumulate || i > 0;
            // SAFETY: the pointers and strides describe rows r0..r1 and columns k0..k1 of op(a),
            // rows k0..k1 and columns c0..c1 of op(b) and that block of dst, all inside their
            // buffers.
            unsafe {
                gemm::gemm(
                    r1 - r0,
                    c1 - c0,
                    k1 - k0,
                    d.0.add(r0 * n + c0),
                    1,
                    n as isize,
                    acc,
                    a.v.as_ptr().add(r0 * a_rs + k0 * a_cs),
                    a_cs as isize,
                    a_rs as isize,
                    b.v.as_ptr().add(k0 * b_rs + c0 * b_cs),
                    b_cs as isize,
                    b_rs as isize,
                    if acc { 1.0 } else { 0.0 },
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        }
    };
    let threads = if !split || m * n * k < SPLIT_MIN_MACS { 1 } else { num_threads() };
    // gemm works on the transposed product when dst is row-major, and packs op(b) when its
    // columns are strided (x . W^T): a row split makes every thread pack all of it, a column
    // split only its share (faster at every batch and hidden size tried, in an in-process A/B
    // of x . W^T). The other products read op(b) in place and keep the row split.
    if threads > 1 && b_cs != 1 && n >= 2 * 16 {
        // Whole SIMD vectors per part, so gemm need not repack a part for a ragged edge.
        let cols = n.div_ceil(threads).next_multiple_of(16);
        for_each_part(n.div_ceil(cols), |c| block((0, m), (c * cols, ((c + 1) * cols).min(n))));
        return;
    }
    let threads = threads.min(m);
    let rows = m.div_ceil(threads);
    for_each_part(m.div_ceil(rows), |r| block((r * rows, ((r + 1) * rows).min(m)), (0, n)));
}

/// `op(a) . op(b)` for 2-d f32 tensors, `op` transposing when asked.
pub(crate) fn matmul(a: &Tensor, ta: bool, b: &Tensor, tb: bool) -> Result<Tensor> {
    let ((_, ac), (_, bc)) = (a.dims2()?, b.dims2()?);
    let m = if ta { ac } else { a.dims()[0] };
    let n = if tb { b.dims()[0] } else { bc };
    let dst = with_f32(a, |av| with_f32(b, |bv| gemm_new(mat(av, ac, ta), mat(bv, bc, tb))))???;
    tensor(dst, &[m, n])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every split (rows, or columns in whole vectors with a ragged last part) gives the product,
    /// for 1 to 4 threads and both orientations of the right operand.
    #[test]
    fn split_products_equal_the_definition() {
        let (m, k, n) = (70, 130, 100);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        for threads in 1..=4 {
            super::super::threads::set_num_threads(threads);
            for tb in [false, true] {
                // op(b) is k x n either way: stored (k, n), or (n, k) and transposed.
                let at = |kk: usize, j: usize| if tb { b[j * k + kk] } else { b[kk * n + j] };
                let got = gemm_new(mat(&a, k, false), mat(&b, if tb { k } else { n }, tb)).unwrap();
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k).map(|kk| a[i * k + kk] as f64 * at(kk, j) as f64).sum();
                        let g = got[i * n + j] as f64;
                        assert!(
                            (g - want).abs() < 1e-4,
                            "threads {threads} tb {tb} ({i}, {j}): {g} vs {want}"
                        );
                    }
                }
            }
        }
        super::super::threads::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
}
