//! The file driver of rakit-job (in progress).
