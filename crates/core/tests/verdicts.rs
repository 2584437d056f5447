//! The verdicts: the ratio intervals against known answers and by simulated coverage, and each
//! verdict word from crafted results.

mod common;

use common::{bench_info, empty_results, epoch};
use mlcmp_core::run::{RunResult, Status};
use mlcmp_core::stats::{ratio_independent, ratio_paired, ratio_signed_rank, signed_rank_critical};
use mlcmp_core::verdict::{judge, verdicts, Word};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

#[test]
fn the_paired_interval_has_the_textbook_value() {
    // Four ratios 2e^0.1, 2e^-0.1, ...: logs with mean ln 2 and sample sd 0.1155, so the 95%
    // interval is 2 exp(+-t(0.975, 3) 0.1155 / 2) with t = 3.182446.
    let pairs: Vec<(f64, f64)> = [0.1f64, -0.1, 0.1, -0.1].iter().map(|d| (2.0 * d.exp(), 1.0)).collect();
    let i = ratio_paired(&pairs, 0.95).unwrap();
    let half = 3.182446 * (0.04f64 / 3.0).sqrt() / 2.0;
    assert!((i.estimate - 2.0).abs() < 1e-12, "{i:?}");
    assert!((i.lo - 2.0 * (-half).exp()).abs() < 1e-5 && (i.hi - 2.0 * half.exp()).abs() < 1e-5, "{i:?}");
    assert_eq!(i.n, 4);
    // No spread: the interval is the point; one pair or a non-positive time: no interval.
    let same = ratio_paired(&[(3.0, 1.5), (4.0, 2.0)], 0.95).unwrap();
    assert_eq!((same.lo, same.estimate, same.hi), (2.0, 2.0, 2.0));
    assert!(ratio_paired(&[(3.0, 1.5)], 0.95).is_none());
    assert!(ratio_independent(&[1.0, 0.0], &[1.0, 1.0], 0.95).is_none());
    // Independent samples, b's times a's over 1.5 exactly: estimate 1.5, a symmetric interval in logs.
    let a = [3.0, 3.3, 2.7, 3.1];
    let b: Vec<f64> = a.iter().map(|x| x / 1.5).collect();
    let i = ratio_independent(&a, &b, 0.95).unwrap();
    assert!((i.estimate - 1.5).abs() < 1e-12 && (i.lo * i.hi - 2.25).abs() < 1e-9, "{i:?}");
}

/// The 95% intervals cover the true ratio in 93-97% of 1000 simulated runs with multiplicative
/// noise like the bench's: 5 paired repeats, and 4 epochs per backend with unequal spreads.
#[test]
fn the_intervals_cover_the_true_ratio_95_percent_of_the_time() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let (truth, trials) = (1.3, 1000);
    let (noise_a, noise_b) = (Normal::<f64>::new(0.0, 0.12).unwrap(), Normal::<f64>::new(0.0, 0.05).unwrap());
    let (mut paired, mut independent) = (0, 0);
    for _ in 0..trials {
        // A repeat's drift hits both backends alike; each also has its own noise.
        let pairs: Vec<(f64, f64)> = (0..5)
            .map(|_| {
                let drift: f64 = noise_a.sample(&mut rng);
                let b = 0.4 * (drift + noise_b.sample(&mut rng)).exp();
                (truth * 0.4 * (drift + noise_b.sample(&mut rng)).exp(), b)
            })
            .collect();
        let i = ratio_paired(&pairs, 0.95).unwrap();
        paired += usize::from(i.lo <= truth && truth <= i.hi);
        let a: Vec<f64> = (0..4).map(|_| truth * 0.4 * noise_a.sample(&mut rng).exp()).collect();
        let b: Vec<f64> = (0..4).map(|_| 0.4 * noise_b.sample(&mut rng).exp()).collect();
        let i = ratio_independent(&a, &b, 0.95).unwrap();
        independent += usize::from(i.lo <= truth && truth <= i.hi);
    }
    for (what, covered) in [("paired", paired), ("independent", independent)] {
        let rate = covered as f64 / trials as f64;
        eprintln!("{what}: {rate:.3}");
        assert!((0.93..=0.97).contains(&rate), "{what} intervals covered {rate}");
    }
}

