//! application/x-www-form-urlencoded bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    orvanta_fuzz::build(axum::http::Method::POST, &[("content-type", b"application/x-www-form-urlencoded")], "", data);
});
