//! Buffers that start where the block products want them: at a chosen offset within a 4 KB page.
//!
//! Where a buffer starts is invisible to the code but not to the CPU, and Lanczos's block
//! products ([`symmetric::symm_lower`](crate::symmetric::symm_lower)), which stream `Q`, `X` and
//! `Y` with full-width vector loads, pay for it twice:
//! - **split loads.** The allocator hands out large blocks 16 bytes past a page boundary, so a
//!   32-byte load from such a block straddles two cache lines every other time;
//! - **4 KB aliasing.** A load whose address agrees in its low 12 bits with an earlier store
//!   still in flight waits for that store as if they were the same address. At `d = 1024` in
//!   f32 every column is exactly one page, so the columns of `X` and `Y` sit at the same page
//!   offset as each other unless they are placed apart.
//!
//! Measured per product (`d = 1024`, 8 columns, one thread, AMD EPYC Zen 3; benches/README.md):
//! 0.85 ms with `Y` 16 bytes after `X` modulo a page, 0.29-0.34 ms with all three 16 bytes past
//! a boundary and apart, 0.25 ms with `Q` on a boundary and `X`, `Y` a quarter and half a page
//! after it, and 0.24 ms with a cache line of padding after each column of `X` and `Y` as well.
//! Hence this module: a buffer placed at a given page offset, and [`PAGE`] arithmetic on where
//! an existing array starts.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::scalar::Real;

/// The page size whose low address bits 4 KB aliasing compares.
pub(crate) const PAGE: usize = 4096;

/// The cache line: the alignment at which full-width loads never straddle two lines.
pub(crate) const LINE: usize = 64;

/// Where `ptr` lies within its page, in bytes.
pub(crate) fn page_offset<T>(ptr: *const T) -> usize {
    ptr as usize % PAGE
}

/// `len` zeros whose first one lies `offset` bytes past a page boundary.
#[derive(Debug)]
pub(crate) struct PlacedBuffer<T> {
    data: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Real> PlacedBuffer<T> {
    /// `offset` is rounded down to a whole number of `T`s (the allocator aligns to at least
    /// one `T`, so every such offset is reachable). Costs one page of slack.
    pub(crate) fn zeros(len: usize, offset: usize) -> Self {
        let size = std::mem::size_of::<T>();
        let data = vec![T::zero(); len + PAGE / size];
        let at = page_offset(data.as_ptr());
        let start = (offset % PAGE / size * size + PAGE - at) % PAGE / size;
        Self { data, start, len }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        &self.data[self.start..self.start + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data[self.start..self.start + self.len]
    }
}

/// `q` itself when it is contiguous (row- or column-major) and starts on a cache line, otherwise
/// a row-major copy on a page boundary, kept in `copy`: a caller that multiplies many times
/// copies 4 MB once (at `d = 1024` in f32) to save ~0.05 ms on each of its ~24 products.
pub(crate) fn aligned_matrix<'a, T: Real>(
    q: ArrayView2<'a, T>,
    copy: &'a mut Option<PlacedBuffer<T>>,
) -> ArrayView2<'a, T> {
    let contiguous = q.is_standard_layout() || q.t().is_standard_layout();
    if contiguous && page_offset(q.as_ptr()) % LINE == 0 {
        return q;
    }
    let mut buffer = PlacedBuffer::zeros(q.len(), 0);
    ArrayViewMut2::from_shape(q.dim(), buffer.as_mut_slice())
        .expect("the buffer holds rows x cols numbers")
        .assign(&q);
    ArrayView2::from_shape(q.dim(), copy.insert(buffer).as_slice())
        .expect("the buffer holds rows x cols numbers")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    #[test]
    fn buffers_start_where_asked() {
        for offset in [0, 4, 16, 1024, 2048, 4092, 4096 + 64] {
            let b = PlacedBuffer::<f32>::zeros(1000, offset);
            assert_eq!(page_offset(b.as_slice().as_ptr()), offset % PAGE);
            assert_eq!(b.as_slice().len(), 1000);
            assert!(b.as_slice().iter().all(|&v| v == 0.0));
        }
        // Offsets between two f64 boundaries round down.
        let b = PlacedBuffer::<f64>::zeros(3, 1028);
        assert_eq!(page_offset(b.as_slice().as_ptr()), 1024);
        assert!(PlacedBuffer::<f64>::zeros(0, 8).as_slice().is_empty());
    }

    #[test]
    fn misplaced_or_strided_matrices_are_copied_whole() {
        let a = Array2::from_shape_fn((37, 37), |(i, j)| (i * 37 + j) as f64);
        let placed = {
            let mut b = PlacedBuffer::<f64>::zeros(37 * 37, 0);
            b.as_mut_slice()
                .copy_from_slice(a.as_slice().expect("standard layout"));
            b
        };
        // On a line already: borrowed, not copied.
        let view = ArrayView2::from_shape((37, 37), placed.as_slice()).expect("37 x 37");
        let mut copy = None;
        let got = aligned_matrix(view, &mut copy).as_ptr();
        assert!(copy.is_none());
        assert_eq!(got, placed.as_slice().as_ptr());
        // Off a line (one f64 in), column-major, and strided: copied onto a page boundary.
        let shifted =
            ArrayView2::from_shape((36, 36), &placed.as_slice()[1..1 + 36 * 36]).expect("36 x 36");
        let fortran = a.t().as_standard_layout().reversed_axes().into_owned();
        assert!(fortran.t().is_standard_layout());
        for (case, want) in [
            (shifted, shifted.to_owned()),
            (a.slice(s![..;2, ..]), a.slice(s![..;2, ..]).to_owned()),
            (fortran.view(), a.clone()),
        ] {
            let got = aligned_matrix(case, &mut None).to_owned();
            assert_eq!(got, want);
            let mut copy = None;
            let at = page_offset(aligned_matrix(case, &mut copy).as_ptr());
            assert_eq!(at % LINE, 0, "the view handed back is not on a cache line");
        }
        let mut copy = None;
        aligned_matrix(shifted, &mut copy);
        assert!(copy.is_some(), "8 bytes past a line must be copied");
    }
}
