//! Compile-time behaviour of `#[job]`: every mistake in `fail/` is one error pointing
//! at the token at fault (see its `.stderr`); everything in `pass/` compiles and runs.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p rakit-job-ui-tests --test ui`
//! and read the diff before keeping it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
