//! The A/B of two builds (`bench --against`): each backend's new/old from paired repeats, its
//! word, the gate with its confirming runs, the smallest detectable slowdown, the injection knob.

mod common;

use common::{bench_info, empty_results, epoch};
use mlcmp_core::bench::ab::{checks, judge, regressed, to_confirm, Change, GATE};
use mlcmp_core::results::Results;
use mlcmp_core::run::RunResult;
use mlcmp_core::stats::Interval;

fn run(backend: &str, rep: usize, t: f64) -> RunResult {
    let mut r = RunResult::new(backend, 2);
    r.epochs = vec![epoch(0, 0.3, 2.0 * t), epoch(1, 0.2, t), epoch(2, 0.1, t)];
    r.epochs[0].warmup = true;
    r.repeat = Some(rep);
    r
}

/// An A/B of `repeats` repeats per round: per backend, the new and old epoch per repeat.
fn ab(repeats: usize, rounds: &[&[(&str, f64, f64)]]) -> Results {
    let mut res = empty_results();
    res.bench = Some(mlcmp_core::results::BenchInfo {
        repeats,
        against: Some("old/mlcmp".into()),
        lockstep: true,
        hardware_peak: None,
        ..bench_info(100.0)
    });
    for (round, reps) in rounds.iter().enumerate() {
        for (k, &(b, new, old)) in reps.iter().enumerate() {
            let rep = round * repeats + k % repeats;
            res.runs.push(run(b, rep, new));
            res.baseline_runs.push(run(b, rep, old));
        }
    }
    res
}

#[test]
fn new_over_old_pairs_repeats_and_the_gate_needs_two_in_a_row() {
    // Drift shared by both builds in a repeat cancels: gluon 1.10x exactly, torch unchanged.
    let drift = [1.0, 1.3, 0.9];
    let round0: Vec<(&str, f64, f64)> = drift
        .iter()
        .flat_map(|d| {
            [("gluon", 0.22 * d, 0.2 * d), ("torch", 0.4 * d, 0.4 * d * if *d > 1.0 { 1.01 } else { 0.99 })]
        })
        .collect();
    let res = ab(3, &[&round0]);
    let c = checks(&res);
    let g = c.iter().find(|c| c.backend == "gluon").unwrap();
    let i = g.ratio.unwrap();
    assert!((i.estimate - 1.1).abs() < 1e-9 && i.hi - i.lo < 1e-9, "{i:?}");
    assert_eq!((g.change, g.flagged, g.failed, g.round), (Change::Slower, true, true, 0));
    assert!((g.new_s - 0.22).abs() < 1e-9 && (g.old_s - 0.2).abs() < 1e-9, "{g:?}");
    let t = c.iter().find(|c| c.backend == "torch").unwrap();
    assert_eq!((t.change, t.flagged), (Change::NoChangeDetected, false), "{t:?}");
    assert_eq!(to_confirm(&c), ["gluon"]);
    // No confirming run yet: flagged counts as failed (an interrupted gate does not pass).
    assert_eq!(regressed(&c).len(), 1);

    // The confirming run, pooled with the run, clears it: a false alarm needs two in a row.
    let cleared = ab(3, &[&round0, &[("gluon", 0.2, 0.2), ("gluon", 0.21, 0.2), ("gluon", 0.2, 0.21)]]);
    let c = checks(&cleared);
    let pooled = c.iter().find(|c| c.round == 1).unwrap();
    assert_eq!((c.len(), pooled.ratio.unwrap().n), (3, 6), "{c:?}");
    assert!(regressed(&c).is_empty(), "{c:?}");
    // Still undecided after it (estimate beyond the gate, interval holding it): another run.
    assert_eq!(to_confirm(&c), ["gluon"], "{c:?}");
    // ... and confirms it, named by the pooled check.
    let again = ab(3, &[&round0, &[("gluon", 0.22, 0.2), ("gluon", 0.221, 0.2), ("gluon", 0.219, 0.2)]]);
    let c = checks(&again);
    let failed = regressed(&c);
    assert_eq!(failed.iter().map(|c| (c.backend.as_str(), c.round)).collect::<Vec<_>>(), [("gluon", 1)]);

    // A bench without a baseline build has no A/B; a backend whose old build failed is not measured.
    let mut plain = res.clone();
    plain.bench.as_mut().unwrap().against = None;
    assert!(checks(&plain).is_empty());
    let mut broken = res.clone();
    broken.baseline_runs.retain(|r| r.backend != "torch");
    let t = checks(&broken).into_iter().find(|c| c.backend == "torch").unwrap();
    assert_eq!((t.change, t.flagged, t.ratio), (Change::NotMeasured, false, None));
}

