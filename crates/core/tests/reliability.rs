//! What a hostile user found: regress blessing failed or impossible results, unbounded reads and
//! lines, children outliving mlcmp, tables that ignore the terminal.

mod common;

use mlcmp_core::recipe::Recipe;
use mlcmp_core::regress::checks;
use mlcmp_core::results::Results;
use mlcmp_core::run::{EpochResult, RunResult, Status};
use std::time::{Duration, Instant};

fn epoch(i: usize, acc: f64) -> EpochResult {
    EpochResult {
        train_acc: acc,
        test_acc: acc,
        time_s: 1.0,
        eval_s: 0.1,
        ..EpochResult::new(i, vec![0.2], 100)
    }
}

/// torch and mxnet, each with every epoch of the article's recipe at 0.97.
fn finished() -> Results {
    let mut res = common::empty_results();
    for b in ["torch", "mxnet"] {
        let mut r = RunResult::new(b, 2);
        r.epochs = (0..res.recipe.epochs).map(|i| epoch(i, 0.97)).collect();
        res.runs.push(r);
    }
    res
}

#[test]
fn regress_never_passes_a_failed_run() {
    let base = finished();
    // Every run failed: before, the last kept epoch passed as "no regression".
    let mut cur = finished();
    for r in &mut cur.runs {
        r.status = Status::Failed;
        r.error = Some("killed".into());
    }
    let c = checks(&base, &cur).unwrap();
    assert!(c.iter().filter(|c| c.pass == Some(false)).count() == 2, "{c:?}");
    assert!(c.iter().any(|c| c.metric == "torch: failed: killed"), "{c:?}");
    // A runner killed after epoch 0 is "mxnet failed", not an accuracy regression.
    let mut cur = finished();
    cur.runs[1].status = Status::Failed;
    cur.runs[1].epochs.truncate(1);
    cur.runs[1].epochs[0].test_acc = 0.5;
    let c = checks(&base, &cur).unwrap();
    let failed: Vec<&str> = c.iter().filter(|c| c.pass == Some(false)).map(|c| c.metric.as_str()).collect();
    assert_eq!(failed, ["mxnet: failed"], "{c:?}");
    // A results file with a failed run is no baseline.
    let e = checks(&cur, &base).unwrap_err().to_string();
    assert!(e.contains("the mxnet run failed and cannot be a baseline"), "{e}");
    let e = mlcmp_core::regress::check_baseline(&cur, "new.json").unwrap_err().to_string();
    assert!(e.starts_with("new.json: the mxnet run failed"), "{e}");
}

#[test]
fn regress_refuses_impossible_values_and_other_recipes() {
    let base = finished();
    let bad = |edit: fn(&mut Results), expect: &str| {
        let mut cur = finished();
        edit(&mut cur);
        let e = checks(&base, &cur).unwrap_err().to_string();
        assert!(e.contains(expect), "{expect}: {e}");
    };
    bad(|r| r.runs[0].epochs[4].test_acc = 7.5, "test_acc 7.5 is not an accuracy");
    bad(|r| r.runs[0].epochs[2].avg_loss = -0.1, "avg_loss -0.1 is negative");
    bad(|r| r.runs[1].epochs[0].time_s = -3.0, "time_s -3 is negative");
    bad(|r| r.runs[0].epochs[4].epoch = 9, "epoch 9 is beyond the recipe's 5 epoch(s)");
    bad(|r| r.recipe.model = mlcmp_core::model::ModelKind::Lenet, "key 'model': mlp vs lenet");
    bad(|r| r.recipe.std = 1.0, "key 'std'");
    bad(|r| r.recipe.threads = mlcmp_core::recipe::Threads::Count(1), "key 'threads': \"all\" vs 1");
    // A bench's warm-up epoch is one more than the recipe's.
    let mut cur = finished();
    cur.bench = Some(mlcmp_core::results::BenchInfo {
        repeats: 1,
        warmup_epochs: 1,
        matmul_gflops: 1.0,
        matmul_shape: "x".into(),
        libtorch_best: None,
        against: None,
        lockstep: false,
        epochs_for: Default::default(),
        hardware_peak: None,
    });
    cur.runs[0].epochs.push(epoch(5, 0.97));
    cur.check_plausible("bench.json").unwrap();
    // Every results file in results/ is plausible (gate-power.json is the gate's power study's
    // rows, written by scripts/gate-power, not a run's results).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../results");
    for f in std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()) {
        if f.extension().is_some_and(|e| e == "json") && !f.ends_with("gate-power.json") {
            Results::load(&f).unwrap().check_plausible(&f.display().to_string()).unwrap();
        }
    }
}

