//! A bench worker taking turns with the baseline build's worker of the same backend (`bench
//! --against`; [`crate::bench::lockstep`] is the bench's side). Once [`enable`]d, the training
//! loop stops before every epoch, before its clock starts: it prints `ready` and waits for a line
//! on stdin.
//!
//! Why whole epochs: turns of a few batches were tried, and they change what is measured. A
//! paused process's threads go to sleep, and waking them at every turn slowed torch's epochs by
//! up to 2x and put the engine's pair of threads into its single-thread backoff at random.

use crate::interrupt::note_stop;
use std::io::{BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Take turns from now on (a worker started with `--lockstep`).
pub fn enable() {
    ON.store(true, Ordering::SeqCst);
}

/// Before an epoch: say `ready` and block until the bench writes a line. The end of stdin (the
/// bench is stopping or gone) is a stop request, so the run ends at its next batch with what it
/// has.
pub(crate) fn at_epoch_start() {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let told = writeln!(out, "ready").and_then(|_| out.flush());
    drop(out);
    let mut line = String::new();
    // Bounded: the bench writes "go" and nothing else.
    let got = std::io::stdin().lock().take(64).read_line(&mut line);
    if told.is_err() || got.map_or(true, |n| n == 0) {
        note_stop();
    }
}
