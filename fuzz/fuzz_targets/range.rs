//! Fuzzes the `Range` header parser; the properties are `drip_http::fuzzing::range`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_http::fuzzing::range(data));
