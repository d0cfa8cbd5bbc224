//! Tuning the allocators: glibc's for a server that frees and reallocates the same large
//! buffers on many threads; and mimalloc's freed pages given back on request.
//!
//! Each WSGI thread gets a malloc arena of its own, and by default glibc hands the top of an
//! arena back to the kernel as soon as 128 KiB of it is free. A 64 KiB request body freed
//! at the end of one request and allocated again for the next then costs fresh pages every
//! time: measured on the WSGI echo benchmark (64 KiB POSTs), 9.7 page faults per request by
//! default, 0.3 with a 16 MiB trim threshold, and 40-60% more requests per second (`perf
//! stat -e page-faults -p PID` under `wrk`; see the README's performance section).
//!
//! Setting the trim threshold also turns off glibc's sliding mmap threshold, which would
//! otherwise rise to the size of the largest block freed: allocations over 128 KiB would then
//! each be a fresh `mmap`, faulted in page by page and unmapped when freed. A static file's
//! 256 KiB read buffer and a brotli or gzip encoder's tables (several hundred KiB per
//! compressed response) paid that on every request: 35-45 % of the CPU in page faults and
//! `munmap` (perf record on the static 1 MiB GET and the brotli JSON benchmarks). So the mmap
//! threshold is set too, to 4 MiB: such buffers come from the arena and are reused.
//!
//! The Rust side now allocates with mimalloc (`lib.rs`): this tuning serves the Python
//! side's allocations (the bodies' `bytes`, the apps' own), which glibc still makes.
//!
//! A user who sets `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_` or `MALLOC_MMAP_THRESHOLD_`
//! keeps their own choice.

/// Free memory an arena keeps at its top before returning it to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// Blocks at least this large are mapped on their own rather than taken from an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 * 1024 * 1024;

/// Applies the tuning once per process (later calls do nothing new).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    let tuned = ["MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_"];
    if tuned.iter().any(|name| std::env::var_os(name).is_some()) {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets an allocator parameter; glibc takes its own lock for it, and
    // no memory is touched.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Other allocators and platforms: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

/// Asks mimalloc to give the pages this thread's heap has freed back to the kernel now. It
/// otherwise does so only when it next works in that part of the heap (10 ms after the
/// free at the soonest), which a quiet server may never do: what idle connections let go of
/// (`parking.rs`) stayed resident. (Telling it to give pages back at once instead, its
/// `purge_delay` 0, cost a third more CPU per request on WSGI hello.)
pub fn give_back_freed_pages() {
    #[allow(unsafe_code)]
    // SAFETY: mi_collect only walks and trims this thread's own heap.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
