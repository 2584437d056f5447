//! `regress`: which metric regressed against a baseline, and which baselines are refused.

mod common;

use common::sample_results;
use mlcmp_core::regress::checks;
use mlcmp_core::results::Results;

fn failed(base: &Results, cur: &Results) -> Vec<String> {
    checks(base, cur).unwrap().into_iter().filter(|c| c.pass == Some(false)).map(|c| c.metric).collect()
}

#[test]
fn passes_against_itself() {
    let r = sample_results();
    let all = checks(&r, &r).unwrap();
    assert!(all.iter().any(|c| c.metric == "speed ratio torch / gluon" && c.pass == Some(true)));
    assert!(all.iter().any(|c| c.metric == "gluon: final test accuracy"));
    assert!(all.iter().any(|c| c.metric.contains("median epoch s (shown, not gated)") && c.pass.is_none()));
    assert!(failed(&r, &r).is_empty());
}

#[test]
fn a_slower_backend_fails_the_speed_ratio() {
    let base = sample_results();
    let mut cur = base.clone();
    for e in &mut cur.runs[1].epochs {
        e.time_s *= 1.5; // gluon 50% slower, torch unchanged
    }
    assert_eq!(failed(&base, &cur), ["speed ratio torch / gluon"]);
    // Both slower by the same factor: a slower machine, not a regression.
    let mut cur = base.clone();
    cur.runs.iter_mut().flat_map(|r| r.epochs.iter_mut()).for_each(|e| e.time_s *= 3.0);
    assert!(failed(&base, &cur).is_empty());
    // On another CPU model the ratio is shown, not gated; accuracy and loss still are.
    let mut cur = base.clone();
    cur.machine.cpu = "Intel(R) Xeon(R) Processor".into();
    for e in &mut cur.runs[1].epochs {
        e.time_s *= 1.5;
    }
    cur.runs[1].epochs[1].avg_loss += 0.02;
    assert_eq!(failed(&base, &cur), ["gluon: final avg loss"]);
    let all = checks(&base, &cur).unwrap();
    assert!(all.iter().any(|c| c.metric.contains("(not gated: baseline from") && c.pass.is_none()));
}

#[test]
fn less_accurate_or_higher_loss_fails_naming_the_metric() {
    let base = sample_results();
    let mut cur = base.clone();
    cur.runs[0].epochs[1].test_acc -= 0.01;
    cur.runs[1].epochs[1].avg_loss += 0.02;
    assert_eq!(failed(&base, &cur), ["gluon: final avg loss", "torch: final test accuracy"]);
    let mut cur = base.clone();
    cur.runs.truncate(1);
    assert_eq!(failed(&base, &cur), ["gluon: missing from the current results"]);
    // A backend only in the current results is reported, not silently skipped.
    let mut cur = base.clone();
    let mut extra = cur.runs[1].clone();
    extra.backend = "candle".into();
    cur.runs.push(extra);
    let all = checks(&base, &cur).unwrap();
    assert!(all
        .iter()
        .any(|c| c.metric == "candle: new, no baseline (shown, not gated)" && c.pass.is_none()));
    // Recipe differences read like the recipe, not like Rust.
    let mut cur = base.clone();
    cur.recipe.limit = Some(2000);
    let e = checks(&base, &cur).unwrap_err().to_string();
    assert!(e.contains("key 'limit': none (the whole data set) vs 2000"), "{e}");
}

#[test]
fn bad_baselines_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = Results::load(&dir.path().join("none.json")).unwrap_err();
    assert!(format!("{e:#}").contains("none.json: cannot read the results file"), "{e:#}");
    let p = dir.path().join("bad.json");
    std::fs::write(&p, "{\"schema\": 1, \"runs\": 3}").unwrap();
    assert!(Results::load(&p).unwrap_err().to_string().contains("not an mlcmp results file"));
    let base = sample_results();
    let mut cur = base.clone();
    cur.recipe.epochs = 9;
    let e = checks(&base, &cur).unwrap_err().to_string();
    assert!(e.contains("key 'epochs': 5 vs 9"), "{e}");
}
