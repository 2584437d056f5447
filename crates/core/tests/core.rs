mod common;

use mlcmp_core::export::{self, compare as report, Style};
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::Results;
use mlcmp_core::run::{EpochResult, RunResult, Status, StopPoint};
use mlcmp_core::stats::median;
use mlcmp_core::tracker::Tracker;

fn err(json: &str) -> String {
    Recipe::parse(json, "cfg.json").unwrap_err().to_string()
}

fn article_with(key: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(mlcmp_core::recipe::ARTICLE_JSON).unwrap();
    v[key] = serde_json::from_str(value).unwrap();
    v.to_string()
}

#[test]
fn the_article_recipe() {
    let r = Recipe::article();
    assert_eq!((r.epochs, r.batch_size, r.hidden, r.seed), (5, 128, 256, 42));
    assert_eq!((r.lr, r.mean, r.std), (0.1, 0.13, 0.31));
    assert!(r.shuffle);
    assert_eq!(r.threads.resolve(), std::thread::available_parallelism().unwrap().get());
    assert_eq!(r.batches_per_epoch(60_000), 469);
}

#[test]
fn config_errors_name_the_key() {
    assert!(
        err(&article_with("colour", "1")).starts_with("cfg.json: unknown field `colour`, expected one of")
    );
    assert!(err(&article_with("lr", "\"fast\""))
        .starts_with("cfg.json: key 'lr': invalid type: string \"fast\", expected f64"));
    assert!(err(&article_with("epochs", "-1")).starts_with("cfg.json: key 'epochs': invalid value"));
    assert_eq!(
        err(&article_with("lr", "0")),
        "cfg.json: key 'lr' = 0 is out of range: use a finite learning rate > 0"
    );
    assert_eq!(
        err(&article_with("epochs", "0")),
        "cfg.json: key 'epochs' = 0 is out of range: use 1..=10000"
    );
    assert!(err(&article_with("batch_size", "0")).contains("key 'batch_size' = 0 is out of range"));
    assert!(err(&article_with("hidden", "0")).contains("key 'hidden' is missing or 0"));
    assert!(err(&article_with("hidden", "70000")).contains("key 'hidden' = 70000 is out of range"));
    assert!(err(&article_with("model", "\"resnet\""))
        .starts_with("cfg.json: key 'model': unknown variant `resnet`"));
    let lenet = Recipe::parse(include_str!("../../../configs/lenet.json"), "lenet.json").unwrap();
    assert_eq!((lenet.model.name(), lenet.hidden, lenet.model().param_count()), ("lenet", 0, 61_706));
    let e =
        Recipe::parse(&include_str!("../../../configs/lenet.json").replace("{", "{\"hidden\": 8,"), "l.json");
    assert_eq!(
        e.unwrap_err().to_string(),
        "l.json: key 'hidden' = 8 does not apply to the lenet model (its layer sizes are d2l's); remove it"
    );
    assert!(err(&article_with("threads", "0"))
        .contains("key 'threads' = 0 is out of range: use 1..=1024 or \"all\""));
    assert!(err(&article_with("threads", "\"many\"")).contains("key 'threads'"));
    assert!(err(&article_with("std", "0")).contains("key 'std' = 0"));
    let e = err("{");
    assert!(e.starts_with("cfg.json: ") && e.contains("EOF while parsing"), "{e}");
    let big = Recipe::article();
    assert!(big.validate_for(128).is_ok());
    let mut r = Recipe::article();
    r.batch_size = 101;
    assert_eq!(
        r.validate_for(100).unwrap_err().to_string(),
        "key 'batch_size' = 101 is out of range: the training set has 100 samples; use 1..=100"
    );
}

#[test]
fn overrides_are_validated() {
    let o = mlcmp_core::recipe::Overrides { lr: Some(f64::NAN), ..Default::default() };
    assert!(Recipe::article().apply(&o).unwrap_err().to_string().starts_with("command line: key 'lr' = NaN"));
    let o = mlcmp_core::recipe::Overrides { epochs: Some(2), threads: Some(1), ..Default::default() };
    let r = Recipe::article().apply(&o).unwrap();
    assert_eq!((r.epochs, r.threads.resolve()), (2, 1));
}

