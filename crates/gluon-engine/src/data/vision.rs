//! `data.vision`: MNIST as a dataset and the image transforms.

use super::ArrayDataset;
use crate::error::{bail, Result};
use crate::nd::NDArray;

/// `gluon.data.vision.MNIST`: images `(28, 28, 1)` u8 and f32 labels, from the raw IDX contents
/// (this crate does no I/O: the caller reads the files).
pub struct MNIST;

impl MNIST {
    pub fn from_raw(pixels: Vec<u8>, labels: &[u8], rows: usize, cols: usize) -> Result<ArrayDataset> {
        if pixels.len() != labels.len() * rows * cols {
            bail!("MNIST: {} pixels do not make {} images of {rows}x{cols}", pixels.len(), labels.len());
        }
        let images = NDArray::from_u8(pixels, (labels.len(), rows, cols, 1))?;
        ArrayDataset::new(images, super::labels_from_u8(labels))
    }
}

pub mod transforms {
    use crate::data::Transform;
    use crate::error::{bail, Result};
    use crate::nd::NDArray;
    use candle_core::DType;

    /// `transforms.ToTensor()`: (H, W, C) u8 in 0..=255 to (C, H, W) f32 in [0, 1]; a batch
    /// (N, H, W, C) becomes (N, C, H, W).
    pub struct ToTensor;

    impl Transform for ToTensor {
        fn apply(&self, x: &NDArray) -> Result<NDArray> {
            if x.dtype() == DType::U8 {
                // MXNet divides by 255; multiplying by 1/255 rounds 126 of the 256 values differently.
                let channels = x.shape().last().copied().unwrap_or(0);
                return to_tensor_normalized(x, &vec![vec![]; channels]);
            }
            let t = x.tensor().to_dtype(DType::F32)?;
            let t = t.broadcast_div(&candle_core::Tensor::new(255f32, t.device())?)?;
            let t = match t.rank() {
                3 => t.permute((2, 0, 1))?,
                4 => t.permute((0, 3, 1, 2))?,
                r => {
                    bail!("ToTensor needs an (H, W, C) image or an (N, H, W, C) batch, got {r} dimension(s)")
                }
            };
            Ok(NDArray::from_tensor(t.contiguous()?))
        }

        fn batchable(&self) -> bool {
            true
        }

        fn is_to_tensor(&self) -> bool {
            true
        }
    }

    /// ToTensor then, per channel, its chain of Normalize steps (none for ToTensor alone), in one
    /// pass from u8 (H, W, C) or (N, H, W, C) to f32 (C, H, W) or (N, C, H, W).
    fn to_tensor_normalized(x: &NDArray, chain: &[Vec<(f32, f32)>]) -> Result<NDArray> {
        let t = x.tensor();
        let dims = t.dims().to_vec();
        let (n, h, w, c) = match dims[..] {
            [h, w, c] => (1, h, w, c),
            [n, h, w, c] => (n, h, w, c),
            _ => bail!(
                "ToTensor needs an (H, W, C) image or an (N, H, W, C) batch, got {} dimension(s)",
                dims.len()
            ),
        };
        if chain.len() != c {
            bail!("Normalize: {} channel statistics for an input with {c} channels", chain.len());
        }
        // A u8 pixel has 256 values: per channel, a table of what ToTensor then each Normalize
        // give, computed as MXNet computes them ((p / 255 - mean) / std in f32, step by step), so
        // the inputs are bit-identical to MXNet's and one lookup replaces two passes.
        let luts: Vec<[f32; 256]> = chain
            .iter()
            .map(|steps| {
                std::array::from_fn(|p| steps.iter().fold(p as f32 / 255.0, |v, &(m, s)| (v - m) / s))
            })
            .collect();
        // Written in order (sample, channel, pixel), straight into the new buffer (no zero-fill),
        // whole samples per thread: a batch's pass is memory-bound and its source rows cold.
        let sample = h * w * c;
        // One channel with one Normalize: its (mean, std).
        let single = match chain {
            [steps] => match steps[..] {
                [ms] => Some(ms),
                _ => None,
            },
            _ => None,
        };
        let out = crate::kernels::storage::with_u8(&t, |px| {
            crate::kernels::elementwise::fill_split(px.len(), sample, |start, dst| {
                let src = &px[start..start + dst.len()];
                if let Some((m, s)) = single {
                    // One channel and one Normalize (MNIST's case): the same f32 steps as the
                    // table, so the same bits, computed on whole vectors, which beats a lookup
                    // per pixel.
                    crate::kernels::simd::widest(
                        #[inline(always)]
                        || {
                            for (d, &p) in dst.iter_mut().zip(src) {
                                d.write((p as f32 / 255.0 - m) / s);
                            }
                        },
                    );
                    return;
                }
                if let [lut] = &luts[..] {
                    // One channel: HWC and CHW are the same order.
                    for (d, &p) in dst.iter_mut().zip(src) {
                        d.write(lut[p as usize]);
                    }
                    return;
                }
                for (d, s) in dst.chunks_mut(sample).zip(src.chunks(sample)) {
                    for (ch, lut) in luts.iter().enumerate() {
                        let plane = &mut d[ch * h * w..(ch + 1) * h * w];
                        for (o, &p) in plane.iter_mut().zip(s.iter().skip(ch).step_by(c)) {
                            o.write(lut[p as usize]);
                        }
                    }
                }
            })
        })?;
        let shape = if dims.len() == 3 { vec![c, h, w] } else { vec![n, c, h, w] };
        NDArray::from_vec(out, shape)
    }

