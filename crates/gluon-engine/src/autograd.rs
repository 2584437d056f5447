//! `autograd`: record imperative code, then run it backwards.
//!
//! ```
//! use mlcmp_gluon_engine::{autograd, nd, GradReq};
//! let x = nd::array(&[1.0, 2.0, 3.0]);
//! x.attach_grad(GradReq::Write);
//! let y = autograd::record(|| (&x * &x)?.sum(None, false)).unwrap();
//! y.backward().unwrap();
//! assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![2.0, 4.0, 6.0]); // d(sum x^2)/dx = 2x
//! ```
//!
//! This module holds the recording state and `grad_req`; the tape itself (what an op records and how
//! `backward` walks it) lives with the arrays, in `nd`. The tape is the graph: every recorded output
//! holds its op and its inputs.

use crate::error::{bail, Result};
use std::cell::Cell;

/// How backward writes a leaf's gradient (MXNet's `grad_req`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradReq {
    /// Overwrite the gradient at each backward (the default; no zero_grad needed).
    Write,
    /// Accumulate into the gradient across backwards.
    Add,
    /// Keep no gradient.
    Null,
}

impl std::str::FromStr for GradReq {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "write" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            "null" => Ok(GradReq::Null),
            _ => bail!("unknown grad_req '{s}'; use 'write', 'add' or 'null'"),
        }
    }
}

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous recording/training state when dropped, also on early return or panic.
struct Scope {
    recording: bool,
    training: bool,
}

impl Scope {
    fn enter(recording: bool, training: bool) -> Scope {
        let prev = Scope { recording: is_recording(), training: is_training() };
        RECORDING.with(|c| c.set(recording));
        TRAINING.with(|c| c.set(training));
        prev
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        RECORDING.with(|c| c.set(self.recording));
        TRAINING.with(|c| c.set(self.training));
    }
}

/// `with autograd.record():` — run `f` recording ops, in training mode.
pub fn record<T>(f: impl FnOnce() -> T) -> T {
    record_mode(true, f)
}

/// `with autograd.record(train_mode=...):`.
pub fn record_mode<T>(train_mode: bool, f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(true, train_mode);
    f()
}

/// `with autograd.pause():` — run `f` without recording, in predict mode.
pub fn pause<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(false, false);
    f()
}

/// `with autograd.train_mode():` — training behaviour without recording.
pub fn train_mode<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(is_recording(), true);
    f()
}

/// `with autograd.predict_mode():`.
pub fn predict_mode<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(is_recording(), false);
    f()
}

pub fn is_recording() -> bool {
    RECORDING.with(|c| c.get())
}

pub fn is_training() -> bool {
    TRAINING.with(|c| c.get())
}
