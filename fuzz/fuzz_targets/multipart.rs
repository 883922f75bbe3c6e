//! multipart/form-data bodies (boundary `B`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    orvanta_fuzz::build(axum::http::Method::POST, &[("content-type", b"multipart/form-data; boundary=B")], "", data);
});
