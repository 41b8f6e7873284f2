//! Fuzzes `FileName::parse`; the properties are `drip_core::fuzzing::file_name`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_core::fuzzing::file_name(data));