#[test]
fn a_run_screened_by_its_estimate_fails_on_the_pooled_interval() {
    // Log ratios 0.09, 0.01, 0.07, 0.03, 0.05: estimate +5.1%, but the t interval's lower bound
    // (+1.1%) is inside the gate: no change detected, run again; alone it does not fail.
    let logs = [0.09f64, 0.01, 0.07, 0.03, 0.05];
    let round: Vec<(&str, f64, f64)> = logs.iter().map(|d| ("gluon", 0.2 * d.exp(), 0.2)).collect();
    let c = checks(&ab(5, &[&round]));
    let i = c[0].ratio.unwrap();
    assert!((i.estimate - 0.05f64.exp()).abs() < 1e-12 && i.lo < 1.0 + GATE && i.lo > 1.0, "{i:?}");
    assert_eq!((c[0].change, c[0].flagged, c[0].failed), (Change::Slower, true, false));
    assert_eq!(to_confirm(&c), ["gluon"]);
    // The same again: the 10 pooled pairs' signed-rank interval drops the 8 smallest of the 55
    // Walsh averages (3 at 0.01, 4 at 0.02, 1 at 0.03), so its lower bound is e^0.03: beyond the gate.
    let c = checks(&ab(5, &[&round, &round]));
    let pooled = c.iter().find(|c| c.round == 1).unwrap().ratio.unwrap();
    assert!((pooled.lo - 0.03f64.exp()).abs() < 1e-12 && (pooled.estimate - 0.05f64.exp()).abs() < 1e-12);
    assert_eq!(regressed(&c).len(), 1);
    // An estimate within the gate is not screened, whatever its spread.
    let small: Vec<(&str, f64, f64)> = logs.iter().map(|d| ("gluon", 0.2 * (d - 0.04).exp(), 0.2)).collect();
    let c = checks(&ab(5, &[&small]));
    assert!(!c[0].flagged && to_confirm(&c).is_empty(), "{c:?}");
}

