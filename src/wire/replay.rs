//! Replay protection for authenticated frames, per sender.
//!
//! Each node numbers its frames `(generation, seq)`: the generation is bumped
//! (and persisted) on every start, the sequence counts frames within one
//! generation. A receiver accepts each pair at most once, accepts frames
//! reordered by up to [`REPLAY_WINDOW`] sequence numbers, and drops anything
//! from an older generation. The guard trusts its input: feed it only frames
//! that [`Codec::open`](super::Codec::open) authenticated, so the set of
//! senders (and the memory used) is bounded by the cluster's nodes.

use std::collections::HashMap;

/// How far below the highest sequence seen a reordered frame is still
/// accepted (once).
pub const REPLAY_WINDOW: u64 = 256;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// An accepted frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fresh {
    /// The highest sequence seen in this generation (false: a reordered
    /// frame that arrived after a newer one; its state is already outdated).
    pub newest: bool,
}

/// A dropped frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The sender has since restarted with generation `known`.
    #[error("frame from an older generation (the sender has restarted since; current generation {known})")]
    StaleGeneration { known: u64 },
    /// Already accepted, or too far behind the newest frame to tell.
    #[error("replayed frame: this sequence number was already accepted or is too old")]
    Replay,
}

#[derive(Clone, Debug)]
struct Peer {
    generation: u64,
    highest: u64,
    /// Bit `d` (word `d / 64`, bit `d % 64`) set: `highest - d` was accepted.
    seen: [u64; WORDS],
}

impl Peer {
    fn new(generation: u64, seq: u64) -> Peer {
        let mut seen = [0; WORDS];
        seen[0] = 1;
        Peer { generation, highest: seq, seen }
    }

    fn bit(&self, d: u64) -> bool {
        self.seen[(d / 64) as usize] & (1 << (d % 64)) != 0
    }

    fn set(&mut self, d: u64) {
        self.seen[(d / 64) as usize] |= 1 << (d % 64);
    }

    /// Moves the window up by `by` sequence numbers.
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        for i in (0..WORDS).rev() {
            let lo = i.checked_sub(words).map_or(0, |j| self.seen[j]);
            let carry = match i.checked_sub(words + 1) {
                Some(j) if bits > 0 => self.seen[j] >> (64 - bits),
                _ => 0,
            };
            self.seen[i] = (lo << bits) | carry;
        }
    }
}

/// Remembers, per sender, the newest generation and which recent sequence
/// numbers were accepted.
#[derive(Clone, Debug, Default)]
pub struct ReplayGuard {
    peers: HashMap<String, Peer>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `(generation, seq)` from `sender` once, or says why not.
    ///
    /// A higher generation than known means the sender restarted: the window
    /// starts afresh. The first frame ever seen from a sender is accepted.
    pub fn check(&mut self, sender: &str, generation: u64, seq: u64) -> Result<Fresh, Rejected> {
        let Some(p) = self.peers.get_mut(sender) else {
            self.peers.insert(sender.to_owned(), Peer::new(generation, seq));
            return Ok(Fresh { newest: true });
        };
        if generation < p.generation {
            return Err(Rejected::StaleGeneration { known: p.generation });
        }
        if generation > p.generation {
            *p = Peer::new(generation, seq);
            return Ok(Fresh { newest: true });
        }
        if seq > p.highest {
            p.shift(seq - p.highest);
            p.highest = seq;
            p.set(0);
            return Ok(Fresh { newest: true });
        }
        let d = p.highest - seq;
        if d >= REPLAY_WINDOW || p.bit(d) {
            return Err(Rejected::Replay);
        }
        p.set(d);
        Ok(Fresh { newest: false })
    }

    /// The newest `(generation, seq)` accepted from `sender`.
    pub fn latest(&self, sender: &str) -> Option<(u64, u64)> {
        self.peers.get(sender).map(|p| (p.generation, p.highest))
    }

    /// Forgets a sender (removed from the configuration): its next frame is
    /// accepted as if it were the first.
    pub fn forget(&mut self, sender: &str) {
        self.peers.remove(sender);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_bits_across_words() {
        let mut p = Peer::new(1, 1000);
        for d in [0u64, 1, 63, 64, 100, 190, 255] {
            p.set(d);
        }
        p.shift(65);
        let got: Vec<u64> = (0..REPLAY_WINDOW).filter(|&d| p.bit(d)).collect();
        assert_eq!(got, vec![65, 66, 128, 129, 165, 255]);
        p.shift(64);
        let got: Vec<u64> = (0..REPLAY_WINDOW).filter(|&d| p.bit(d)).collect();
        assert_eq!(got, vec![129, 130, 192, 193, 229]);
        p.shift(300);
        assert!((0..REPLAY_WINDOW).all(|d| !p.bit(d)));
    }
}