fn epoch(i: usize, loss: f64, t: f64) -> EpochResult {
    EpochResult {
        epoch: i,
        avg_loss: loss,
        train_acc: 0.9,
        test_acc: 0.95 + i as f64 / 100.0,
        time_s: t,
        eval_s: 0.1,
        batches: 469,
        samples: 60_000,
        phases: Default::default(),
        warmup: false,
        batch_losses: vec![],
    }
}

fn sample_results() -> Results {
    let mut res = common::empty_results();
    let mut t = RunResult::new("torch", 2);
    t.epochs = vec![epoch(0, 0.3251, 1.0), epoch(1, 0.1509, 2.0)];
    let mut g = RunResult::new("gluon", 2);
    g.epochs = vec![epoch(0, 0.3162, 0.5), epoch(1, 0.1503, 0.5)];
    res.runs = vec![t, g];
    res
}

/// A bench's record of the article recipe's matmul probe at `matmul_gflops`, without a peak.
fn bench_info(matmul_gflops: f64) -> mlcmp_core::results::BenchInfo {
    mlcmp_core::results::BenchInfo {
        repeats: 2,
        warmup_epochs: 1,
        matmul_gflops,
        matmul_shape: "(128x784).(784x256)".into(),
        libtorch_best: None,
    }
}

#[test]
fn results_json_round_trip_and_atomic_save() {
    let res = sample_results();
    let text = res.to_json();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 2);
    assert_eq!(v["machine"]["cores"], 2);
    assert_eq!(v["versions"]["libtorch"], "l");
    assert_eq!(v["recipe"]["batch_size"], 128);
    assert_eq!(v["runs"][1]["backend"], "gluon");
    assert_eq!(v["runs"][0]["status"], "ok");
    assert_eq!(v["runs"][0]["epochs"][1]["avg_loss"], 0.1509);
    let back = Results::parse(&text, "r.json").unwrap();
    assert_eq!(back, res);

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/r.json");
    res.save(&p, false).unwrap();
    assert_eq!(Results::load(&p).unwrap(), res);
    let e = res.save(&p, false).unwrap_err().to_string();
    assert!(e.ends_with("exists; pass --force to overwrite it or choose another path"), "{e}");
    res.save(&p, true).unwrap();
    assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1, "no temp file left");

    assert!(Results::parse("{\"schema\": 1}", "x.json")
        .unwrap_err()
        .to_string()
        .starts_with("x.json: not an mlcmp results file"));
    let mut v2 = v.clone();
    v2["schema"] = 7.into();
    assert!(Results::parse(&v2.to_string(), "x.json")
        .unwrap_err()
        .to_string()
        .contains("schema 7 is not supported"));
}

#[test]
fn tables_show_the_numbers() {
    let res = sample_results();
    let md = report::epoch_table(&res, Style::Markdown).to_string();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0].split('|').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        [
            "epoch",
            "avg loss torch",
            "avg loss gluon",
            "test acc torch",
            "test acc gluon",
            "s torch",
            "s gluon",
            "gluon speedup"
        ]
    );
    let row1: Vec<&str> = lines[3].split('|').map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(row1, ["1", "0.1509", "0.1503", "96.00%", "96.00%", "2.00", "0.50", "4.00x"]);
    let summary = report::summary_table(&res, Style::Markdown).to_string();
    assert!(summary.contains("| torch ") && summary.contains("1.500"), "{summary}");
    let art = report::article_table(&res, Style::Text).to_string();
    assert!(
        art.contains("3.83") && art.contains("1.55") && art.contains("2.47x") && art.contains("3.00x"),
        "{art}"
    );
    assert!(art.contains("Test CPU, 2 cores"));
    assert!(art.contains("mean of 0-1, 60000 samples each"), "{art}");
    // A --limit run's epochs are too short to set beside the article's: said so in the row.
    let mut short = res.clone();
    short.runs.iter_mut().flat_map(|r| r.epochs.iter_mut()).for_each(|e| e.samples = 2000);
    let art = report::article_table(&short, Style::Text).to_string();
    assert!(art.contains("not comparable: 2000 samples per epoch"), "{art}");
    assert_eq!(report::epoch_line(&res.runs[0].epochs[0]), "epoch 0, avg loss 0.3251, time 1.00");
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
}

