//! The typescript parser of `main`'s signature (the script's schema).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = std::str::from_utf8(data) {
        let _ = orvanta_exec::parse_main(orvanta_core::Language::Deno, code);
    }
});
