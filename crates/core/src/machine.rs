//! Where a run ran: the machine and the versions that go into every results file.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub threads: usize,
    pub os: String,
}

impl Machine {
    /// This machine; `threads` is what the recipe asked for.
    pub fn detect(threads: usize) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine { cpu, cores, threads, os }
    }

    /// "AMD EPYC, 2 cores, Debian 12".
    pub fn describe(&self) -> String {
        format!("{}, {} cores, {}", self.cpu, self.cores, self.os)
    }
}

/// The memory this process may still use, in bytes, and what sets the limit: the smallest of the
/// machine's available memory, the cgroup's limit and the address-space limit (`ulimit -v`).
pub fn memory_available() -> Option<(f64, &'static str)> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = |key: &str| -> Option<f64> {
        meminfo.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    let mut best = (kb("MemAvailable:")? * 1024.0, "available memory");
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    if let Some(max) = cgroup.and_then(|s| s.trim().parse::<f64>().ok()) {
        let used = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if max - used < best.0 {
            best = (max - used, "the cgroup's memory limit");
        }
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0 && lim.rlim_cur != libc::RLIM_INFINITY {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let vm = status
            .lines()
            .find(|l| l.starts_with("VmSize:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            * 1024.0;
        let left = lim.rlim_cur as f64 - vm;
        if left < best.0 {
            best = (left, "the address-space limit (ulimit -v)");
        }
    }
    Some(best)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub mlcmp: String,
    pub tch: String,
    pub libtorch: String,
    pub candle: String,
    pub git: String,
}