#[test]
fn the_signed_rank_interval_has_the_table_values() {
    // Two-sided 5% critical values of the signed-rank statistic (any statistics table), and none
    // below 6 pairs (five pairs all one sign already have probability 2/32 = 6.25%).
    for (n, c) in [(6, 0), (7, 2), (8, 3), (9, 5), (10, 8), (12, 13), (15, 25), (20, 52), (30, 137)] {
        assert_eq!(signed_rank_critical(n, 0.95), Some(c), "n = {n}");
    }
    assert_eq!(signed_rank_critical(5, 0.95), None);
    assert_eq!(signed_rank_critical(5, 0.90), Some(0));
    // Log ratios 0.1, 0.2, ..., 0.6: the Walsh averages are symmetric about 0.35, the estimate;
    // with c = 0 the interval runs from the smallest to the largest.
    let pairs: Vec<(f64, f64)> = (1..=6).map(|k| ((0.1 * k as f64).exp(), 1.0)).collect();
    let i = ratio_signed_rank(&pairs, 0.95).unwrap();
    assert!((i.estimate.ln() - 0.35).abs() < 1e-12 && (i.lo.ln() - 0.1).abs() < 1e-12, "{i:?}");
    assert!((i.hi.ln() - 0.6).abs() < 1e-12 && i.n == 6, "{i:?}");
    // One wild pair moves the estimate by one rank, not by its size.
    let mut wild = pairs.clone();
    wild[5].0 = 100.0;
    assert!((ratio_signed_rank(&wild, 0.95).unwrap().estimate.ln() - 0.35).abs() < 0.06);
    assert!(ratio_signed_rank(&pairs[..5], 0.95).is_none());
}

/// The signed-rank interval of 10 pairs covers the true ratio at its exact confidence (1 - 2 *
/// 25/1024 = 95.1%) within simulation error, for normal noise and for the VM's kind: mostly
/// tight, one repeat in five in a slow or fast phase.
#[test]
fn the_signed_rank_interval_covers_the_true_ratio() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
    let (truth, trials) = (1.05f64, 4000);
    let (tight, wide) = (Normal::<f64>::new(0.0, 0.03).unwrap(), Normal::<f64>::new(0.0, 0.2).unwrap());
    for tails in [false, true] {
        let mut covered = 0;
        for _ in 0..trials {
            let pairs: Vec<(f64, f64)> = (0..10)
                .map(|_| {
                    use rand::Rng;
                    let e = if tails && rng.random_bool(0.2) {
                        wide.sample(&mut rng)
                    } else {
                        tight.sample(&mut rng)
                    };
                    (0.4 * truth * e.exp(), 0.4)
                })
                .collect();
            let i = ratio_signed_rank(&pairs, 0.95).unwrap();
            covered += usize::from(i.lo <= truth && truth <= i.hi);
        }
        let rate = covered as f64 / trials as f64;
        eprintln!("heavy tails {tails}: {rate:.3}");
        assert!((0.94..=0.962).contains(&rate), "heavy tails {tails}: covered {rate}");
    }
}

fn run(backend: &str, times: &[f64], acc: f64) -> RunResult {
    let mut r = RunResult::new(backend, 2);
    r.epochs = times.iter().enumerate().map(|(i, &t)| epoch(i, 0.3 / (i + 1) as f64, t)).collect();
    r.epochs.last_mut().unwrap().test_acc = acc;
    r
}

fn word(res: &mlcmp_core::results::Results, prefix: &str) -> Word {
    verdicts(res).into_iter().find(|v| v.claim.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}")).word
}

#[test]
fn each_speed_word_follows_its_rule() {
    let article = "the article's speed claim, this run, the article's code today";
    let mut res = empty_results();
    // pytorch about 2.5x mxnet's epoch, tightly: inside 1.98-3.09.
    res.runs = vec![
        run("pytorch", &[9.0, 5.0, 5.1, 4.9, 5.0], 0.975),
        run("mxnet", &[3.0, 2.0, 2.02, 1.98, 2.0], 0.976),
    ];
    assert_eq!(word(&res, article), Word::Reproduced);
    // pytorch faster than mxnet: refuted.
    res.runs[0] = run("pytorch", &[9.0, 1.0, 1.02, 0.98, 1.0], 0.975);
    assert_eq!(word(&res, article), Word::Refuted);
    // About 2x, but so noisy that the interval crosses 1.98: inconclusive.
    res.runs[0] = run("pytorch", &[9.0, 2.0, 6.0, 3.0, 5.0], 0.975);
    assert_eq!(word(&res, article), Word::Inconclusive);
    // mxnet not installed here: its row says so, and the claim is unavailable.
    res.runs[1] = RunResult::failed(
        "mxnet",
        2,
        Status::Unavailable,
        "no .venv-mxnet; run scripts/setup frameworks".into(),
    );
    let v = verdicts(&res).into_iter().find(|v| v.claim.starts_with(article)).unwrap();
    assert_eq!(v.word, Word::Unavailable);
    assert!(v.measured.contains("mxnet unavailable: no .venv-mxnet"), "{}", v.measured);
    res.runs.push(run("gluon", &[1.0, 1.0, 1.0], 0.97));
    assert_eq!(word(&res, "gluon trains as mxnet"), Word::Unavailable);
    // Fewer than two timed epochs: no interval, inconclusive.
    res.runs = vec![run("torch", &[1.0, 2.0], 0.97), run("gluon", &[1.0, 1.0], 0.97)];
    assert_eq!(word(&res, "the article's speed claim, this run, Rust ports"), Word::Inconclusive);
    assert!(
        (judge(&mlcmp_core::stats::Interval { estimate: 2.5, lo: 2.0, hi: 3.0, n: 5 }, 2.47)
            == Word::Reproduced)
    );
}

