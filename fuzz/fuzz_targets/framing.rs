//! Fuzz target `framing`: see `_amphicorn::fuzzing::framing` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::framing(data));
