//! `bench --against`'s paired runs: the two builds' workers of one backend alive side by side,
//! taking turns epoch by epoch in ABBA order, so the two epochs compared are a fraction of a
//! second apart instead of a whole worker apart. The machine's speed on a shared host moves in
//! phases of seconds, which whole workers run one after the other catch in one build and not the
//! other. Each worker stops before every epoch (`ready` on stdout) until told to go (a line on
//! stdin), and waits idle while the other one trains ([`crate::turns`]).
//!
//! Only backends whose training loop runs in the worker itself can take turns; a real framework
//! trains in a Python child that would run on, so its builds keep alternating whole workers.

use crate::bench::load;
use crate::bench::neighbour::Neighbour;
use crate::bench::worker::{failed_run, report_of, worker_command};
use crate::child::{bounded_lines, MAX_LINE};
use crate::interrupt::stop_requested;
use crate::recipe::Recipe;
use crate::run::RunResult;
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;

/// The worker's flag that makes it take turns.
pub const FLAG: &str = "--lockstep";

/// Whether `exe` (another build's mlcmp) has workers that take turns: builds from before it
/// alternate whole workers instead.
pub fn supported(exe: &Path) -> bool {
    std::process::Command::new(exe)
        .args(["worker", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(FLAG))
}

/// Whether `backend`'s loop runs in its worker, so the worker can stop it between epochs.
pub fn can_take_turns(backend: &str) -> bool {
    crate::registry::get(backend).is_some_and(|b| !b.real_framework)
}

/// One of the two workers, as the bench sees it.
struct Side {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// Waiting before an epoch for its turn.
    ready: bool,
    /// Its stdout closed: it ended.
    ended: bool,
    stdout: String,
    error: Option<String>,
}

enum Said {
    Line(usize, String),
    Closed(usize),
}

/// Run `backend` in `builds[0]` and `builds[1]` (with `slowdowns[i]` injected, as in
/// [`crate::bench::worker::run_worker`]), the two workers taking turns of one epoch: `first` (0
/// or 1) starts, and the order flips every epoch (ABBA). Both start before the first
/// turn, so their start-up (loading the data) overlaps no timed epoch. With `neighbour`, one busy
/// neighbour spins beside both. The runs, in the order of `builds`, record the machine's load over
/// the pair.
#[allow(clippy::too_many_arguments)]
pub fn run_pair(
    builds: [&Path; 2],
    slowdowns: [Option<&str>; 2],
    backend: &str,
    recipe: &Recipe,
    warmup: usize,
    data_dir: &Path,
    neighbour: bool,
    first: usize,
) -> [RunResult; 2] {
    let before = load::snapshot();
    let spinner = match neighbour.then(|| Neighbour::start(builds[0])).transpose() {
        Ok(n) => n,
        Err(e) => {
            return [0, 1]
                .map(|_| failed_run(backend, recipe, format!("cannot start the busy neighbour: {e}")));
        }
    };
    let (tx, rx) = mpsc::channel::<Said>();
    // Spawned from this thread, which waits for both: each dies with it ([`crate::child`]).
    let mut sides: Vec<Side> = (0..2)
        .map(|i| {
            let mut cmd = worker_command(builds[i], backend, recipe, warmup, data_dir, slowdowns[i]);
            match cmd.arg(FLAG).stdin(Stdio::piped()).spawn() {
                Ok(mut c) => {
                    let (stdin, stdout) = (c.stdin.take(), c.stdout.take().expect("stdout is piped"));
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        bounded_lines(stdout, MAX_LINE, |l| tx.send(Said::Line(i, l)).is_ok());
                        let _ = tx.send(Said::Closed(i));
                    });
                    Side {
                        child: Some(c),
                        stdin,
                        ready: false,
                        ended: false,
                        stdout: String::new(),
                        error: None,
                    }
                }
                Err(e) => Side {
                    child: None,
                    stdin: None,
                    ready: false,
                    ended: true,
                    stdout: String::new(),
                    error: Some(format!("cannot start the worker {}: {e}", builds[i].display())),
                },
            }
        })
        .collect();
    drop(tx);
    // Read what the workers say until `done` holds for `sides`.
    let until = |sides: &mut Vec<Side>, done: &dyn Fn(&[Side]) -> bool| {
        while !done(sides) {
            match rx.recv() {
                Ok(Said::Line(i, l)) if l == "ready" => sides[i].ready = true,
                Ok(Said::Line(i, l)) => sides[i].stdout.push_str(&(l + "\n")),
                Ok(Said::Closed(i)) => sides[i].ended = true,
                Err(_) => break,
            }
        }
    };
    let waiting = |s: &Side| s.ready || s.ended;
    until(&mut sides, &|s| s.iter().all(waiting));
    let mut turn = 0;
    while !sides.iter().all(|s| s.ended) && !stop_requested() {
        for i in [(first + turn) % 2, (first + turn + 1) % 2] {
            until(&mut sides, &|s| waiting(&s[i]));
            if sides[i].ended || stop_requested() {
                continue;
            }
            sides[i].ready = false;
            if sides[i].stdin.as_mut().is_none_or(|w| w.write_all(b"go\n").and_then(|_| w.flush()).is_err()) {
                sides[i].stdin = None;
            }
            until(&mut sides, &|s| waiting(&s[i]));
        }
        turn += 1;
    }
    // Stopping (or both ended): a worker at the end of its stdin stops at its next batch.
    for s in &mut sides {
        s.stdin = None;
    }
    until(&mut sides, &|s| s.iter().all(|s| s.ended));
    // Both reaped before the second reading, so their CPU time is the workers' and not others'
    // (the neighbour's, stopped after it, is others').
    let exits: Vec<_> = sides.iter_mut().map(|s| s.child.take().map(|mut c| c.wait())).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared_load = before.zip(load::snapshot()).map(|(a, b)| load::between(&a, &b, cores));
    drop(spinner);
    let mut runs = sides.into_iter().zip(exits).map(|(s, exit)| {
        let mut run = match (exit, s.error) {
            (_, Some(why)) => failed_run(backend, recipe, why),
            (Some(Ok(status)), None) => report_of(&s.stdout, status, backend, recipe),
            (Some(Err(e)), None) => failed_run(backend, recipe, format!("cannot wait for the worker: {e}")),
            (None, None) => failed_run(backend, recipe, "the worker did not start".into()),
        };
        run.load = shared_load;
        run.neighbour = neighbour;
        run
    });
    let a = runs.next().expect("two sides");
    let b = runs.next().expect("two sides");
    [a, b]
}
