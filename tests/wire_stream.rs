//! Serial framing and replay protection.

use std::collections::{BTreeSet, HashMap};

use hbd::config::AuthKeys;
use hbd::wire::{encode_serial, Codec, Fresh, Header, Rejected, ReplayGuard, SerialDecoder, MAX_FRAME, REPLAY_WINDOW};
use proptest::prelude::*;

// ---- serial ----

#[test]
fn serial_round_trip_in_one_push_and_byte_by_byte() {
    let frames: Vec<Vec<u8>> = vec![vec![1], vec![0], vec![0; 600], (0..=255).collect(), vec![0xff; MAX_FRAME]];
    let stream: Vec<u8> = frames.iter().flat_map(|f| encode_serial(f)).collect();

    let mut d = SerialDecoder::new();
    assert_eq!(d.push(&stream), frames);

    let mut d = SerialDecoder::new();
    let mut out = Vec::new();
    for b in &stream {
        out.extend(d.push(std::slice::from_ref(b)));
    }
    assert_eq!(out, frames);
    assert_eq!(d.discarded(), 0);
}

#[test]
fn serial_carries_sealed_frames() {
    let c = Codec::new("demo", &AuthKeys { keys: vec![(1, b"k".to_vec())] });
    let h = Header { sender: "n1".into(), generation: 1, seq: 2, msg_type: 1 };
    let f = c.seal(&h, &[0, 0, 0, 7]).unwrap();
    let mut d = SerialDecoder::new();
    let got = d.push(&encode_serial(&f));
    assert_eq!(got.len(), 1);
    assert_eq!(c.open(&got[0]).unwrap(), (h, vec![0, 0, 0, 7]));
}

#[test]
fn serial_drops_truncated_and_corrupted_frames() {
    let a = encode_serial(b"first frame");
    let b = encode_serial(b"second frame");
    let c = encode_serial(b"third frame");
    let mut stream = a[..a.len() / 2].to_vec(); // cut off mid-frame
    let mut damaged = b.clone();
    damaged[5] ^= 0x10; // a flipped bit on the line
    stream.extend(&damaged);
    stream.extend(&c);
    let mut d = SerialDecoder::new();
    assert_eq!(d.push(&stream), vec![b"third frame".to_vec()]);
    assert_eq!(d.discarded(), 2);
}

#[test]
fn serial_resyncs_after_endless_noise() {
    let mut d = SerialDecoder::new();
    // Far more than the buffer holds, with no delimiter.
    assert!(d.push(&vec![0x55; 10 * MAX_FRAME]).is_empty());
    assert_eq!(d.push(&encode_serial(b"after noise")), vec![b"after noise".to_vec()]);
    assert_eq!(d.discarded(), 1);
}

