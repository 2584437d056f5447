//! Faults a user meets: a closed stdout, bad or taken output paths, memory that cannot fit, odd
//! data files, out-of-range arguments, and a binary run away from its checkout.

mod common;

use common::err;
use std::path::Path;
use std::process::{Command, Output};

fn mlcmp_in(cwd: &Path, args: &[&str]) -> Output {
    common::mlcmp_cmd().args(args).current_dir(cwd).output().unwrap()
}

fn mlcmp(args: &[&str]) -> Output {
    mlcmp_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

#[test]
fn a_closed_stdout_ends_printing_quietly_and_the_json_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" compare --backends torch,gluon --limit 1000 --epochs 2 --no-save --json \"$1\" | head -1")
        .arg(env!("CARGO_BIN_EXE_mlcmp"))
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(!err(&o).contains("panicked") && !err(&o).contains("Broken pipe"), "{}", err(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn output_paths_are_checked_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("r.json");
    let run = ["train", "--backend", "gluon", "--limit", "500", "--epochs", "1"];
    for flag in ["--json", "--plot"] {
        let start = std::time::Instant::now();
        let o = mlcmp(&[&run[..], &[flag, under_file.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", err(&o));
        assert!(err(&o).contains("a-file: cannot create the folder"), "{flag}: {}", err(&o));
        assert!(String::from_utf8_lossy(&o.stdout).is_empty(), "{flag}: nothing trained");
        assert!(start.elapsed().as_secs_f64() < 5.0);
        // An existing file needs --force, for --plot as for --json.
        let o = mlcmp(&[&run[..], &[flag, file.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(err(&o).contains("exists; pass --force"), "{flag}: {}", err(&o));
    }
    // Missing folders are made, for --plot as for --json.
    let plot = dir.path().join("new/sub/p.svg");
    let o = mlcmp(&[&run[..], &["--plot", plot.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn force_replaces_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    std::fs::write(&target, "keep").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let run = ["train", "--backend", "gluon", "--limit", "500", "--epochs", "1", "--force", "--json"];
    for (path, what) in
        [(link.to_str().unwrap(), "a symbolic link"), ("/dev/null", "a device"), ("/tmp", "a folder")]
    {
        let o = mlcmp(&[&run[..], &[path]].concat());
        assert_eq!(o.status.code(), Some(2), "{path}: {}", err(&o));
        assert!(err(&o).contains("not a regular file") && err(&o).contains(what), "{path}: {}", err(&o));
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(Path::new("/dev/null").metadata().unwrap().file_type().is_char_device_like());
}

trait CharDevice {
    fn is_char_device_like(&self) -> bool;
}

impl CharDevice for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_char_device(self)
    }
}

#[test]
fn a_recipe_that_cannot_fit_is_refused_before_training() {
    // hidden 65536 and batch 8000 need about 10 GB; under a 4 GB address-space limit that is refused.
    let o = Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 4194304; \"$0\" train --backend gluon --hidden 65536 --batch-size 8000 --epochs 1")
        .arg(env!("CARGO_BIN_EXE_mlcmp"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("the recipe needs about") && e.contains("ulimit -v"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn data_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let real = mlcmp_data::default_dir();
    for (name, _) in mlcmp_data::FILES {
        std::fs::copy(real.join(name), dir.path().join(name)).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    // A folder where a file should be, and a symlink loop.
    let imgs = dir.path().join("t10k-images-idx3-ubyte");
    std::fs::remove_file(&imgs).unwrap();
    std::fs::create_dir(&imgs).unwrap();
    let labs = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::remove_file(&labs).unwrap();
    std::os::unix::fs::symlink(&labs, &labs).unwrap();
    let o = mlcmp(&["data", "verify", "--data-dir", d]);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("t10k-images-idx3-ubyte       unreadable (a folder, not a file)"), "{out}");
    assert!(out.contains("t10k-labels-idx1-ubyte       unreadable ("), "{out}");
    let o = mlcmp(&["train", "--backend", "gluon", "--data-dir", d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("t10k-images-idx3-ubyte: cannot be read (a folder, not a file)"), "{}", err(&o));
    // `data info` exits 2 when a checksum does not match.
    std::fs::remove_dir(&imgs).unwrap();
    std::fs::remove_file(&labs).unwrap();
    std::fs::copy(real.join("t10k-images-idx3-ubyte"), &imgs).unwrap();
    let mut b = std::fs::read(real.join("t10k-labels-idx1-ubyte")).unwrap();
    b[100] = (b[100] + 1) % 10;
    std::fs::write(&labs, b).unwrap();
    let o = mlcmp(&["data", "info", "--data-dir", d]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("checksum mismatch"));
}

#[test]
fn arguments_out_of_range_say_so() {
    let o = mlcmp(&["train", "--backend", "gluon", "--epochs", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("-1 is out of range: use a whole number >= 1"), "{}", err(&o));
    let cores = std::thread::available_parallelism().unwrap().get();
    let o = mlcmp(&["train", "--backend", "gluon", "--threads", &(4 * cores + 1).to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains(&format!("this machine has {cores} cores")), "{}", err(&o));
    let o = mlcmp(&[
        "train",
        "--backend",
        "gluon",
        "--limit",
        "300",
        "--epochs",
        "1",
        "--threads",
        &(cores + 1).to_string(),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("warning:") && err(&o).contains("expect much slower epochs"), "{}", err(&o));
}

#[test]
fn the_binary_works_away_from_its_checkout() {
    // A copy of the binary in an unrelated folder, run from another: data from MLCMP_DATA, results
    // into ./results of the current folder; without MLCMP_DATA the error names the platform folder.
    let bin = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let exe = bin.path().join("mlcmp");
    std::fs::copy(env!("CARGO_BIN_EXE_mlcmp"), &exe).unwrap();
    let data = mlcmp_data::default_dir();
    let o = Command::new(&exe)
        .args(["compare", "--backends", "torch,gluon", "--limit", "500", "--epochs", "1"])
        .current_dir(cwd.path())
        .env("MLCMP_DATA", &data)
        .env_remove("MLCMP_RESULTS")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let saved: Vec<_> = std::fs::read_dir(cwd.path().join("results")).unwrap().collect();
    assert_eq!(saved.len(), 1, "one results file under ./results");
    let o = Command::new(&exe)
        .args(["train", "--backend", "gluon", "--epochs", "1"])
        .current_dir(cwd.path())
        .env_remove("MLCMP_DATA")
        .env("HOME", cwd.path())
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains(".local/share/mlcmp/mnist/train-images-idx3-ubyte: missing; run `mlcmp data fetch`"),
        "{e}"
    );
}
