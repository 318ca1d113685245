//! Framing for serial links (stand-in; the real one lives on the wire branch).
//!
//! A frame on the line is `0x7E 0x48 len_hi len_lo payload sum` where `sum`
//! is the wrapping byte sum of the length bytes and the payload. The decoder
//! drops bytes until it finds a frame whose length and checksum fit, so it
//! resynchronises after line noise.

const SYNC: [u8; 2] = [0x7e, 0x48];
const MAX: usize = 4096;

pub fn encode_serial(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= MAX, "serial frame too large");
    let len = (payload.len() as u16).to_be_bytes();
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.extend_from_slice(&SYNC);
    out.extend_from_slice(&len);
    out.extend_from_slice(payload);
    out.push(checksum(&len, payload));
    out
}

fn checksum(len: &[u8], payload: &[u8]) -> u8 {
    len.iter()
        .chain(payload)
        .fold(0u8, |a, b| a.wrapping_add(*b))
}

#[derive(Debug, Default)]
pub struct SerialDecoder {
    buf: Vec<u8>,
}

impl SerialDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            // Find the sync marker.
            match self.buf.windows(2).position(|w| w == SYNC) {
                Some(0) => {}
                Some(n) => {
                    self.buf.drain(..n);
                }
                None => {
                    // Keep a trailing first sync byte, drop the rest.
                    let keep = usize::from(self.buf.last() == Some(&SYNC[0]));
                    let n = self.buf.len() - keep;
                    self.buf.drain(..n);
                    return frames;
                }
            }
            if self.buf.len() < 4 {
                return frames;
            }
            let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
            if len > MAX {
                self.buf.drain(..1);
                continue;
            }
            if self.buf.len() < 5 + len {
                return frames;
            }
            let payload = &self.buf[4..4 + len];
            if checksum(&self.buf[2..4], payload) == self.buf[4 + len] {
                frames.push(payload.to_vec());
                self.buf.drain(..5 + len);
            } else {
                self.buf.drain(..1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_noise() {
        let mut d = SerialDecoder::new();
        let mut line = vec![1, 2, 0x7e, 3];
        line.extend(encode_serial(b"hello"));
        line.extend([0x7e, 0x48, 0, 9, 1]);
        line.extend(encode_serial(b""));
        line.extend(encode_serial(b"world"));
        let mut got = Vec::new();
        for chunk in line.chunks(3) {
            got.extend(d.push(chunk));
        }
        assert_eq!(got.first().map(Vec::as_slice), Some(&b"hello"[..]));
        assert_eq!(got.last().map(Vec::as_slice), Some(&b"world"[..]));
    }
}
