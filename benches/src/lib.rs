//! Benchmarks of bilens kernels.
