//! Fuzz target `text`: see `_amphicorn::fuzzing::text` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::text(data));
