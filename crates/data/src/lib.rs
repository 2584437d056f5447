//! MNIST for mlcmp: the four raw IDX files, read and validated.
//!
//! ```no_run
//! let mnist = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).unwrap();
//! assert_eq!(mnist.train.len(), 60_000);
//! let (pixels, label) = mnist.train.sample(0); // 784 u8 pixels, label 0..=9
//! assert_eq!((pixels.len(), label), (784, 5));
//! ```
//!
//! Every malformed input is an [`Error`] that names the file and what is wrong; nothing here panics on
//! bad data.

mod idx;

pub use idx::{parse_images, parse_labels, read_images, read_labels, Images};

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The four files and their sizes.
pub const FILES: [(&str, u64); 4] = [
    ("train-images-idx3-ubyte", 47_040_016),
    ("train-labels-idx1-ubyte", 60_008),
    ("t10k-images-idx3-ubyte", 7_840_016),
    ("t10k-labels-idx1-ubyte", 10_008),
];

/// The four files' published SHA-256, in `sha256sum`'s format: the one list that both this crate
/// and `scripts/setup` check the files against (`mlcmp data fetch` hands it to the setup script
/// it carries).
pub const SHA256SUMS: &str = include_str!("../mnist.sha256");

/// The published SHA-256 of the MNIST file `name`, from [`SHA256SUMS`].
pub fn published_sha256(name: &str) -> Option<&'static str> {
    SHA256SUMS.lines().find_map(|l| {
        let (sum, file) = l.split_once("  ")?;
        (file.trim() == name).then_some(sum)
    })
}

/// MNIST's classes (the digits 0..=9).
pub const CLASSES: usize = 10;

/// Pixels of one MNIST image (28 x 28): the model's input size.
pub const PIXELS: usize = SIDE * SIDE;

/// Rows and columns of an MNIST image.
pub const SIDE: usize = 28;

/// A data error: the file it concerns and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub path: PathBuf,
    pub message: String,
}

impl Error {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        Error { path: path.to_path_buf(), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for Error {}

/// The data folder, found at run time (nothing is baked in at build time, so an installed or moved
/// binary works): `$MLCMP_DATA` if set; else `data/mnist` of the mlcmp checkout that the current
/// folder or the executable is in; else the platform data folder (`~/.local/share/mlcmp/mnist`).
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MLCMP_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    let checkout = [here.as_deref(), exe.as_deref()].into_iter().flatten().find_map(checkout_of);
    checkout
        .map(|c| c.join("data/mnist"))
        .or_else(|| dirs::data_dir().map(|d| d.join("mlcmp/mnist")))
        .unwrap_or_else(|| PathBuf::from("data/mnist"))
}

/// The mlcmp checkout `path` is in (the nearest folder above it with `configs/article.json` and
/// `scripts/setup`), if any.
pub fn checkout_of(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|d| d.join("configs/article.json").is_file() && d.join("scripts/setup").is_file())
        .map(Path::to_path_buf)
}

/// One split: images as contiguous u8 rows and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Images,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels (rows x cols u8) and label of sample `i`.
    pub fn sample(&self, i: usize) -> (&[u8], u8) {
        (self.images.image(i), self.labels[i])
    }

    /// Count of each label 0..=9.
    pub fn histogram(&self) -> [usize; CLASSES] {
        let mut h = [0; CLASSES];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// Read an image file and its label file, checking that they belong together.
    pub fn load(images: &Path, labels: &Path) -> Result<Split, Error> {
        let imgs = read_images(images)?;
        let labs = read_labels(labels)?;
        if imgs.count != labs.len() {
            return Err(Error::new(
                images,
                format!(
                    "holds {} images but {} holds {} labels; the two files must come from the same split",
                    imgs.count,
                    labels.display(),
                    labs.len()
                ),
            ));
        }
        Ok(Split { images: imgs, labels: labs })
    }

    /// The first `n` samples (all when `n` is larger).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.pixels.truncate(n * self.images.rows * self.images.cols);
        self.images.count = n;
    }
}

/// The MNIST training and test splits.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
    /// The folder the files were read from (the real frameworks' runners read them there too).
    pub dir: PathBuf,
}

impl Mnist {
    /// Load the four files from `dir` (structure only; see [`verify`] for checksums).
    pub fn load(dir: &Path) -> Result<Mnist, Error> {
        if let Some(why) = folder_problem(dir) {
            return Err(Error::new(dir, why));
        }
        for (name, _) in FILES {
            let p = dir.join(name);
            match file_problem(&p) {
                None => {}
                Some(FileStatus::Unreadable { reason }) => {
                    return Err(Error::new(&p, format!("cannot be read: {reason}; fix it or run `mlcmp data fetch`")))
                }
                Some(_) => return Err(Error::new(
                    &p,
                    "missing; run `mlcmp data fetch` (or scripts/setup) or point --data-dir / MLCMP_DATA at a folder with the four MNIST IDX files",
                )),
            }
        }
        Ok(Mnist {
            train: Split::load(&dir.join(FILES[0].0), &dir.join(FILES[1].0))?,
            test: Split::load(&dir.join(FILES[2].0), &dir.join(FILES[3].0))?,
            dir: dir.to_path_buf(),
        })
    }

    /// Keep the first `limit` samples of each split (`--limit`; all when `None`).
    pub fn limit(&mut self, limit: Option<usize>) {
        if let Some(n) = limit {
            self.train.truncate(n);
            self.test.truncate(n);
        }
    }
}

/// Checksum status of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileStatus {
    Ok,
    Missing,
    Mismatch {
        actual: String,
    },
    /// There, but not readable as a file: a folder in its place, a symlink loop, no permission.
    Unreadable {
        reason: String,
    },
}

/// What is wrong with the file at `p` before reading it: `None` when it is a readable regular file
/// (or a link to one).
fn file_problem(p: &Path) -> Option<FileStatus> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some(FileStatus::Unreadable { reason: "a folder, not a file".into() }),
        Ok(_) => Some(FileStatus::Unreadable { reason: "not a regular file".into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::fs::symlink_metadata(p).is_err() => {
            Some(FileStatus::Missing)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(FileStatus::Unreadable { reason: "a symbolic link to a missing file".into() })
        }
        Err(e) => Some(FileStatus::Unreadable { reason: e.to_string() }),
    }
}

/// Why `dir` cannot be a data folder (it is a file or a device), or None (a folder, or not there
/// yet: each file then reads as missing).
pub fn folder_problem(dir: &Path) -> Option<String> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Some(
            "not a folder; --data-dir and MLCMP_DATA name the folder that holds the four MNIST IDX files"
                .into(),
        ),
        _ => None,
    }
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::new(path, format!("cannot read: {e}")))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Check each of the four files in `dir` against its published SHA-256.
pub fn verify(dir: &Path) -> Vec<(PathBuf, FileStatus)> {
    FILES
        .iter()
        .map(|(name, _)| {
            let p = dir.join(name);
            let sum = published_sha256(name).expect("every file has a published SHA-256");
            let status = file_problem(&p).unwrap_or_else(|| match sha256_file(&p) {
                Ok(actual) if actual == sum => FileStatus::Ok,
                Ok(actual) => FileStatus::Mismatch { actual },
                Err(e) => FileStatus::Unreadable { reason: e.message },
            });
            (p, status)
        })
        .collect()
}
