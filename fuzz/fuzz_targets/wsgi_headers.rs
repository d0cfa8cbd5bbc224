//! Fuzz target `wsgi_headers`: see `_amphicorn::fuzzing::wsgi_headers` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::wsgi_headers(data));
