//! The comparison core of mlcmp: the [`recipe::Recipe`] both backends train, the [`backend::Backend`]
//! trait that is the seam between the driver and a framework, the [`results::Results`] JSON and the
//! [`report`] tables.
//!
//! ```
//! use mlcmp_core::recipe::Recipe;
//! let r = Recipe::article();
//! assert_eq!((r.epochs, r.batch_size, r.lr, r.hidden), (5, 128, 0.1, 256));
//! assert_eq!(r.batches_per_epoch(60_000), 469);
//! let e = Recipe::parse(r#"{"epochs": 0}"#, "my.json").unwrap_err();
//! assert!(e.to_string().starts_with("my.json: missing field"));
//! ```

pub mod backend;
pub mod bench;
pub mod driver;
pub mod parity;
pub mod plot;
pub mod recipe;
pub mod regress;
pub mod report;
pub mod results;

pub use backend::{Backend, EpochResult, Event, Job, RunResult, Status};
pub use recipe::{InitMode, Overrides, Recipe, Threads};
pub use results::{Machine, Results, Versions};
