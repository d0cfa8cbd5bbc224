//! Fuzz target `forwarded`: see `_amphicorn::fuzzing::forwarded` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::forwarded(data));
