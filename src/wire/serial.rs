//! Framing for serial links: a byte stream with no packet boundaries and
//! possible line noise.
//!
//! Each frame is sent as
//!
//! ```text
//! 0x00  COBS(frame ‖ CRC-32(frame) big-endian)  0x00
//! ```
//!
//! COBS (Consistent Overhead Byte Stuffing) removes every zero byte from the
//! payload at a cost of one byte per 254, so `0x00` only ever delimits. The
//! leading delimiter ends whatever noise preceded the frame; the CRC-32
//! (IEEE 802.3) drops noise between delimiters and frames damaged in
//! transit. Authenticity is still the frame's HMAC: the CRC only keeps
//! garbage away from it.

use super::frame::MAX_FRAME;

const DELIM: u8 = 0;
const CRC_LEN: usize = 4;
/// Anything longer between two delimiters is noise: drop it and resync.
const MAX_BUFFER: usize = MAX_FRAME * 2;

/// Most bytes [`encode_serial`] makes of a frame of `frame_len` bytes.
pub const fn serial_len(frame_len: usize) -> usize {
    let payload = frame_len + CRC_LEN;
    2 + payload + payload / 254 + 1
}

/// Encodes one frame for a serial link.
pub fn encode_serial(frame: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(frame.len() + CRC_LEN);
    payload.extend_from_slice(frame);
    payload.extend_from_slice(&crc32(frame).to_be_bytes());

    let mut out = Vec::with_capacity(payload.len() + payload.len() / 254 + 3);
    out.push(DELIM);
    cobs_encode(&payload, &mut out);
    out.push(DELIM);
    out
}

/// Reassembles frames from a serial byte stream.
#[derive(Clone, Debug, Default)]
pub struct SerialDecoder {
    buf: Vec<u8>,
    /// The current chunk outgrew the buffer: skip to the next delimiter.
    skipping: bool,
    discarded: u64,
}

impl SerialDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; returns every frame they complete, in order.
    /// Noise, damaged and truncated frames, and frames longer than
    /// [`MAX_FRAME`], are dropped (see [`SerialDecoder::discarded`]).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for &b in bytes {
            if b == DELIM {
                if self.skipping {
                    self.skipping = false;
                    self.discarded += 1;
                } else if !self.buf.is_empty() {
                    match decode_chunk(&self.buf) {
                        Some(f) => frames.push(f),
                        None => self.discarded += 1,
                    }
                }
                self.buf.clear();
            } else if !self.skipping {
                if self.buf.len() == MAX_BUFFER {
                    self.buf.clear();
                    self.skipping = true;
                } else {
                    self.buf.push(b);
                }
            }
        }
        frames
    }

    /// How many stretches of bytes between delimiters were dropped as noise
    /// or damaged frames so far (for link-quality logs).
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

/// One delimiter-free chunk back to a frame, if it is one.
fn decode_chunk(chunk: &[u8]) -> Option<Vec<u8>> {
    let mut payload = cobs_decode(chunk)?;
    // A frame longer than MAX_FRAME is never valid: drop it here as noise
    // rather than hand it up.
    if payload.len() <= CRC_LEN || payload.len() > MAX_FRAME + CRC_LEN {
        return None;
    }
    let split = payload.len() - CRC_LEN;
    let crc = u32::from_be_bytes(payload[split..].try_into().ok()?);
    payload.truncate(split);
    (crc32(&payload) == crc).then_some(payload)
}

fn cobs_encode(data: &[u8], out: &mut Vec<u8>) {
    let mut code_at = out.len();
    out.push(0);
    let mut code: u8 = 1;
    for &b in data {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xff {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
}

/// Decodes a chunk that holds no zero byte; `None` if it is not valid COBS.
fn cobs_decode(chunk: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(chunk.len());
    let mut i = 0;
    while i < chunk.len() {
        let code = chunk[i] as usize;
        if code == 0 {
            return None;
        }
        i += 1;
        let end = i + code - 1;
        out.extend_from_slice(chunk.get(i..end)?);
        i = end;
        if code != 0xff && i < chunk.len() {
            out.push(0);
        }
    }
    Some(out)
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 as in IEEE 802.3, zlib and PNG.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn cobs_round_trips_at_block_edges() {
        for len in [0usize, 1, 253, 254, 255, 508, 509, 1000] {
            for fill in [0u8, 1, 0xff] {
                let data: Vec<u8> = (0..len).map(|i| if fill == 1 { (i % 256) as u8 } else { fill }).collect();
                let mut enc = Vec::new();
                cobs_encode(&data, &mut enc);
                assert!(!enc.contains(&0), "len {len} fill {fill}");
                assert_eq!(cobs_decode(&enc).as_deref(), Some(&data[..]), "len {len} fill {fill}");
            }
        }
    }
}
