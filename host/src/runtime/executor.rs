//! Where component calls run: a few single-threaded executors ("lanes"),
//! one per core by default, each a thread driving a current-thread tokio
//! runtime.
//!
//! Why not the host's multi-threaded runtime: a call is a chain of small
//! hand-offs. `wasi:http` spawns every outgoing request, and the task that
//! feeds its body to the guest, as tokio tasks; the HTTP client spawns its
//! connection task. On a work-stealing runtime each of these wakes an idle
//! worker on another core (a futex, an eventfd write, a context switch) and
//! the data crosses caches, so a call paid about 290 µs of CPU before the
//! guest ran a single record, against about 120 µs when everything a call
//! spawns stays on the thread that runs the guest (`o365-bench normalize`
//! at 10 records per blob, both ways; see the README's benchmark section).
//! On a lane, the guest, its requests and their connections share one
//! thread; what still crosses threads is the call going in and its answer
//! coming back.
//!
//! A call goes to the lane with the fewest calls in flight, so a long guest
//! does not hold up the calls queued behind it while another lane idles.
//! A guest yields to its lane at every epoch tick, so calls on one lane
//! still interleave. Dropping the caller's future aborts the call, as it
//! did when the call ran on the caller's own task, and its log lines keep
//! the caller's span.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The lanes of one [`Runtime`](super::Runtime). Dropping it stops the
/// lane threads once their calls have ended or been aborted.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
}

struct Lane {
    handle: tokio::runtime::Handle,
    in_flight: Arc<AtomicUsize>,
    /// Dropped with the lane, which ends the thread's `block_on`.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Lanes {
    /// Starts `count` lane threads (at least one).
    pub(super) fn start(count: usize) -> std::io::Result<Self> {
        let lanes = (0..count.max(1))
            .map(Lane::start)
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { lanes })
    }

    /// Runs `call` on the least busy lane and waits for it. A panic in the
    /// call resumes in the caller, as if the call had run in its task.
    pub(super) fn run<F>(&self, call: F) -> impl Future<Output = F::Output> + Send + use<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.in_flight.load(Ordering::Relaxed))
            .expect("at least one lane");
        lane.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(lane.in_flight.clone());
        // Log lines of the call keep the caller's span (cycle, tenant).
        let task = lane.handle.spawn(
            async move {
                let _in_flight = in_flight;
                call.await
            }
            .instrument(tracing::Span::current()),
        );
        Running(task)
    }
}

impl Lane {
    fn start(index: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("wasm-lane-{index}"))
            .spawn(move || {
                // Returns when the lane is dropped; dropping the runtime here,
                // outside any async context, then drops what is left on it.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            in_flight: Arc::new(AtomicUsize::new(0)),
            _stop: stop,
        })
    }
}

/// Counts a call as in flight on its lane until it ends or is aborted.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The caller's side of a call on a lane: aborts the call when dropped.
struct Running<T>(JoinHandle<T>);

impl<T> Future for Running<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only `abort` (in `drop`, below) or a lane shutting down cancels
            // the task, and a lane shuts down only with its `Runtime`, which
            // the caller borrows while it waits.
            Poll::Ready(Err(e)) => panic!("a component call was cancelled on its lane: {e}"),
        }
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_call_runs_on_a_lane_thread_and_what_it_spawns_stays_there() {
        let lanes = Lanes::start(2).unwrap();
        let (outer, inner) = lanes
            .run(async {
                let outer = std::thread::current().name().map(str::to_owned);
                let inner =
                    tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
                        .await
                        .unwrap();
                (outer, inner)
            })
            .await;
        let outer = outer.expect("lane threads are named");
        assert!(outer.starts_with("wasm-lane-"), "{outer}");
        assert_eq!(inner.as_deref(), Some(outer.as_str()));
    }

    #[tokio::test]
    async fn calls_spread_over_the_lanes_by_how_busy_they_are() {
        let lanes = Lanes::start(2).unwrap();
        let (release, released) = tokio::sync::watch::channel(false);
        let wait = |mut released: tokio::sync::watch::Receiver<bool>| async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = released.wait_for(|r| *r).await;
            name
        };
        let first = lanes.run(wait(released.clone()));
        let second = lanes.run(wait(released.clone()));
        release.send(true).unwrap();
        let (first, second) = tokio::join!(first, second);
        assert_ne!(
            first, second,
            "two calls at once share a lane while one idles"
        );
    }

    #[tokio::test]
    async fn dropping_the_caller_aborts_the_call_and_frees_its_lane() {
        let lanes = Lanes::start(1).unwrap();
        let (dropped, was_dropped) = tokio::sync::oneshot::channel::<()>();
        struct Notify(Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for Notify {
            fn drop(&mut self) {
                let _ = self.0.take().map(|tx| tx.send(()));
            }
        }
        let call = lanes.run(async move {
            let _notify = Notify(Some(dropped));
            std::future::pending::<()>().await
        });
        let _ = tokio::time::timeout(Duration::from_millis(20), call).await;
        tokio::time::timeout(Duration::from_secs(5), was_dropped)
            .await
            .expect("the call is aborted when its caller goes away")
            .unwrap();
        let in_flight = &lanes.lanes[0].in_flight;
        for _ in 0..500 {
            if in_flight.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(
            in_flight.load(Ordering::Relaxed),
            0,
            "the lane still counts it"
        );
    }

    #[tokio::test]
    async fn a_panic_in_a_call_reaches_the_caller() {
        let lanes = Lanes::start(1).unwrap();
        let outcome = tokio::spawn(lanes.run(async { panic!("host bug") })).await;
        let panic = outcome.expect_err("the caller's task panics");
        assert!(panic.is_panic());
        // The lane survives it.
        assert_eq!(lanes.run(async { 7 }).await, 7);
    }
}
