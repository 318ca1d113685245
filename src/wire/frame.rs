//! The authenticated frame.
//!
//! Layout (big-endian, version 2):
//!
//! | offset      | size | field                                              |
//! |-------------|------|----------------------------------------------------|
//! | 0           | 4    | magic `b"HBD1"`                                    |
//! | 4           | 1    | format version (2)                                 |
//! | 5           | 8    | first 8 bytes of SHA-256(cluster name)             |
//! | 13          | 1    | sender name length `n` (1..=64)                    |
//! | 14          | n    | sender node name, printable ASCII                  |
//! | 14+n        | 8    | generation                                         |
//! | 22+n        | 8    | sequence                                           |
//! | 30+n        | 1    | message type (2 = beat, 3 = state chunk)           |
//! | 31+n        | 2    | body length `b`                                    |
//! | 33+n        | b    | body                                               |
//! | 33+n+b      | 1    | auth key ID                                        |
//! | 34+n+b      | 32   | HMAC-SHA256 over bytes `0 .. 34+n+b`               |
//!
//! A frame is therefore `66 + n + b` bytes, at most [`MAX_FRAME`].
//!
//! Versions: the version byte fixes this layout and the meaning of the
//! message types; a node accepts only the version it speaks and says so
//! loudly otherwise (version 1, hbd 0.1, sent the whole state in every
//! heartbeat and is not compatible). Within a version, bodies are made of
//! tagged fields that a node skips when it does not know them, and message
//! types it does not know are ignored, so a release can add to them and
//! still run next to the previous one during a rolling upgrade.

use ring::{digest, hmac};

use super::error::{KeyIds, WireError};
use crate::config::AuthKeys;

pub const MAGIC: [u8; 4] = *b"HBD1";
pub const VERSION: u8 = 2;
/// Largest frame: fits one UDP datagram on a 1500-byte Ethernet MTU
/// (1500 - 20 IPv4 - 8 UDP = 1472; IPv6 leaves 1452) with room to spare.
pub const MAX_FRAME: usize = 1400;
/// Longest sender node name, in bytes.
pub const MAX_SENDER: usize = 64;
/// Bytes of a frame that are neither sender name nor body.
pub const FRAME_OVERHEAD: usize = 4 + 1 + 8 + 1 + 8 + 8 + 1 + 2 + 1 + TAG_LEN;
/// Largest body that fits a frame whatever the sender's name (1270 bytes).
/// A sender with a shorter name may seal up to `MAX_FRAME - FRAME_OVERHEAD - name length`.
pub const MAX_BODY: usize = MAX_FRAME - FRAME_OVERHEAD - MAX_SENDER;
/// Message type of a frame whose body is a [`crate::core::msg::Beat`].
pub const MSG_BEAT: u8 = 2;
/// Message type of a frame whose body is a [`crate::core::msg::Chunk`] of a state.
pub const MSG_STATE: u8 = 3;

const TAG_LEN: usize = 32;
const HASH_LEN: usize = 8;
const SENDER_AT: usize = 4 + 1 + HASH_LEN;
const MIN_FRAME: usize = FRAME_OVERHEAD + 1;

/// The authenticated header fields of a frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub sender: String,
    pub generation: u64,
    pub seq: u64,
    pub msg_type: u8,
}

/// First 8 bytes of SHA-256 of the cluster name, as carried in every frame.
pub fn cluster_hash(cluster: &str) -> [u8; 8] {
    let d = digest::digest(&digest::SHA256, cluster.as_bytes());
    let mut h = [0u8; HASH_LEN];
    h.copy_from_slice(&d.as_ref()[..HASH_LEN]);
    h
}

fn valid_sender(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= MAX_SENDER && name.iter().all(|b| b.is_ascii_graphic())
}

/// The sender name a frame *claims*, without checking cluster, structure
/// beyond the name, or the tag: this is **unauthenticated** and only good
/// for rate-limiting log messages about bad frames per claimed sender.
/// Never base a decision on it.
pub fn peek_sender(frame: &[u8]) -> Option<String> {
    if frame.len() <= SENDER_AT || frame[..4] != MAGIC || frame[4] != VERSION {
        return None;
    }
    let n = frame[SENDER_AT] as usize;
    let name = frame.get(SENDER_AT + 1..SENDER_AT + 1 + n)?;
    if !valid_sender(name) {
        return None;
    }
    // valid_sender admits only ASCII, so this cannot fail.
    String::from_utf8(name.to_vec()).ok()
}

/// Seals and opens frames for one cluster with one auth key file.
pub struct Codec {
    cluster_hash: [u8; HASH_LEN],
    /// In file order: the first signs, all verify.
    keys: Vec<(u8, hmac::Key)>,
}

impl std::fmt::Debug for Codec {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec").field("cluster_hash", &self.cluster_hash).field("key_ids", &self.key_ids()).finish()
    }
}

