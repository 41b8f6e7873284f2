//! Fuzzes listing cursors; the properties are `drip_http::fuzzing::cursor`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_http::fuzzing::cursor(data));
