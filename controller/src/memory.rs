//! The heap at rest: glibc's malloc keeps what the process freed in its arenas (one per thread
//! that allocated, up to 8 per core), so the transient peaks of a busy minute (each page of a
//! watch's initial list, every Job and status built and serialised) stay in the RSS long after
//! the live objects are gone: after the 1,000-workflow run, RSS at rest equalled the peak RSS.
//! Two arenas at most, and a trim now and then when much is free, give that memory back.
//! [`heap`] says where the heap goes (in use vs. kept free) for `/metrics`.
//! Other allocators and libcs: nothing to do, and no figures.

use std::time::Duration;

/// How often the trimmer looks at the heap.
const TRIM_EVERY: Duration = Duration::from_secs(5);
/// Free heap worth trimming.
const TRIM_ABOVE: usize = 4 * 1024 * 1024;

/// The heap as malloc sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes in live allocations.
    pub in_use: usize,
    /// Bytes malloc holds free (in its arenas, not yet given back).
    pub free: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::Heap;

    /// At most two arenas: the controller's threads are few, and every arena keeps its own free
    /// memory.
    pub fn limit_arenas() {
        // SAFETY: mallopt only sets a malloc tunable; called before the runtime's threads.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }

    pub fn heap() -> Option<Heap> {
        // SAFETY: mallinfo2 only reads malloc's counters.
        let info = unsafe { libc::mallinfo2() };
        Some(Heap {
            in_use: info.uordblks + info.hblkhd,
            free: info.fordblks,
        })
    }

    pub fn trim() {
        // SAFETY: malloc_trim gives free pages of every arena back to the OS; no pointer is read.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    use super::Heap;

    pub fn limit_arenas() {}

    pub fn heap() -> Option<Heap> {
        None
    }

    pub fn trim() {}
}

/// Caps malloc's arenas; call first thing in main, before the runtime starts its threads.
pub fn limit_arenas() {
    glibc::limit_arenas();
}

/// The heap now; None where malloc does not say.
pub fn heap() -> Option<Heap> {
    glibc::heap()
}

/// True when the heap holds enough free memory to be worth a trim.
pub fn worth_trimming(heap: Heap) -> bool {
    heap.free > TRIM_ABOVE
}

/// Runs for the process life: every few seconds, gives free heap back to the OS when much is.
pub async fn trim_periodically() {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if heap().is_some_and(worth_trimming) {
            glibc::trim();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_heap_with_megabytes_free_is_trimmed() {
        assert!(!worth_trimming(Heap {
            in_use: 100 << 20,
            free: 1 << 20
        }));
        assert!(worth_trimming(Heap {
            in_use: 1 << 20,
            free: 10 << 20
        }));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_heap_shows_a_live_allocation() {
        // The counters are the whole process's, and the other tests allocate and free on their
        // own threads meanwhile (by several MiB: a CI run once saw 7 MiB more in use between the
        // two reads). A block far bigger than that, zeroed so that no page is touched, shows
        // through their noise.
        const BLOCK: usize = 512 << 20;
        const NOISE: usize = 128 << 20;
        let before = heap().expect("glibc reports its heap").in_use;
        let block = vec![0u8; BLOCK];
        let during = heap().unwrap().in_use;
        assert!(during + NOISE >= before + BLOCK, "{before} -> {during}");
        drop(block);
    }
}
