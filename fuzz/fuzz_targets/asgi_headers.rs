//! Fuzz target `asgi_headers`: see `_amphicorn::fuzzing::asgi_headers` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| _amphicorn::fuzzing::asgi_headers(data));
