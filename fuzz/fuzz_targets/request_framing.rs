//! Fuzz target `request_framing`: see `_amphicorn::fuzzing::request_framing` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::request_framing(data));
