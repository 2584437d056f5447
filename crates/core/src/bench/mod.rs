//! `mlcmp bench`: each backend in its own worker process (one thread pool at a time, peak memory per
//! backend), a warm-up epoch, repeats interleaved across backends, medians and paired ratios, and
//! the floor. The tables live in [`crate::export::bench`].

pub mod load;
pub mod neighbour;
pub mod summary;
pub mod sweep;
pub mod worker;
