//! rpath to libtorch for the mlcmp binary (so it runs without LD_LIBRARY_PATH), and the versions
//! that go into the results file.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        if let Ok(dir) = std::env::var("LIBTORCH") {
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir.into());
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.join("lib").display());
        }
    }
    let lock: Lock = std::fs::read_to_string("../Cargo.lock")
        .ok()
        .and_then(|s| toml::from_str(&s).ok())
        .unwrap_or(Lock { package: vec![] });
    for (name, var) in [("tch", "MLCMP_TCH_VERSION"), ("candle-core", "MLCMP_CANDLE_VERSION")] {
        let version = lock.package.iter().find(|p| p.name == name).map(|p| p.version.as_str());
        println!("cargo:rustc-env={var}={}", version.unwrap_or("unknown"));
    }
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MLCMP_GIT={git}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    println!("cargo:rerun-if-changed=../Cargo.lock");
}

/// The part of Cargo.lock read here: each package's name and version.
#[derive(serde::Deserialize)]
struct Lock {
    package: Vec<Package>,
}

#[derive(serde::Deserialize)]
struct Package {
    name: String,
    version: String,
}
