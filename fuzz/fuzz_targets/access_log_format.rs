//! Fuzz target `access_log_format`: see `_amphicorn::fuzzing::access_log_format` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::access_log_format(data));
