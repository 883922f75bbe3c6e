//! CloudEvents: structured (one event) or batch mode, by the first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, body @ ..] = data else { return };
    let ct: &[u8] =
        if mode % 2 == 0 { b"application/cloudevents+json" } else { b"application/cloudevents-batch+json" };
    orvanta_fuzz::build(axum::http::Method::POST, &[("content-type", ct)], "raw=true&wrap_body=1", body);
});
