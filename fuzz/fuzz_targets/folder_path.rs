//! Fuzzes `FolderPath::parse`; the properties are `drip_core::fuzzing::folder_path`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_core::fuzzing::folder_path(data));
