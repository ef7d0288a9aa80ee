//! Decoding a tensor's little-endian bytes into `f32`/`f64`, counting non-finite values on the
//! way (one pass over the data: the check costs nothing extra on a large checkpoint).

use bilens_decomp::Real;
use half::{bf16, f16};
use safetensors::Dtype as StDtype;

/// The safetensors dtypes bilens converts to its working precision.
pub(crate) const SUPPORTED: [StDtype; 4] =
    [StDtype::F32, StDtype::F64, StDtype::F16, StDtype::BF16];

/// Values decoded from a byte slice, and where the first non-finite one was.
pub(crate) struct Decoded<T> {
    pub values: Vec<T>,
    /// Number of NaN or infinite values (after conversion to `T`).
    pub non_finite: usize,
    /// Flat index (within the decoded slice) of the first of them.
    pub first_non_finite: Option<usize>,
}

/// Decodes `bytes` holding elements of `dtype` into `T`. Returns `None` for a dtype not in
/// [`SUPPORTED`]; the caller has already checked that `bytes` is a whole number of elements.
pub(crate) fn decode<T: Real>(dtype: StDtype, bytes: &[u8]) -> Option<Decoded<T>> {
    Some(match dtype {
        StDtype::F32 => run::<4, T>(bytes, |b| f64::from(f32::from_le_bytes(b))),
        StDtype::F64 => run::<8, T>(bytes, f64::from_le_bytes),
        StDtype::F16 => run::<2, T>(bytes, |b| f16::from_le_bytes(b).to_f64()),
        StDtype::BF16 => run::<2, T>(bytes, |b| bf16::from_le_bytes(b).to_f64()),
        _ => return None,
    })
}

fn run<const N: usize, T: Real>(bytes: &[u8], read: impl Fn([u8; N]) -> f64) -> Decoded<T> {
    let mut values = Vec::with_capacity(bytes.len() / N);
    let mut non_finite = 0;
    let mut first_non_finite = None;
    for (i, chunk) in bytes.chunks_exact(N).enumerate() {
        let mut b = [0u8; N];
        b.copy_from_slice(chunk);
        // An f64 beyond the f32 range becomes infinite here and is reported like any other
        // non-finite value: the weight is unusable in that precision either way.
        let x = T::of_f64(read(b));
        if !x.is_finite() {
            non_finite += 1;
            first_non_finite.get_or_insert(i);
        }
        values.push(x);
    }
    Decoded {
        values,
        non_finite,
        first_non_finite,
    }
}

/// The row-major multi-index of flat index `flat` in an array of shape `shape`.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_supported_dtype_exactly() {
        let xs = [0.0f64, 1.5, -2.25, 1024.0];
        let f32b: Vec<u8> = xs.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect();
        let f64b: Vec<u8> = xs.iter().flat_map(|&x| x.to_le_bytes()).collect();
        let f16b: Vec<u8> = xs
            .iter()
            .flat_map(|&x| f16::from_f64(x).to_le_bytes())
            .collect();
        let bf16b: Vec<u8> = xs
            .iter()
            .flat_map(|&x| bf16::from_f64(x).to_le_bytes())
            .collect();
        for (dtype, bytes) in [
            (StDtype::F32, f32b),
            (StDtype::F64, f64b),
            (StDtype::F16, f16b),
            (StDtype::BF16, bf16b),
        ] {
            let d = decode::<f64>(dtype, &bytes).expect("supported");
            assert_eq!(d.values, xs, "{dtype}");
            assert_eq!(d.non_finite, 0);
        }
        assert!(decode::<f32>(StDtype::I32, &[0; 4]).is_none());
    }

    #[test]
    fn counts_non_finite_values_and_finds_the_first() {
        let xs = [1.0f32, f32::NAN, 2.0, f32::INFINITY, f32::NEG_INFINITY];
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let d = decode::<f32>(StDtype::F32, &bytes).expect("supported");
        assert_eq!((d.non_finite, d.first_non_finite), (3, Some(1)));
        // f64 overflow into f32 counts as non-finite.
        let d = decode::<f32>(StDtype::F64, &1e300f64.to_le_bytes()).expect("supported");
        assert_eq!(d.non_finite, 1);
    }

    #[test]
    fn unravels_row_major() {
        assert_eq!(unravel(7, &[2, 3, 4]), vec![0, 1, 3]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
