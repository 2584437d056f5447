//! `mlcmp bench`: each backend in its own worker process (one thread pool at a time, peak memory per
//! backend), a warm-up epoch, repeats interleaved across backends, medians and paired ratios, and
//! the epoch against the hardware's multiply-add rate ([`peak`]) and libtorch's matmul rate; with `--against`, an A/B against another build
//! ([`ab`]). [`run`] runs it; the tables live in
//! [`crate::export::bench`].

pub mod ab;
pub mod load;
pub mod lockstep;
pub mod neighbour;
pub mod peak;
pub mod run;
pub mod summary;
pub mod sweep;
pub mod worker;