#[test]
fn serial_ignores_delimiter_runs_and_short_chunks() {
    let mut d = SerialDecoder::new();
    assert!(d.push(&[0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn serial_recovers_frames_between_garbage(
        parts in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..300),
             proptest::collection::vec(any::<u8>(), 1..400)),
            1..6),
        trailing in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (garbage, frame) in &parts {
            stream.extend_from_slice(garbage);
            stream.extend(encode_serial(frame));
            want.push(frame.clone());
        }
        stream.extend_from_slice(&trailing);

        // Deliver in arbitrary pieces.
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        let mut d = SerialDecoder::new();
        let mut got = Vec::new();
        for w in at.windows(2) {
            got.extend(d.push(&stream[w[0]..w[1]]));
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn serial_garbage_yields_nothing(noise in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let mut d = SerialDecoder::new();
        prop_assert!(d.push(&noise).is_empty());
        prop_assert!(d.push(&[0]).is_empty());
    }
}

// ---- replay ----

#[test]
fn replay_basics() {
    let mut g = ReplayGuard::new();
    assert_eq!(g.check("n1", 5, 10), Ok(Fresh { newest: true }));
    assert_eq!(g.check("n1", 5, 10), Err(Rejected::Replay));
    assert_eq!(g.check("n1", 5, 11), Ok(Fresh { newest: true }));
    assert_eq!(g.check("n1", 5, 9), Ok(Fresh { newest: false }));
    assert_eq!(g.check("n1", 5, 9), Err(Rejected::Replay));
    assert_eq!(g.check("n1", 4, 100), Err(Rejected::StaleGeneration { known: 5 }));
    // Another sender has its own state.
    assert_eq!(g.check("n2", 1, 10), Ok(Fresh { newest: true }));
    assert_eq!(g.latest("n1"), Some((5, 11)));
    // A restart: a higher generation resets the window, low sequences are new again.
    assert_eq!(g.check("n1", 6, 0), Ok(Fresh { newest: true }));
    assert_eq!(g.check("n1", 6, 1), Ok(Fresh { newest: true }));
    assert_eq!(g.check("n1", 5, 12), Err(Rejected::StaleGeneration { known: 6 }));
    g.forget("n1");
    assert_eq!(g.latest("n1"), None);
    assert_eq!(g.check("n1", 1, 0), Ok(Fresh { newest: true }));
}

#[test]
fn replay_window_edges() {
    let mut g = ReplayGuard::new();
    g.check("p", 1, 1000).unwrap();
    assert_eq!(g.check("p", 1, 1000 - REPLAY_WINDOW), Err(Rejected::Replay));
    assert_eq!(g.check("p", 1, 1000 - REPLAY_WINDOW + 1), Ok(Fresh { newest: false }));
    assert_eq!(g.check("p", 1, 1000 - REPLAY_WINDOW + 1), Err(Rejected::Replay));
    // A jump far ahead forgets the old window entirely.
    assert_eq!(g.check("p", 1, u64::MAX), Ok(Fresh { newest: true }));
    assert_eq!(g.check("p", 1, u64::MAX - 1), Ok(Fresh { newest: false }));
    assert_eq!(g.check("p", 1, 1000), Err(Rejected::Replay));
    assert_eq!(g.check("p", 1, 0), Err(Rejected::Replay));
}

/// The obvious reference: a set of every sequence accepted in the current generation.
#[derive(Default)]
struct Model {
    peers: HashMap<String, (u64, u64, BTreeSet<u64>)>,
}

impl Model {
    fn check(&mut self, s: &str, gen: u64, seq: u64) -> Result<Fresh, Rejected> {
        let fresh = |gen| (gen, seq, BTreeSet::from([seq]));
        let Some(p) = self.peers.get_mut(s) else {
            self.peers.insert(s.into(), fresh(gen));
            return Ok(Fresh { newest: true });
        };
        if gen < p.0 {
            return Err(Rejected::StaleGeneration { known: p.0 });
        }
        if gen > p.0 {
            *p = fresh(gen);
            return Ok(Fresh { newest: true });
        }
        if seq > p.1 {
            p.1 = seq;
            p.2.insert(seq);
            return Ok(Fresh { newest: true });
        }
        if p.1 - seq >= REPLAY_WINDOW || !p.2.insert(seq) {
            return Err(Rejected::Replay);
        }
        Ok(Fresh { newest: false })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_guard_matches_reference(
        ops in proptest::collection::vec(
            (prop::sample::select(vec!["a", "b"]), 0u64..3, 0u64..700), 1..400),
    ) {
        let mut g = ReplayGuard::new();
        let mut m = Model::default();
        for (s, gen, seq) in ops {
            prop_assert_eq!(g.check(s, gen, seq), m.check(s, gen, seq), "{} {} {}", s, gen, seq);
        }
    }

    #[test]
    fn reordered_and_duplicated_frames_are_accepted_once(
        jitter in proptest::collection::vec(0u64..REPLAY_WINDOW / 2, 300),
        dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..50),
    ) {
        // Each frame delayed by less than half the window, some delivered twice.
        let mut arrivals: Vec<(u64, u64)> =
            jitter.iter().enumerate().map(|(i, j)| (i as u64 + j, i as u64)).collect();
        for d in &dups {
            let (t, s) = arrivals[d.index(300)];
            arrivals.push((t + 3, s));
        }
        arrivals.sort_unstable();
        let mut g = ReplayGuard::new();
        let mut accepted = BTreeSet::new();
        for (_, seq) in arrivals {
            if g.check("n2", 9, seq).is_ok() {
                prop_assert!(accepted.insert(seq), "seq {} accepted twice", seq);
            }
        }
        prop_assert_eq!(accepted.len(), 300);
        // Old generations stay out.
        prop_assert_eq!(g.check("n2", 8, 1000), Err(Rejected::StaleGeneration { known: 9 }));
    }
}
