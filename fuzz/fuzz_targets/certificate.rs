//! Fuzz target `certificate`: see `_amphicorn::fuzzing::certificate` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::certificate(data));
