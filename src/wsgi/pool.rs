//! The bounded pool of Python threads a WSGI app runs on, and the bounded queue in front.
//!
//! Each thread attaches to the interpreter once, for its whole life, and detaches while it
//! waits for work: its `threading.local` state (Django's database connections, for one)
//! lives as long as the thread, as under gunicorn's gthread worker. The threads are batch
//! threads (`scheduling.rs`): woken by the I/O thread, they wait for it to block. Jobs arrive through a
//! bounded async-channel; tokio tasks wait for room asynchronously, never for the GIL.
//!
//! With `--admin-bind` the pool shows in the metrics (`metrics/pool.rs`, `record_into`):
//! each job is stamped when queued, and the thread that takes it records the wait and
//! counts itself busy until the job is done. Without, the stamp is None and nothing is
//! counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::call;
use super::dispatch::{Dispatch, Held};
use super::job::Job;
use crate::errors::Error;
use crate::metrics::{MountMetrics, PoolFigures, Pools};
use crate::scheduling;
use crate::sync::lock;
use crate::wake;

pub struct Pool {
    jobs: async_channel::Sender<Box<Queued>>,
    dispatch: Arc<Dispatch>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
    /// Set with `--admin-bind`: where the threads count themselves busy.
    figures: Arc<OnceLock<Arc<PoolFigures>>>,
}

/// A wait for room in a full queue (`Pool::submit`).
pub type WaitForRoom<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// A job in the queue, and when it was queued (with `--admin-bind`). Queued boxed: the
/// queue is a ring of `queue_size` slots that each send walks on to, and a slot the size of
/// a job (232 bytes) made it 237 KB at the default 1024, every slot cold by its turn.
struct Queued {
    job: Job,
    since: Option<Instant>,
}

impl Pool {
    /// Starts `size` threads running `app`, behind a queue of `queue_size` jobs.
    pub fn start(py: Python<'_>, app: &Py<PyAny>, size: usize, queue_size: usize, name: &str) -> PyResult<Self> {
        let (jobs, receiver) = async_channel::bounded::<Box<Queued>>(queue_size.max(1));
        let dispatch = Arc::new(Dispatch::default());
        let figures = Arc::new(OnceLock::new());
        let size = size.max(1);
        let loop_waited = loop_wait(switch_interval(py)?);
        let mut threads = Vec::with_capacity(size);
        for index in 0..size {
            let receiver = receiver.clone();
            let dispatch = dispatch.clone();
            let figures = figures.clone();
            let app = app.clone_ref(py);
            let thread = std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
                // Woken by the I/O thread, it waits for it to block (scheduling.rs).
                scheduling::defer_wakeups();
                Python::attach(|py| work(py, app, receiver, &dispatch, &figures, loop_waited));
            })?;
            threads.push(thread);
        }
        Ok(Self { jobs, dispatch, threads: Mutex::new(threads), size, figures })
    }

    /// Shows this pool in the metrics, as the pool of `mount`: its threads busy and idle,
    /// its queue's depth (read from the queue at each scrape) and its queue waits.
    pub fn record_into(&self, mount: &MountMetrics, pools: &Pools) {
        let queue = self.jobs.downgrade();
        let depth = Box::new(move || queue.upgrade().map_or(0, |jobs| jobs.len()));
        let _ = self.figures.set(mount.watch_pool(pools, self.size, depth));
    }

    fn queued(&self, job: Job) -> Box<Queued> {
        Box::new(Queued { job, since: self.figures.get().map(|_| Instant::now()) })
    }

    /// Queues `job`: at once if there is room (`Ok(None)`), else the wait for room, up to
    /// `timeout`, to await (an error `is_queue_timeout` if none came). An error too once
    /// the pool is shutting down. The wait is boxed, and only made when the queue is full:
    /// a request's future holds it, and is moved (copied whole) on its way to hyper.
    pub fn submit(&self, job: Job, timeout: Duration) -> Result<Option<WaitForRoom<'_>>, Error> {
        let queued = match self.jobs.try_send(self.queued(job)) {
            Ok(()) => {
                self.dispatch.notify();
                return Ok(None);
            }
            Err(async_channel::TrySendError::Closed(_)) => return Err(Error::pool_closed()),
            Err(async_channel::TrySendError::Full(queued)) => queued,
        };
        Ok(Some(Box::pin(async move {
            match tokio::time::timeout(timeout, self.jobs.send(queued)).await {
                Ok(Ok(())) => {
                    self.dispatch.notify();
                    Ok(())
                }
                Ok(Err(_)) => Err(Error::pool_closed()),
                Err(_) => Err(Error::queue_timeout()),
            }
        })))
    }

    /// Queues `job`, waiting (without a deadline) for room: for callers that keep their
    /// own time, such as `WSGIMiddleware` on an asyncio loop. The future owns what it needs.
    pub fn enqueue(&self, job: Job) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let (jobs, dispatch, job) = (self.jobs.clone(), self.dispatch.clone(), self.queued(job));
        async move {
            jobs.send(job).await.map_err(|_| Error::pool_closed())?;
            dispatch.notify();
            Ok(())
        }
    }

    /// Stops taking jobs; threads finish what is queued, then exit.
    pub fn close(&self) {
        self.jobs.close();
        self.dispatch.close();
    }

    /// Waits up to `timeout` for every thread to exit; returns how many are still running.
    pub fn join(&self, timeout: Duration) -> usize {
        // A timeout too long to add to the clock has no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut threads = lock(&self.threads);
        while threads.iter().any(|thread| !thread.is_finished())
            && deadline.is_none_or(|deadline| Instant::now() < deadline)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (finished, running): (Vec<_>, Vec<_>) = threads.drain(..).partition(|thread| thread.is_finished());
        for thread in finished {
            // A panic was already reported by the panic hook; nothing more to do with it.
            let _ = thread.join();
        }
        let still_running = running.len();
        *threads = running;
        still_running
    }
}

