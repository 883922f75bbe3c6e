//! The GET routes' `?payload=` (base64 of JSON), and the query string around it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = orvanta_server::http::request_args::decode_payload(&text);
    orvanta_fuzz::build(axum::http::Method::GET, &[], &format!("payload={text}&include_query=payload,a&a=1"), b"");
});
