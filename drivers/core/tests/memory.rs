//! The in-memory driver passes the shared conformance suite.

async fn store() -> rakit_job_core::conformance::Store {
    std::sync::Arc::new(rakit_job_core::MemoryDriver::new())
}

rakit_job_core::conformance_tests!(store);
