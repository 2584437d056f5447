//! Element-wise loops compiled for the widest vectors the CPU has. The crate is built for
//! baseline x86-64, so a plain loop vectorises to SSE2 (4 floats); `gemm` picks its AVX-512
//! kernels at run time, and the passes around the products (activations and their derivatives,
//! pooling, bias sums, the optimizer's update) do the same through [`widest`].
//!
//! Only the instruction width changes: Rust never contracts a multiply and an add into an FMA nor
//! reorders float sums, so every value is rounded exactly as in the baseline loop.

/// `f()`, compiled for AVX-512 or AVX2 when the CPU has them. `f` is a closure around a leaf
/// loop: it is inlined into the function compiled for the wider target, along with the small
/// `#[inline]` helpers it calls.
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::widest;
    use crate::kernels::dense::exp;

    /// The same loops through `widest` and as plain baseline code give the same bits: a sigmoid,
    /// a multiply-add (no FMA contraction) and a sum in lanes (no reordering).
    #[inline(always)]
    fn sigmoid(v: &mut [f32]) {
        v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + exp(-*x)));
    }

    #[inline(always)]
    fn axpy(d: &mut [f32], s: &[f32]) {
        d.iter_mut().zip(s).for_each(|(x, &y)| *x = 0.9 * *x + -0.1 * (y * 0.5));
    }

    #[inline(always)]
    fn lanes(v: &[f32]) -> f32 {
        let mut l = [0f32; 16];
        v.chunks_exact(16).for_each(|c| l.iter_mut().zip(c).for_each(|(l, &x)| *l += x));
        l.iter().sum::<f32>()
    }

    /// The same loops through `widest` and as plain baseline code give the same bits: a sigmoid,
    /// a multiply-add (no FMA contraction) and a sum in lanes (no reordering).
    #[test]
    fn wider_vectors_round_as_the_baseline_loop() {
        let v: Vec<f32> = (0..10_001).map(|i| (i as f32 * 0.37).sin() * 20.0).collect();
        let w: Vec<f32> = (0..10_001).map(|i| (i as f32 * 0.11).cos() * 3.0).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (mut a, mut b) = (v.clone(), v.clone());
        sigmoid(&mut a);
        widest(
            #[inline(always)]
            || sigmoid(&mut b),
        );
        assert_eq!(bits(&a), bits(&b));
        axpy(&mut a, &w);
        widest(
            #[inline(always)]
            || axpy(&mut b, &w),
        );
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(
            lanes(&v).to_bits(),
            widest(
                #[inline(always)]
                || lanes(&v)
            )
            .to_bits()
        );
    }
}
