//! `#[job]` (in progress).
