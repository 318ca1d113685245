//! The heartbeat body: round trips, the size bound, and decoding hostile input.

use hbd::config::AuthKeys;
use hbd::core::msg::{Ack, GroupReport, GroupState, Heartbeat, Intent, IntentKind};
use hbd::wire::{
    decode_heartbeat, encode_heartbeat, Codec, Header, WireError, MAX_BODY, MAX_FRAME, MAX_NAME, MSG_HEARTBEAT,
};
use proptest::prelude::*;

fn small() -> Heartbeat {
    Heartbeat {
        config_hash: 0x0123_4567_89ab_cdef,
        standby: false,
        leaving: true,
        ping: Some(2),
        groups: vec![
            GroupReport {
                name: "web".into(),
                state: GroupState::Started,
                failed: false,
                failcount: 0,
                held_down: false,
            },
            GroupReport { name: "db".into(), state: GroupState::Blocked, failed: true, failcount: 3, held_down: true },
        ],
        intents: vec![
            Intent { serial: 4, origin: "n1".into(), kind: IntentKind::Standby { node: "n2".into(), on: true } },
            Intent {
                serial: 5,
                origin: "n2".into(),
                kind: IntentKind::Location { group: "web".into(), node: Some("n1".into()) },
            },
            Intent { serial: 6, origin: "n2".into(), kind: IntentKind::Location { group: "db".into(), node: None } },
            Intent { serial: 7, origin: "n1".into(), kind: IntentKind::Cleanup { group: "db".into() } },
        ],
        acks: vec![Ack { node: "n2".into(), generation: 3, seq: 100_000 }],
        up: vec!["n1".into(), "n2".into()],
    }
}

/// Every name `MAX_NAME` bytes long and every integer at its maximum.
fn worst(nodes: usize, groups: usize, intents: usize) -> Heartbeat {
    let name = |prefix: char, i: usize| format!("{prefix}{i:0>width$}", width = MAX_NAME - 1);
    Heartbeat {
        config_hash: u64::MAX,
        standby: true,
        leaving: true,
        ping: Some(u32::MAX),
        groups: (0..groups)
            .map(|g| GroupReport {
                name: name('g', g),
                state: GroupState::Stopping,
                failed: true,
                failcount: u32::MAX,
                held_down: true,
            })
            .collect(),
        intents: (0..intents)
            .map(|i| Intent {
                serial: u64::MAX,
                origin: name('n', i % nodes),
                kind: IntentKind::Location { group: name('g', i % groups), node: Some(name('n', (i + 1) % nodes)) },
            })
            .collect(),
        acks: (0..nodes).map(|n| Ack { node: name('n', n), generation: u64::MAX, seq: u64::MAX }).collect(),
        up: (0..nodes).map(|n| name('n', n)).collect(),
    }
}

#[test]
fn round_trip_small() {
    let hb = small();
    let b = encode_heartbeat(&hb);
    assert_eq!(decode_heartbeat(&b).unwrap(), hb);
    // Names are sent once: 6 distinct names of 2-3 bytes.
    assert!(b.len() < 100, "{} bytes", b.len());
}

#[test]
fn round_trip_empty() {
    let hb = Heartbeat {
        config_hash: 0,
        standby: false,
        leaving: false,
        ping: None,
        groups: vec![],
        intents: vec![],
        acks: vec![],
        up: vec![],
    };
    let b = encode_heartbeat(&hb);
    assert_eq!(b.len(), 8 + 1 + 5);
    assert_eq!(decode_heartbeat(&b).unwrap(), hb);
}

#[test]
fn five_nodes_eight_groups_ten_intents_fit_one_frame() {
    let hb = worst(5, 8, 10);
    let b = encode_heartbeat(&hb);
    // The bound documented in wire::body: 19 + (N+G)*65 + 8G + 14I + 21A + U.
    assert_eq!(b.len(), 19 + 13 * 65 + 8 * 8 + 14 * 10 + 21 * 5 + 5);
    assert!(b.len() <= MAX_BODY);
    let c = Codec::new("demo", &AuthKeys { keys: vec![(1, b"k".to_vec())] });
    let h = Header { sender: "n".repeat(64), generation: u64::MAX, seq: u64::MAX, msg_type: MSG_HEARTBEAT };
    let f = c.seal(&h, &b).unwrap();
    assert!(f.len() <= MAX_FRAME);
    assert_eq!(decode_heartbeat(&c.open(&f).unwrap().1).unwrap(), hb);
}

#[test]
fn too_large_heartbeat_is_refused_by_seal() {
    let b = encode_heartbeat(&worst(5, 30, 40));
    assert!(b.len() > MAX_BODY);
    let c = Codec::new("demo", &AuthKeys { keys: vec![(1, b"k".to_vec())] });
    let h = Header { sender: "n1".into(), generation: 1, seq: 1, msg_type: MSG_HEARTBEAT };
    assert!(matches!(c.seal(&h, &b), Err(WireError::BodyTooLarge { .. })));
}