impl Codec {
    /// A codec for `cluster` that signs with the first key of `keys` and
    /// verifies with any of them (if an ID is listed twice, its first secret
    /// is used).
    pub fn new(cluster: &str, keys: &AuthKeys) -> Codec {
        Codec {
            cluster_hash: cluster_hash(cluster),
            keys: keys.keys.iter().map(|(id, secret)| (*id, hmac::Key::new(hmac::HMAC_SHA256, secret))).collect(),
        }
    }

    /// The key ID that [`Codec::seal`] signs with (the auth key file's first
    /// line), or 0 when the file held no keys.
    pub fn sign_key_id(&self) -> u8 {
        self.keys.first().map_or(0, |(id, _)| *id)
    }

    /// All key IDs this codec verifies, in file order.
    pub fn key_ids(&self) -> Vec<u8> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// Builds a signed frame. Fails if there is no key, the sender name is
    /// not 1-64 printable ASCII characters, or the frame would exceed
    /// [`MAX_FRAME`] (bodies up to [`MAX_BODY`] always fit).
    pub fn seal(&self, h: &Header, body: &[u8]) -> Result<Vec<u8>, WireError> {
        let (id, key) = self.keys.first().ok_or(WireError::NoSigningKey)?;
        let sender = h.sender.as_bytes();
        if !valid_sender(sender) {
            return Err(WireError::InvalidSender(h.sender.clone()));
        }
        let max = MAX_FRAME - FRAME_OVERHEAD - sender.len();
        if body.len() > max {
            return Err(WireError::BodyTooLarge { len: body.len(), max });
        }
        let mut f = Vec::with_capacity(FRAME_OVERHEAD + sender.len() + body.len());
        f.extend_from_slice(&MAGIC);
        f.push(VERSION);
        f.extend_from_slice(&self.cluster_hash);
        f.push(sender.len() as u8); // <= MAX_SENDER, checked above
        f.extend_from_slice(sender);
        f.extend_from_slice(&h.generation.to_be_bytes());
        f.extend_from_slice(&h.seq.to_be_bytes());
        f.push(h.msg_type);
        f.extend_from_slice(&(body.len() as u16).to_be_bytes()); // <= MAX_FRAME, checked above
        f.extend_from_slice(body);
        f.push(*id);
        let tag = hmac::sign(key, &f);
        f.extend_from_slice(tag.as_ref());
        debug_assert!(f.len() <= MAX_FRAME);
        Ok(f)
    }

    /// Checks a frame and returns its header and body.
    ///
    /// Checks, in order: size, magic, version, cluster, layout, key ID, tag
    /// (constant-time). Only a frame that passes all of them is returned;
    /// replay protection is the caller's next step ([`super::ReplayGuard`]).
    pub fn open(&self, frame: &[u8]) -> Result<(Header, Vec<u8>), WireError> {
        let len = frame.len();
        if len < MIN_FRAME {
            return Err(WireError::Truncated { len, need: MIN_FRAME });
        }
        if len > MAX_FRAME {
            return Err(WireError::Oversized { len });
        }
        if frame[..4] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if frame[4] != VERSION {
            return Err(WireError::UnknownVersion(frame[4]));
        }
        if frame[5..SENDER_AT] != self.cluster_hash {
            return Err(WireError::WrongCluster);
        }

        // Layout. `len >= MIN_FRAME` makes every fixed-offset read below
        // in bounds once `need` has been checked.
        let n = frame[SENDER_AT] as usize;
        if n == 0 || n > MAX_SENDER {
            return Err(WireError::Malformed(format!("frame: sender name length {n} (must be 1 to {MAX_SENDER})")));
        }
        let need = FRAME_OVERHEAD + n;
        if len < need {
            return Err(WireError::Truncated { len, need });
        }
        let name = &frame[SENDER_AT + 1..SENDER_AT + 1 + n];
        if !valid_sender(name) {
            return Err(WireError::Malformed("frame: sender name is not printable ASCII".into()));
        }
        let mut at = SENDER_AT + 1 + n;
        let generation = be_u64(&frame[at..at + 8]);
        let seq = be_u64(&frame[at + 8..at + 16]);
        let msg_type = frame[at + 16];
        let blen = u16::from_be_bytes([frame[at + 17], frame[at + 18]]) as usize;
        at += 19;
        let need = FRAME_OVERHEAD + n + blen;
        if len < need {
            return Err(WireError::Truncated { len, need });
        }
        if len > need {
            return Err(WireError::Malformed(format!("frame: {} bytes after the tag", len - need)));
        }
        let body = &frame[at..at + blen];
        let id = frame[at + blen];
        let tag_at = at + blen + 1;

        let key = self
            .keys
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, key)| key)
            .ok_or_else(|| WireError::UnknownKey { id, known: KeyIds(self.key_ids()) })?;
        hmac::verify(key, &frame[..tag_at], &frame[tag_at..]).map_err(|_| WireError::BadTag { id })?;

        let header = Header {
            // Checked printable ASCII above.
            sender: name.iter().map(|&b| b as char).collect(),
            generation,
            seq,
            msg_type,
        };
        Ok((header, body.to_vec()))
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}
