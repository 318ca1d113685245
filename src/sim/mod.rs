//! Deterministic simulator over many cores.
