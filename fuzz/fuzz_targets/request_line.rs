//! Fuzz target `request_line`: see `_amphicorn::fuzzing::request_line` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::request_line(data));
