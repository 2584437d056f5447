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

/// A run in progress: the finished epochs, the current epoch's losses and clocks, and who to tell.
pub struct Tracker<'a> {
    run: RunResult,
    on: &'a mut dyn FnMut(Event),
    epoch: usize,
    start: Instant,
    losses: Vec<f32>,
    clock: PhaseClock,
}

impl<'a> Tracker<'a> {
    pub fn new(run: RunResult, on: &'a mut dyn FnMut(Event)) -> Tracker<'a> {
        Tracker { run, on, epoch: 0, start: Instant::now(), losses: vec![], clock: PhaseClock::start() }
    }

    /// An epoch of `batches` batches begins: its wall clock starts here.
    pub fn start_epoch(&mut self, epoch: usize, batches: usize) {
        (self.on)(Event::EpochStart { epoch, batches });
        self.epoch = epoch;
        self.losses = Vec::with_capacity(batches);
        self.start = Instant::now();
        self.clock = PhaseClock::start();
    }

    /// One phase of the current step ended.
    pub fn lap(&mut self, phase: Phase) {
        self.clock.lap(phase);
    }

    /// A batch ended with mean loss `loss`. False when the run must stop: the loss diverged or a
    /// stop was requested (the status and the stop point are recorded).
    pub fn end_batch(&mut self, loss: f32) -> bool {
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
