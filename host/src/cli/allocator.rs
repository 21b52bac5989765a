//! Two settings of the C allocator, made first thing in `main`, before any
//! thread starts or any body is allocated.
//!
//! Message-trace pages and audit content blobs are bodies of one to several
//! megabytes, allocated and freed once per page. glibc serves a large
//! allocation with its own mapping and returns it when freed, but after the
//! first such free it raises that threshold to the size freed: from then on
//! multi-megabyte bodies come from the heaps of whichever threads ran them,
//! where freed space stays resident. Peak RSS of a 3-day message-trace
//! catch-up then varied from 60 to 81 MiB from run to run; with the threshold
//! fixed at 1 MiB it was 55 MiB each time, at the same CPU.
//!
//! Smaller buffers (event bodies, journal lines, the head as it is written)
//! come and go on every worker thread's heap; glibc gives back only what is
//! free at the top of a heap, so the holes they leave behind stay resident
//! and the peak creeps up over a long run. Once a second a thread hands the
//! free pages of every heap back (`malloc_trim`): the peak of a 5-million
//! event audit run went from 64.1-65.1 to 61.6-63.4 MiB, at the same CPU
//! within the runs' noise, and a daemon between two cycles holds only what
//! it still uses. Elsewhere (musl, other systems) this does nothing.

/// Allocations from this size up get their own mapping, returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// How often the free pages of the heaps go back to the OS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Fixes glibc's mmap threshold and starts the thread that returns free
/// heap pages (see the module docs).
pub fn return_freed_memory_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes a malloc parameter; it is called
        // before the process starts any thread, and a refusal (0) leaves
        // the default.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
        let trimmer = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_EVERY);
                    // SAFETY: malloc_trim takes each heap's own lock; it
                    // only releases pages no allocation holds.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        // Without the thread the process only keeps more memory resident.
        drop(trimmer);
    }
}