    /// `transforms.Normalize(mean, std)`: `(x - mean) / std` per channel of a (C, H, W) tensor
    /// (or (N, C, H, W) batch). One value applies to every channel.
    pub struct Normalize {
        mean: Vec<f32>,
        std: Vec<f32>,
    }

    impl Normalize {
        pub fn new(mean: f32, std: f32) -> Normalize {
            Normalize { mean: vec![mean], std: vec![std] }
        }

        pub fn per_channel(mean: Vec<f32>, std: Vec<f32>) -> Result<Normalize> {
            if mean.len() != std.len() || mean.is_empty() {
                bail!("Normalize: {} means and {} stds; give one of each per channel", mean.len(), std.len());
            }
            if let Some(s) = std.iter().find(|s| **s == 0.0 || !s.is_finite()) {
                bail!("Normalize: std {s} must be finite and non-zero");
            }
            Ok(Normalize { mean, std })
        }
    }

    impl Normalize {
        fn stats(&self, channels: usize) -> Option<Vec<(f32, f32)>> {
            match self.mean.len() {
                1 => Some(vec![(self.mean[0], self.std[0]); channels]),
                n if n == channels => Some(self.mean.iter().copied().zip(self.std.iter().copied()).collect()),
                _ => None,
            }
        }
    }

    impl Transform for Normalize {
        fn channel_normalize(&self, channels: usize) -> Option<Vec<(f32, f32)>> {
            self.stats(channels)
        }

        fn apply(&self, x: &NDArray) -> Result<NDArray> {
            let t = x.tensor();
            if self.mean.len() == 1 {
                // (x - mean) / std, as MXNet computes it (not x * (1/std) - mean/std).
                let (m, s) = (self.mean[0] as f64, self.std[0] as f64);
                return Ok(NDArray::from_tensor(((t - m)? / s)?));
            }
            let c = self.mean.len();
            let axis = t
                .rank()
                .checked_sub(3)
                .ok_or_else(|| crate::error::Error::msg("Normalize needs (C, H, W)"))?;
            if t.dims()[axis] != c {
                bail!("Normalize: {c} channel statistics for an input with {} channels", t.dims()[axis]);
            }
            let mut shape = vec![1; t.rank()];
            shape[axis] = c;
            let m = candle_core::Tensor::from_vec(self.mean.clone(), shape.clone(), t.device())?;
            let s = candle_core::Tensor::from_vec(self.std.clone(), shape, t.device())?;
            Ok(NDArray::from_tensor(t.broadcast_sub(&m)?.broadcast_div(&s)?))
        }

        fn batchable(&self) -> bool {
            true
        }
    }

    /// `transforms.Compose([...])`.
    pub struct Compose(Vec<Box<dyn Transform>>);

    impl Compose {
        pub fn new(ts: Vec<Box<dyn Transform>>) -> Compose {
            Compose(ts)
        }
    }

    impl Transform for Compose {
        fn apply(&self, x: &NDArray) -> Result<NDArray> {
            // ToTensor followed by per-channel affine maps (Normalize): one pass over the pixels
            // instead of one per transform.
            if let Some((first, rest)) = self.0.split_first() {
                let channels = x.shape().last().copied().unwrap_or(0);
                if first.is_to_tensor() && x.dtype() == DType::U8 && !rest.is_empty() {
                    let folded =
                        rest.iter().try_fold(vec![vec![]; channels], |mut acc: Vec<Vec<(f32, f32)>>, t| {
                            for (steps, ms) in acc.iter_mut().zip(t.channel_normalize(channels)?) {
                                steps.push(ms);
                            }
                            Some(acc)
                        });
                    if let Some(chain) = folded {
                        return to_tensor_normalized(x, &chain);
                    }
                }
            }
            self.0.iter().try_fold(x.clone(), |x, t| t.apply(&x))
        }

        fn batchable(&self) -> bool {
            self.0.iter().all(|t| t.batchable())
        }
    }
}
