//! What several core test files build their results from.

use mlcmp_core::machine::{Machine, Versions};
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::Results;

/// Results of the article's recipe on a made-up 2-core machine, with no runs yet.
pub fn empty_results() -> Results {
    let versions = Versions {
        mlcmp: "0".into(),
        tch: "t".into(),
        libtorch: "l".into(),
        candle: "c".into(),
        git: "g".into(),
    };
    let machine = Machine { cpu: "Test CPU".into(), cores: 2, threads: 2, os: "TestOS".into() };
    Results::new(machine, versions, Recipe::article())
}
