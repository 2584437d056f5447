//! The bookkeeping every backend's training loop shares, so the loops themselves hold only the
//! framework's idiom: per-epoch events and timing, each batch's loss, the phase clock, the
//! divergence and Ctrl-C checks, and the evaluation after each epoch.
//!
//! ```
//! use mlcmp_core::run::RunResult;
//! use mlcmp_core::tracker::{Phase, Tracker};
//! let mut print = |e: mlcmp_core::backend::Event| println!("{e:?}");
//! let mut t = Tracker::new(RunResult::new("demo", 1), &mut print);
//! for epoch in 0..2 {
//!     t.start_epoch(epoch, 3);
//!     for _ in 0..3 {
//!         t.lap(Phase::Forward); // ... one phase of the step ...
//!         if !t.end_batch(0.5) { break; }
//!     }
//!     if !t.end_epoch(300, || Ok::<_, ()>((0.9, 0.8))).unwrap() { break; }
//! }
//! let run = t.finish();
//! assert_eq!((run.epochs.len(), run.epochs[1].avg_loss), (2, 0.5));
//! ```

use crate::backend::Event;
use crate::divergence::diverged;
use crate::interrupt::stop_requested;
use crate::run::{EpochResult, Phases, RunResult, Status, StopPoint};
use std::time::Instant;

/// Which phase of a training step just ended.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Data,
    Forward,
    Backward,
    Update,
}

/// Charges the time since the previous lap to a phase: one `lap` call after each phase of the loop.
pub struct PhaseClock {
    last: Instant,
    pub phases: Phases,
}

impl PhaseClock {
    pub fn start() -> PhaseClock {
        PhaseClock { last: Instant::now(), phases: Phases::default() }
    }

    /// Leave the time since the last lap out of every phase (it shows as the epoch's "other").
    pub fn skip(&mut self) {
        self.last = Instant::now();
    }

    pub fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        let dt = (now - self.last).as_secs_f64();
        self.last = now;
        let p = &mut self.phases;
        *match phase {
            Phase::Data => &mut p.data_s,
            Phase::Forward => &mut p.forward_s,
            Phase::Backward => &mut p.backward_s,
            Phase::Update => &mut p.update_s,
        } += dt;
    }
}

/// Fault injection for the CI gate's power study and its tests, never for a measurement:
/// `MLCMP_INJECT_SLOWDOWN=gluon=1.05,torch=1.1` makes the named backends spin after every batch
/// for the batch's own time times (factor - 1), so their epochs take `factor` times as long.
/// Spinning, not sleeping, so the extra time competes for the cores as real work would. `mlcmp
/// bench --inject-slowdown` sets it on this build's workers only.
pub const SLOWDOWN_VAR: &str = "MLCMP_INJECT_SLOWDOWN";

/// The factor [`SLOWDOWN_VAR`] gives `backend` (1 when it names another or is unset).
pub fn injected_slowdown(backend: &str) -> Result<f64, String> {
    std::env::var(SLOWDOWN_VAR).map_or(Ok(1.0), |spec| slowdown_in(&spec, backend))
}

/// The factor `spec` (`gluon=1.05,torch=1.1`) gives `backend`; an item that does not parse, or a
/// factor outside 1 to 100, is an error naming it.
pub fn slowdown_in(spec: &str, backend: &str) -> Result<f64, String> {
    let mut found = 1.0;
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let Some((b, f)) = item.split_once('=').and_then(|(b, f)| Some((b, f.parse::<f64>().ok()?))) else {
            return Err(format!("'{item}' is not BACKEND=FACTOR, e.g. gluon=1.05"));
        };
        if !(f.is_finite() && (1.0..=100.0).contains(&f)) {
            return Err(format!("factor {f} in '{item}' is out of range; use 1 to 100"));
        }
        if b == backend {
            found = f;
        }
    }
    Ok(found)
}

/// A run in progress: the finished epochs, the current epoch's losses and clocks, and who to tell.
pub struct Tracker<'a> {
    run: RunResult,
    on: &'a mut dyn FnMut(Event),
    epoch: usize,
    start: Instant,
    losses: Vec<f32>,
    clock: PhaseClock,
    /// [`SLOWDOWN_VAR`]'s factor for this backend, and when the current batch began.
    slowdown: f64,
    batch_start: Instant,
}

impl<'a> Tracker<'a> {
    /// Panics where [`SLOWDOWN_VAR`] is set but malformed: the variable is for tests only, and a
    /// run with a misread factor would measure the wrong thing.
    pub fn new(run: RunResult, on: &'a mut dyn FnMut(Event)) -> Tracker<'a> {
        let slowdown = injected_slowdown(&run.backend).unwrap_or_else(|e| panic!("{SLOWDOWN_VAR}: {e}"));
        let now = Instant::now();
        Tracker {
            run,
            on,
            epoch: 0,
            start: now,
            losses: vec![],
            clock: PhaseClock::start(),
            slowdown,
            batch_start: now,
        }
    }

    /// An epoch of `batches` batches begins: its wall clock starts here.
    pub fn start_epoch(&mut self, epoch: usize, batches: usize) {
        (self.on)(Event::EpochStart { epoch, batches });
        crate::turns::at_epoch_start();
        self.epoch = epoch;
        self.losses = Vec::with_capacity(batches);
        self.start = Instant::now();
        self.batch_start = self.start;
        self.clock = PhaseClock::start();
    }

    /// One phase of the current step ended.
    pub fn lap(&mut self, phase: Phase) {
        self.clock.lap(phase);
    }

    /// A batch ended with mean loss `loss`. False when the run must stop: the loss diverged or a
    /// stop was requested (the status and the stop point are recorded).
    pub fn end_batch(&mut self, loss: f32) -> bool {
        if self.slowdown > 1.0 {
            let until = self.batch_start + self.batch_start.elapsed().mul_f64(self.slowdown);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            self.clock.skip();
        }
        self.batch_start = Instant::now();
        let batch = self.losses.len();
        self.losses.push(loss);
        (self.on)(Event::Batch { epoch: self.epoch, batch, loss });
        let status = if diverged(loss) {
            Status::Diverged
        } else if stop_requested() {
            Status::Interrupted
        } else {
            return true;
        };
        self.run.status = status;
        self.run.stopped_at = Some(StopPoint { epoch: self.epoch, batch });
        false
    }

    /// The epoch's training ended. Unless the run stopped during it, `evaluate` gives the train and
    /// test accuracy (timed apart from the epoch) and the epoch is kept. False when the run must stop.
    pub fn end_epoch<E>(
        &mut self,
        samples: usize,
        evaluate: impl FnOnce() -> Result<(f64, f64), E>,
    ) -> Result<bool, E> {
        let time_s = self.start.elapsed().as_secs_f64();
        if self.run.status != Status::Ok {
            return Ok(false);
        }
        let eval_start = Instant::now();
        let (train_acc, test_acc) = evaluate()?;
        let e = EpochResult {
            train_acc,
            test_acc,
            time_s,
            eval_s: eval_start.elapsed().as_secs_f64(),
            phases: self.clock.phases,
            ..EpochResult::new(self.epoch, std::mem::take(&mut self.losses), samples)
        };
        (self.on)(Event::EpochEnd(&e));
        self.run.epochs.push(e);
        Ok(true)
    }

    /// The run so far.
    pub fn finish(self) -> RunResult {
        self.run
    }
}
