//! What a hostile probe found (issue 29), end to end: regress never destroys a baseline or blesses
//! a failed run, no child outlives a SIGKILLed mlcmp, outputs on one path and unbounded inputs are
//! refused before any training, a user's data folder is never rewritten, and hints say what to do.

mod common;

use common::err;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mlcmp");

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn mlcmp_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = common::mlcmp_cmd();
    c.args(args).current_dir(checkout());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn mlcmp(args: &[&str]) -> Output {
    mlcmp_env(args, &[])
}

fn baseline_copy(dir: &Path) -> PathBuf {
    let b = dir.join("b.json");
    std::fs::copy(checkout().join("results/baseline.json"), &b).unwrap();
    b
}

#[test]
fn regress_never_overwrites_its_inputs_or_a_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let b = baseline_copy(dir.path());
    let before = std::fs::read(&b).unwrap();
    let s = b.to_str().unwrap();
    let o = mlcmp(&["regress", "--baseline", s, "--current", s, "--markdown", s]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--baseline and --markdown both name"), "{}", err(&o));
    assert_eq!(std::fs::read(&b).unwrap(), before, "the baseline is intact");
    let md = dir.path().join("r.md");
    std::fs::write(&md, "mine").unwrap();
    let o = mlcmp(&["regress", "--baseline", s, "--current", s, "--markdown", md.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("exists; pass --force"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&md).unwrap(), "mine");
    let o =
        mlcmp(&["regress", "--baseline", s, "--current", s, "--markdown", md.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("### Regression check"));
}

#[test]
fn regress_update_never_installs_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let b = baseline_copy(dir.path());
    let before = std::fs::read(&b).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
    for r in v["runs"].as_array_mut().unwrap() {
        r["status"] = "failed".into();
    }
    let failed = dir.path().join("failed.json");
    std::fs::write(&failed, v.to_string()).unwrap();
    let (b, f) = (b.to_str().unwrap(), failed.to_str().unwrap());
    let o = mlcmp(&["regress", "--baseline", b, "--current", f]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("mlcmp: regression: ") && err(&o).contains(" gluon: failed"), "{}", err(&o));
    let o = mlcmp(&["regress", "--baseline", b, "--current", f, "--update"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("cannot be a baseline"), "{}", err(&o));
    assert_eq!(std::fs::read(b).unwrap(), before);
}

#[test]
fn two_outputs_on_one_path_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.json");
    let s = s.to_str().unwrap();
    let start = Instant::now();
    for args in [
        vec!["compare", "--limit", "500", "--json", s, "--plot", s, "--force"],
        vec!["bench", "--backends", "gluon", "--limit", "500", "--no-save", "--json", s, "--markdown", s],
        vec![
            "compare",
            "--limit",
            "500",
            "--json",
            s,
            "--regress",
            "results/baseline.json",
            "--plot",
            "./results/../results/baseline.json",
        ],
    ] {
        let o = mlcmp(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("both name") && err(&o).contains("give each its own path"), "{}", err(&o));
        assert!(o.stdout.is_empty(), "nothing trained");
    }
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert!(!Path::new(s).exists());
}

#[test]
fn a_fifo_or_a_device_as_the_recipe_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let start = Instant::now();
    // Before, the FIFO blocked the open (and a SIGTERM was ignored); /dev/zero grew to 24 GB.
    for p in [fifo.to_str().unwrap(), "/dev/zero"] {
        let o = Command::new("timeout")
            .args(["10", BIN, "train", "--backend", "gluon", "--config", p])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{p}: {}", err(&o));
        assert!(err(&o).contains("not a regular file"), "{}", err(&o));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Every process whose environment carries `tag`, with its command line.
fn tagged(tag: &str) -> Vec<(u32, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|&b| b == 0).any(|kv| kv == tag.as_bytes()) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            // A zombie (exited, not yet reaped) has an empty command line and holds nothing.
            if !cmd.is_empty() {
                out.push((pid, cmd));
            }
        }
    }
    out
}

