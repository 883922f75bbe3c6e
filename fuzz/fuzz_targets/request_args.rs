//! A whole run request: method, content type, query and body from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 10] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=B",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "text/plain",
    "application/octet-stream",
    "application/vnd.x+json",
    "",
    "multipart/form-data",
];

fuzz_target!(|data: &[u8]| {
    let [m, t, rest @ ..] = data else { return };
    let method = if m % 4 == 0 { axum::http::Method::GET } else { axum::http::Method::POST };
    let (query, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (String::from_utf8_lossy(&rest[..i]).into_owned(), &rest[i + 1..]),
        None => (String::new(), rest),
    };
    let ct = TYPES[*t as usize % TYPES.len()].as_bytes();
    let mut headers: Vec<(&str, &[u8])> = vec![("content-type", ct), ("x-fuzz", b"v")];
    if t & 0x80 != 0 {
        headers.extend([("ce-specversion", &b"1.0"[..]), ("ce-id", b"1"), ("ce-source", b"%2Fs"), ("ce-type", b"t")]);
    }
    orvanta_fuzz::build(method, &headers, &query, body);
});
