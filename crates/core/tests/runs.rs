//! Running backends: divergence stops a run, a panic is a failed run, children are read and
//! stopped, parity's floor over reruns.

mod common;

use common::sample_results;
use mlcmp_core::recipe::Recipe;
use mlcmp_core::run::{RunResult, Status, StopPoint};
use mlcmp_core::tracker::Tracker;

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
    mlcmp_core::driver::run_all(
        &recipe,
        &data,
        &mut backends,
        &mut res,
        Default::default(),
        0,
        &mut |_, _| {},
    );
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
    let steps = mlcmp_core::shared::floor_steps(19);
    assert_eq!(steps[..4], [1.0, -1.0, 2.0, -2.0]);
    assert!(steps.iter().enumerate().all(|(i, a)| steps[..i].iter().all(|b| b != a)) && steps.len() == 19);
}