/// Start `args` with a unique tag in its environment and TMPDIR in `tmp`, wait until a process
/// whose command line contains `marker` has run for `after`, SIGKILL the parent, and return what
/// is left after a grace period: the tagged processes and the entries of `tmp`.
fn kill_when(args: &[&str], marker: &str, after: Duration, tmp: &Path) -> (Vec<(u32, String)>, Vec<PathBuf>) {
    let tag = format!("MLCMP_TEST_TAG={}-{}", std::process::id(), tmp.display());
    let (k, v) = tag.split_once('=').unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .env(k, v)
        .env("TMPDIR", tmp)
        .env("MLCMP_RESULTS", tmp.join("results"))
        .current_dir(checkout())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !tagged(&tag).iter().any(|(_, c)| c.contains(marker)) {
        assert!(start.elapsed() < Duration::from_secs(120), "no '{marker}' process appeared");
        assert!(child.try_wait().unwrap().is_none(), "mlcmp ended before '{marker}' ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(after);
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    let mut left = tagged(&tag);
    while !left.is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        left = tagged(&tag);
    }
    for (pid, _) in &left {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let files =
        std::fs::read_dir(tmp).unwrap().flatten().map(|e| e.path()).filter(|p| !p.ends_with("results"));
    (left, files.collect())
}

#[test]
fn a_sigkilled_bench_leaves_no_spinner_or_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["bench", "--backends", "gluon", "--repeats", "5", "--limit", "2000", "--epochs", "2"];
    let (left, _) = kill_when(
        &[&args[..], &["--neighbour", "busy", "--no-save"]].concat(),
        " spin",
        Duration::ZERO,
        tmp.path(),
    );
    assert!(left.is_empty(), "left running after SIGKILL: {left:?}");
}

#[test]
fn a_sigkilled_compare_leaves_no_runner_and_no_folder() {
    let fw = mlcmp_backend_frameworks::Framework::Pytorch;
    if let Err(why) = fw.python() {
        eprintln!("SKIPPED: the pytorch backend is unavailable here: {why}");
        return;
    }
    let args = ["compare", "--backends", "pytorch", "--limit", "2000", "--epochs", "3", "--no-save"];
    // Killed once the runner is up (its script in the runner folder), and while it trains. Killed
    // at once, the runner's handler meets mlcmp's threads dying one by one, each death another
    // SIGTERM: a race that one kill seldom meets (a re-entered handler once left the folder), so
    // tried several times.
    let at_once = [Duration::ZERO; 8];
    for after in at_once.into_iter().chain([Duration::from_millis(2500)]) {
        let tmp = tempfile::tempdir().unwrap();
        let (left, files) = kill_when(&args, "pytorch_article.py", after, tmp.path());
        assert!(left.is_empty(), "{after:?}: left running after SIGKILL: {left:?}");
        // PyTorch's own cache (torchinductor_<user>) is made by every run, killed or not.
        let ours: Vec<_> = files.iter().filter(|f| f.to_string_lossy().contains("mlcmp-runner-")).collect();
        assert!(ours.is_empty(), "{after:?}: left in the temporary folder: {ours:?}");
    }
}

#[test]
fn a_runner_folder_of_a_dead_mlcmp_is_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    // pid 0x7fffffff does not exist (above the kernel's pid_max).
    let stale = tmp.path().join("mlcmp-runner-2147483647-abc");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("mxnet_article.py"), "x").unwrap();
    let mine = tmp.path().join(format!("mlcmp-runner-{}-abc", std::process::id()));
    std::fs::create_dir(&mine).unwrap();
    let t = tmp.path().to_str().unwrap();
    // A runner that exits at once: the run fails, the sweep before it has happened.
    let o = mlcmp_env(
        &["train", "--backend", "mxnet", "--limit", "500", "--epochs", "1"],
        &[("TMPDIR", t), ("MLCMP_MXNET_PYTHON", "/bin/true")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(!stale.exists(), "the dead process's folder is gone");
    assert!(mine.exists(), "a living process's folder stays");
    // The message says how it ended, without a dangling colon.
    assert!(
        err(&o).contains("mxnet ended (exit status: 0) before its last line, and printed nothing on stderr"),
        "{}",
        err(&o)
    );
}

#[test]
fn a_runner_printing_without_newlines_gives_a_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("python");
    // 200 MB on one stdout line, then 1 MB on stderr.
    std::fs::write(
        &fake,
        "#!/bin/bash\nhead -c 200000000 /dev/zero | tr '\\0' x\necho\nhead -c 1000000 /dev/zero | tr '\\0' y >&2\n",
    )
    .unwrap();
    assert!(Command::new("chmod").arg("755").arg(&fake).status().unwrap().success());
    let o = mlcmp_env(
        &["train", "--backend", "mxnet", "--limit", "500", "--epochs", "1"],
        &[("MLCMP_MXNET_PYTHON", fake.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", &err(&o)[..err(&o).len().min(2000)]);
    assert!(err(&o).len() < 2000, "{} bytes of error", err(&o).len());
    assert!(
        err(&o).contains("printed a line mlcmp cannot read") && err(&o).contains("more bytes cut"),
        "{}",
        err(&o)
    );
}

#[test]
fn damaged_or_foreign_weights_get_one_line_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.ot");
    std::fs::write(&junk, b"PK\x03\x04 not a VarStore at all").unwrap();
    let mut files = vec![junk];
    // A torch.save() pickle, where PyTorch is installed.
    let python = checkout().join(".venv/bin/python");
    let pickle = dir.path().join("pickle.ot");
    let saved = Command::new(&python)
        .args(["-c", "import sys, torch; torch.save({'0.weight': torch.zeros(2)}, sys.argv[1])"])
        .arg(&pickle)
        .status();
    if saved.is_ok_and(|s| s.success()) {
        files.push(pickle);
    } else {
        eprintln!("SKIPPED (pickle case): no PyTorch in {}", python.display());
    }
    for f in &files {
        let o = mlcmp(&["eval", "--backend", "torch", "--params", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert_eq!(err(&o).lines().count(), 1, "{}", err(&o));
        assert!(
            err(&o).contains("cannot read the weights") && err(&o).contains("not a torch.save() pickle"),
            "{}",
            err(&o)
        );
        assert!(err(&o).len() < 400, "{}", err(&o));
    }
}

#[test]
fn weights_of_another_hidden_size_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, ext) in [("gluon", "params"), ("torch", "ot")] {
        let w = dir.path().join(format!("w32.{ext}"));
        let w = w.to_str().unwrap();
        let run = ["train", "--backend", backend, "--limit", "500", "--epochs", "1"];
        let o = mlcmp(&[&run[..], &["--hidden", "32", "--save-params", w]].concat());
        assert!(o.status.success(), "{}", err(&o));
        let o = mlcmp(&[&run[..], &["--load-params", w]].concat());
        assert_eq!(o.status.code(), Some(2), "{backend}: {}", err(&o));
        assert!(err(&o).contains("the file was saved with --hidden 32: pass --hidden 32"), "{}", err(&o));
        assert!(o.stdout.is_empty(), "nothing trained");
        let o = mlcmp(&[&run[..], &["--hidden", "32", "--load-params", w]].concat());
        assert!(o.status.success(), "{}", err(&o));
    }
}

#[test]
fn hints_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--limit", "500", "--save-params", d]);
    assert!(
        err(&o).contains("a folder; name a file in it, e.g.") && err(&o).contains("weights.params"),
        "{}",
        err(&o)
    );
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--limit", "500", "--data-dir", file.to_str().unwrap()]);
    assert!(err(&o).contains("not a folder; --data-dir and MLCMP_DATA name the folder"), "{}", err(&o));
    assert!(!err(&o).contains("permissions"), "{}", err(&o));
    // Several results files: a recipe column tells LeNet rows from MLP rows.
    let o = mlcmp(&["report", "results/bench.json", "results/lenet-bench.json"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("recipe") && out.contains("lenet (lenet)") && out.contains("article (mlp)"),
        "{out}"
    );
}

#[test]
fn setup_never_replaces_a_file_in_a_folder_the_user_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = checkout().join("data/mnist");
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let damaged = dir.path().join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();
    let o = Command::new("bash")
        .arg(checkout().join("scripts/setup"))
        .arg("mnist")
        .env("MLCMP_DATA", dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("t10k-labels-idx1-ubyte fail their SHA-256 and are left as they are"),
        "{}",
        err(&o)
    );
    assert_eq!(std::fs::read(&damaged).unwrap(), bytes, "the user's file is untouched");
    let o = mlcmp(&["data", "verify", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("t10k-labels-idx1-ubyte       checksum mismatch"));
}
