//! The process's allocator: mimalloc, asked the way `malloc` is asked.
//!
//! The `mimalloc` crate's allocator calls `mi_malloc_aligned` for every
//! allocation. Its fast path serves blocks up to 1 KiB only; a larger block
//! (a request's 3–4 KiB futures, boxed once per request) falls to its
//! generic path, which over-allocates and then needs the slower free. Here an
//! alignment that plain `mi_malloc` already guarantees (as std's `System`
//! allocator decides for `malloc`) takes `mi_malloc`; only larger alignments
//! go the aligned way.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every `mi_malloc` block of at least this size has
/// (mimalloc's `MI_MAX_ALIGN_SIZE`).
const MALLOC_ALIGN: usize = 16;

pub struct Allocator;

/// Whether `mi_malloc(size)` is aligned enough for `layout`.
fn plain(layout: &Layout) -> bool {
    layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size()
}

type Plain = unsafe extern "C" fn(usize) -> *mut c_void;
type Aligned = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// A block for `layout` from the plain call when it is aligned enough, else
/// from the aligned one.
///
/// # Safety
/// As [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
#[inline]
unsafe fn block(layout: Layout, plain_call: Plain, aligned_call: Aligned) -> *mut u8 {
    // SAFETY: mimalloc's allocation calls take any size and power-of-two alignment.
    unsafe {
        if plain(&layout) {
            plain_call(layout.size()).cast()
        } else {
            aligned_call(layout.size(), layout.align()).cast()
        }
    }
}

// SAFETY: every block comes from mimalloc, aligned as `layout` asks (by
// `plain` or by mimalloc's aligned calls), and goes back to `mi_free`, which
// takes blocks from any of its allocation functions.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised GlobalAlloc::alloc.
        unsafe { block(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised GlobalAlloc::alloc_zeroed.
        unsafe { block(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= new_size {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every size class and alignment come back aligned, and
    /// keep their contents through a realloc.
    #[test]
    fn blocks_are_aligned_as_asked_and_survive_realloc() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 15, 16, 24, 100, 1024, 1025, 4136, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; the block is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xab, size);
                    let q = a.realloc(p, layout, size * 2);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert!((0..size).all(|i| *q.add(i) == 0xab));
                    a.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