#[test]
fn a_bench_pairs_repeats_and_the_other_words_follow_their_rules() {
    let mut res = empty_results();
    res.bench = Some(bench_info(100.0));
    for (rep, drift) in [1.0, 1.3, 0.9, 1.1, 1.0].into_iter().enumerate() {
        for (b, t) in [("torch", 0.5), ("gluon", 0.4)] {
            let mut r = run(b, &[t * drift * 2.0, t * drift], 0.9);
            r.epochs[0].warmup = true;
            r.repeat = Some(rep);
            res.runs.push(r);
        }
    }
    // Drift common to both cancels in the pairs: 1.25 exactly, an interval of no width.
    let i = mlcmp_core::verdict::ratio(&res, "torch", "gluon").unwrap();
    assert!((i.estimate - 1.25).abs() < 1e-9 && (i.hi - i.lo) < 1e-9, "{i:?}");
    assert_eq!(word(&res, "the article's speed claim, this run, Rust ports"), Word::Refuted);

    // Accuracy: agrees within half a point, differs beyond; time to 97%: the first to reach it.
    let mut res = empty_results();
    res.runs = vec![
        run("torch", &[1.0, 1.0, 1.0], 0.975),
        run("pytorch", &[3.0, 3.0, 3.0], 0.973),
        run("gluon", &[0.5, 0.5, 0.5], 0.975),
        run("mxnet", &[2.0, 2.0, 2.0], 0.960),
    ];
    assert_eq!(word(&res, "torch trains as pytorch"), Word::Agrees);
    assert_eq!(word(&res, "gluon trains as mxnet"), Word::Differs);
    let t = verdicts(&res).into_iter().find(|v| v.claim.starts_with("who reaches 97%")).unwrap();
    assert!(
        t.measured.starts_with("gluon first: gluon 1.50 s, torch 3.00 s, pytorch 9.00 s"),
        "{}",
        t.measured
    );
    assert!(t.measured.ends_with("not reached by mxnet"), "{}", t.measured);
    // Why: mxnet's extra second is in its data phase.
    for r in &mut res.runs {
        for e in &mut r.epochs {
            e.phases.data_s = if r.backend == "mxnet" { 1.5 } else { 0.1 };
            e.phases.forward_s = e.time_s - e.phases.data_s;
        }
    }
    res.runs[1].epochs.iter_mut().for_each(|e| (e.phases.data_s, e.phases.forward_s) = (0.1, 2.9));
    let why = verdicts(&res).into_iter().find(|v| v.claim == "why pytorch and mxnet differ").unwrap();
    assert!(
        why.measured.starts_with("pytorch's epoch is 1.000 s longer than mxnet's; forward"),
        "{}",
        why.measured
    );
}

fn gaps(batch: f64, avg: f64, w: f64) -> mlcmp_core::parity::Parity {
    mlcmp_core::parity::Parity {
        batches_compared: 10,
        max_batch_loss_diff: batch,
        max_batch_loss_diff_at: mlcmp_core::run::StopPoint { epoch: 0, batch: 0 },
        max_batch_loss_rel_epoch0: batch,
        max_avg_loss_diff: avg,
        max_weight_diff: w,
        floor: None,
    }
}

fn pair(
    p: mlcmp_core::parity::Parity,
    floors: Vec<mlcmp_core::parity::Parity>,
) -> mlcmp_core::results::Results {
    let mut res = empty_results();
    let mut parity = p;
    parity.floor = floors.iter().cloned().reduce(mlcmp_core::parity::Parity::max).map(Box::new);
    res.parities.push(mlcmp_core::parity::PairParity {
        a: "gluon".into(),
        b: "mxnet".into(),
        floor_of: "gluon".into(),
        floor_runs: floors.len(),
        parity,
        floors,
    });
    res
}

