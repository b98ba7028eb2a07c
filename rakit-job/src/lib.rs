//! rakit-job (in progress).
