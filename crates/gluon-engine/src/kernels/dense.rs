//! The fused dense layer, `act(x W^T + b)`, forward and backward on f32 slices: the one home of
//! the layer's arithmetic, used by `nd::fully_connected` (imperative) and by hybridize's plan.

use super::gemm::{gemm_into, gemm_new, mat};
use super::simd::widest;
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
    widest(
        #[inline(always)]
        || match a {
            Act::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
            // 1 / (1 + e^-v): LeNet's sigmoids take 1.6 million of these per batch.
            Act::Sigmoid => v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + exp(-*x))),
            Act::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
            Act::SoftRelu => v.iter_mut().for_each(|x| *x = x.exp().ln_1p()),
        },
    )
}

/// `v = e^v` elementwise with [`exp`], on the widest vectors the CPU has.
pub(crate) fn exp_in_place(v: &mut [f32]) {
    widest(
        #[inline(always)]
        || v.iter_mut().for_each(|x| *x = exp(*x)),
    )
}

/// `e^x` in f32 within 2 ulp (Cephes' `expf`: x = n ln2 + r, a degree-6 polynomial in r, times
/// 2^n), written with float arithmetic only, so a loop of it vectorises: libm's `expf` is a call,
/// and a float-to-int cast (`as i32`, which saturates) compiles to scalar code. LeNet's sigmoids
/// take 1.6 million of these per batch. Below -87.3 it flushes towards 0 and above 88 it saturates
/// at e^88 (about 1.65e38), which leaves a sigmoid 0 or 1 as the exact value would; NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding and taking away 1.5 * 2^23 rounds an f32 of magnitude below 2^22 to an integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let f = (x * LOG2E + ROUND) - ROUND; // n = round(x / ln2), in -126..=127
    let r = x - f * 0.693_359_4 - f * -2.121_944_4e-4;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let y = p * r * r + r + 1.0;
    // 2^n: n + 127 + 2^23 is an f32 whose low mantissa bits are the biased exponent n + 127;
    // shifting them into the exponent field drops the rest (NaN gives 0, and y stays NaN).
    let two_n = f32::from_bits((f + (127.0 + 8_388_608.0)).to_bits() << 23);
    y * two_n
}

/// `dz *= act'(z)`, written with the activation's output `y` (what the forward kept).
pub(crate) fn activate_backward(a: Act, dz: &mut [f32], y: &[f32]) {
    let it = dz.iter_mut().zip(y);
    widest(
        #[inline(always)]
        || match a {
            Act::Relu => it.for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
            Act::Sigmoid => it.for_each(|(d, &y)| *d *= y * (1.0 - y)),
            Act::Tanh => it.for_each(|(d, &y)| *d *= 1.0 - y * y),
            Act::SoftRelu => it.for_each(|(d, &y)| *d *= 1.0 - (-y).exp()),
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        let mut worst = 0.0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let (got, want) = (super::exp(x) as f64, (x as f64).exp());
            worst = worst.max((got - want).abs() / (want * f32::EPSILON as f64));
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert!(super::exp(f32::NAN).is_nan());
        assert_eq!(super::exp(-200.0), super::exp(-87.3));
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
            widest(
                #[inline(always)]
                || dz.chunks(units).for_each(|row| db.iter_mut().zip(row).for_each(|(d, &v)| *d += v)),
            );
            g.db = Some(db);
        }
        Ok(g)
    }
}
