//! Fork-join for exactly two threads with one persistent helper thread that spins between jobs
//! (the two-thread case of [`super::threads`]).
//!
//! A training step runs three large products with short single-threaded work between them;
//! rayon's threads fall asleep in that gap and waking them costs a sizeable part of a product
//! (`cargo run --release -p mlcmp-gluon-engine --example matmul` measures it). The caller here does its half at
//! once while the helper, spinning for up to 300 us after its last job, takes the other half. When
//! another process has the helper's core, the caller takes parts back and, if that keeps
//! happening, runs every part itself for a while ([`Backoff`]).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

type Job = &'static (dyn Fn() + Sync);

struct Helper {
    /// Held by the one caller using the helper; others run both halves themselves.
    busy: Mutex<()>,
    job: Mutex<Option<Job>>,
    posted: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    sleeping: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

const SPIN: Duration = Duration::from_micros(300);

static HELPER: LazyLock<&'static Helper> = LazyLock::new(|| {
    let h: &'static Helper = Box::leak(Box::new(Helper {
        busy: Mutex::new(()),
        job: Mutex::new(None),
        posted: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        sleeping: AtomicBool::new(false),
        lock: Mutex::new(()),
        wake: Condvar::new(),
    }));
    std::thread::Builder::new()
        .name("gluon-helper".into())
        .spawn(move || h.run())
        .expect("spawn the helper thread");
    h
});

impl Helper {
    fn run(&self) {
        let mut seen = 0;
        loop {
            let start = Instant::now();
            while self.posted.load(SeqCst) == seen {
                if start.elapsed() < SPIN {
                    std::hint::spin_loop();
                    continue;
                }
                let mut g = self.lock.lock().unwrap();
                self.sleeping.store(true, SeqCst);
                while self.posted.load(SeqCst) == seen {
                    g = self.wake.wait(g).unwrap();
                }
                self.sleeping.store(false, SeqCst);
            }
            seen = self.posted.load(SeqCst);
            if let Some(job) = self.job.lock().unwrap().take() {
                if catch_unwind(AssertUnwindSafe(job)).is_err() {
                    self.panicked.store(true, SeqCst);
                }
            }
            self.done.store(seen, SeqCst);
        }
    }
}

/// When the helper keeps missing its parts, joins run both halves here for a while.
///
/// A helper that has not started its part by the time the caller has done its own is not running:
/// another process has its core. The caller then runs both halves (see [`join`]), but beside a
/// process spinning on one core that was still slower than one thread: the helper, spinning or
/// being woken, took CPU time from the caller whenever the two shared the free core. Serial
/// periods bring the step back near the one-thread time beside a spinning process and change
/// nothing on a quiet machine (an in-process A/B of the MLP step).
struct Backoff {
    /// Parts the caller took back since the helper last did one.
    misses: AtomicUsize,
    /// Joins run serially until this time (ns since [`EPOCH`]).
    until: AtomicU64,
    /// The length of the last serial period, in ns.
    len: AtomicU64,
}

static BACKOFF: Backoff = Backoff::new();
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Backoff {
    /// The first serial period, in ns.
    const MIN: u64 = 2_000_000;
    /// The longest: when the neighbour leaves, joins are back on two threads within this.
    const MAX: u64 = 256_000_000;
    /// A miss this soon after a serial period ended (or within the period's own length, if
    /// longer) doubles the next period: the neighbour is still there.
    const RECENT: u64 = 20_000_000;

    const fn new() -> Backoff {
        Backoff { misses: AtomicUsize::new(0), until: AtomicU64::new(0), len: AtomicU64::new(0) }
    }

    fn now() -> u64 {
        EPOCH.elapsed().as_nanos() as u64
    }

    fn serial(&self, now: u64) -> bool {
        now < self.until.load(Relaxed)
    }

    fn hit(&self) {
        self.misses.store(0, Relaxed);
    }

    /// Two misses in a row start a serial period: one alone happens on a quiet machine too, when a
    /// part is shorter than waking the sleeping helper.
    fn missed(&self, now: u64) {
        if self.misses.fetch_add(1, Relaxed) + 1 < 2 {
            return;
        }
        self.misses.store(0, Relaxed);
        let (until, len) = (self.until.load(Relaxed), self.len.load(Relaxed));
        let len = match now.saturating_sub(until) < len.max(Self::RECENT) {
            true => (2 * len).clamp(Self::MIN, Self::MAX),
            false => Self::MIN,
        };
        self.len.store(len, Relaxed);
        self.until.store(now + len, Relaxed);
    }
}

