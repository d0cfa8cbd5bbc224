//! Tuning glibc's allocator for a server that frees and reallocates the same large buffers
//! on many threads.
//!
//! Each WSGI thread gets a malloc arena of its own, and by default glibc hands the top of an
//! arena back to the kernel as soon as 128 KiB of it is free. A 64 KiB request body freed
//! at the end of one request and allocated again for the next then costs fresh pages every
//! time: measured on the WSGI echo benchmark (64 KiB POSTs), 9.7 page faults per request by
//! default, 0.3 with a 16 MiB trim threshold, and 40-60% more requests per second (`perf
//! stat -e page-faults -p PID` under `wrk`; see the README's performance section).
//!
//! A user who sets `MALLOC_TRIM_THRESHOLD_` or `MALLOC_TOP_PAD_` keeps their own choice.

/// Free memory an arena keeps at its top before returning it to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// Applies the tuning once per process (later calls do nothing new).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some() || std::env::var_os("MALLOC_TOP_PAD_").is_some() {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets an allocator parameter; glibc takes its own lock for it, and
    // no memory is touched.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other allocators and platforms: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