#[test]
fn the_gate_looks_again_until_the_pooled_interval_decides_at_most_three_times_with_turns() {
    use mlcmp_core::bench::ab::{gate_word, CONFIRMING_RUNS};
    // Log ratios 0.10, -0.02, 0.06, 0.00, 0.04 per round: estimate +3.6%, the t interval holds 1.
    let logs = [0.10f64, -0.02, 0.06, 0.0, 0.04];
    let round: Vec<(&str, f64, f64)> = logs.iter().map(|d| ("gluon", 0.2 * d.exp(), 0.2)).collect();
    let words =
        |c: &[mlcmp_core::claims::AbCheck]| c.iter().map(|c| (c.round, gate_word(c))).collect::<Vec<_>>();
    // Round 0 screened; pooled with one more round of the same, 10 pairs: the signed-rank lower
    // bound is below +2%, the estimate above: undecided, so run again.
    let c = checks(&ab(5, &[&round, &round]));
    assert_eq!(words(&c), [(0, "run again"), (1, "run again")], "{c:?}");
    assert_eq!(to_confirm(&c), ["gluon"]);
    assert!(regressed(&c).is_empty());
    // 20 pairs of the same spread: the interval narrows beyond the gate: fail, named by round 3.
    let c = checks(&ab(5, &[&round, &round, &round, &round]));
    assert_eq!(c.iter().map(|c| c.round).max(), Some(CONFIRMING_RUNS));
    let failed = regressed(&c);
    assert_eq!(failed.iter().map(|c| c.round).collect::<Vec<_>>(), [3], "{c:?}");
    assert!(to_confirm(&c).is_empty());
    // A confirming run that brings the estimate back within the gate passes it and stops.
    let flat: Vec<(&str, f64, f64)> = logs.iter().map(|d| ("gluon", 0.2 * (d - 0.06).exp(), 0.2)).collect();
    let c = checks(&ab(5, &[&round, &flat]));
    assert_eq!(words(&c), [(0, "run again"), (1, "pass")], "{c:?}");
    assert!(to_confirm(&c).is_empty() && regressed(&c).is_empty());
    // Undecided after the last confirming run: pass, no further run.
    let wide: Vec<(&str, f64, f64)> =
        [0.3f64, -0.25, 0.2, -0.1, 0.1].iter().map(|d| ("gluon", 0.2 * d.exp(), 0.2)).collect();
    let c = checks(&ab(5, &[&round, &wide, &wide, &wide]));
    let last = c.iter().max_by_key(|c| c.round).unwrap();
    assert_eq!((last.round, gate_word(last)), (3, "pass"), "{c:?}");
    assert!(
        last.ratio.unwrap().estimate > 1.0 + GATE && to_confirm(&c).is_empty() && regressed(&c).is_empty()
    );
    // Builds that alternate whole workers (a real framework, or an old build without turns) get
    // one confirming run: undecided after it, the backend passes.
    let mut whole = ab(5, &[&round, &round]);
    whole.bench.as_mut().unwrap().lockstep = false;
    let c = checks(&whole);
    assert_eq!(words(&c), [(0, "run again"), (1, "pass")], "{c:?}");
    assert!(to_confirm(&c).is_empty() && regressed(&c).is_empty());
    let framework: Vec<(&str, f64, f64)> = round.iter().map(|&(_, n, o)| ("mxnet", n, o)).collect();
    let c = checks(&ab(5, &[&framework, &framework]));
    assert_eq!(words(&c), [(0, "run again"), (1, "pass")], "{c:?}");
}

#[test]
fn the_words_and_the_smallest_detectable_slowdown() {
    let i = |lo: f64, hi: f64| Interval { estimate: (lo * hi).sqrt(), lo, hi, n: 5 };
    assert_eq!(judge(&i(1.01, 1.05)), (Change::Slower, false));
    assert_eq!(judge(&i(1.0 + GATE + 0.001, 1.05)), (Change::Slower, true));
    assert_eq!(judge(&i(0.9, 0.99)), (Change::Faster, false));
    assert_eq!(judge(&i(0.98, 1.03)), (Change::NoChangeDetected, false));
    // Log ratios +-0.01 over 4 repeats, and the gate decides on twice as many: sd 0.011547, se
    // 0.011547 / sqrt 8 = 0.004082; t(0.975, 7) = 2.364624, t(0.8, 7) = 0.896029: the gate
    // catches exp(ln 1.02 + 3.260653 * 0.004082) - 1 = 3.37% 80% of the time.
    let reps: Vec<(&str, f64, f64)> =
        [0.01f64, -0.01, 0.01, -0.01].iter().map(|d| ("gluon", 0.2 * d.exp(), 0.2)).collect();
    let c = checks(&ab(4, &[&reps]));
    let want = ((1.02f64).ln() + (2.364624 + 0.896029) * (0.0004f64 / 3.0 / 8.0).sqrt()).exp() - 1.0;
    assert!((c[0].detectable - want).abs() < 1e-5 && (c[0].detectable - 0.0337).abs() < 5e-4, "{:?}", c[0]);
}

#[test]
fn the_slowdown_knob_parses_strictly() {
    use mlcmp_core::tracker::slowdown_in;
    assert_eq!(slowdown_in("gluon=1.05,torch=1.5", "torch"), Ok(1.5));
    assert_eq!(slowdown_in("gluon=1.05", "candle"), Ok(1.0));
    assert!(slowdown_in("gluon:1.05", "gluon").unwrap_err().contains("not BACKEND=FACTOR"));
    assert!(slowdown_in("gluon=0.5", "gluon").unwrap_err().contains("out of range"));
    assert!(slowdown_in("gluon=nan", "torch").unwrap_err().contains("out of range"));
}
