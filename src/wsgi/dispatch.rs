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

/// What a pool thread holds while it takes and runs jobs (the GIL), and lets go of while
/// it waits for work.
pub trait Held {
    /// Runs `f` without holding it, and takes it again.
    fn released<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T;
}

/// What a thread waiting for work learnt.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    /// The queue has (or just had) a job: take the GIL and look. The caller is on standby
    /// until it holds it again.
    Work,
    /// The queue is closed and empty.
    Closed,
}

impl Dispatch {
    /// The loop of a pool thread: takes each job from `jobs` only while `held`, runs it with
    /// `run`, and waits here (released) while the queue is empty. Returns once the queue is
    /// closed and empty.
    pub fn serve<J: Send, H: Held>(
        &self,
        jobs: &async_channel::Receiver<J>,
        held: &mut H,
        mut run: impl FnMut(&mut H, J),
    ) {
        loop {
            // The next job is taken without letting go: handing the GIL to another thread for
            // every request costs more than the request itself for small views. Only an
            // empty queue makes the thread let go and wait.
            match jobs.try_recv() {
                Ok(job) => {
                    if !jobs.is_empty() {
                        self.notify(); // More are queued: a thread should stand by.
                    }
                    run(held, job);
                }
                Err(async_channel::TryRecvError::Empty) => {
                    let waited =
                        held.released(|| self.wait(|| !jobs.is_empty(), || jobs.is_closed() && jobs.is_empty()));
                    match waited {
                        // Held again: no longer on standby.
                        Wait::Work => {
                            self.standby.fetch_sub(1, Ordering::SeqCst);
                        }
                        Wait::Closed => return,
                    }
                }
                Err(async_channel::TryRecvError::Closed) => return,
            }
        }
    }

    /// Called after a job was queued: makes sure a thread will look for it.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.standby.load(Ordering::SeqCst) > 0 {
            return;
        }
        self.wake_one();
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
    fn wait(&self, has_work: impl Fn() -> bool, is_closed: impl Fn() -> bool) -> Wait {
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

    /// A stand-in for the GIL: jobs are taken holding it, views run holding it, and a view
    /// that waits on I/O lets go of it.
    struct Lock<'a> {
        lock: &'a Mutex<()>,
        guard: Option<std::sync::MutexGuard<'a, ()>>,
    }

    impl Held for Lock<'_> {
        fn released<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
            self.guard = None;
            let result = f();
            self.guard = Some(lock(self.lock));
            result
        }
    }

    /// A pool minus Python: threads that run `Dispatch::serve` and count the jobs they take.
    struct Pool {
        queue: Queue,
        dispatch: Arc<Dispatch>,
        taken: Arc<AtomicUsize>,
        threads: Vec<JoinHandle<()>>,
    }

    impl Pool {
        fn start(count: usize) -> Self {
            let queue: Queue = async_channel::bounded(4);
            let dispatch = Arc::new(Dispatch::default());
            let taken = Arc::new(AtomicUsize::new(0));
            let gil = Arc::new(Mutex::new(()));
            let threads = (0..count)
                .map(|_| {
                    let (jobs, dispatch, taken, gil) = (queue.1.clone(), dispatch.clone(), taken.clone(), gil.clone());
                    std::thread::spawn(move || {
                        let mut held = Lock { lock: &gil, guard: Some(lock(&gil)) };
                        dispatch.serve(&jobs, &mut held, |held, job| {
                            if job % 7 == 0 {
                                held.released(|| std::thread::sleep(Duration::from_micros(20)));
                            }
                            taken.fetch_add(1, Ordering::SeqCst);
                        });
                    })
                })
                .collect();
            Self { queue, dispatch, taken, threads }
        }

        fn taken(&self) -> usize {
            self.taken.load(Ordering::SeqCst)
        }

        fn parked(&self) -> usize {
            lock(&self.dispatch.idle).len()
        }

        fn close(&self) {
            self.queue.0.close();
            self.dispatch.close();
        }

        fn close_and_join(self) {
            self.close();
            for thread in self.threads {
                thread.join().expect("a pool thread panicked");
            }
        }
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
        let pool = Pool::start(4);
        let producers: Vec<_> = (0..3)
            .map(|producer| {
                let (jobs, dispatch) = (pool.queue.0.clone(), pool.dispatch.clone());
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
                            // Long enough for the pool threads to park, and need waking again.
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
            wait_for(Duration::from_secs(10), || pool.taken() == 15_000),
            "only {} of 15000 jobs were taken: a wake-up was lost",
            pool.taken()
        );
        pool.close_and_join();
    }

    #[test]
    fn a_job_queued_after_every_thread_parked_is_taken_at_once() {
        let pool = Pool::start(3);
        for round in 1..=20 {
            assert!(wait_for(Duration::from_secs(5), || pool.parked() == 3), "threads did not park");
            assert_eq!(pool.dispatch.standby.load(Ordering::SeqCst), 0, "a parked thread still counts as standing by");
            pool.queue.0.try_send(1).expect("the queue is empty");
            pool.dispatch.notify();
            assert!(
                wait_for(Duration::from_millis(500), || pool.taken() == round),
                "round {round}: the job stayed queued while every thread slept"
            );
        }
        pool.close_and_join();
    }

    #[test]
    fn closing_wakes_every_parked_thread_and_they_exit() {
        let pool = Pool::start(4);
        assert!(wait_for(Duration::from_secs(5), || pool.parked() == 4), "threads did not park");
        pool.close();
        assert!(
            wait_for(Duration::from_secs(5), || pool.threads.iter().all(|thread| thread.is_finished())),
            "a parked thread never saw the queue close"
        );
        assert_eq!(pool.dispatch.standby.load(Ordering::SeqCst), 0, "closing left threads counted as standing by");
    }
}
