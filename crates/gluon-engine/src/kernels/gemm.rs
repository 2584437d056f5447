//! Matrix products on f32 slices: each a single-threaded kernel call on row or column blocks
//! spread over the engine's threads. (candle hands the whole product to gemm, which keeps a
//! 128x784x256 product on one core.) The kernels: private-gemm-x86's on x86-64 with AVX2 or
//! AVX-512 for blocks of [`PRIVATE_GEMM_MIN_ROWS`] rows or more, gemm's otherwise. gemm is built
//! with its `x86-v4` feature: on a CPU with AVX-512 it picks 512-bit kernels at run time (else its
//! AVX2/FMA ones); without it the engine's small products would run on 256-bit kernels on a CPU
//! whose libtorch uses 512-bit ones, and the comparison with torch would measure that instead.

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
        // The first piece always runs: with an empty inner dimension it writes the zeros (or
        // leaves what it adds onto).
        for (i, &(k0, k1)) in halves.iter().enumerate().filter(|&(i, (k0, k1))| i == 0 || k1 > k0) {
            let acc = accumulate || i > 0;
            // SAFETY: the pointers and strides describe rows r0..r1 and columns k0..k1 of op(a),
            // rows k0..k1 and columns c0..c1 of op(b) and that block of dst, all inside their
            // buffers.
            unsafe {
                kernel(
                    (r1 - r0, c1 - c0, k1 - k0),
                    (d.0.add(r0 * n + c0), n),
                    acc,
                    (a.v.as_ptr().add(r0 * a_rs + k0 * a_cs), a_rs, a_cs),
                    (b.v.as_ptr().add(k0 * b_rs + c0 * b_cs), b_rs, b_cs),
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

/// Products of at least this many rows (of dst) run on private-gemm-x86's kernels, smaller ones on
/// gemm's. Over the MLP's and LeNet's product shapes on one core, private-gemm-x86 was faster on
/// every one of 64 rows or more and slower on several of 6 to 32 rows (a convolution's per-sample
/// products), enough that a LeNet epoch with every product on it took longer (`mlcmp bench
/// --against` an older build measures either; results/README.md has the figures).
const PRIVATE_GEMM_MIN_ROWS: usize = 64;

/// `dst (+)= a . b` on this thread for an m x k `a` and a k x n `b` given as (pointer, row stride,
/// column stride), into a row-major m x n `dst` given as (pointer, row stride): private-gemm-x86's
/// kernels on x86-64 with AVX2 or AVX-512 for products of [`PRIVATE_GEMM_MIN_ROWS`] rows or more,
/// else gemm's.
///
/// # Safety
/// The pointers and strides must describe matrices of those sizes inside their buffers, and
/// `dst` must not overlap `a` or `b`.
unsafe fn kernel(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (*mut f32, usize),
    accumulate: bool,
    (a, a_rs, a_cs): (*const f32, usize, usize),
    (b, b_rs, b_cs): (*const f32, usize, usize),
) {
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                // SAFETY: row r of dst holds n values.
                unsafe { std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n).fill(0.0) };
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(instr) = X86_KERNELS.filter(|_| m >= PRIVATE_GEMM_MIN_ROWS) {
        use private_gemm_x86 as pg;
        let one = 1.0f32;
        let (dst_rs, a_rs, a_cs, b_rs, b_cs) =
            (dst_rs as isize, a_rs as isize, a_cs as isize, b_rs as isize, b_cs as isize);
        let beta = if accumulate { pg::Accum::Add } else { pg::Accum::Replace };
        let null = std::ptr::null();
        // SAFETY: as this function's contract; no index lists, no diagonal, one thread.
        unsafe {
            pg::gemm(
                pg::DType::F32,
                pg::IType::U64,
                instr,
                m,
                n,
                k,
                dst.cast(),
                dst_rs,
                1,
                null,
                null,
                pg::DstKind::Full,
                beta,
                a.cast(),
                a_rs,
                a_cs,
                false,
                null,
                0,
                b.cast(),
                b_rs,
                b_cs,
                false,
                (&raw const one).cast(),
                1,
            )
        };
        return;
    }
    // SAFETY: as this function's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
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
}

/// The instruction set of private-gemm-x86's kernels this CPU runs (None: it has neither).
#[cfg(target_arch = "x86_64")]
static X86_KERNELS: std::sync::LazyLock<Option<private_gemm_x86::InstrSet>> =
    std::sync::LazyLock::new(|| {
        // Its 512-bit kernels use the 256- and 128-bit forms of AVX-512 instructions too (VL).
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
            Some(private_gemm_x86::InstrSet::Avx512)
        } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            Some(private_gemm_x86::InstrSet::Avx256)
        } else {
            None
        }
    });

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
    /// for 1 to 4 threads, both orientations of both operands, written or added onto what `dst`
    /// holds, and with the inner dimension summed in two halves; an empty inner dimension gives
    /// zeros (or leaves `dst` as it was). 70 rows: whole or in column splits the product runs on
    /// private-gemm-x86's kernels (on x86-64 with AVX2), in row splits on gemm's.
    #[test]
    fn split_products_equal_the_definition() {
        let (m, k, n) = (70, 130, 100);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let start: Vec<f32> = (0..m * n).map(|i| (i % 7) as f32).collect();
        for (threads, ta, tb, acc, halves) in (1..=4).flat_map(|t| {
            [false, true].into_iter().flat_map(move |ta| {
                [false, true].into_iter().flat_map(move |tb| {
                    [false, true].into_iter().flat_map(move |acc| [false, true].map(|h| (t, ta, tb, acc, h)))
                })
            })
        }) {
            super::super::threads::set_num_threads(threads);
            set_split_sums(halves);
            // op(a) is m x k either way: stored (m, k), or (k, m) and transposed; op(b) k x n.
            let at = |i: usize, kk: usize| if ta { a[kk * m + i] } else { a[i * k + kk] };
            let bt = |kk: usize, j: usize| if tb { b[j * k + kk] } else { b[kk * n + j] };
            let mut got = start.clone();
            let (ma, mb) = (mat(&a, if ta { m } else { k }, ta), mat(&b, if tb { k } else { n }, tb));
            gemm_into(&mut got, ma, mb, acc).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let base = if acc { start[i * n + j] as f64 } else { 0.0 };
                    let want: f64 = base + (0..k).map(|kk| at(i, kk) as f64 * bt(kk, j) as f64).sum::<f64>();
                    let g = got[i * n + j] as f64;
                    assert!(
                        (g - want).abs() < 1e-4,
                        "threads {threads} ta {ta} tb {tb} acc {acc} halves {halves} ({i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
        set_split_sums(false);
        // op(a) m x 0 (stored (0, m), transposed) and op(b) 0 x n.
        for acc in [false, true] {
            let mut got = start.clone();
            gemm_into(&mut got, mat(&[], m, true), mat(&[], n, false), acc).unwrap();
            let want = if acc { start.clone() } else { vec![0.0; m * n] };
            assert!(
                got == want,
                "k = 0, acc {acc}: dst not {}",
                if acc { "left as it was" } else { "zeros" }
            );
        }
        super::super::threads::set_num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
}
