//! One setting of the C allocator, made first thing in `main`, before any
//! thread starts or any body is allocated.
//!
//! Message-trace pages and audit content blobs are bodies of one to several
//! megabytes, allocated and freed once per page. glibc serves a large
//! allocation with its own mapping and returns it when freed, but after the
//! first such free it raises that threshold to the size freed: from then on
//! multi-megabyte bodies come from the heaps of whichever threads ran them,
//! where freed space stays resident. Peak RSS of a 3-day message-trace
//! catch-up then varied from 60 to 81 MiB from run to run; with the threshold
//! fixed at 1 MiB it was 55 MiB each time, at the same CPU. Elsewhere (musl,
//! other systems) this does nothing.

/// Allocations from this size up get their own mapping, returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Fixes glibc's mmap threshold (see the module docs).
pub fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; it is called before
    // the process starts any thread, and a refusal (0) leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
