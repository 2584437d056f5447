//! Reading the files a user names (recipes, results, weights): regular files only, each with a
//! size limit named in the error. A FIFO, a device or `/dev/zero` given as `--config` would
//! otherwise block forever or grow until the kernel's memory killer ends it (and others).

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Recipe files are a few hundred bytes.
pub const RECIPE_LIMIT: u64 = 1 << 20;
/// Results files: a bench with a sweep and many repeats is a few hundred KB.
pub const RESULTS_LIMIT: u64 = 64 << 20;
/// Weight files: the largest network a recipe allows is far below this.
pub const WEIGHTS_LIMIT: u64 = 4 << 30;

/// Open `path` without blocking (a FIFO's open would wait for a writer) and check that it is a
/// regular file of at most `limit` bytes. `what` names the file in errors ("recipe file").
fn open_regular(path: &Path, limit: u64, what: &str) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("{}: cannot read the {what}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("{}: cannot read the {what}", path.display()))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a folder" } else { "a device, socket or pipe" };
        bail!("{}: not a regular file ({kind}); give the {what} as a regular file", path.display());
    }
    if meta.len() > limit {
        bail!(
            "{}: {} bytes is more than a {what} can be (at most {}); is this the right file?",
            path.display(),
            meta.len(),
            human(limit)
        );
    }
    Ok(file)
}

/// Check, before any work, that `path` is a regular file of at most `limit` bytes that can be
/// opened (for files a library reads itself, such as weights).
pub fn check_regular(path: &Path, limit: u64, what: &str) -> Result<()> {
    open_regular(path, limit, what).map(drop)
}

/// The text of `path`, a regular file of at most `limit` bytes in UTF-8.
pub fn read_text(path: &Path, limit: u64, what: &str) -> Result<String> {
    let file = open_regular(path, limit, what)?;
    let mut bytes = vec![];
    // The file may grow after the check: never read more than the limit and one byte.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read the {what}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{}: grew beyond {} while being read; is this the right file?", path.display(), human(limit));
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: the {what} is not UTF-8 text", path.display()))
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}
