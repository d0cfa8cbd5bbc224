//! Fuzz target `wsgi_status`: see `_amphicorn::fuzzing::wsgi_status` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::wsgi_status(data));
