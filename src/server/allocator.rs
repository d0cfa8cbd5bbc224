//! Tuning the allocators: glibc's for a server that frees and reallocates the same large
//! buffers on many threads, and mimalloc's to give back what idle connections free.
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
//! mimalloc is told to give pages back to the kernel as soon as they are free (its
//! `purge_delay` 0, 10 ms by default). A delayed purge only happens when mimalloc next works
//! in that part of its heap: when many keep-alive connections went idle and let go of
//! hyper's buffers (`parking.rs`) and nothing else happened, the freed pages stayed resident
//! (an idle connection 9.5-12.4 KiB from one run to the next instead of 5.5,
//! `tests/test_connection_memory.py`).
//!
//! A user who sets `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`, `MALLOC_MMAP_THRESHOLD_` or
//! `MIMALLOC_PURGE_DELAY` keeps their own choice.

/// Free memory an arena keeps at its top before returning it to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// Blocks at least this large are mapped on their own rather than taken from an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 * 1024 * 1024;

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_t` (mimalloc.h, v2), which
/// libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the tuning once per process (later calls do nothing new).
pub fn tune() {
    tune_glibc();
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: sets one of mimalloc's options, which it reads each time it purges.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_glibc() {
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
fn tune_glibc() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_mimalloc_s_purge_delay() {
        // Its default is 10 (ms); the options beside it default to 1 and 0. (No test tunes.)
        #[allow(unsafe_code)]
        // SAFETY: reads one of mimalloc's options.
        let value = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(value, 10, "option {MI_OPTION_PURGE_DELAY}");
    }
}
