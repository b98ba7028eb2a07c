//! The memcached driver of rakit-job (in progress).
