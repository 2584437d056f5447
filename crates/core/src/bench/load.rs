//! What else the machine did while a bench worker ran: the load average, the CPU time of every
//! other process, and steal time (a hypervisor running other guests on our cores). A reader can
//! then tell a noisy repeat from a regression.

use crate::run::Load;
use std::time::Instant;

/// A reading of the machine's CPU counters and this process's finished children.
pub struct Snapshot {
    at: Instant,
    loadavg: f64,
    /// Seconds of user, nice, system, irq and softirq time over all cores, and of steal, and in total.
    busy_s: f64,
    steal_s: f64,
    total_s: f64,
    /// CPU seconds of this process's children that have been waited for.
    children_s: f64,
}

/// Read the counters now; `None` where /proc is missing (not Linux).
pub fn snapshot() -> Option<Snapshot> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 8 {
        return None;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user and nice]
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    Some(Snapshot {
        at: Instant::now(),
        loadavg,
        busy_s: busy / hz,
        steal_s: v[7] / hz,
        total_s: v[..8].iter().sum::<f64>() / hz,
        children_s: children_cpu_s(),
    })
}

fn children_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass; zeroed is a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// The load between two snapshots taken around the whole life of the children measured (started after `a`,
/// waited for before `b`), on a machine of `cores` cores.
pub fn between(a: &Snapshot, b: &Snapshot, cores: usize) -> Load {
    let wall = (b.at - a.at).as_secs_f64().max(1e-9);
    let worker = b.children_s - a.children_s;
    let others = (b.busy_s - a.busy_s - worker).max(0.0);
    let total = (b.total_s - a.total_s).max(1e-9);
    Load {
        loadavg: a.loadavg,
        others_share: others / (wall * cores.max(1) as f64),
        steal_share: (b.steal_s - a.steal_s).max(0.0) / total,
    }
}
