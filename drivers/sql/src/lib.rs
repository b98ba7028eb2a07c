//! The sql driver of rakit-job (in progress).
