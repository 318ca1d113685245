#![no_main]
//! See [`hbd_fuzz::config`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbd_fuzz::config(data));
