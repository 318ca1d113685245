//! The frame format on every link: header, body, HMAC-SHA256 tag.
//!
//! * [`frame`]: the authenticated, versioned frame ([`Codec::seal`] /
//!   [`Codec::open`]); one frame is one UDP datagram.
//! * [`body`]: the compact binary encoding of a [`Heartbeat`] carried in a
//!   frame of type [`MSG_HEARTBEAT`].
//! * [`replay`]: per-sender (generation, sequence) replay protection, to be
//!   applied to frames *after* [`Codec::open`] authenticated them.
//! * [`serial`]: byte-stream framing (COBS + CRC-32) for serial links, which
//!   resynchronises after line noise.
//!
//! Nothing here panics on input from the network, and no length field can
//! make it allocate more than the input it came with.
//!
//! [`Heartbeat`]: crate::core::msg::Heartbeat

pub mod body;
pub mod error;
pub mod frame;
pub mod replay;
pub mod serial;

pub use body::{decode_heartbeat, encode_heartbeat, MAX_NAME};
pub use error::{KeyIds, WireError};
pub use frame::{
    cluster_hash, peek_sender, Codec, Header, FRAME_OVERHEAD, MAGIC, MAX_BODY, MAX_FRAME, MAX_SENDER, MSG_HEARTBEAT,
    VERSION,
};
pub use replay::{Fresh, Rejected, ReplayGuard, REPLAY_WINDOW};
pub use serial::{encode_serial, SerialDecoder};
