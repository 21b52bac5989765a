//! What this process has used so far, for the benchmarks (Linux `/proc`;
//! `None` elsewhere): CPU time is what a Functions plan bills, so the
//! benchmarks report it next to wall-clock time.

/// User plus system CPU seconds of this process, all threads (10 ms steps).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // /proc reports in USER_HZ, 100 on Linux.
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn cpu_time_grows_with_work_and_memory_is_reported() {
        let before = super::cpu_seconds().expect("cpu seconds on Linux");
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = super::cpu_seconds().unwrap();
        assert!(after > before, "{before} -> {after}");
        assert!(super::peak_rss_mib().unwrap() > 1.0);
    }
}