#[test]
fn a_non_finite_loss_stops_the_run() {
    let mut on = |_: mlcmp_core::backend::Event| {};
    let mut t = Tracker::new(RunResult::new("gluon", 1), &mut on);
    t.start_epoch(2, 20);
    for _ in 0..17 {
        assert!(t.end_batch(0.5));
    }
    assert!(!t.end_batch(f32::NAN));
    assert!(!t.end_epoch(100, || Ok::<_, ()>((1.0, 1.0))).unwrap(), "a stopped epoch is not kept");
    let r = t.finish();
    assert_eq!(r.status, Status::Diverged);
    assert_eq!(r.stopped_at, Some(StopPoint { epoch: 2, batch: 17 }));
    assert!(r.epochs.is_empty());
    let mut t = Tracker::new(RunResult::new("torch", 1), &mut on);
    t.start_epoch(0, 2);
    assert!(t.end_batch(999.0));
    assert!(!t.end_batch(5e16), "finite but exploding");
    assert_eq!(t.finish().status, Status::Diverged);
}

mod regress {
    use super::sample_results;
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
        assert!(all
            .iter()
            .any(|c| c.metric.contains("median epoch s (shown, not gated)") && c.pass.is_none()));
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
}

#[test]
fn csv_round_trips_the_numbers() {
    let res = sample_results();
    let csv = export::csv::csv(&res);
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    let mut i = 0;
    for r in &res.runs {
        for e in &r.epochs {
            let row = &rows[i];
            assert_eq!(row[0], r.backend);
            assert_eq!(row[1].parse::<u64>().unwrap(), res.recipe.seed);
            assert_eq!(row[5].parse::<usize>().unwrap(), e.epoch);
            assert_eq!(row[7].parse::<f64>().unwrap(), e.avg_loss);
            assert_eq!(row[9].parse::<f64>().unwrap(), e.test_acc);
            assert_eq!(row[10].parse::<f64>().unwrap(), e.time_s);
            i += 1;
        }
    }
    let md = export::render_any(&res, Style::Markdown);
    assert!(md.starts_with("### Per epoch"));
    assert!(md.contains(&format!("{:.4}", res.runs[1].epochs[1].avg_loss)));
}

#[test]
fn the_svg_has_one_series_per_backend_and_the_article_curves() {
    let res = sample_results();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plot.svg");
    export::plot::write_svg(&res, &p, false).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid SVG");
    let lines: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("polyline")).collect();
    let solid = |n: &&roxmltree::Node| n.attribute("opacity") == Some("1");
    let with_stroke =
        |c: &str| lines.iter().filter(solid).filter(|n| n.attribute("stroke") == Some(c)).count();
    assert!(lines.iter().filter(|n| !solid(n)).count() > 10, "dashed article curves");
    // torch and gluon: one line per panel (3) and one legend mark per panel (3).
    assert_eq!(with_stroke("#DE4B2C"), 6, "torch");
    assert_eq!(with_stroke("#2171B5"), 6, "gluon");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect();
    for label in [
        "torch",
        "gluon",
        "article PyTorch (2018)",
        "article MXNet (2018)",
        "avg loss per epoch",
        "epoch",
        "seconds",
    ] {
        assert!(texts.iter().any(|t| t == label), "no text '{label}' in {texts:?}");
    }
}

