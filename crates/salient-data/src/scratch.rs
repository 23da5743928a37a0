//! Per-thread spare pixel buffers for the augmentation ops, so a sample's intermediate frames
//! reuse the previous sample's memory instead of each costing a fresh, page-faulting allocation.

use std::cell::RefCell;

/// At most this many spare buffers of each type are kept per thread.
const KEEP: usize = 8;

thread_local! {
    static BYTES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FLOATS: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes with unspecified contents, for the caller to overwrite entirely.
pub(crate) fn bytes(len: usize) -> Vec<u8> {
    sized(BYTES.with(|spare| spare.borrow_mut().pop()), len)
}

/// A buffer of `len` floats with unspecified contents, for the caller to overwrite entirely.
pub(crate) fn floats(len: usize) -> Vec<f32> {
    sized(FLOATS.with(|spare| spare.borrow_mut().pop()), len)
}

/// Hands buffers back for later [`bytes`] / [`floats`] calls on this thread.
pub(crate) fn give(rgb: Vec<u8>, map: Vec<f32>) {
    BYTES.with(|spare| keep(&mut spare.borrow_mut(), rgb));
    FLOATS.with(|spare| keep(&mut spare.borrow_mut(), map));
}

fn sized<T: Copy + Default>(reused: Option<Vec<T>>, len: usize) -> Vec<T> {
    let mut buffer = reused.unwrap_or_default();
    if buffer.len() >= len {
        buffer.truncate(len);
    } else {
        buffer.resize(len, T::default());
    }
    buffer
}

fn keep<T>(spare: &mut Vec<Vec<T>>, buffer: Vec<T>) {
    if spare.len() < KEEP && buffer.capacity() > 0 {
        spare.push(buffer);
    }
}
