//! Tuning the allocators: glibc's for a server that frees and reallocates the same large
//! buffers on many threads; and mimalloc's, whose freed pages each I/O thread gives back
//! when it goes idle after idle connections let go of their buffers.
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
//! With that threshold, each arena may keep 16 MiB free, and glibc gives each thread an arena
//! of its own (up to 8 per core): the WSGI threads' arenas kept what 256 connections' 64 KiB
//! answers had used: the WSGI echo at 256 connections peaked at 136-141 MiB of RSS; with one
//! arena for every thread, 101-103 MiB; with two, 114-127 (VmHWM in `/proc/PID/status`
//! under `wrk -c256 -s bench/wrk/post.lua`, one core each); CPU per request the same within
//! noise (40.0-41.9 µs). Arenas per thread spare threads each other's lock,
//! but Python threads take turns under the GIL, and the small blocks they allocate most come
//! from glibc's per-thread cache without a lock anyway. So the process keeps one arena.
//!
//! A user who sets `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_` or `MALLOC_MMAP_THRESHOLD_`
//! keeps their own choice of those, and `MALLOC_ARENA_MAX` of the arenas.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::timers::GIVE_BACK_EVERY;

/// Free memory an arena keeps at its top before returning it to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// Blocks at least this large are mapped on their own rather than taken from an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 * 1024 * 1024;

/// How many malloc arenas the process may have (glibc's default: 8 per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;

/// Applies the tuning once per process (later calls do nothing new).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    let tuned = ["MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_"];
    if !tuned.iter().any(|name| std::env::var_os(name).is_some()) {
        set(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        set(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        set(libc::M_ARENA_MAX, ARENAS);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(parameter: libc::c_int, value: libc::c_int) {
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets an allocator parameter; glibc takes its own lock for it, and
    // no memory is touched.
    unsafe {
        libc::mallopt(parameter, value);
    }
}

/// Other allocators and platforms: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

/// How many times parked connections have let go of their buffers: a thread that has seen
/// this move since it last gave its pages back has some to give.
static FREED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// `FREED` when this thread last gave its freed pages back, and when that was.
    static GIVEN_BACK: Cell<(u64, Option<Instant>)> = const { Cell::new((0, None)) };
}

/// Notes that a parked connection just let go of its buffers (`parking.rs`).
pub fn note_freed() {
    FREED.fetch_add(1, Ordering::Relaxed);
}

/// Gives this thread's freed pages back to the kernel if buffers were let go of since it last
/// did, and that was `GIVE_BACK_EVERY` ago or more. Each I/O thread runs this whenever it
/// goes idle (tokio's `on_thread_park`), as mimalloc's heaps are per thread, each trimmed by
/// its own thread only, and a buffer freed on one thread may be another's. Without it,
/// mimalloc gives freed pages back only when it next works in that part of the heap (10 ms
/// after the free at the soonest), which a quiet server may never do: what idle connections
/// let go of stayed resident. (Telling it to give pages back at once instead, its
/// `purge_delay` 0, cost a third more CPU per request on WSGI hello.)
pub fn give_back_if_freed() {
    let freed = FREED.load(Ordering::Relaxed);
    GIVEN_BACK.with(|given_back| {
        let (seen, when) = given_back.get();
        if seen != freed && when.is_none_or(|when| when.elapsed() >= GIVE_BACK_EVERY) {
            given_back.set((freed, Some(Instant::now())));
            give_back_freed_pages();
        }
    });
}

/// Asks mimalloc to give the pages this thread's heap has freed back to the kernel now.
fn give_back_freed_pages() {
    #[allow(unsafe_code)]
    // SAFETY: mi_collect only walks and trims this thread's own heap.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
