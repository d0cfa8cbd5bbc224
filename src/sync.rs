//! Locking that survives a panicked holder.
//!
//! Our mutexes guard plain data (queues, tables, thread handles) that a panic cannot leave
//! half-updated, so a poisoned lock is still safe to use: taking it never fails.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
