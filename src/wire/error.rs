//! Errors of the wire layer. Every message says what was wrong and, where an
//! operator can act, what to check.

use std::fmt;

use super::frame::{MAX_FRAME, VERSION};

/// A list of auth key IDs, displayed as `1, 2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIds(pub Vec<u8>);

impl fmt::Display for KeyIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than the smallest frame, or a length field points past the end.
    #[error("frame truncated: {len} bytes received, at least {need} needed")]
    Truncated { len: usize, need: usize },
    #[error("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit")]
    Oversized { len: usize },
    #[error("not an hbd frame (bad magic); is another program sending to the heartbeat port?")]
    BadMagic,
    #[error(
        "frame format version {0} is not supported (this hbd speaks version {VERSION}); \
         run compatible hbd releases on all nodes"
    )]
    UnknownVersion(u8),
    #[error(
        "frame belongs to another cluster (cluster name hash differs); \
         check [cluster] name in hbd.toml on every node"
    )]
    WrongCluster,
    #[error("frame signed with key {id}, which is not in the auth key file (keys: {known})")]
    UnknownKey { id: u8, known: KeyIds },
    #[error(
        "frame failed authentication with key {id}: the secret for key {id} differs \
         between the nodes' auth key files, or the frame was forged or corrupted"
    )]
    BadTag { id: u8 },
    /// The bytes do not follow the layout (frame or heartbeat body).
    #[error("malformed {0}")]
    Malformed(String),
    #[error(
        "message body of {len} bytes exceeds the {max}-byte limit of one frame \
         (too many groups or intents, or names too long)"
    )]
    BodyTooLarge { len: usize, max: usize },
    #[error(
        "state of {len} bytes exceeds the {max}-byte limit of one state transfer \
         (too many groups, or names too long; hactl config check names the limit)"
    )]
    StateTooLarge { len: usize, max: usize },
    /// `Codec::seal` with an empty key list.
    #[error("cannot sign frames: the auth key file holds no keys")]
    NoSigningKey,
    /// `Codec::seal` with a sender name the frame cannot carry.
    #[error("node name {0:?} cannot be sent: it must be 1 to 64 printable ASCII characters")]
    InvalidSender(String),
}
