//! 2-d convolution and pooling over NCHW batches on f32 slices: the one home of their arithmetic,
//! used by `nd::convolution` / `nd::pooling` (imperative) and by hybridize's plan.
//!
//! A convolution is one product per sample: the sample lowered to columns (im2col: a row per input
//! channel and kernel offset, a column per output position), then filters (out x in*kh*kw) times
//! columns, accumulated on top of the bias rows, with the activation applied in place. The backward
//! is the same product transposed both ways: dW^T += cols . dz^T (in that orientation gemm packs
//! the small dz, not the lowered columns), and dcols = W^T . dz summed back onto the input
//! (col2im). Samples are split across the engine's threads, each with its own column buffer, so
//! every product runs on one core and no thread waits on another inside a batch.
//!
//! With stride 1 the columns follow the padded input's own grid instead ([`Lowering::Grid`]): each
//! lowered row is then one contiguous run of the padded plane, one copy where im2col makes one per
//! output row, at the price of `kw - 1` discarded columns per output row.

use super::dense::{activate, activate_backward, Act};
use super::elementwise::sum;
use super::gemm::{gemm_into_here, mat};
use super::simd::widest;
use super::threads::{for_each_part, num_threads};
use crate::error::{bail, Result};
use std::sync::Mutex;

/// Work below this many multiply-adds stays on one thread.
const SPLIT_MIN_MACS: usize = 1 << 18;

/// A sliding window over the last two axes: kernel, stride and zero padding, each (rows, cols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub pad: (usize, usize),
}

impl Window {
    /// The output's (rows, cols) for an `h x w` input (floor, MXNet's 'valid' convention), or
    /// why there is none.
    pub fn out(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let ((kh, kw), (sh, sw), (ph, pw)) = (self.kernel, self.stride, self.pad);
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            bail!("kernel {:?} and stride {:?} must be at least 1", self.kernel, self.stride);
        }
        if kh > h + 2 * ph || kw > w + 2 * pw {
            bail!(
                "kernel {kh}x{kw} is larger than the {h}x{w} input with padding {ph}x{pw}; use a smaller kernel or more padding"
            );
        }
        Ok(((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1))
    }

    /// For kernel offset `k` along an axis of length `len`: the output positions `lo..hi` whose
    /// input position `o * stride + k - pad` is inside the input.
    fn valid(k: usize, stride: usize, pad: usize, len: usize, outs: usize) -> (usize, usize) {
        let lo = if k >= pad { 0 } else { (pad - k).div_ceil(stride) };
        let hi = if len + pad > k { (len + pad - k).div_ceil(stride).min(outs) } else { 0 };
        (lo.min(hi), hi)
    }
}

/// One convolution applied to a batch: `n` samples of `c` channels `h x w`, `o` filters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub win: Window,
    pub act: Option<Act>,
}

/// What the backward is asked for, and what it gives: the dense layer's (dx, dw, db).
pub(crate) use super::dense::DenseGrads as ConvGrads;

/// Disjoint per-part mutable slices of `v`, `part` values each.
fn parts_of(v: &mut [f32], part: usize) -> Vec<Mutex<&mut [f32]>> {
    v.chunks_mut(part.max(1)).map(Mutex::new).collect()
}

/// How one sample becomes the columns of its product.
#[derive(Debug, Clone, Copy)]
enum Lowering {
    /// A column per output position (any stride): one copy per tap and output row.
    Positions,
    /// Stride 1: a column per position `p = oi * wp + oj` of the padded `hp x wp` grid, up to the
    /// last output (`len` columns). Output (oi, oj) reads padded pixel (oi + ki, oj + kj), so the
    /// row of tap (ci, ki, kj) is the padded plane from `ki * wp + kj` on, one contiguous run. The
    /// columns with `oj >= wo` are computed and dropped; their gradient is zero. Rows are `cols`
    /// long, `len` rounded up to whole SIMD vectors (zeros after `len`): gemm then reads the
    /// columns where they are instead of packing them again.
    Grid { hp: usize, wp: usize, len: usize, cols: usize },
}

/// One thread's buffers for lowering its samples, allocated once per call.
struct Scratch {
    /// The lowered sample (taps, columns), or its gradient.
    col: Vec<f32>,
    /// The padded sample (grid lowering with padding); only its interior is ever written.
    padded: Vec<f32>,
    /// The padded input gradient (grid lowering with padding).
    dpadded: Vec<f32>,
}

