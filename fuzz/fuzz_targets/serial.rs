#![no_main]
//! See [`hbd_fuzz::serial`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbd_fuzz::serial(data));
