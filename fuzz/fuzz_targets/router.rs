//! Fuzz target `router`: see `_amphicorn::fuzzing::router` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::router(data));
