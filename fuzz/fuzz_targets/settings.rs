//! Fuzz target `settings`: see `_amphicorn::fuzzing::settings` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::settings(data));