#[test]
fn the_parity_rank_test_has_the_exact_p_and_each_word() {
    use mlcmp_core::parity::rank_test;
    // 19 reruns with gaps 1..19 (times a scale per measure).
    let floors: Vec<_> = (1..=19).map(|k| gaps(k as f64 * 1e-3, k as f64 * 1e-6, k as f64 * 1e-2)).collect();
    let claim = "gluon and mxnet compute the same function";
    // Above every rerun on every measure: rank 20 of 20, p = 1/20.
    let top = gaps(30e-3, 30e-6, 30e-2);
    let t = rank_test(&top, &floors).unwrap();
    assert_eq!((t.reruns, t.above, t.p), (19, [19, 19, 19], 0.05));
    assert_eq!(word(&pair(top.clone(), floors.clone()), claim), Word::Differs);
    // In the middle: 10 reruns score at least as high, p = 11/20.
    let mid = gaps(9.5e-3, 9.5e-6, 9.5e-2);
    let t = rank_test(&mid, &floors).unwrap();
    assert_eq!((t.above, t.p), ([9, 9, 9], 0.55));
    assert_eq!(word(&pair(mid, floors.clone()), claim), Word::Agrees);
    // Above every rerun but only 1.3x the median one: significant, yet the same function.
    let near = gaps(19.5e-3 * 0.66, 19.5e-6 * 0.66, 19.5e-2 * 0.66);
    let t = rank_test(&near, &floors).unwrap();
    assert!((t.times_median - 1.287).abs() < 1e-9 && t.above == [12, 12, 12], "{t:?}");
    let near = gaps(19.5e-3, 19.5e-6, 19.5e-2);
    let t = rank_test(&near, &floors).unwrap();
    assert!(t.p == 0.05 && (t.times_median - 1.95).abs() < 1e-9, "{t:?}");
    assert_eq!(word(&pair(near, floors.clone()), claim), Word::Agrees);
    assert!((rank_test(&top, &floors).unwrap().times_median - 3.0).abs() < 1e-9);
    // One measure far out, the others low: the mean log score still ranks it by all three.
    let t = rank_test(&gaps(1e-3, 1e-6, 10.0), &floors).unwrap();
    assert!(t.p > 0.05 && t.above == [1, 1, 19], "{t:?}");
    // Identical libraries (a gap of 0) rank lowest, not as -inf or NaN.
    assert_eq!(rank_test(&gaps(0.0, 0.0, 0.0), &floors).unwrap().p, 1.0);
    // Three reruns cannot reach 5%: above all of them is inconclusive, not differs.
    assert_eq!(word(&pair(top.clone(), floors[..3].to_vec()), claim), Word::Inconclusive);
    // A file without each rerun's gaps: twice the largest of them.
    let mut old = pair(gaps(7e-3, 1e-6, 1e-2), floors[..3].to_vec());
    old.parities[0].floors.clear();
    assert_eq!(word(&old, claim), Word::Differs);
    assert!(rank_test(&top, &[]).is_none());
}

/// Under the null (the pair one more draw of the floor) the test says "differs" in 3.5-6.5% of
/// 2000 simulated runs; a pair 3x further apart on every measure is caught in at least 80% (the
/// simulated reruns spread as the MLP's do, about 0.4 in the log of each gap).
#[test]
fn the_parity_rank_test_holds_its_level_and_catches_a_real_gap() {
    use mlcmp_core::parity::rank_test;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
    // Logs of the three gaps: a shared chaotic factor plus each measure's own, like the reruns'.
    let (common, own) = (Normal::<f64>::new(0.0, 0.3).unwrap(), Normal::<f64>::new(0.0, 0.3).unwrap());
    let mut draw = |shift: f64| {
        let c = common.sample(&mut rng) + shift;
        gaps(
            4e-3 * (c + own.sample(&mut rng)).exp(),
            5e-5 * (c + own.sample(&mut rng)).exp(),
            1.5e-2 * (c + own.sample(&mut rng)).exp(),
        )
    };
    let trials = 2000;
    let (mut false_alarms, mut caught) = (0, 0);
    for _ in 0..trials {
        let floors: Vec<_> = (0..19).map(|_| draw(0.0)).collect();
        false_alarms += usize::from(rank_test(&draw(0.0), &floors).unwrap().p <= 0.05);
        caught += usize::from(rank_test(&draw(3f64.ln()), &floors).unwrap().p <= 0.05);
    }
    let (fa, power) = (false_alarms as f64 / trials as f64, caught as f64 / trials as f64);
    eprintln!("false alarms {fa:.3}, power at 3x {power:.3}");
    assert!((0.035..=0.065).contains(&fa), "false alarm rate {fa}");
    assert!(power >= 0.8, "power {power}");
}
