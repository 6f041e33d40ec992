//! The process allocator: small allocations from mimalloc, large ones from the system
//! allocator (glibc).
//!
//! Indexing and the metadata paths make millions of small allocations from several
//! threads, freed on other threads; glibc's arenas spend a third of the indexing time
//! on them (locks, consolidation) where mimalloc is fast. Large buffers (data blocks,
//! decoded chunks, response chunks) are few; mimalloc keeps their pages after a free
//! (1.3–1.5 GB peak under the load benchmark against 0.45–0.55 GB), while glibc reuses
//! them in its heap and returns the largest to the system at once.
//!
//! mimalloc is built without transparent huge pages (2 MiB pages kept whole after
//! most of their blocks are freed) and returns freed pages after 100 ms instead of 1 s.
//! glibc gets one arena per core ([`configure`]).
//!
//! The split is by size, which `dealloc` and `realloc` receive with the same layout as
//! the allocation, so every block returns to the allocator it came from.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of at least this many bytes come from the system allocator.
pub const LARGE: usize = 64 << 10;

/// mimalloc below [`LARGE`] bytes, the system allocator from there on.
pub struct SplitAlloc;

fn large(layout: &Layout) -> bool {
    layout.size() >= LARGE
}

// SAFETY: each block is allocated and released by the same allocator, chosen from its
// layout's size (the caller passes the allocation's layout back, as `GlobalAlloc`
// requires); a realloc that crosses the threshold moves the block between the two.
unsafe impl GlobalAlloc for SplitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if large(&layout) {
            System.alloc(layout)
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if large(&layout) {
            System.alloc_zeroed(layout)
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if large(&layout) {
            System.dealloc(ptr, layout)
        } else {
            mimalloc::MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_large = new_size >= LARGE;
        match (large(&layout), new_large) {
            (true, true) => System.realloc(ptr, layout, new_size),
            (false, false) => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
            _ => {
                // SAFETY: the new layout keeps the alignment, which was valid, and the
                // caller guarantees `new_size` does not overflow when rounded up to it.
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

/// mimalloc's `purge_delay` option: its position in `mi_option_e` of mimalloc v3
/// (`mimalloc.h`), which `libmimalloc-sys` does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tunes both allocators; called first thing in `main`, before other threads start.
///
/// glibc gives every thread that allocates concurrently its own arena (up to 8 per
/// core), each keeping the memory freed into it: one arena per core bounds that
/// (`MALLOC_ARENA_MAX` overrides it). mimalloc purges freed pages after 100 ms
/// (`MIMALLOC_PURGE_DELAY` overrides it).
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, usize::from).max(2);
        // SAFETY: mallopt only sets a tunable; called before any other thread starts.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores).unwrap_or(2)) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, which it reads when it purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_is_the_option_set() {
        // mimalloc v3's default purge delay is 1000 ms; no other option defaults to it
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads one of mimalloc's options.
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
        }
    }

    #[test]
    fn blocks_cross_the_threshold_with_their_bytes() {
        let a = SplitAlloc;
        for (from, to) in [(16, LARGE * 2), (LARGE * 2, 16), (100, 200), (LARGE, LARGE * 3), (LARGE - 1, LARGE)] {
            let layout = Layout::from_size_align(from, 8).expect("layout");
            // SAFETY: a non-zero layout; the block is written within its size and freed
            // with its current layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                for i in 0..from {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, to);
                assert!(!q.is_null());
                for i in 0..from.min(to) {
                    assert_eq!(*q.add(i), (i % 251) as u8, "byte {i} of {from} -> {to}");
                }
                a.dealloc(q, Layout::from_size_align(to, 8).expect("layout"));
            }
        }
    }
}
