//! Fused CPU kernels for the tie patterns.

pub mod band;
pub mod fft;
pub mod index;
