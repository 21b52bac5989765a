//! Formatting shared by the pipeline, telemetry and the command line.

use std::time::Duration;

/// A duration in the largest whole unit: `24h`, `7d`, `90s`.
pub fn human_ms(ms: u64) -> String {
    let d = Duration::from_millis(ms);
    let s = d.as_secs();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if s != 0 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s != 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s != 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
