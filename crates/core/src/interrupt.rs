//! The process-wide stop request (Ctrl-C, SIGTERM, SIGHUP): set by the signal handler, read by the
//! training loops.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static KEEPING: AtomicBool = AtomicBool::new(false);

/// From now on a stop request lets the work in progress finish its batch and keep its results.
/// Before it (reading inputs, checking outputs) there is nothing to keep, so a stop exits at
/// once: a read that blocks never keeps mlcmp alive past a SIGTERM.
pub fn keep_results_from_now() {
    KEEPING.store(true, Ordering::SeqCst);
}

/// Ask running backends to stop after the current batch. A second request, or one before any
/// work started ([`keep_results_from_now`]), exits at once.
pub fn request_stop() {
    if STOP.swap(true, Ordering::SeqCst) || !KEEPING.load(Ordering::SeqCst) {
        std::process::exit(130);
    }
}

/// Ask for a stop, never exiting: for bench workers, which may get both the terminal's SIGINT and
/// their parent's SIGTERM for one stop, and must still report their finished epochs.
pub fn note_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested; backends check it once per batch.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
