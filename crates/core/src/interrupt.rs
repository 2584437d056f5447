//! The process-wide stop request (Ctrl-C): set by the signal handler, read by the training loops.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Ask running backends to stop after the current batch. A second request exits at once.
pub fn request_stop() {
    if STOP.swap(true, Ordering::SeqCst) {
        std::process::exit(130);
    }
}

/// Whether a stop was requested; backends check it once per batch.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
