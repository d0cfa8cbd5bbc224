//! When a queued WSGI job wakes a pool thread, and when it does not.
//!
//! async-channel wakes one sleeping receiver for every message sent. For a pool of threads
//! that share one GIL that is the wrong trade: a small view takes less time than waking a
//! thread (a futex call on the sending tokio thread, a context switch on the woken one, and
//! then a GIL hand-off), and the woken thread usually finds the GIL taken by the thread that
//! could have run the job next anyway.
//!
//! So pool threads take jobs only while they hold the GIL (a job never waits inside a thread
//! that cannot run it), and they wait for work here, without the GIL:
//! - A thread whose queue ran dry parks on its own handle, on a LIFO stack of idle threads
//!   (the thread that slept last has the warmest cache and `threading.local` state).
//! - A thread that was woken is on *standby* until it holds the GIL. A job queued while a
//!   thread stands by wakes nobody (the standby will look at the queue once it holds the
//!   GIL); otherwise it wakes the most recently parked thread.
//! - A thread that takes a job and still sees one queued keeps a thread on standby (waking
//!   one if none is), so the queue is served at once when the running job blocks on I/O and
//!   lets go of the GIL. One standby is enough: a second would only wait for the GIL too.
//!
//! No spinning: a thread that checked the queue for 50 µs before parking made one client's
//! requests 10 µs faster (p50 60 → 50 µs), but under load it spent CPU the other threads
//! needed: wsgi-hello 51,600-56,400 req/s with the spin, 57,500-58,800 without (server in
//! its own session, as bench.py starts it; five alternating runs).
//!
//! No job is ever left unseen: a thread re-checks the queue after registering as idle, and a
//! queuer checks for a standby (and then for idle threads) after queueing, both with a
//! sequentially consistent fence in between, so one of the two always sees the other.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::Thread;

use crate::sync::lock;

#[derive(Default)]
pub struct Dispatch {
    idle: Mutex<Vec<Thread>>,
    /// Threads that saw work and are taking the GIL to look for it.
    standby: AtomicUsize,
    closed: AtomicBool,
}

/// What a thread waiting for work learnt.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// The queue has (or just had) a job: take the GIL and look. The caller is on standby
    /// until it calls `attached`.
    Work,
    /// The queue is closed and empty.
    Closed,
}

