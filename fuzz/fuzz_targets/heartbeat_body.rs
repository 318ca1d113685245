#![no_main]
//! See [`hbd_fuzz::heartbeat_body`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbd_fuzz::heartbeat_body(data));
