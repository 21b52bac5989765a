//! Running a connector over a time range: cut the range into slices the
//! component accepts, plan each slice, run its work items with bounded
//! concurrency and retries, and hand events to the sink as they come.
//!
//! Memory stays bounded: events go to the sink as each step finishes, and
//! only work item descriptions (small) wait in the queue.

mod retry;
mod runner;
mod window;

pub use retry::RetryPolicy;
pub use runner::{PipelineOptions, SliceOutcome, Summary, run_slice};
pub use window::{Coverage, coverage, slices};