impl Conv {
    /// Output rows and cols.
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        self.win.out(self.h, self.w)
    }

    /// Rows of the lowered input: in-channels times kernel positions.
    fn taps(&self) -> usize {
        self.c * self.win.kernel.0 * self.win.kernel.1
    }

    /// How many parts to split the samples into, and samples per part.
    fn split(&self, positions: usize) -> (usize, usize) {
        let macs = self.n * self.o * positions * self.taps();
        let parts = if macs < SPLIT_MIN_MACS { 1 } else { num_threads().min(self.n).max(1) };
        let per = self.n.div_ceil(parts).max(1);
        (self.n.div_ceil(per), per)
    }

    fn lowering(&self, (ho, wo): (usize, usize)) -> Lowering {
        if self.win.stride != (1, 1) {
            return Lowering::Positions;
        }
        let (hp, wp) = (self.h + 2 * self.win.pad.0, self.w + 2 * self.win.pad.1);
        let len = (ho - 1) * wp + wo;
        Lowering::Grid { hp, wp, len, cols: len.next_multiple_of(16) }
    }

    /// Columns of one sample's product.
    fn columns(&self, l: Lowering, (ho, wo): (usize, usize)) -> usize {
        match l {
            Lowering::Positions => ho * wo,
            Lowering::Grid { cols, .. } => cols,
        }
    }

    fn scratch(&self, l: Lowering, hw: (usize, usize)) -> Scratch {
        let padded = match l {
            Lowering::Grid { hp, wp, .. } if self.win.pad != (0, 0) => self.c * hp * wp,
            _ => 0,
        };
        Scratch {
            col: vec![0.0; self.taps() * self.columns(l, hw)],
            padded: vec![0.0; padded],
            dpadded: vec![0.0; padded],
        }
    }

    /// A buffer for the product on the grid's columns (o, len), or for the output gradient spread
    /// onto them (its dropped columns stay zero); empty for the other lowering.
    fn grid_buffer(&self, l: Lowering) -> Vec<f32> {
        match l {
            Lowering::Grid { cols, .. } => vec![0.0; self.o * cols],
            Lowering::Positions => vec![],
        }
    }

    /// Per channel plane of the unpooled output that a pooled forward keeps for its backward:
    /// its length and the distance between its rows. With the grid lowering that is the product's
    /// own grid (`cols` long, rows `wp` apart, the dropped columns left in), so no pass compacts
    /// it and the backward's passes over it run along whole planes, not rows of `wo`.
    fn kept_plane(&self, l: Lowering, (ho, wo): (usize, usize)) -> (usize, usize) {
        match l {
            Lowering::Grid { wp, cols, .. } => (cols, wp),
            Lowering::Positions => (ho * wo, wo),
        }
    }

    /// One sample's `y = act(w . cols + b)` from its lowered columns `col`: (o, ho * wo), or with
    /// `keep_grid` the grid's planes of [`Conv::kept_plane`].
    fn product(
        &self,
        y: &mut [f32],
        w: &[f32],
        b: Option<&[f32]>,
        col: &[f32],
        grid: &mut [f32],
        keep_grid: bool,
    ) -> Result<()> {
        let (ho, wo) = self.out_hw()?;
        let taps = self.taps();
        let lowering = self.lowering((ho, wo));
        match lowering {
            Lowering::Grid { wp, cols, .. } if !keep_grid => {
                gemm_into_here(grid, mat(w, taps, false), mat(col, cols, false), false)?;
                // Each grid row's first wo columns are an output row.
                for (oc, (zs, ys)) in grid.chunks(cols).zip(y.chunks_mut(ho * wo)).enumerate() {
                    let bv = b.map_or(0.0, |b| b[oc]);
                    for (zr, yr) in zs.chunks(wp).zip(ys.chunks_mut(wo)) {
                        yr.iter_mut().zip(zr).for_each(|(y, &z)| *y = z + bv);
                    }
                }
            }
            _ => {
                // The product accumulates on top of the bias rows.
                let plane = self.kept_plane(lowering, (ho, wo)).0;
                if let Some(b) = b {
                    y.chunks_mut(plane).zip(b).for_each(|(row, &bv)| row.fill(bv));
                }
                gemm_into_here(y, mat(w, taps, false), mat(col, plane, false), b.is_some())?;
            }
        }
        if let Some(a) = self.act {
            activate(a, y);
        }
        Ok(())
    }

    /// One sample `x` (c, h, w) lowered into `sc.col` (taps, columns).
    fn lower(&self, x: &[f32], sc: &mut Scratch, l: Lowering, hw: (usize, usize)) {
        let Lowering::Grid { hp, wp, len, cols } = l else {
            return self.im2col(x, &mut sc.col, hw);
        };
        let (ph, pw) = self.win.pad;
        let src = if (ph, pw) == (0, 0) {
            x
        } else {
            let (planes, rows) = (sc.padded.chunks_mut(hp * wp), x.chunks(self.h * self.w));
            for (plane, xs) in planes.zip(rows) {
                for (dst, row) in plane[ph * wp..].chunks_mut(wp).zip(xs.chunks(self.w)) {
                    dst[pw..pw + self.w].copy_from_slice(row);
                }
            }
            &sc.padded
        };
        let (kh, kw) = self.win.kernel;
        let mut rows = sc.col.chunks_mut(cols);
        for plane in src.chunks(hp * wp) {
            for ki in 0..kh {
                for kj in 0..kw {
                    let row = rows.next().expect("taps rows");
                    row[..len].copy_from_slice(&plane[ki * wp + kj..][..len]);
                    row[len..].fill(0.0);
                }
            }
        }
    }

    /// The columns' gradient `sc.col` summed back onto one sample's gradient `dx` (c, h, w),
    /// which starts at zero.
    fn unlower(&self, dx: &mut [f32], sc: &mut Scratch, l: Lowering, hw: (usize, usize)) {
        let Lowering::Grid { hp, wp, len, cols } = l else {
            return self.col2im(&sc.col, dx, hw);
        };
        let (ph, pw) = self.win.pad;
        let padded = (ph, pw) != (0, 0);
        let dst: &mut [f32] = if padded {
            sc.dpadded.fill(0.0);
            &mut sc.dpadded
        } else {
            dx
        };
        let (kh, kw) = self.win.kernel;
        let mut rows = sc.col.chunks(cols);
        for plane in dst.chunks_mut(hp * wp) {
            for ki in 0..kh {
                for kj in 0..kw {
                    let row = rows.next().expect("taps rows");
                    let dst = &mut plane[ki * wp + kj..][..len];
                    widest(
                        #[inline(always)]
                        || dst.iter_mut().zip(&row[..len]).for_each(|(d, &g)| *d += g),
                    );
                }
            }
        }
        if padded {
            for (plane, dxs) in sc.dpadded.chunks(hp * wp).zip(dx.chunks_mut(self.h * self.w)) {
                for (src, row) in plane[ph * wp..].chunks(wp).zip(dxs.chunks_mut(self.w)) {
                    row.copy_from_slice(&src[pw..pw + self.w]);
                }
            }
        }
    }

    /// One sample's output gradient `dz` on the grid's columns (`grid`, o rows of `cols`), one
    /// channel plane at a time while it is in cache: taken back through the pooling (`pool`, with
    /// its output size) when there is one, times the activation's derivative at `y`, each
    /// channel's sum added to `db` (empty when not asked for). The dropped columns are never
    /// written and stay zero.
    ///
    /// With a pooling, `y` is the forward's kept grid ([`Conv::kept_plane`]): the derivative and
    /// the sum then run along the whole plane, the dropped columns included (zero gradient times
    /// a finite derivative), instead of along rows of `wo`.
    fn grid_gradient(
        &self,
        grid: &mut [f32],
        dz: &[f32],
        y: &[f32],
        pool: Option<(&Pool, (usize, usize))>,
        (ho, wo): (usize, usize),
        db: &mut [f32],
    ) {
        let Lowering::Grid { wp, len, cols, .. } = self.lowering((ho, wo)) else {
            unreachable!("grid_gradient is only called for the grid lowering")
        };
        let (dz_plane, y_plane) = pool.map_or((ho * wo, ho * wo), |(_, (hq, wq))| (hq * wq, cols));
        for (oc, (plane, (dz, y))) in
            grid.chunks_mut(cols).zip(dz.chunks(dz_plane).zip(y.chunks(y_plane))).enumerate()
        {
            let plane = &mut plane[..len];
            match pool {
                Some((pool, hq)) => {
                    if !pool.writes_every_gradient(hq) {
                        plane.fill(0.0);
                    }
                    pool.backward_plane(y, dz, plane, wp, hq);
                    if let Some(a) = self.act {
                        activate_backward(a, plane, &y[..len]);
                    }
                }
                None => {
                    let rows = plane.chunks_mut(wp).zip(dz.chunks(wo).zip(y.chunks(wo)));
                    for (r, (d, y)) in rows {
                        r[..wo].copy_from_slice(d);
                        if let Some(a) = self.act {
                            activate_backward(a, &mut r[..wo], y);
                        }
                    }
                }
            }
            if let Some(d) = db.get_mut(oc) {
                *d += sum(plane);
            }
        }
    }

    /// One sample `x` (c, h, w) as columns `col` (taps, ho * wo).
    fn im2col(&self, x: &[f32], col: &mut [f32], (ho, wo): (usize, usize)) {
        let Window { kernel: (kh, kw), stride: (sh, sw), pad: (ph, pw) } = self.win;
        let (h, w) = (self.h, self.w);
        let mut rows = col.chunks_mut(ho * wo);
        for ci in 0..self.c {
            let plane = &x[ci * h * w..(ci + 1) * h * w];
            for ki in 0..kh {
                let (i0, i1) = Window::valid(ki, sh, ph, h, ho);
                for kj in 0..kw {
                    let (j0, j1) = Window::valid(kj, sw, pw, w, wo);
                    let row = rows.next().expect("taps rows");
                    for (oi, out) in row.chunks_mut(wo).enumerate() {
                        if oi < i0 || oi >= i1 {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[(oi * sh + ki - ph) * w..][..w];
                        out[..j0].fill(0.0);
                        out[j1..].fill(0.0);
                        if sw == 1 {
                            let s = j0 + kj - pw;
                            out[j0..j1].copy_from_slice(&src[s..s + (j1 - j0)]);
                        } else {
                            for (oj, o) in out.iter_mut().enumerate().take(j1).skip(j0) {
                                *o = src[oj * sw + kj - pw];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Columns `col` (taps, ho * wo) summed back onto one sample's gradient `dx` (c, h, w).
    fn col2im(&self, col: &[f32], dx: &mut [f32], (ho, wo): (usize, usize)) {
        let Window { kernel: (kh, kw), stride: (sh, sw), pad: (ph, pw) } = self.win;
        let (h, w) = (self.h, self.w);
        let mut rows = col.chunks(ho * wo);
        for ci in 0..self.c {
            let plane = &mut dx[ci * h * w..(ci + 1) * h * w];
            for ki in 0..kh {
                let (i0, i1) = Window::valid(ki, sh, ph, h, ho);
                for kj in 0..kw {
                    let (j0, j1) = Window::valid(kj, sw, pw, w, wo);
                    let row = rows.next().expect("taps rows");
                    for oi in i0..i1 {
                        let dst = &mut plane[(oi * sh + ki - ph) * w..][..w];
                        let src = &row[oi * wo..(oi + 1) * wo];
                        if sw == 1 {
                            let s = j0 + kj - pw;
                            dst[s..s + (j1 - j0)].iter_mut().zip(&src[j0..j1]).for_each(|(d, &g)| *d += g);
                        } else {
                            for oj in j0..j1 {
                                dst[oj * sw + kj - pw] += src[oj];
                            }
                        }
                    }
                }
            }
        }
    }

    /// `out = act(conv(x, w) + b)` for x (n, c, h, w), w (o, c, kh, kw), b (o), into `out`
    /// (n, o, ho, wo; its buffer reused).
    pub(crate) fn forward(&self, out: &mut Vec<f32>, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Result<()> {
        self.forward_pooled(out, x, w, b, None)
    }

    /// [`Conv::forward`], and with `pool` (a pooling of this output's planes, and its buffer) each
    /// sample's output pooled right after it is computed, while it is in cache (hybridize's fused
    /// step); `out` keeps the unpooled output for the backward, in planes of [`Conv::kept_plane`].
    pub(crate) fn forward_pooled(
        &self,
        out: &mut Vec<f32>,
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        pool: Option<(&Pool, &mut Vec<f32>)>,
    ) -> Result<()> {
        let (ho, wo) = self.out_hw()?;
        let (positions, o, lowering) = (ho * wo, self.o, self.lowering((ho, wo)));
        self.check(x.len(), w.len(), b.map(<[f32]>::len))?;
        let keep_grid = pool.is_some() && matches!(lowering, Lowering::Grid { .. });
        let (plane, stride) =
            if pool.is_some() { self.kept_plane(lowering, (ho, wo)) } else { (positions, wo) };
        // Every value is written below (the bias rows, or the product over them), so a buffer of
        // the right size (hybridize's, reused) is not cleared first.
        if out.len() != self.n * o * plane {
            *out = vec![0.0; self.n * o * plane];
        }
        let (parts, per) = self.split(positions);
        let outs = parts_of(out, per * o * plane);
        let (pool, pooled_hw, pooled) = match pool {
            Some((p, buf)) => {
                let (hp, wp) = p.out_hw()?;
                // Every pooled value is written below: a reused buffer is not cleared first.
                if buf.len() != self.n * o * hp * wp {
                    *buf = vec![0.0; self.n * o * hp * wp];
                }
                (Some(p), (hp, wp), parts_of(buf, per * o * hp * wp))
            }
            None => (None, (0, 0), vec![]),
        };
        let in_len = self.c * self.h * self.w;
        let failed = Mutex::new(None);
        for_each_part(parts, |p| {
            let mut dst = outs[p].lock().unwrap_or_else(|e| e.into_inner());
            let mut pooled = pooled.get(p).map(|m| m.lock().unwrap_or_else(|e| e.into_inner()));
            let mut sc = self.scratch(lowering, (ho, wo));
            let mut grid = if keep_grid { vec![] } else { self.grid_buffer(lowering) };
            for (s, y) in dst.chunks_mut(o * plane).enumerate() {
                let sample = p * per + s;
                self.lower(&x[sample * in_len..(sample + 1) * in_len], &mut sc, lowering, (ho, wo));
                if let Err(e) = self.product(y, w, b, &sc.col, &mut grid, keep_grid) {
                    *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    return;
                }
                if let (Some(pool), Some(pooled)) = (pool, pooled.as_deref_mut()) {
                    let q = pooled_hw.0 * pooled_hw.1;
                    let mine = &mut pooled[s * o * q..(s + 1) * o * q];
                    for (yc, yp) in y.chunks(plane).zip(mine.chunks_mut(q)) {
                        pool.forward_plane(yc, yp, stride, pooled_hw);
                    }
                }
            }
        });
        match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn check(&self, x: usize, w: usize, b: Option<usize>) -> Result<()> {
        if x != self.n * self.c * self.h * self.w
            || w != self.o * self.taps()
            || b.is_some_and(|b| b != self.o)
        {
            bail!("internal: convolution buffers do not match {self:?}");
        }
        Ok(())
    }

    /// From the output gradient `dz` (overwritten with the pre-activation gradient) and the
    /// forward's output `y`: the gradients asked for by `(dx, dw, db)`.
    pub(crate) fn backward(
        &self,
        dz: &mut [f32],
        y: &[f32],
        x: &[f32],
        w: &[f32],
        need: (bool, bool, bool),
    ) -> Result<ConvGrads> {
        self.backward_pooled(dz, y, x, w, need, None)
    }

    /// [`Conv::backward`]; with `pool`, `dz` is the gradient of the pooled output (the fused step of
    /// [`Conv::forward_pooled`]) and each sample's is taken back through the pooling first.
    pub(crate) fn backward_pooled(
        &self,
        dz: &mut [f32],
        y: &[f32],
        x: &[f32],
        w: &[f32],
        need: (bool, bool, bool),
        pool: Option<&Pool>,
    ) -> Result<ConvGrads> {
        let (ho, wo) = self.out_hw()?;
        let (positions, taps, o, lowering) = (ho * wo, self.taps(), self.o, self.lowering((ho, wo)));
        self.check(x.len(), w.len(), None)?;
        let pooled_hw = match pool {
            Some(p) => p.out_hw()?,
            None => (ho, wo),
        };
        let chunk = o * pooled_hw.0 * pooled_hw.1;
        // The forward's output, as [`Conv::forward_pooled`] keeps it.
        let plane = if pool.is_some() { self.kept_plane(lowering, (ho, wo)).0 } else { positions };
        if dz.len() != self.n * chunk || y.len() != self.n * o * plane {
            bail!("internal: convolution gradient of {} values for {self:?}", dz.len());
        }
        let in_len = self.c * self.h * self.w;
        let mut dx = if need.0 { vec![0f32; self.n * in_len] } else { vec![] };
        let (parts, per) = self.split(positions);
        let dzs = parts_of(dz, per * chunk);
        let dxs = parts_of(&mut dx, per * in_len);
        // Each part sums its own dW^T (taps, o) and db; the parts are added in order afterwards.
        let sums: Vec<Mutex<(Vec<f32>, Vec<f32>)>> = (0..parts)
            .map(|_| {
                let dw = if need.1 { vec![0f32; o * taps] } else { vec![] };
                Mutex::new((dw, vec![0f32; if need.2 { o } else { 0 }]))
            })
            .collect();
        let failed = Mutex::new(None);
        for_each_part(parts, |p| {
            let mut dz = dzs[p].lock().unwrap_or_else(|e| e.into_inner());
            let mut dx = dxs.get(p).map(|m| m.lock().unwrap_or_else(|e| e.into_inner()));
            let mut part = sums[p].lock().unwrap_or_else(|e| e.into_inner());
            let (dw, db) = &mut *part;
            let (mut sc, mut grid) = (self.scratch(lowering, (ho, wo)), self.grid_buffer(lowering));
            let unpooled_len = match lowering {
                Lowering::Positions if pool.is_some() => o * positions,
                _ => 0,
            };
            let mut unpooled = vec![0f32; unpooled_len];
            for s in 0..dz.len() / chunk {
                let sample = p * per + s;
                let ys = &y[sample * o * plane..][..o * plane];
                let dz = &mut dz[s * chunk..(s + 1) * chunk];
                // The output gradient on the product's columns, db summed on the way.
                let (g, cols): (&[f32], usize) = match lowering {
                    Lowering::Grid { cols, .. } => {
                        self.grid_gradient(&mut grid, dz, ys, pool.map(|p| (p, pooled_hw)), (ho, wo), db);
                        (&grid, cols)
                    }
                    Lowering::Positions => {
                        let g: &mut [f32] = match pool {
                            Some(pool) => {
                                unpooled.fill(0.0);
                                let planes = unpooled.chunks_mut(positions).zip(ys.chunks(positions));
                                for ((d, yp), gp) in planes.zip(dz.chunks(pooled_hw.0 * pooled_hw.1)) {
                                    pool.backward_plane(yp, gp, d, wo, pooled_hw);
                                }
                                &mut unpooled
                            }
                            None => dz,
                        };
                        if let Some(a) = self.act {
                            activate_backward(a, g, ys);
                        }
                        db.iter_mut().zip(g.chunks(positions)).for_each(|(d, row)| *d += sum(row));
                        (g, positions)
                    }
                };
                let done = (|| {
                    if need.1 {
                        self.lower(&x[sample * in_len..(sample + 1) * in_len], &mut sc, lowering, (ho, wo));
                        // dW^T += cols . g^T, not dW += g . cols^T: gemm packs its left operand
                        // when that is not column-major, and here that is g (o x cols), where
                        // dW's orientation made it repack every sample's lowered columns, several
                        // times larger.
                        gemm_into_here(dw, mat(&sc.col, cols, false), mat(g, cols, true), true)?;
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        gemm_into_here(&mut sc.col, mat(w, taps, true), mat(g, cols, false), false)?;
                        self.unlower(&mut dx[s * in_len..(s + 1) * in_len], &mut sc, lowering, (ho, wo));
                    }
                    Ok(())
                })();
                if let Err(e) = done {
                    *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    return;
                }
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        drop(dxs);
        let mut sums = sums.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()));
        let (mut dwt, mut db) = sums.next().expect("one part");
        for (pw, pb) in sums {
            dwt.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        let mut dw = vec![0f32; dwt.len()];
        for (t, row) in dwt.chunks(o).enumerate() {
            row.iter().enumerate().for_each(|(oc, &v)| dw[oc * taps + t] = v);
        }
        Ok(ConvGrads { dx: need.0.then_some(dx), dw: need.1.then_some(dw), db: need.2.then_some(db) })
    }
}

/// One output row of a 2x2 average: `out[j]` from columns 2j and 2j + 1 of rows `r0` and `r1`,
/// summed in window order. Indexed, not in chunks of two, so the compiler turns the stride-2
/// loads into vector shuffles (chunks compiled to scalar code).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn avg2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32], area: f32) {
    let n = out.len().min(r0.len() / 2).min(r1.len() / 2);
    let (r0, r1, out) = (&r0[..2 * n], &r1[..2 * n], &mut out[..n]);
    for j in 0..n {
        out[j] = (((r0[2 * j] + r0[2 * j + 1]) + r1[2 * j]) + r1[2 * j + 1]) / area;
    }
}

/// The backward of [`avg2x2_row`]: each gradient of `g`, over the area, to its four inputs.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn avg2x2_row_backward(g: &[f32], r0: &mut [f32], r1: &mut [f32], area: f32) {
    let n = g.len().min(r0.len() / 2).min(r1.len() / 2);
    let (g, r0, r1) = (&g[..n], &mut r0[..2 * n], &mut r1[..2 * n]);
    for j in 0..n {
        let v = g[j] / area;
        (r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]) = (v, v, v, v);
    }
}

/// How a pooling window reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// The mean over the whole window, padding included (MXNet's and PyTorch's default).
    Avg,
}

/// One pooling applied to a batch: `planes` (samples x channels) of `h x w`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub win: Window,
    pub kind: PoolKind,
}

impl Pool {
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        self.win.out(self.h, self.w)
    }

    fn parts(&self, values: usize) -> (usize, usize) {
        let parts = if values < SPLIT_MIN_MACS { 1 } else { num_threads().min(self.planes).max(1) };
        let per = self.planes.div_ceil(parts).max(1);
        (self.planes.div_ceil(per), per)
    }

    /// Whether the windows tile the input: stride equal to the kernel, no padding (LeNet's 2x2 /
    /// 2 pooling). Then each output row reads its own `kh` input rows, and the loops below run
    /// without per-window bounds.
    fn tiles(&self) -> bool {
        self.win.stride == self.win.kernel && self.win.pad == (0, 0)
    }

    /// A tiled plane's forward (input rows `stride` apart): each output row from its `kh` input rows.
    #[inline(always)]
    fn forward_tiles(&self, plane: &[f32], y: &mut [f32], stride: usize, (ho, wo): (usize, usize)) {
        let (kh, kw) = self.win.kernel;
        let area = (kh * kw) as f32;
        for (oi, out) in y.chunks_mut(wo).enumerate().take(ho) {
            let rows = &plane[oi * kh * stride..];
            if (kh, kw, self.kind) == (2, 2, PoolKind::Avg) {
                // The common 2x2 average, without the generic loops: a sum in window order.
                avg2x2_row(&rows[..self.w], &rows[stride..stride + self.w], out, area);
                continue;
            }
            match self.kind {
                PoolKind::Avg => {
                    out.fill(0.0);
                    for row in rows.chunks(stride).take(kh) {
                        for (o, win) in out.iter_mut().zip(row[..self.w].chunks(kw)) {
                            *o += win.iter().sum::<f32>();
                        }
                    }
                    out.iter_mut().for_each(|o| *o /= area);
                }
                PoolKind::Max => {
                    for (oj, o) in out.iter_mut().enumerate() {
                        *o = plane[self.argmax(plane, stride, oi, oj)];
                    }
                }
            }
        }
    }

    /// A tiled plane's backward into `d` (zeroed; rows `stride` apart, as in `x`).
    #[inline(always)]
    fn backward_tiles(&self, x: &[f32], g: &[f32], d: &mut [f32], stride: usize, (ho, wo): (usize, usize)) {
        let (kh, kw) = self.win.kernel;
        let area = (kh * kw) as f32;
        for (oi, gr) in g.chunks(wo).enumerate().take(ho) {
            if (kh, kw, self.kind) == (2, 2, PoolKind::Avg) {
                // The common 2x2 average: each gradient to its four inputs, without the generic loops.
                let rows = &mut d[oi * 2 * stride..];
                let (r0, r1) = rows.split_at_mut(stride);
                avg2x2_row_backward(gr, &mut r0[..self.w], &mut r1[..self.w], area);
                continue;
            }
            match self.kind {
                PoolKind::Avg => {
                    for r in oi * kh..oi * kh + kh {
                        for (win, &gv) in d[r * stride..][..self.w].chunks_mut(kw).zip(gr) {
                            win.fill(gv / area);
                        }
                    }
                }
                PoolKind::Max => {
                    for (oj, &gv) in gr.iter().enumerate() {
                        d[self.argmax(x, stride, oi, oj)] += gv;
                    }
                }
            }
        }
    }

    /// For output (oi, oj): the window's input rows and cols inside the input.
    fn span(&self, oi: usize, oj: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let Window { kernel: (kh, kw), stride: (sh, sw), pad: (ph, pw) } = self.win;
        let (i0, j0) = (oi * sh, oj * sw);
        (i0.max(ph) - ph..(i0 + kh).min(self.h + ph) - ph, j0.max(pw) - pw..(j0 + kw).min(self.w + pw) - pw)
    }

    /// Where a window's maximum is in `plane` (rows `stride` apart): the first one on ties, as
    /// PyTorch and MXNet pick.
    fn argmax(&self, plane: &[f32], stride: usize, oi: usize, oj: usize) -> usize {
        let (rows, cols) = self.span(oi, oj);
        let mut best = (f32::NEG_INFINITY, rows.start * stride + cols.start);
        for i in rows {
            for j in cols.clone() {
                let v = plane[i * stride + j];
                if v > best.0 || v.is_nan() {
                    best = (v, i * stride + j);
                    if v.is_nan() {
                        return best.1;
                    }
                }
            }
        }
        best.1
    }

    /// One plane's windows: `y` (ho, wo) from `plane` (h rows of w, `stride` apart).
    fn forward_plane(&self, plane: &[f32], y: &mut [f32], stride: usize, (ho, wo): (usize, usize)) {
        if self.tiles() {
            return widest(
                #[inline(always)]
                || self.forward_tiles(plane, y, stride, (ho, wo)),
            );
        }
        let area = (self.win.kernel.0 * self.win.kernel.1) as f32;
        for oi in 0..ho {
            for oj in 0..wo {
                y[oi * wo + oj] = match self.kind {
                    PoolKind::Max => plane[self.argmax(plane, stride, oi, oj)],
                    PoolKind::Avg => {
                        let (rows, cols) = self.span(oi, oj);
                        let s: f32 =
                            rows.map(|i| plane[i * stride..][cols.clone()].iter().sum::<f32>()).sum();
                        s / area
                    }
                };
            }
        }
    }

    /// Whether the backward writes every input gradient (average windows that tile the whole
    /// input), so its target needs no zeroing first.
    fn writes_every_gradient(&self, (ho, wo): (usize, usize)) -> bool {
        let (kh, kw) = self.win.kernel;
        self.tiles() && self.kind == PoolKind::Avg && ho * kh == self.h && wo * kw == self.w
    }

    /// One plane's input gradient `d` (zeroed unless [`Pool::writes_every_gradient`]) from its
    /// output gradient `g` and input `x`, both h rows of w, `stride` apart.
    fn backward_plane(&self, x: &[f32], g: &[f32], d: &mut [f32], stride: usize, (ho, wo): (usize, usize)) {
        if self.tiles() {
            return widest(
                #[inline(always)]
                || self.backward_tiles(x, g, d, stride, (ho, wo)),
            );
        }
        let area = (self.win.kernel.0 * self.win.kernel.1) as f32;
        for oi in 0..ho {
            for oj in 0..wo {
                let gv = g[oi * wo + oj];
                match self.kind {
                    PoolKind::Max => d[self.argmax(x, stride, oi, oj)] += gv,
                    PoolKind::Avg => {
                        let (rows, cols) = self.span(oi, oj);
                        for i in rows {
                            d[i * stride..][cols.clone()].iter_mut().for_each(|v| *v += gv / area);
                        }
                    }
                }
            }
        }
    }

    /// `out` (planes, ho, wo) from `x` (planes, h, w); its buffer reused.
    pub(crate) fn forward(&self, out: &mut Vec<f32>, x: &[f32]) -> Result<()> {
        let (ho, wo) = self.out_hw()?;
        if x.len() != self.planes * self.h * self.w {
            bail!("internal: pooling input of {} values for {self:?}", x.len());
        }
        out.clear();
        out.resize(self.planes * ho * wo, 0.0);
        let (parts, per) = self.parts(x.len());
        let outs = parts_of(out, per * ho * wo);
        for_each_part(parts, |p| {
            let mut dst = outs[p].lock().unwrap_or_else(|e| e.into_inner());
            for (q, y) in dst.chunks_mut(ho * wo).enumerate() {
                let plane = &x[(p * per + q) * self.h * self.w..][..self.h * self.w];
                self.forward_plane(plane, y, self.w, (ho, wo));
            }
        });
        Ok(())
    }

    /// The input's gradient from the output gradient `dz` (and the input `x`, for max pooling).
    pub(crate) fn backward(&self, dz: &[f32], x: &[f32]) -> Result<Vec<f32>> {
        let (ho, wo) = self.out_hw()?;
        if dz.len() != self.planes * ho * wo || x.len() != self.planes * self.h * self.w {
            bail!("internal: pooling gradient of {} values for {self:?}", dz.len());
        }
        let mut dx = vec![0f32; x.len()];
        let (parts, per) = self.parts(x.len());
        let dxs = parts_of(&mut dx, per * self.h * self.w);
        for_each_part(parts, |p| {
            let mut dst = dxs[p].lock().unwrap_or_else(|e| e.into_inner());
            for (q, d) in dst.chunks_mut(self.h * self.w).enumerate() {
                let plane = p * per + q;
                let (x, g) =
                    (&x[plane * self.h * self.w..][..self.h * self.w], &dz[plane * ho * wo..][..ho * wo]);
                self.backward_plane(x, g, d, self.w, (ho, wo));
            }
        });
        drop(dxs);
        Ok(dx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, the definition, for one configuration.
    fn direct(c: &Conv, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let (ho, wo) = c.out_hw().unwrap();
        let Window { kernel: (kh, kw), stride: (sh, sw), pad: (ph, pw) } = c.win;
        let mut out = vec![0f32; c.n * c.o * ho * wo];
        for n in 0..c.n {
            for o in 0..c.o {
                for oi in 0..ho {
                    for oj in 0..wo {
                        let mut s = b[o] as f64;
                        for ci in 0..c.c {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let (i, j) = (
                                        (oi * sh + ki) as isize - ph as isize,
                                        (oj * sw + kj) as isize - pw as isize,
                                    );
                                    if i >= 0 && j >= 0 && (i as usize) < c.h && (j as usize) < c.w {
                                        let xv = x[((n * c.c + ci) * c.h + i as usize) * c.w + j as usize];
                                        s += xv as f64 * w[((o * c.c + ci) * kh + ki) * kw + kj] as f64;
                                    }
                                }
                            }
                        }
                        out[((n * c.o + o) * ho + oi) * wo + oj] = s as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn lowered_product_equals_the_definition() {
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len).map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0) - 1.0).collect()
        };
        for (kernel, stride, pad) in [
            ((3, 3), (1, 1), (1, 1)),
            ((5, 5), (1, 1), (2, 2)),
            ((3, 2), (1, 1), (0, 0)),
            ((3, 2), (2, 3), (0, 1)),
        ] {
            let c = Conv { n: 3, c: 2, h: 7, w: 6, o: 4, win: Window { kernel, stride, pad }, act: None };
            let (x, w, b) = (values(3 * 2 * 7 * 6, 1), values(4 * 2 * kernel.0 * kernel.1, 2), values(4, 3));
            let mut out = vec![];
            c.forward(&mut out, &x, &w, Some(&b)).unwrap();
            let want = direct(&c, &x, &w, &b);
            let gap = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(gap < 1e-5, "{kernel:?} {stride:?} {pad:?}: {gap}");
        }
    }

    #[test]
    fn window_errors_say_what_to_change() {
        let w = Window { kernel: (5, 5), stride: (1, 1), pad: (0, 0) };
        assert!(w.out(4, 9).unwrap_err().to_string().contains("larger than the 4x9 input"));
        assert_eq!(w.out(28, 28).unwrap(), (24, 24));
    }
}
