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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub mlcmp: String,
    pub tch: String,
    pub libtorch: String,
    pub candle: String,
    pub git: String,
}
