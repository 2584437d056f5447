//! The statistics every table, check and verdict uses: one median, one mean, and the intervals of
//! a ratio of times (Student's t on logs; the A/B gate's pooled verdict, Wilcoxon signed-rank).

/// Median of `xs` (the mean of the two middle values for an even count); NaN when empty.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Arithmetic mean, accumulated in f64; NaN when empty.
pub fn mean<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().map(|&x| x.into()).sum::<f64>() / xs.len() as f64
}

/// A ratio with its confidence interval, and how many observations made it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Observations behind it: epochs per backend (independent) or pairs (paired).
    pub n: usize,
}

/// The two-sided `level` quantile of Student's t with `df` degrees of freedom.
fn t_quantile(level: f64, df: f64) -> f64 {
    t_inverse(0.5 + level / 2.0, df)
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub(crate) fn t_inverse(p: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

pub(crate) fn mean_var(xs: &[f64]) -> (f64, f64) {
    let m = mean(xs);
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0);
    (m, v)
}

fn logs(xs: &[f64]) -> Option<Vec<f64>> {
    xs.iter().all(|&x| x > 0.0 && x.is_finite()).then(|| xs.iter().map(|x| x.ln()).collect())
}

/// `a` over `b` for two independent samples of times (a backend's epochs against another's): the
/// ratio of their geometric means with Welch's t interval on the logs. Times are positive and their
/// noise multiplicative (a slow spell slows every operation alike), so logs make it additive. None
/// with fewer than two finite positive values on either side.
pub fn ratio_independent(a: &[f64], b: &[f64], level: f64) -> Option<Interval> {
    let (la, lb) = (logs(a)?, logs(b)?);
    if la.len() < 2 || lb.len() < 2 {
        return None;
    }
    let ((ma, va), (mb, vb)) = (mean_var(&la), mean_var(&lb));
    let (sa, sb) = (va / la.len() as f64, vb / lb.len() as f64);
    let se = (sa + sb).sqrt();
    // Welch-Satterthwaite; with no spread at all the interval is the point.
    let df = (sa + sb).powi(2) / (sa * sa / (la.len() as f64 - 1.0) + sb * sb / (lb.len() as f64 - 1.0));
    let half = if se > 0.0 { t_quantile(level, df) * se } else { 0.0 };
    let d = ma - mb;
    Some(Interval {
        estimate: d.exp(),
        lo: (d - half).exp(),
        hi: (d + half).exp(),
        n: la.len().min(lb.len()),
    })
}

/// `a` over `b` for paired times (two backends in the same bench repeat, so a slow spell hits
/// both): the geometric mean of the per-pair ratios with a one-sample t interval on their logs.
/// None with fewer than two pairs.
pub fn ratio_paired(pairs: &[(f64, f64)], level: f64) -> Option<Interval> {
    let ratios: Vec<f64> = pairs.iter().map(|(a, b)| a / b).collect();
    let l = logs(&ratios)?;
    if l.len() < 2 {
        return None;
    }
    let (m, v) = mean_var(&l);
    let se = (v / l.len() as f64).sqrt();
    let half = if se > 0.0 { t_quantile(level, l.len() as f64 - 1.0) * se } else { 0.0 };
    Some(Interval { estimate: m.exp(), lo: (m - half).exp(), hi: (m + half).exp(), n: l.len() })
}

/// `a` over `b` for paired times where one stray pair must not decide: the Hodges-Lehmann
/// estimate (the median of the Walsh averages of the log ratios) with the exact Wilcoxon
/// signed-rank interval, whose confidence is at least `level` for any symmetric noise, heavy
/// tails included (an A/B worker on a shared VM that lands in a slow phase is such a tail). None
/// with fewer pairs than the level allows (6 at 95%).
pub fn ratio_signed_rank(pairs: &[(f64, f64)], level: f64) -> Option<Interval> {
    let ratios: Vec<f64> = pairs.iter().map(|(a, b)| a / b).collect();
    let l = logs(&ratios)?;
    let c = signed_rank_critical(l.len(), level)?;
    let mut walsh: Vec<f64> =
        l.iter().enumerate().flat_map(|(i, x)| l[i..].iter().map(move |y| (x + y) / 2.0)).collect();
    walsh.sort_by(f64::total_cmp);
    let m = walsh.len();
    Some(Interval {
        estimate: median(&walsh).exp(),
        lo: walsh[c].exp(),
        hi: walsh[m - 1 - c].exp(),
        n: l.len(),
    })
}

/// The largest `c` with P(T <= c) <= (1 - level) / 2 for the signed-rank statistic T of `n`
/// pairs under no change (every sign equally likely), from its exact distribution: the number of
/// subsets of 1..=n with each rank sum. The interval drops the `c` smallest and largest Walsh
/// averages. None when even c = 0 is too likely (n = 5 at 95%: P(T = 0) = 1/32 > 2.5%).
pub fn signed_rank_critical(n: usize, level: f64) -> Option<usize> {
    let max = n * (n + 1) / 2;
    // Counts as f64: 2^n overflows u64 beyond 63 pairs, and only ratios of counts are used.
    let mut count = vec![0.0f64; max + 1];
    count[0] = 1.0;
    for k in 1..=n {
        for s in (k..=max).rev() {
            count[s] += count[s - k];
        }
    }
    let total = 2f64.powi(n as i32);
    let tail = (1.0 - level) / 2.0;
    let mut below = 0.0;
    let mut c = None;
    for (s, k) in count.iter().enumerate() {
        below += k;
        if below / total > tail {
            break;
        }
        c = Some(s);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(mean(&[1.0f32, 2.0, 4.5]), 2.5);
        assert!(mean::<f64>(&[]).is_nan());
    }
}
