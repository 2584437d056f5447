//! Malloc tuning for the processes that train: `mlcmp`, its bench workers and the engine's
//! timing examples call it first, so every one allocates the same way.

/// glibc's malloc hands blocks above a moving threshold (128 KiB at first) straight back to the
/// system and trims the heap top above twice that, so a training step that frees and reallocates
/// megabytes of activations pays for fresh zeroed pages every batch, and how much depends on the
/// threshold's history in that process. Keeping freed memory for reuse (what MXNet's pooled storage
/// manager and PyTorch's recommended jemalloc/tcmalloc do) makes epochs faster for every backend
/// in the process, so every process that trains calls it: a bench worker without it would time its
/// backend with another allocator than `compare` does. Blocks of 64 MiB and more (the data sets)
/// are still mapped and unmapped on their own.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning; it is called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
