//! A verdict's row, as the results JSON stores it ([`crate::verdict`] computes them).

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
