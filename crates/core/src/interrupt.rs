//! The process-wide stop request (Ctrl-C, SIGTERM, SIGHUP): set by the signal handler, read by the
//! training loops.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Ask running backends to stop after the current batch. A second request exits at once.
pub fn request_stop() {
    if STOP.swap(true, Ordering::SeqCst) {
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
