//! Link this package's own test binaries with an rpath to libtorch (link args from a build script
//! apply to the package's own targets only; the mlcmp binary sets its own), and record the libtorch
//! version for the results file.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(dir) = std::env::var("LIBTORCH") else { return };
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir.into());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.join("lib").display());
    let version = std::fs::read_to_string(dir.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("__version__ = ").map(|v| v.trim_matches('\'').to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MLCMP_LIBTORCH_VERSION={version}");
}
