#![no_main]
//! See [`hbd_fuzz::import_heartbeat`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbd_fuzz::import_heartbeat(data));
