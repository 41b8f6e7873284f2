//! Fuzzes the legacy `GET /api/files?path=...` query; the properties are `drip_http::fuzzing::legacy_path`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_http::fuzzing::legacy_path(data));