/// Run `a` here and `b` on the helper, returning when both are done (also when `a` panics: the
/// panic is resumed only after the helper has finished with `b`). When another thread is using the
/// helper, both run here, one after the other; when the helper has not started `b` by the time `a`
/// is done, `b` runs here too, and after two such joins in a row the next joins run both halves
/// here for a while ([`Backoff`]).
pub(crate) fn join(a: impl FnOnce(), b: impl Fn() + Sync) {
    let h = *HELPER;
    let helper = match BACKOFF.serial(Backoff::now()) {
        true => None,
        false => h.busy.try_lock().ok(),
    };
    let Some(_busy) = helper else {
        a();
        b();
        return;
    };
    let b_ref: &(dyn Fn() + Sync) = &b;
    // SAFETY: the helper drops its reference before it publishes `done`, and this function neither
    // returns nor unwinds (so `b` stays alive) until `done` shows this job: a panic in `a` is caught
    // and resumed after the wait.
    let job: Job = unsafe { std::mem::transmute::<&(dyn Fn() + Sync), Job>(b_ref) };
    *h.job.lock().unwrap() = Some(job);
    let gen = h.posted.fetch_add(1, SeqCst) + 1;
    if h.sleeping.load(SeqCst) {
        let _g = h.lock.lock().unwrap();
        h.wake.notify_one();
    }
    let here = catch_unwind(AssertUnwindSafe(a));
    // A helper that has not taken `b` by now is not running (another process has its core): take
    // `b` back and run it here rather than wait for the scheduler. On a quiet machine the spinning
    // helper takes a job within microseconds, so this only matters beside a busy neighbour.
    let retracted = h.job.lock().unwrap().take();
    let there = match retracted {
        Some(job) => {
            BACKOFF.missed(Backoff::now());
            #[cfg(test)]
            tests::RETRACTED.fetch_add(1, SeqCst);
            catch_unwind(AssertUnwindSafe(job)).is_err()
        }
        None => {
            BACKOFF.hit();
            let start = Instant::now();
            while h.done.load(SeqCst) != gen {
                if start.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            h.panicked.swap(false, SeqCst)
        }
    };
    if let Err(p) = here {
        resume_unwind(p);
    }
    if there {
        panic!("a kernel part on the helper thread panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::{join, Backoff};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    /// How often a caller took its job back from a helper that had not started it.
    pub(super) static RETRACTED: AtomicUsize = AtomicUsize::new(0);

    /// Beside threads that keep every core busy, and with halves so small that the caller is done
    /// before the helper looks, both paths run (the helper's half there, or taken back here):
    /// each half runs exactly once either way.
    #[test]
    fn each_half_runs_once_also_when_the_helper_is_late() {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..std::thread::available_parallelism().map_or(1, |n| n.get()) {
                s.spawn(|| {
                    while !stop.load(SeqCst) {
                        std::hint::spin_loop();
                    }
                });
            }
            for _ in 0..5_000 {
                let (a, b) = (AtomicUsize::new(0), AtomicUsize::new(0));
                join(|| _ = a.fetch_add(1, SeqCst), || _ = b.fetch_add(1, SeqCst));
                assert_eq!((a.load(SeqCst), b.load(SeqCst)), (1, 1));
            }
            stop.store(true, SeqCst);
        });
        assert!(RETRACTED.load(SeqCst) > 0, "the take-back path never ran");
    }

    /// Two misses in a row start a 2 ms serial period; a miss soon after it doubles the next one
    /// (up to 256 ms); one long after starts again at 2 ms; a hit between two misses resets the
    /// count.
    #[test]
    fn serial_periods_start_after_two_misses_and_double_while_misses_continue() {
        const MS: u64 = 1_000_000;
        let b = Backoff::new();
        let t = 1000 * MS;
        b.missed(t);
        assert!(!b.serial(t), "one miss alone");
        b.hit();
        b.missed(t);
        assert!(!b.serial(t), "a hit resets the count");
        b.missed(t);
        assert!(b.serial(t) && b.serial(t + 2 * MS - 1) && !b.serial(t + 2 * MS));
        let mut end = t + 2 * MS;
        for len in [4, 8, 16, 32, 64, 128, 256, 256] {
            let now = end + 10 * MS;
            b.missed(now);
            b.missed(now);
            assert!(b.serial(now + len * MS - 1) && !b.serial(now + len * MS), "{len} ms");
            end = now + len * MS;
        }
        let now = end + 300 * MS;
        b.missed(now);
        b.missed(now);
        assert!(b.serial(now) && !b.serial(now + 2 * MS), "back to 2 ms after a quiet while");
    }
}
