//! The frame format on every link: header, body, HMAC-SHA256 tag.

pub mod serial;