#[test]
fn what_mlcmp_writes_it_reads_back_even_unmeasured_values() {
    let mut res = sample_results();
    res.bench = Some(bench_info(f64::NAN)); // the probe needs torch: NaN in a gluon-only build
    res.runs[0].epochs[0].test_acc = f64::NAN;
    let json = res.to_json();
    assert!(json.contains("\"matmul_gflops\": null"), "serde_json writes NaN as null");
    let back = Results::parse(&json, "t.json").unwrap();
    assert!(back.bench.unwrap().matmul_gflops.is_nan());
    assert!(back.runs[0].epochs[0].test_acc.is_nan());
    assert!(export::render_any(&Results::parse(&json, "t.json").unwrap(), Style::Text).contains("x libtorch"));
}

#[test]
fn no_clobber_is_atomic_and_saved_names_are_unique() {
    use mlcmp_core::output::{write_atomic, write_unique};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    write_atomic(&p, b"first", false).unwrap();
    let e = write_atomic(&p, b"second", false).unwrap_err().to_string();
    assert!(e.contains("exists; pass --force"), "{e}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "first");
    write_atomic(&p, b"third", true).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "third");
    // Two saves in the same millisecond by the same process still get two files.
    let a = write_unique(dir.path(), "compare", "20261128T000000000Z", b"a").unwrap();
    let b = write_unique(dir.path(), "compare", "20261128T000000000Z", b"b").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        (std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap()),
        ("a".into(), "b".into())
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
}

#[test]
fn a_panicking_backend_is_a_failed_run_and_the_next_one_runs() {
    use mlcmp_core::backend::{Backend, Event, Job};
    struct Boom;
    impl Backend for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn run(&mut self, _: &Job, _: &mut dyn FnMut(Event)) -> anyhow::Result<RunResult> {
            panic!("called `Result::unwrap()` on an `Err` value: Torch(\"can't allocate memory\")")
        }
    }
    struct Fine;
    impl Backend for Fine {
        fn name(&self) -> &'static str {
            "fine"
        }
        fn run(&mut self, _: &Job, _: &mut dyn FnMut(Event)) -> anyhow::Result<RunResult> {
            Ok(RunResult::new("fine", 1))
        }
    }
    let recipe = Recipe::article();
    let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(Boom), Box::new(Fine)];
    let mut res = sample_results();
    res.runs.clear();
    mlcmp_core::driver::run_all(&recipe, &data, &mut backends, &mut res, Default::default(), &mut |_, _| {});
    assert_eq!(res.runs[0].status, Status::Failed);
    assert!(
        res.runs[0].error.as_deref().unwrap().contains("can't allocate memory"),
        "{:?}",
        res.runs[0].error
    );
    assert_eq!((res.runs[1].backend.as_str(), res.runs[1].status), ("fine", Status::Ok));
}