fn work(
    py: Python<'_>,
    app: Py<PyAny>,
    jobs: async_channel::Receiver<Box<Queued>>,
    dispatch: &Dispatch,
    figures: &OnceLock<Arc<PoolFigures>>,
    loop_waited: Duration,
) {
    let app = app.into_bound(py);
    dispatch.serve(&jobs, &mut Gil(py), |_, queued| {
        let Queued { job, since } = *queued;
        let busy = figures.get().map(|figures| figures.take(since));
        call::run(py, &app, job);
        drop(busy);
        if wake::a_loop_waited(loop_waited) {
            py.detach(give_way);
        }
    });
}

/// The GIL, as the dispatcher lets go of it while a thread waits for work.
struct Gil<'py>(Python<'py>);

impl Held for Gil<'_> {
    fn released<T: Send>(&mut self, f: impl FnOnce() -> T + Send) -> T {
        self.0.detach(f)
    }
}

/// How long a woken asyncio loop may wait for the GIL while a pool thread goes from one job
/// to the next before the thread steps aside (`give_way`): twice CPython's switch interval.
///
/// Until then the loop gets the GIL as any Python thread does: when a job lets go of it for
/// I/O, or when CPython makes the holder let go after a waiter has waited one switch
/// interval. Either way another pool thread waiting for the GIL may take it first, and the
/// loop can lose that race again and again; stepping aside once it has waited two intervals
/// bounds that. Waiting longer also means each turn of the loop finds more work: it runs
/// every request that arrived meanwhile in one go, and the WSGI and ASGI apps take the core
/// in longer stretches.
///
/// Never at once: under `WSGIMiddleware` every job's answer wakes the loop that awaits it,
/// and stepping aside after each job made two context switches per request and ran one job
/// per switch (uvicorn + Starlette + `WSGIMiddleware` hello on one core: 90-104 µs of CPU
/// per request, against 50-54 at a 200 µs wait).
///
/// It was 200 µs, which under a WSGI app whose jobs take longer than that (Django: ~0.5 ms
/// of CPU, ~2 ms from start to end among four threads) stepped aside after nearly every
/// job, and the loop then ran about one request per turn. The Django fortunes and FastAPI
/// JSON apps in one process (`bench/apps/realapp_*`), one core, `wrk -c64` taking the two
/// routes in turns on the other plus 4 connections on `/api/items` alone for their latency
/// (release build, CPU from the threads' `schedstat`, rounds interleaved): 200 µs 401-411
/// µs of CPU per request, 0.52-0.54 involuntary switches, `/api` p50 19-22 ms and p99 46-56
/// ms; two intervals (10 ms) 374-375 µs, 0.13, p50 13.5-13.8 ms and p99 23-29 ms; never
/// stepping aside 353-355 µs, but `/api` p99 66-73 ms and, at 256 connections, p50 155 ms
/// (10 ms: 13.6). The two apps alone, called in turns, cost 364 µs per call (`make
/// bench-floor`). Unchanged: the hellos' mixed process (11.6-12.3 µs), and uvicorn +
/// `WSGIMiddleware` hello (48.5-53.9 µs at every wait), whose pool empties its queue long
/// before either.
fn loop_wait(switch_interval: f64) -> Duration {
    Duration::try_from_secs_f64(2.0 * switch_interval).unwrap_or(Duration::MAX)
}

/// `sys.getswitchinterval()`, read when a pool starts: after the app's import, which may
/// have set it.
fn switch_interval(py: Python<'_>) -> PyResult<f64> {
    py.import(pyo3::intern!(py, "sys"))?.call_method0(pyo3::intern!(py, "getswitchinterval"))?.extract()
}

/// Lets a woken asyncio loop take the GIL before this thread takes its next job.
///
/// A pool thread with a busy queue keeps the GIL from one job to the next, and a loop
/// thread (ASGI mounts in the same process, or the server in front of `WSGIMiddleware`)
/// would wait for CPython's switch interval, 5 ms, to get it. Letting go of the GIL wakes
/// the loop, and yielding the CPU gives it the chance to take the GIL first. Measured on a
/// mixed process (2 cores, /legacy + /api hello under wrk): /api p99 4.4-11 ms -> 3.8-4.8 ms,
/// at the same total throughput; spinning until the loop drained cost /legacy 10-15%.
/// Called without the GIL.
fn give_way() {
    std::thread::yield_now();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_may_wait_two_switch_intervals() {
        assert_eq!(loop_wait(0.005), Duration::from_millis(10), "CPython's default interval");
        assert_eq!(loop_wait(0.0001), Duration::from_micros(200));
        assert_eq!(loop_wait(1e300), Duration::MAX, "too long to count is never");
    }
}
