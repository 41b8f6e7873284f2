//! Fuzzes HS256 token verification against a fixed key; the properties are `drip_auth::fuzzing::jwt`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drip_auth::fuzzing::jwt(data));