impl Dispatch {
    /// Called after a job was queued: makes sure a thread will look for it.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.standby.load(Ordering::SeqCst) > 0 {
            return;
        }
        self.wake_one();
    }

    /// Called by a thread that took a job: if more are queued, a thread should stand by.
    pub fn took_one(&self, more_queued: bool) {
        if more_queued {
            self.notify();
        }
    }

    /// Called by a thread that `wait` sent to look for work, once it holds the GIL: it is off
    /// standby.
    pub fn attached(&self) {
        self.standby.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every parked thread, for them to see the queue closed (each on standby, as any
    /// thread taken off the stack is).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for thread in lock(&self.idle).drain(..) {
            self.standby.fetch_add(1, Ordering::SeqCst);
            thread.unpark();
        }
    }

    fn wake_one(&self) {
        let thread = lock(&self.idle).pop();
        if let Some(thread) = thread {
            // Counted before it runs, so the jobs queued meanwhile do not wake another.
            self.standby.fetch_add(1, Ordering::SeqCst);
            thread.unpark();
        }
    }

    /// Waits, without the GIL, until the queue has work (`has_work`) or is closed and empty
    /// (`is_closed`, which must only be true once nothing is left to take).
    pub fn wait(&self, has_work: impl Fn() -> bool, is_closed: impl Fn() -> bool) -> Wait {
        let me = std::thread::current();
        loop {
            lock(&self.idle).push(me.clone());
            fence(Ordering::SeqCst);
            let work = has_work();
            if !work && !is_closed() && !self.closed.load(Ordering::SeqCst) {
                std::thread::park();
            }
            let mut idle = lock(&self.idle);
            let before = idle.len();
            idle.retain(|thread| thread.id() != me.id());
            let woken = idle.len() == before; // Someone took us off the stack: we are on standby.
            drop(idle);
            if woken {
                return Wait::Work;
            }
            if work || has_work() {
                self.standby.fetch_add(1, Ordering::SeqCst);
                return Wait::Work;
            }
            if is_closed() {
                return Wait::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::*;

    type Queue = (async_channel::Sender<u32>, async_channel::Receiver<u32>);

    /// Consumer threads that count what they take, as pool threads do, minus Python.
    fn consumers(
        count: usize,
        queue: &Queue,
        dispatch: &Arc<Dispatch>,
        taken: &Arc<AtomicUsize>,
    ) -> Vec<JoinHandle<()>> {
        let gil = Arc::new(Mutex::new(()));
        (0..count)
            .map(|_| {
                let (jobs, dispatch, taken, gil) = (queue.1.clone(), dispatch.clone(), taken.clone(), gil.clone());
                std::thread::spawn(move || {
                    // A stand-in for the GIL: jobs are taken holding it, views run holding
                    // it, and a view that waits on I/O lets go of it.
                    let mut held = lock(&gil);
                    loop {
                        match jobs.try_recv() {
                            Ok(job) => {
                                dispatch.took_one(!jobs.is_empty());
                                if job % 7 == 0 {
                                    drop(held);
                                    std::thread::sleep(Duration::from_micros(20));
                                    held = lock(&gil);
                                }
                                taken.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(async_channel::TryRecvError::Empty) => {
                                drop(held);
                                let waited = dispatch.wait(|| !jobs.is_empty(), || jobs.is_closed() && jobs.is_empty());
                                held = lock(&gil);
                                match waited {
                                    Wait::Work => dispatch.attached(),
                                    Wait::Closed => return,
                                }
                            }
                            Err(async_channel::TryRecvError::Closed) => return,
                        }
                    }
                })
            })
            .collect()
    }

    fn wait_for(deadline: Duration, done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn every_queued_job_is_taken_however_jobs_and_sleeps_interleave() {
        let queue: Queue = async_channel::bounded(4);
        let dispatch = Arc::new(Dispatch::default());
        let taken = Arc::new(AtomicUsize::new(0));
        let threads = consumers(4, &queue, &dispatch, &taken);
        let producers: Vec<_> = (0..3)
            .map(|producer| {
                let (jobs, dispatch) = (queue.0.clone(), dispatch.clone());
                std::thread::spawn(move || {
                    for job in 0..5_000u32 {
                        let start = Instant::now();
                        while jobs.try_send(job).is_err() {
                            assert!(
                                start.elapsed() < Duration::from_secs(10),
                                "the queue stayed full: nobody takes jobs"
                            );
                            std::thread::yield_now();
                        }
                        dispatch.notify();
                        if job % (50 + producer) == 0 {
                            // Long enough for consumers to park, and need waking again.
                            std::thread::sleep(Duration::from_micros(150));
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().expect("a producer panicked");
        }
        assert!(
            wait_for(Duration::from_secs(10), || taken.load(Ordering::SeqCst) == 15_000),
            "only {} of 15000 jobs were taken: a wake-up was lost",
            taken.load(Ordering::SeqCst)
        );
        queue.0.close();
        dispatch.close();
        for thread in threads {
            thread.join().expect("a consumer panicked");
        }
    }

    #[test]
    fn a_job_queued_after_every_thread_parked_is_taken_at_once() {
        let queue: Queue = async_channel::bounded(4);
        let dispatch = Arc::new(Dispatch::default());
        let taken = Arc::new(AtomicUsize::new(0));
        let threads = consumers(3, &queue, &dispatch, &taken);
        for round in 1..=20 {
            assert!(wait_for(Duration::from_secs(5), || lock(&dispatch.idle).len() == 3), "threads did not park");
            assert_eq!(dispatch.standby.load(Ordering::SeqCst), 0, "a parked thread still counts as standing by");
            queue.0.try_send(1).expect("the queue is empty");
            dispatch.notify();
            assert!(
                wait_for(Duration::from_millis(500), || taken.load(Ordering::SeqCst) == round),
                "round {round}: the job stayed queued while every thread slept"
            );
        }
        queue.0.close();
        dispatch.close();
        for thread in threads {
            thread.join().expect("a consumer panicked");
        }
    }

    #[test]
    fn closing_wakes_every_parked_thread_and_they_exit() {
        let queue: Queue = async_channel::bounded(4);
        let dispatch = Arc::new(Dispatch::default());
        let taken = Arc::new(AtomicUsize::new(0));
        let threads = consumers(4, &queue, &dispatch, &taken);
        assert!(wait_for(Duration::from_secs(5), || lock(&dispatch.idle).len() == 4), "threads did not park");
        queue.0.close();
        dispatch.close();
        assert!(
            wait_for(Duration::from_secs(5), || threads.iter().all(|thread| thread.is_finished())),
            "a parked thread never saw the queue close"
        );
        assert_eq!(dispatch.standby.load(Ordering::SeqCst), 0, "closing left threads counted as standing by");
    }
}