#[test]
fn reads_are_regular_files_with_a_limit() {
    use mlcmp_core::input::read_text;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Opening a FIFO for reading would block until a writer comes: refused at once instead.
    let start = Instant::now();
    for (p, what) in [
        (fifo.as_path(), "a device, socket or pipe"),
        ("/dev/zero".as_ref(), "a device"),
        (dir.path(), "a folder"),
    ] {
        let e = Recipe::load(p).unwrap_err().to_string();
        assert!(e.contains("not a regular file") && e.contains(what), "{e}");
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    let big = dir.path().join("big.json");
    std::fs::File::create(&big).unwrap().set_len(2 << 20).unwrap();
    let e = Recipe::load(&big).unwrap_err().to_string();
    assert!(e.contains("2097152 bytes is more than a recipe file can be (at most 1 MiB)"), "{e}");
    let e = Results::load(&big).unwrap_err().to_string();
    assert!(e.contains("not an mlcmp results file"), "a 2 MB file is within the results limit: {e}");
    assert_eq!(read_text(&big, 2 << 20, "x").unwrap().len(), 2 << 20);
}

#[test]
fn child_lines_are_cut_to_a_bound() {
    use mlcmp_core::child::{bounded_lines, follow, shorten};
    let mut got = vec![];
    let input = format!("short\n{}\nlast-without-newline", "y".repeat(1000));
    bounded_lines(input.as_bytes(), 10, |l| {
        got.push(l);
        true
    });
    assert_eq!(got, ["short", "yyyyyyyyyy... (990 more bytes cut)", "last-witho... (10 more bytes cut)"]);
    assert_eq!(shorten("abcdef", 3), "abc... (3 more bytes cut)");
    assert_eq!(shorten("abc", 3), "abc");
    // A child printing 50 MB on stderr without a newline: the tail keeps a readable line.
    let child = std::process::Command::new("bash")
        .args(["-c", "head -c 50000000 /dev/zero | tr '\\0' x >&2; echo done"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = follow(child, None, |_| {}).unwrap();
    assert_eq!(done.stderr_tail.len(), 1);
    assert!(done.stderr_tail[0].len() < 400, "{}", done.stderr_tail[0].len());
    assert!(done.stderr_tail[0].ends_with("(49999700 more bytes cut)"), "{}", &done.stderr_tail[0][290..]);
}

#[test]
fn a_child_dies_with_the_thread_that_started_it() {
    use mlcmp_core::child::{alive, die_with_parent, Orphaned};
    // The kernel signals the child when the spawning thread ends (as when mlcmp is SIGKILLed).
    let pid = std::thread::spawn(|| {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("60");
        die_with_parent(&mut cmd, Orphaned::Kill).spawn().unwrap().id()
    })
    .join()
    .unwrap();
    let start = Instant::now();
    // The killed child stays a zombie of this process until reaped: wait on it.
    let mut status = 0;
    // SAFETY: waitpid on our own child's pid.
    assert_eq!(unsafe { libc::waitpid(pid as i32, &mut status, 0) }, pid as i32);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!alive(pid));
    // Without it the child would have lived on: the same with a plain Command stays alive.
    let pid = std::thread::spawn(|| std::process::Command::new("sleep").arg("60").spawn().unwrap().id())
        .join()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid));
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
}

#[test]
fn text_tables_fit_the_terminal_and_the_locale() {
    // Run the table rendering in a child with the environment under test: env vars are
    // process-wide and the tests run in parallel.
    if let Ok(mode) = std::env::var("MLCMP_TEST_TABLE") {
        let res = Results::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../results/compare.json").as_ref())
            .unwrap();
        assert_eq!(mode, "1");
        print!("{}", mlcmp_core::export::compare::render(&res, mlcmp_core::export::Style::Text));
        return;
    }
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "text_tables_fit_the_terminal_and_the_locale",
            "--nocapture",
            "--test-threads",
            "1",
        ]);
        cmd.env("MLCMP_TEST_TABLE", "1").env_remove("LC_ALL").env_remove("LC_CTYPE").env_remove("COLUMNS");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
        // Only the tables: drop the test harness's own lines.
        out.lines()
            .filter(|l| !l.starts_with("running ") && !l.starts_with("test "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let wide = run(&[("LANG", "C.UTF-8")]);
    assert!(
        wide.contains('│') && wide.lines().any(|l| l.chars().count() > 120),
        "full width when not a terminal"
    );
    for cols in [80, 40] {
        let narrow = run(&[("LANG", "en_US.UTF-8"), ("COLUMNS", &cols.to_string())]);
        let widest = narrow.lines().filter(|l| l.contains('│')).map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= cols, "COLUMNS={cols}: a line of {widest}");
    }
    let ascii = run(&[("LANG", "C")]);
    let tables: String = ascii.lines().filter(|l| l.starts_with('|') || l.starts_with('+')).collect();
    assert!(!tables.is_empty() && tables.is_ascii(), "LANG=C draws ASCII lines");
}
