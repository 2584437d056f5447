//! Writing output files: one rule for every output (results JSON, plot, Markdown).
//!
//! - Checked before any work starts ([`check_target`]): the folder exists or can be made and is
//!   writable, an existing file is replaced only with `force`, and never anything but a regular
//!   file (a device node, a folder or a symlink is refused even with `force`).
//! - Written atomically ([`write_atomic`]): a temporary file in the same folder, then a rename
//!   (without `force`, a link that fails if the name was taken meanwhile), so a reader never sees
//!   half a file, two runs never silently overwrite each other, and a failed write leaves no
//!   temporary file behind.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

fn folder(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whether `path` may be written: an error naming the path and the fix when it may not.
fn check_existing(path: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => bail!(
            "{}: not a regular file ({}); mlcmp only replaces regular files, choose another path",
            path.display(),
            if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a folder"
            } else {
                "a device, socket or pipe"
            }
        ),
        Ok(_) if !force => {
            bail!("{} exists; pass --force to overwrite it or choose another path", path.display())
        }
        Ok(_) => Ok(()),
        // Not there yet (or a file stands where a folder should): the folder check says which.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            Ok(())
        }
        Err(e) => bail!("{}: cannot check the output path: {e}", path.display()),
    }
}

/// Before the work: `path` can be written (its folder exists or is made now, and is writable) and
/// an existing file there may be replaced.
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    check_existing(path, force)?;
    check_folder(folder(path))
}

/// Before the work: `dir` exists or is made now, and a file can be created in it.
pub fn check_folder(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .with_context(|| format!("{}: cannot write into the folder", dir.display()))
}

/// Write `bytes` to `path` atomically; an existing file is replaced only with `force` (and only a
/// regular file). Missing folders are created.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    check_existing(path, force)?;
    let dir = folder(path);
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    // Readable like any file the user writes (tempfile's own default is owner-only).
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot write into the folder", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    let placed = if force { tmp.persist(path).map(drop) } else { tmp.persist_noclobber(path).map(drop) };
    match placed {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} was created by someone else meanwhile; pass --force to overwrite it or choose another path",
            path.display()
        ),
        Err(e) => {
            Err(e.error).with_context(|| format!("{}: cannot move the file into place", path.display()))
        }
    }
}

/// Write `bytes` under `dir` with a name no other run takes: `stem-<stamp>-<pid>.json`, then
/// `-2`, `-3`, ... should that exist. Returns the path.
pub fn write_unique(dir: &Path, stem: &str, stamp: &str, bytes: &[u8]) -> Result<PathBuf> {
    let pid = std::process::id();
    for n in 1.. {
        let suffix = if n == 1 { String::new() } else { format!("-{n}") };
        let path = dir.join(format!("{stem}-{stamp}-{pid}{suffix}.json"));
        match write_atomic(&path, bytes, false) {
            Err(_) if path.exists() => continue,
            r => return r.map(|()| path),
        }
    }
    unreachable!("some name is free")
}
