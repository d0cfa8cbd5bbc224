//! Fuzz target `proxy_protocol`: see `_amphicorn::fuzzing::proxy_protocol` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::proxy_protocol(data));