#[test]
fn a_child_is_read_line_by_line_and_a_silent_one_is_stopped() {
    use mlcmp_core::child::follow;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let spawn = |script: &str| {
        Command::new("bash")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut lines = vec![];
    let done =
        follow(spawn("echo one; echo two; echo oops >&2; exit 3"), None, |l| lines.push(l.to_string()))
            .unwrap();
    assert_eq!(lines, ["one", "two"]);
    assert_eq!(
        (done.status.code(), done.stderr_tail.as_slice(), done.silent_too_long),
        (Some(3), &["oops".to_string()][..], false)
    );
    let start = Instant::now();
    let done = follow(spawn("echo alive; sleep 30"), Some(Duration::from_millis(300)), |_| {}).unwrap();
    assert!(done.silent_too_long && start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    // A child that forked a worker holding its stdout (as a DataLoader does) is not waited for.
    let start = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.args(["-c", "echo alive; sleep 30 & sleep 30"]).stdout(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let done = follow(cmd.spawn().unwrap(), Some(Duration::from_millis(300)), |_| {}).unwrap();
    assert!(done.silent_too_long && start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

#[test]
fn the_floor_of_several_reruns_is_each_measures_largest() {
    use mlcmp_core::parity::Parity;
    let p = |batch: f64, at: usize, rel: f64, avg: f64, w: f64| Parity {
        batches_compared: 10,
        max_batch_loss_diff: batch,
        max_batch_loss_diff_at: StopPoint { epoch: 0, batch: at },
        max_batch_loss_rel_epoch0: rel,
        max_avg_loss_diff: avg,
        max_weight_diff: w,
        floor: None,
    };
    let m = p(1e-3, 4, 5e-3, 2e-5, 9e-3).max(p(2e-3, 7, 1e-3, 3e-5, 1e-3));
    assert_eq!(
        (m.max_batch_loss_diff, m.max_batch_loss_diff_at.batch, m.max_batch_loss_rel_epoch0),
        (2e-3, 7, 5e-3)
    );
    assert_eq!((m.max_avg_loss_diff, m.max_weight_diff), (3e-5, 9e-3));
    // The perturbations differ, so the reruns are distinct draws of the floor.
    let steps = mlcmp_core::shared::FLOOR_STEPS;
    assert!(steps.iter().enumerate().all(|(i, a)| steps[..i].iter().all(|b| b != a)) && steps.len() >= 3);
}

/// "x libtorch" sets each bench run against the matmul rate probed before its own repeat, so a
/// machine that speeds up or slows down between repeats does not move the multiple; runs without
/// a probe of their own (older files) use the bench's first one.
#[test]
fn x_libtorch_pairs_each_run_with_its_own_probe() {
    use mlcmp_core::bench::summary::x_libtorch;
    use mlcmp_core::run::Variant;
    let mut res = sample_results();
    res.bench = Some(bench_info(100.0));
    let flops = Recipe::article().model().train_flops_per_sample() * 60_000.0;
    // The machine ran at 100 GFLOP/s in the first repeat and at 200 in the second; the run took
    // twice its time at that rate in both.
    let run = |gflops: f64| {
        let mut r = RunResult::new("gluon", 2);
        r.epochs = vec![epoch(0, 0.3, 2.0 * flops / (gflops * 1e9))];
        r.libtorch_gflops = Some(gflops);
        r
    };
    let (slow, fast) = (run(100.0), run(200.0));
    let v = Variant { batch_size: 128, hidden: 256 };
    assert!((x_libtorch(&res, v, &[&slow, &fast]) - 2.0).abs() < 1e-9);
    let (mut a, mut b) = (slow.clone(), fast.clone());
    (a.libtorch_gflops, b.libtorch_gflops) = (None, None);
    assert!((x_libtorch(&res, v, &[&a, &b]) - 1.5).abs() < 1e-9, "2x and 1x the first probe's time");
    res.runs = vec![slow, fast];
    let best = mlcmp_core::results::BestRate { gflops: 250.0, shapes: "128x784x256, 512x512x512".into() };
    res.bench.as_mut().unwrap().libtorch_best = Some(best);
    let json = res.to_json();
    assert!(json.contains("\"libtorch_gflops\": 200.0"), "{json}");
    let text = export::render_any(&Results::parse(&json, "t.json").unwrap(), Style::Markdown);
    assert!(text.contains("probed again before each repeat: 100 to 200 GFLOP/s"), "{text}");
    let gluon = text.lines().find(|l| l.starts_with("| gluon")).unwrap();
    let cells: Vec<&str> = gluon.split('|').map(str::trim).collect();
    assert_eq!(cells[8], "2.00", "x libtorch in {gluon}");
    // Files written before the rename call the probe `floor_gflops` and libtorch's best `peak`.
    let old =
        json.replace("\"libtorch_gflops\"", "\"floor_gflops\"").replace("\"libtorch_best\"", "\"peak\"");
    assert!(old.contains("\"floor_gflops\": 200.0"));
    assert_eq!(Results::parse(&old, "old.json").unwrap(), Results::parse(&json, "t.json").unwrap());
}
