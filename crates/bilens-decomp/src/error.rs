//! The one error type of the decomposition crate.

/// What can go wrong inside a decomposition, beyond the caller's contract (shape mistakes in
/// arguments are programming errors and panic with a message instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecompError {
    /// The dense symmetric eigensolver did not converge (in practice: NaN or Inf in the matrix).
    #[error("the symmetric eigensolver did not converge on a {dim}x{dim} matrix")]
    NoConvergence {
        /// Size of the matrix.
        dim: usize,
    },
    /// An interaction matrix held NaN or Inf, so its spectrum would be meaningless.
    #[error("the interaction matrix of output {output} contains NaN or Inf")]
    NonFinite {
        /// Index of the output direction (row of the outputs matrix).
        output: usize,
    },
    /// The caller asked the decomposition to stop (see
    /// [`crate::decompose::decompose_chunked_until`]).
    #[error("stopped at the caller's request")]
    Stopped,
}
