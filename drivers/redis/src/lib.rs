//! The redis driver of rakit-job (in progress).
