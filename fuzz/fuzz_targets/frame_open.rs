#![no_main]
//! See [`hbd_fuzz::frame_open`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbd_fuzz::frame_open(data));
