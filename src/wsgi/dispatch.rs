//! When a queued WSGI job wakes a pool thread, and when it does not.
//!
//! async-channel wakes one sleeping receiver for every message sent. For a pool of threads
//! that share one GIL that is the wrong trade: a small view takes less time than waking a
//! thread (a futex call on the sending tokio thread, a context switch on the woken one, and
//! then a GIL hand-off), and the woken thread usually finds the GIL taken by the thread that
//! could have run the job next anyway.
//!
//! So pool threads never block inside the channel; they wait here instead:
//! - A thread whose queue ran dry first *spins* for a short while, without the GIL, checking
//!   the queue. At most one thread spins at a time. While one does, a new job wakes nobody:
//!   the spinner takes it. Under steady load this is where most jobs are picked up, with no
//!   system call on either side.
//! - After the spin it parks on its own handle, on a LIFO stack of idle threads (the thread
//!   that slept last has the warmest cache and `threading.local` state).
//! - A job queued with no spinner wakes the most recently parked thread.
//! - A spinner that takes a job and still sees one queued wakes another thread, so jobs never
//!   wait behind a thread that is itself about to wait (for the GIL or for I/O).
//!
//! No job is ever left unseen: a thread re-checks the queue after registering as idle, and a
//! queuer checks for a spinner (and then for idle threads) after queueing, both with a
//! sequentially consistent fence in between, so one of the two always sees the other.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// How long a thread with nothing to do keeps checking the queue before it parks: a few
/// request-response round trips of a small view under load.
const SPIN: Duration = Duration::from_micros(50);

#[derive(Default)]
pub struct Dispatch {
    idle: Mutex<Vec<Thread>>,
    spinning: AtomicUsize,
    closed: AtomicBool,
}

impl Dispatch {
    /// Called after a job was queued: makes sure a thread will take it.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.spinning.load(Ordering::SeqCst) > 0 {
            return;
        }
        self.wake_one();
    }

    /// Wakes every parked thread, for them to see the queue closed.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for thread in lock(&self.idle).drain(..) {
            thread.unpark();
        }
    }

    fn wake_one(&self) {
        let thread = lock(&self.idle).pop();
        if let Some(thread) = thread {
            thread.unpark();
        }
    }

    /// Waits (the caller has let go of the GIL) until `take` yields a job, or returns `None`
    /// once the queue is closed and empty. `take` returns `Err(())` when it is closed.
    pub fn wait<J>(&self, mut take: impl FnMut() -> Result<Option<J>, ()>, pending: impl Fn() -> bool) -> Option<J> {
        if self.spinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            let found = self.spin(&mut take);
            self.spinning.fetch_sub(1, Ordering::SeqCst);
            match found {
                Spin::Job(job) => {
                    if pending() {
                        self.wake_one();
                    }
                    return Some(job);
                }
                Spin::Closed => return None,
                Spin::Nothing => {}
            }
        }
        self.park(take, pending)
    }

    fn spin<J>(&self, take: &mut impl FnMut() -> Result<Option<J>, ()>) -> Spin<J> {
        let start = Instant::now();
        loop {
            match take() {
                Ok(Some(job)) => return Spin::Job(job),
                Err(()) => return Spin::Closed,
                Ok(None) if start.elapsed() >= SPIN => return Spin::Nothing,
                Ok(None) => std::thread::yield_now(),
            }
        }
    }

    fn park<J>(&self, mut take: impl FnMut() -> Result<Option<J>, ()>, pending: impl Fn() -> bool) -> Option<J> {
        let me = std::thread::current();
        loop {
            lock(&self.idle).push(me.clone());
            fence(Ordering::SeqCst);
            let found = take();
            if found.is_ok() && matches!(found, Ok(None)) && !self.closed.load(Ordering::SeqCst) {
                std::thread::park();
            }
            // Whether unparked (someone took us off the stack) or not, leave it before looking again.
            lock(&self.idle).retain(|thread| thread.id() != me.id());
            let found = match found {
                Ok(None) => take(),
                other => other,
            };
            match found {
                Ok(Some(job)) => {
                    // A queuer may have picked this thread for another job than the one it found.
                    if pending() {
                        self.wake_one();
                    }
                    return Some(job);
                }
                Err(()) => return None,
                Ok(None) => {}
            }
        }
    }
}

enum Spin<J> {
    Job(J),
    Closed,
    Nothing,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use super::*;

    type Queue = (async_channel::Sender<u32>, async_channel::Receiver<u32>);

    /// Consumer threads that count what they take, as pool threads do, minus Python.
    fn consumers(
        count: usize,
        queue: &Queue,
        dispatch: &Arc<Dispatch>,
        taken: &Arc<AtomicUsize>,
    ) -> Vec<JoinHandle<()>> {
        (0..count)
            .map(|_| {
                let (jobs, dispatch, taken) = (queue.1.clone(), dispatch.clone(), taken.clone());
                std::thread::spawn(move || {
                    let take = || match jobs.try_recv() {
                        Ok(job) => Ok(Some(job)),
                        Err(async_channel::TryRecvError::Empty) => Ok(None),
                        Err(async_channel::TryRecvError::Closed) => Err(()),
                    };
                    loop {
                        let job = match take() {
                            Ok(Some(job)) => job,
                            Ok(None) => match dispatch.wait(take, || !jobs.is_empty()) {
                                Some(job) => job,
                                None => return,
                            },
                            Err(()) => return,
                        };
                        if job % 7 == 0 {
                            std::thread::sleep(Duration::from_micros(20)); // A view that waits on I/O.
                        }
                        taken.fetch_add(1, Ordering::SeqCst);
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
                            // Longer than the spin: consumers park, and must be woken again.
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
    }
}
