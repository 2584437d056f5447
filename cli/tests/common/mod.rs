//! How every CLI test runs mlcmp: the binary cargo built, with `MLCMP_RESULTS` in the temporary
//! folder, so no test run adds files to the checkout's curated `results/`.
#![allow(dead_code)] // each test file uses some of these

use std::process::{Command, Output};

/// `mlcmp` with the results folder isolated; add arguments, environment and folder as needed.
pub fn mlcmp_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mlcmp"));
    c.env("MLCMP_RESULTS", std::env::temp_dir());
    c
}

/// Run `mlcmp args` and wait for it.
pub fn mlcmp(args: &[&str]) -> Output {
    mlcmp_cmd().args(args).output().unwrap()
}

/// (stdout, stderr) as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// stderr as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
