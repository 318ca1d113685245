//! The frame format on every link: header, body, HMAC-SHA256 tag.
//!
//! * [`frame`]: the authenticated, versioned frame ([`Codec::seal`] /
//!   [`Codec::open`]); one frame is one UDP datagram.
//! * [`body`]: the encodings of a [`Beat`] (frame type [`MSG_BEAT`]) and of
//!   a node's [`State`], cut into [`Chunk`]s (frame type [`MSG_STATE`]), with
//!   their reassembly and size bounds.
//! * [`replay`]: per-sender (generation, sequence) replay protection, to be
//!   applied to frames *after* [`Codec::open`] authenticated them.
//! * [`serial`]: byte-stream framing (COBS + CRC-32) for serial links, which
//!   resynchronises after line noise.
//!
//! Nothing here panics on input from the network, and no length field can
//! make it allocate more than the input it came with.
//!
//! [`Beat`]: crate::core::msg::Beat
//! [`State`]: crate::core::msg::State
//! [`Chunk`]: crate::core::msg::Chunk

pub mod body;
pub mod error;
pub mod frame;
pub mod replay;
pub mod serial;

pub use body::{
    beat_bound, decode_beat, decode_chunk, decode_message, decode_state, encode_beat, encode_chunk, encode_message,
    encode_state, nodes_hash, split_state, state_bound, state_digest, Assembly, CHUNK_DATA, LIVENESS_BEAT_MAX,
    MAX_CHUNKS, MAX_NAME, MAX_NODES, MAX_STATE, MAX_UNIT_WORD, MAX_UNIT_WORDS,
};
pub use error::{KeyIds, WireError};
pub use frame::{
    cluster_hash, peek_sender, Codec, Header, FRAME_OVERHEAD, MAGIC, MAX_BODY, MAX_FRAME, MAX_SENDER, MSG_BEAT,
    MSG_STATE, VERSION,
};
pub use replay::{Fresh, Rejected, ReplayGuard, REPLAY_WINDOW};
pub use serial::{encode_serial, serial_len, SerialDecoder};
