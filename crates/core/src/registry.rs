//! Every backend mlcmp knows, in one table: its name, what it is, which framework it mirrors,
//! whether it is the speed reference, its weight files, where a bench worker runs it and its
//! colour in plots. Argument parsing, worker routing, parity, summaries, regress and every export
//! read it, so adding a backend is one row here plus its crate (and its constructor in the CLI).
//!
//! ```
//! use mlcmp_core::registry::{self, Style};
//! assert_eq!(registry::reference(), "torch");
//! let gluon = registry::get("gluon").unwrap();
//! assert_eq!((gluon.style, gluon.mirrors), (Style::Gluon, Some("mxnet")));
//! assert!(registry::get("theano").is_none());
//! ```

/// The idiom a backend's code is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    PyTorch,
    Gluon,
    CandleNn,
}

/// Which program a bench worker for the backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// `mlcmp worker`.
    Main,
    /// The libtorch-free `mlcmp-gluon-worker` beside mlcmp where it was built (its memory is then
    /// the engine's own), else `mlcmp worker`.
    EngineOnly,
}

#[derive(Debug)]
pub struct BackendInfo {
    pub name: &'static str,
    /// One line for help texts.
    pub about: &'static str,
    pub style: Style,
    /// The real framework whose numbers this port stands for (None: it is one, or has none).
    pub mirrors: Option<&'static str>,
    /// The article's own code on the real framework, in a Python child process.
    pub real_framework: bool,
    /// Every speed ratio is this backend's time over another's.
    pub speed_reference: bool,
    /// Its saved weights' file extensions, the usual first; empty: it cannot save or load them.
    pub weights: &'static [&'static str],
    pub worker: Worker,
    /// `compare` and `train` run it (bench's reference row, torch-bare, is bench only).
    pub compared: bool,
    /// Part of `compare --backends all`.
    pub in_all: bool,
    /// Its line in plots; None: one from the palette.
    pub colour: Option<[u8; 3]>,
}

/// The table. Its order is the order of help texts and of `--backends all`.
pub const BACKENDS: &[BackendInfo] = &[
    BackendInfo {
        name: "torch",
        about: "the article's PyTorch code ported to Rust over libtorch (tch)",
        style: Style::PyTorch,
        mirrors: Some("pytorch"),
        real_framework: false,
        speed_reference: true,
        weights: &["ot", "safetensors"],
        worker: Worker::Main,
        compared: true,
        in_all: true,
        colour: Some([222, 75, 44]),
    },
    BackendInfo {
        name: "gluon",
        about: "the article's Gluon code ported to Rust on mlcmp's own autograd engine",
        style: Style::Gluon,
        mirrors: Some("mxnet"),
        real_framework: false,
        speed_reference: false,
        weights: &["params"],
        worker: Worker::EngineOnly,
        compared: true,
        in_all: true,
        colour: Some([33, 113, 181]),
    },
    BackendInfo {
        name: "gluon-hybrid",
        about: "gluon with net.hybridize()",
        style: Style::Gluon,
        mirrors: Some("mxnet"),
        real_framework: false,
        speed_reference: false,
        weights: &["params"],
        worker: Worker::EngineOnly,
        compared: true,
        in_all: false,
        colour: None,
    },
    BackendInfo {
        name: "candle",
        about: "the recipe in candle-nn, as a Rust user writes it",
        style: Style::CandleNn,
        mirrors: None,
        real_framework: false,
        speed_reference: false,
        weights: &[],
        worker: Worker::Main,
        compared: true,
        in_all: true,
        colour: Some([60, 150, 60]),
    },
    BackendInfo {
        name: "pytorch",
        about: "the article's PyTorch code on real PyTorch",
        style: Style::PyTorch,
        mirrors: None,
        real_framework: true,
        speed_reference: false,
        weights: &[],
        worker: Worker::Main,
        compared: true,
        in_all: true,
        colour: Some([140, 30, 10]),
    },
    BackendInfo {
        name: "mxnet",
        about: "the article's MXNet code on real MXNet 1.9.1",
        style: Style::Gluon,
        mirrors: None,
        real_framework: true,
        speed_reference: false,
        weights: &[],
        worker: Worker::Main,
        compared: true,
        in_all: true,
        colour: Some([10, 50, 120]),
    },
    BackendInfo {
        name: "torch-bare",
        about: "bench's reference row: torch's training with no harness at all",
        style: Style::PyTorch,
        mirrors: None,
        real_framework: false,
        speed_reference: false,
        weights: &[],
        worker: Worker::Main,
        compared: false,
        in_all: false,
        colour: Some([120, 120, 120]),
    },
];

/// The pairs whose parity `compare --init shared` measures, in table order: each Rust port
/// against the framework it stands for, the two ports against each other, candle against libtorch.
pub const PARITY_PAIRS: &[(&str, &str)] =
    &[("torch", "pytorch"), ("gluon", "mxnet"), ("torch", "gluon"), ("torch", "candle")];

/// Whose reruns from perturbed weights give a pair's floor, first choice first: the engine port
/// (it reruns quickest), then libtorch's.
pub const FLOOR_PREFERENCE: &[&str] = &["gluon", "torch"];

/// The article's claim, PyTorch-style over Gluon-style, as this run measures it: the Rust ports,
/// and the article's own code on today's frameworks.
pub const ARTICLE_PAIRS: &[(&str, &str, &str)] =
    &[("this run, Rust ports", "torch", "gluon"), ("this run, the article's code today", "pytorch", "mxnet")];

/// What `compare` runs by default: the article's comparison, the article's own code on the real
/// frameworks beside the two Rust ports.
pub const DEFAULT_COMPARE: &[&str] = &["torch", "gluon", "pytorch", "mxnet"];

/// The backend called `name`.
pub fn get(name: &str) -> Option<&'static BackendInfo> {
    BACKENDS.iter().find(|b| b.name == name)
}

/// The speed reference's name.
pub fn reference() -> &'static str {
    BACKENDS.iter().find(|b| b.speed_reference).map_or("torch", |b| b.name)
}

/// The names of the backends `keep` selects, as a reader lists them: `torch, gluon or candle`.
pub fn list(keep: impl Fn(&BackendInfo) -> bool) -> String {
    let names: Vec<&str> = BACKENDS.iter().filter(|b| keep(b)).map(|b| b.name).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
