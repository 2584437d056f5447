//! A verdict's row and an A/B check, as the results JSON stores them ([`crate::verdict`] and
//! [`crate::bench::ab`] compute them).

use crate::run::Variant;
use crate::stats::Interval;
use serde::{Deserialize, Serialize};

/// The word a verdict ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Word {
    /// The interval lies inside the claim's band.
    Reproduced,
    /// The interval lies outside the claim's band.
    Refuted,
    /// The interval straddles an edge of the band: too wide to say.
    Inconclusive,
    /// A port and its framework agree by the rule.
    Agrees,
    /// They do not.
    Differs,
    /// A backend the claim needs did not run (not installed, or failed).
    Unavailable,
    /// A measurement with no claim to test (why, time to accuracy).
    Shown,
}

impl std::fmt::Display for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string));
        f.write_str(&w.unwrap_or_default())
    }
}

/// One row of the verdict table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What is claimed or asked, e.g. `article's claim: MXNet 2.47x PyTorch, on its own code`.
    pub claim: String,
    /// What this run measured, in words and numbers.
    pub measured: String,
    /// The 95% interval of the measured value, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// How the word follows from the numbers.
    pub rule: String,
    pub word: Word,
}

/// What a backend's interval says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The interval lies above 1.
    Slower,
    /// The interval lies below 1.
    Faster,
    /// The interval holds 1.
    NoChangeDetected,
    /// Fewer than two repeats finished on both builds.
    NotMeasured,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::Slower => "slower",
            Change::Faster => "faster",
            Change::NoChangeDetected => "no change detected",
            Change::NotMeasured => "not measured",
        })
    }
}

/// One backend in one round of an A/B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbCheck {
    pub backend: String,
    pub variant: Variant,
    pub neighbour: bool,
    /// 0: the run; r > 0: the r-th confirming run of a backend the gate ran again, pooled with
    /// every round before it.
    pub round: usize,
    /// Median epoch of each build over its repeats.
    pub new_s: f64,
    pub old_s: f64,
    /// New over old, 95%: Student's t in round 0, signed-rank over the pooled rounds after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Interval>,
    /// The slowdown (0.05: 5%) the gate catches with probability [`crate::bench::ab::POWER`] at this run's spread.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub detectable: f64,
    pub change: Change,
    /// Round 0: the estimate is beyond the gate, so the backend runs again
    /// ([`crate::bench::ab::screened`]); a confirming round: the pooled interval lies wholly
    /// beyond it.
    pub flagged: bool,
    /// Round 0 only: the gate fails the backend (screened here and flagged by the last confirming
    /// round, or with no confirming run, the run's own interval wholly beyond the gate).
    #[serde(default)]
    pub failed: bool,
    /// The gate runs the backend again after this check: round 0 screened, or a confirming round
    /// still undecided with confirming runs left ([`crate::bench::ab::confirming_runs`]).
    #[serde(default)]
    pub again: bool,
}
