//! The comparison core of mlcmp: the recipe every backend trains, the [`backend::Backend`] trait
//! that is the seam between the driver and a framework, the results JSON and its exports.
//! It knows no engine and no framework: `cargo tree -p mlcmp-core` shows no candle, tch or gluon.
//!
//! ```
//! use mlcmp_core::recipe::Recipe;
//! let r = Recipe::article();
//! assert_eq!((r.epochs, r.batch_size, r.lr, r.hidden), (5, 128, 0.1, 256));
//! assert_eq!(r.batches_per_epoch(60_000), 469);
//! assert_eq!(r.model().param_count(), 203_530);
//! let e = Recipe::parse(r#"{"epochs": 0}"#, "my.json").unwrap_err();
//! assert!(e.to_string().starts_with("my.json: missing field"));
//! ```
//!
//! Layers, lowest first (a module imports only modules above it in this list):
//! `registry`, `malloc`, `stats`, `claims`, `article`, `interrupt`, `input`, `divergence`, `model`, `recipe`, `run`, `shared`, `machine`,
//! `output`, `child`, `parity`, `backend`, `tracker`, `results`, `driver`, `bench`, `verdict`, `regress`, `export`.

pub mod article;
pub mod backend;
pub mod bench;
pub mod child;
pub mod claims;
pub mod divergence;
pub mod driver;
pub mod export;
pub mod input;
pub mod interrupt;
pub mod machine;
pub mod malloc;
pub mod model;
pub mod output;
pub mod parity;
pub mod recipe;
pub mod registry;
pub mod regress;
pub mod results;
pub mod run;
pub mod shared;
pub mod stats;
pub mod tracker;
pub mod turns;
pub mod verdict;
