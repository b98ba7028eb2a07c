//! Jobs defined in another crate (in progress).
