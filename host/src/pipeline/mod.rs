//! Running a connector over a time range: cut the range into slices the
//! component accepts, plan each slice, run its work items with bounded
//! concurrency and retries, hand events to the sink as they come, and
//! checkpoint progress.
//!
//! Memory stays bounded: events go to the sink as each step finishes (at
//! most `concurrency` step results are held), and only work item
//! descriptions (small) wait in the queue.

mod checkpoint_progress;
mod cycle;
mod deadline;
mod live;
mod progress;
mod retry;
mod runner;
mod window;

pub use checkpoint_progress::SavePace;
pub use cycle::{CycleOptions, CycleReport, LOSS_COUNTER, Source, run_cycle};
pub use deadline::Deadline;
pub use live::LiveSource;
pub use progress::{MemoryProgress, Progress};
pub use retry::RetryPolicy;
pub use runner::{Lag, PipelineOptions, SliceOutcome, SliceStart, Summary, run_slice};
pub use window::{Coverage, LOOKBACK_MARGIN_MS, coverage, slices};
