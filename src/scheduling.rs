//! How the threads that run Python code are scheduled beside the I/O thread.
//!
//! A request crosses threads twice: the I/O thread (tokio) queues it for a WSGI pool thread
//! or the asyncio loop thread, which answers it back to the I/O thread. Where both share a
//! core (one core per process, the usual container), Linux runs a woken thread at once,
//! preempting the thread that woke it: every queued request costs a switch to the Python
//! thread and one back, and the Python thread finds one request to run, not the several
//! the I/O thread would have read from its other connections in the meantime.
//!
//! Every thread of the server is therefore `SCHED_BATCH`: a woken batch thread does not preempt;
//! it runs when the I/O thread waits for I/O (or its time slice ends), and takes everything
//! queued by then in one go while it holds the GIL. Nothing else changes: same priority
//! (nice value), and on a machine with an idle core a woken thread runs there at once, as
//! before. A thread may always lower itself to batch, so it needs no privilege; where the
//! call fails (not Linux, a seccomp filter) the thread stays as it was.
//!
//! The I/O thread is a batch thread too: otherwise each answer a Python thread hands back
//! wakes it with a write to tokio's eventfd and it preempts the Python thread there, in the
//! middle of the next request. That cost little on hellos (the I/O thread is rarely idle)
//! but two switches per request on apps that take longer, where it has gone back to wait in
//! `epoll_wait` by the time the answer comes.
//!
//! Measured on one core (server pinned, wrk on the other core, 64 connections, hello): see
//! `defer_wakeups`.

use pyo3::prelude::*;

/// Makes the calling thread a batch thread (see the module's header).
///
/// WSGI hello, 64 connections: context switches per request 1.63 → 0.46–0.59, CPU per
/// request 22 → 16–17 µs; ASGI hello: 0.65–0.70 → 0.15 switches per request (the Python
/// threads). The I/O thread as well, release build: the Django fortunes app (`bench/apps/
/// realapp_wsgi.py`) 7.6 → 0.46 switches per request, 405 → 347 µs, +17 % requests/s; the
/// FastAPI JSON endpoint (`realapp_asgi.py`) 2.6 → 0.05 switches, 125 → 90 µs, +39 %; hellos
/// unchanged within the noise.
#[allow(unsafe_code)]
pub fn defer_wakeups() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler reads `param` and changes only the calling thread (0).
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

/// `defer_thread_wakeups()`: makes the calling Python thread (the asyncio loop's) a batch
/// thread, as the WSGI pool threads are.
#[pyfunction]
pub fn defer_thread_wakeups() {
    defer_wakeups();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn the_calling_thread_becomes_a_batch_thread_and_no_other() {
        let policy = std::thread::spawn(|| {
            defer_wakeups();
            // SAFETY: reads the calling thread's policy.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap_or(-1);
        assert_eq!(policy, libc::SCHED_BATCH);
        // SAFETY: as above, for this thread, which did not call it.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