#[test]
fn every_truncation_is_an_error() {
    let b = encode_heartbeat(&small());
    for len in 0..b.len() {
        assert!(decode_heartbeat(&b[..len]).is_err(), "truncated to {len}");
    }
}

fn assert_malformed(b: &[u8], needle: &str) {
    match decode_heartbeat(b) {
        Err(WireError::Malformed(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected Malformed({needle}), got {other:?}"),
    }
}

#[test]
fn hostile_bodies_are_malformed() {
    let good = encode_heartbeat(&small());

    let mut b = good.clone();
    b.push(0);
    assert_malformed(&b, "after the last peer");

    let mut b = good.clone();
    b[8] |= 0x80;
    assert_malformed(&b, "unknown flags");

    // Layout of small(): hash(8) flags(1) ping(1) count(1) then names "web" "db" "n1" "n2".
    assert_eq!(b[10], 4);
    let groups_at = 11 + 4 + 3 + 3 + 3;
    assert_eq!(good[groups_at], 2);

    let mut b = good.clone();
    b[groups_at + 1] = 9; // group name index out of range
    assert_malformed(&b, "name #9");

    let mut b = good.clone();
    b[groups_at + 2] = 6; // group state
    assert_malformed(&b, "unknown group state 6");

    let mut b = good.clone();
    b[groups_at + 3] = 4; // group flags: an unknown bit
    assert_malformed(&b, "unknown bits");

    // A huge announced count cannot make the decoder allocate or loop.
    let mut b = good[..groups_at].to_vec();
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_malformed(&b, "groups announced");

    // A name length far past the end.
    let mut b = good[..11].to_vec();
    b.extend_from_slice(&[0xff, 0xff, 0x03, b'a']);
    assert_malformed(&b, "ends inside the name");

    // Non-shortest and overflowing varints.
    let mut b = good[..10].to_vec();
    b.extend_from_slice(&[0x84, 0x00]);
    assert_malformed(&b, "shortest form");
    let mut b = good[..10].to_vec();
    b.extend_from_slice(&[0xff; 10]);
    b.push(0x01);
    assert_malformed(&b, "overflows 64 bits");

    // Ping must fit 32 bits.
    let mut b = good[..9].to_vec();
    b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_malformed(&b, "overflows 32 bits");

    // Invalid UTF-8 in a name.
    let mut b = good.clone();
    b[12] = 0xff;
    assert_malformed(&b, "UTF-8");
}

fn arb_name() -> impl Strategy<Value = String> {
    // Mostly a shared pool (so the name table deduplicates), sometimes anything.
    prop_oneof![
        4 => prop::sample::select(vec!["n1", "n2", "n3", "web", "db", ""]).prop_map(String::from),
        1 => ".{0,70}",
    ]
}

fn arb_state() -> impl Strategy<Value = GroupState> {
    (0u8..6).prop_map(|c| GroupState::from_code(c).unwrap())
}

fn arb_kind() -> impl Strategy<Value = IntentKind> {
    prop_oneof![
        (arb_name(), any::<bool>()).prop_map(|(node, on)| IntentKind::Standby { node, on }),
        (arb_name(), proptest::option::of(arb_name())).prop_map(|(group, node)| IntentKind::Location { group, node }),
        arb_name().prop_map(|group| IntentKind::Cleanup { group }),
    ]
}

fn arb_heartbeat() -> impl Strategy<Value = Heartbeat> {
    let group = (arb_name(), arb_state(), any::<bool>(), any::<u32>(), any::<bool>()).prop_map(
        |(name, state, failed, failcount, held_down)| GroupReport { name, state, failed, failcount, held_down },
    );
    let intent =
        (any::<u64>(), arb_name(), arb_kind()).prop_map(|(serial, origin, kind)| Intent { serial, origin, kind });
    let ack =
        (arb_name(), any::<u64>(), any::<u64>()).prop_map(|(node, generation, seq)| Ack { node, generation, seq });
    (
        any::<u64>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(group, 0..10),
        proptest::collection::vec(intent, 0..12),
        proptest::collection::vec(ack, 0..6),
        proptest::collection::vec(arb_name(), 0..6),
    )
        .prop_map(|(config_hash, standby, leaving, ping, groups, intents, acks, up)| Heartbeat {
            config_hash,
            standby,
            leaving,
            ping,
            groups,
            intents,
            acks,
            up,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_heartbeat_round_trips(hb in arb_heartbeat()) {
        let b = encode_heartbeat(&hb);
        prop_assert_eq!(decode_heartbeat(&b).unwrap(), hb);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_heartbeat(&b);
    }

    #[test]
    fn decode_never_panics_on_mutated_heartbeats(
        hb in arb_heartbeat(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut b = encode_heartbeat(&hb);
        for (i, v) in muts {
            let i = i.index(b.len());
            b[i] = v;
        }
        let _ = decode_heartbeat(&b);
    }
}
