//! Message bodies: round trips through sealed frames, the size bounds for the
//! largest cluster, chunking and reassembly, fields from a newer release,
//! and decoding hostile input.

use hbd::config::AuthKeys;
use hbd::core::msg::{Ack, Beat, GroupReport, GroupState, Intent, IntentKind, Message, ResourceState, State};
use hbd::core::UnitState;
use hbd::wire::body::EXTRA_FIELD_LEN;
use hbd::wire::{
    beat_bound, decode_beat, decode_chunk, decode_message, decode_state, encode_beat, encode_message, encode_state,
    split_state, state_bound, Assembly, Codec, Header, WireError, CHUNK_DATA, LIVENESS_BEAT_MAX, MAX_BODY, MAX_FRAME,
    MAX_NODES, MAX_STATE, MAX_UNIT_WORD, MAX_UNIT_WORDS, MSG_BEAT, MSG_STATE,
};
use proptest::prelude::*;

fn codec() -> Codec {
    Codec::new("demo", &AuthKeys { keys: vec![(1, b"k".to_vec())] })
}

/// A 63-character name (the longest the configuration allows) from a prefix and a number.
fn long(prefix: &str, i: usize) -> String {
    let s = format!("{prefix}{i}.");
    format!("{s}{}", "x".repeat(63 - s.len()))
}

fn unit(active: &str, sub: &str, result: &str, exit_status: Option<i32>) -> ResourceState {
    ResourceState::Unit(UnitState { active: active.into(), sub: sub.into(), result: result.into(), exit_status })
}

/// A unit state of the longest words, as many different ones as a state
/// carries (one of them `?`), and the longest exit status.
fn worst_unit(i: usize) -> ResourceState {
    let word = |k: usize| match k % MAX_UNIT_WORDS {
        0 => "?".to_string(),
        k => format!("{k:0>width$}", width = MAX_UNIT_WORD),
    };
    ResourceState::Unit(UnitState {
        active: word(i),
        sub: word(i + 1),
        result: word(i + 2),
        exit_status: Some(i32::MIN),
    })
}

fn small_state() -> State {
    State {
        groups: vec![
            GroupReport {
                name: "web".into(),
                state: GroupState::Started,
                failed: false,
                failcount: 0,
                held_down: false,
                resources: vec![ResourceState::Started, unit("active", "running", "success", None)],
            },
            GroupReport {
                name: "db".into(),
                state: GroupState::Blocked,
                failed: true,
                failcount: 3,
                held_down: true,
                resources: vec![unit("failed", "failed", "exit-code", Some(143))],
            },
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
    }
}

fn small_beat() -> Beat {
    Beat {
        config_hash: 0x0123_4567_89ab_cdef,
        standby: false,
        leaving: true,
        idle: false,
        settled: true,
        ping: Some(2),
        state_version: 17,
        acks: vec![Ack { node: "n2".into(), generation: 3, version: 100_000 }],
        up: vec!["n2".into()],
        full: true,
    }
}

/// The worst state a node of 32 nodes × 1,000 groups of two resources can
/// hold: longest names, largest counters, a standby per node, a pin and a
/// cleanup per group, the longest unit states.
fn worst_state(nodes: &[String], groups: &[String]) -> State {
    let mut intents: Vec<Intent> = nodes
        .iter()
        .map(|n| Intent {
            serial: u64::MAX,
            origin: n.clone(),
            kind: IntentKind::Standby { node: n.clone(), on: true },
        })
        .collect();
    for (i, g) in groups.iter().enumerate() {
        let origin = nodes[i % nodes.len()].clone();
        let to = nodes[(i + 7) % nodes.len()].clone();
        intents.push(Intent {
            serial: u64::MAX - 1,
            origin: origin.clone(),
            kind: IntentKind::Location { group: g.clone(), node: Some(to) },
        });
        intents.push(Intent { serial: u64::MAX, origin, kind: IntentKind::Cleanup { group: g.clone() } });
    }
    State {
        groups: groups
            .iter()
            .enumerate()
            .map(|(i, g)| GroupReport {
                name: g.clone(),
                state: GroupState::Stopping,
                failed: true,
                failcount: u32::MAX,
                held_down: true,
                resources: (0..2).map(|r| worst_unit(2 * i + r)).collect(),
            })
            .collect(),
        intents,
    }
}

#[test]
fn round_trips_through_sealed_frames() {
    let c = codec();
    let nodes = ["n1", "n2"];
    for m in [Message::Beat(small_beat()), Message::Beat(small_beat().liveness_only())] {
        let (t, body) = encode_message(&m, &nodes);
        assert_eq!(t, MSG_BEAT);
        let f = c.seal(&Header { sender: "n1".into(), generation: 1, seq: 1, msg_type: t }, &body).unwrap();
        let (h, body) = c.open(&f).unwrap();
        assert_eq!(decode_message(h.msg_type, &body, &nodes).unwrap(), Some(m));
    }
    let enc = encode_state(&small_state());
    assert_eq!(decode_state(&enc).unwrap(), small_state());
    let chunks = split_state(9, &enc).unwrap();
    assert_eq!(chunks.len(), 1);
    let m = Message::Chunk(chunks[0].clone());
    let (t, body) = encode_message(&m, &nodes);
    assert_eq!(t, MSG_STATE);
    let f = c.seal(&Header { sender: "n1".into(), generation: 1, seq: 2, msg_type: t }, &body).unwrap();
    let (h, body) = c.open(&f).unwrap();
    assert_eq!(decode_message(h.msg_type, &body, &nodes).unwrap(), Some(m));
}

#[test]
fn thirty_two_nodes_and_a_thousand_groups_fit_with_worst_case_intents() {
    let nodes: Vec<String> = (0..MAX_NODES).map(|i| long("node-", i)).collect();
    let groups: Vec<String> = (0..1000).map(|i| long("group-", i)).collect();
    let c = codec();
    // The longest sender name a frame can carry, larger than any the
    // configuration allows.
    let sender = "s".repeat(64);

    // The beat: acks of 31 peers, every integer at its maximum.
    let beat = Beat {
        config_hash: u64::MAX,
        standby: true,
        leaving: true,
        idle: true,
        settled: true,
        ping: Some(u32::MAX),
        state_version: u64::MAX,
        acks: nodes[1..].iter().map(|n| Ack { node: n.clone(), generation: u64::MAX, version: u64::MAX }).collect(),
        up: nodes[1..].to_vec(),
        full: true,
    };
    let b = encode_beat(&beat, &nodes);
    assert!(b.len() <= beat_bound(nodes.len()) && beat_bound(nodes.len()) <= MAX_BODY, "beat of {} bytes", b.len());
    assert_eq!(beat_bound(MAX_NODES), 698 + EXTRA_FIELD_LEN, "src/wire/body.rs's docs quote this bound");
    let h = Header { sender: sender.clone(), generation: u64::MAX, seq: u64::MAX, msg_type: MSG_BEAT };
    let f = c.seal(&h, &b).unwrap();
    assert!(f.len() <= MAX_FRAME);
    assert_eq!(decode_beat(&c.open(&f).unwrap().1, &nodes).unwrap(), beat);
    // Its liveness-only form, for serial links: tiny whatever the cluster.
    let l = encode_beat(&beat.liveness_only(), &nodes);
    assert!(l.len() <= LIVENESS_BEAT_MAX);
    // At 19,200 baud (8N1: 1,920 bytes/s), with the longest names, one beat
    // a keepalive of 200 ms takes under half the line.
    let frame = c.seal(&Header { sender: long("node-", 31), ..h.clone() }, &l).unwrap();
    let wire = hbd::wire::encode_serial(&frame).len();
    assert!(wire <= hbd::wire::serial_len(frame.len()));
    assert!(wire * 10 * 1000 / 19_200 < 100, "{wire} bytes on the serial line");

    // The state, in chunks that each fit one frame.
    let s = worst_state(&nodes, &groups);
    let enc = encode_state(&s);
    let bound = state_bound(nodes.iter().map(String::as_str), groups.iter().map(|g| (g.as_str(), 2)));
    assert!(enc.len() <= bound && bound <= MAX_STATE, "state of {} bytes, bound {bound}", enc.len());
    assert_eq!((bound, bound.div_ceil(CHUNK_DATA)), (138_660, 116), "src/wire/body.rs's docs quote this bound");
    let chunks = split_state(u64::MAX, &enc).unwrap();
    assert_eq!(chunks.len(), enc.len().div_ceil(CHUNK_DATA));
    let mut asm = Assembly::new(u64::MAX, &chunks[0]);
    let mut whole = None;
    for (i, ch) in chunks.iter().enumerate() {
        let (t, body) = encode_message(&Message::Chunk(ch.clone()), &nodes);
        let h = Header { sender: sender.clone(), generation: u64::MAX, seq: i as u64, msg_type: t };
        let f = c.seal(&h, &body).unwrap_or_else(|e| panic!("chunk {i}: {e}"));
        let Some(Message::Chunk(got)) = decode_message(t, &c.open(&f).unwrap().1, &nodes).unwrap() else {
            panic!("not a chunk")
        };
        assert!(asm.matches(u64::MAX, &got));
        whole = asm.add(got);
    }
    assert_eq!(decode_state(&whole.expect("complete")).unwrap(), s);
}

#[test]
fn reassembly_survives_loss_reordering_duplicates_and_resends() {
    let nodes: Vec<String> = (0..4).map(|i| long("n", i)).collect();
    let groups: Vec<String> = (0..300).map(|i| long("g", i)).collect();
    let enc = encode_state(&worst_state(&nodes, &groups));
    let chunks = split_state(5, &enc).unwrap();
    assert!(chunks.len() > 20);
    let mut asm = Assembly::new(1, &chunks[0]);
    // First round: every third chunk lost, the rest in reverse order, some twice.
    for (i, c) in chunks.iter().enumerate().rev() {
        if i % 3 == 0 {
            continue;
        }
        assert_eq!(asm.add(c.clone()), None);
        if i % 5 == 0 {
            assert_eq!(asm.add(c.clone()), None);
        }
    }
    assert_eq!(asm.missing(), chunks.len().div_ceil(3));
    // A chunk of another version never mixes in.
    let newer = split_state(6, &enc).unwrap();
    assert!(!asm.matches(1, &newer[0]));
    // The resend fills the gaps.
    let mut done = None;
    for c in &chunks {
        if done.is_none() {
            done = asm.add(c.clone());
        }
    }
    assert_eq!(done.unwrap(), enc);
}

#[test]
fn a_state_beyond_the_limit_is_refused() {
    assert!(matches!(split_state(1, &vec![0; MAX_STATE + 1]), Err(WireError::StateTooLarge { .. })));
    assert_eq!(split_state(1, &vec![0; MAX_STATE]).unwrap().len(), MAX_STATE / CHUNK_DATA);
}

#[test]
fn a_frame_with_an_unknown_field_is_accepted() {
    // A beat from a newer release: an extra field (tag 40) before and after
    // the known ones, and a flag bit this release does not know.
    let nodes = ["n1", "n2"];
    let beat = small_beat();
    let mut body = vec![40, 3, b'n', b'e', b'w'];
    body.extend_from_slice(&encode_beat(&beat, &nodes));
    body.extend_from_slice(&[41, 1, 0xff]);
    let c = codec();
    let f = c.seal(&Header { sender: "n2".into(), generation: 1, seq: 1, msg_type: MSG_BEAT }, &body).unwrap();
    let (h, got) = c.open(&f).unwrap();
    assert_eq!(decode_message(h.msg_type, &got, &nodes).unwrap(), Some(Message::Beat(beat)));
    // A message type this release does not know is skipped, not an error.
    assert_eq!(decode_message(77, b"anything", &nodes).unwrap(), None);
    // A state with an unknown field, a group record with an extra trailing
    // member, and an intent of an unknown kind.
    let s = State {
        groups: vec![GroupReport {
            name: "web".into(),
            state: GroupState::Started,
            failed: false,
            failcount: 2,
            held_down: false,
            resources: vec![ResourceState::Started, ResourceState::Unknown],
        }],
        intents: vec![],
    };
    // names: "web"; groups: record [len 11: name#0, state 3, flags 0, failcount 2,
    // 2 resources: [len 2: started 3, extra 7], [len 1: kind 77 from the future],
    // extra 9]; intents: record [len 4: serial 1, origin#0, kind 99, 0].
    let body =
        [1, 4, 3, b'w', b'e', b'b', 2, 12, 11, 0, 3, 0, 2, 2, 2, 3, 7, 1, 77, 9, 3, 5, 4, 1, 0, 99, 0, 50, 2, 1, 2];
    assert_eq!(decode_state(&body).unwrap(), s);
    // A group record of an older release ends after its fail count.
    let old = [1, 4, 3, b'w', b'e', b'b', 2, 5, 4, 0, 3, 0, 2];
    let got = decode_state(&old).unwrap();
    assert_eq!((got.groups[0].failcount, got.groups[0].resources.len()), (2, 0));
}

#[test]
fn hostile_bodies_are_errors_not_panics() {
    let nodes = ["n1", "n2"];
    // Required fields missing.
    assert!(decode_beat(&[], &nodes).is_err());
    assert!(decode_chunk(&[]).is_err());
    // A field length far past the end.
    assert!(matches!(decode_beat(&[1, 0xff, 0xff, 0x03, 0], &nodes), Err(WireError::Malformed(_))));
    // Overflowing varints.
    let mut b = vec![2, 11];
    b.extend_from_slice(&[0xff; 10]);
    b.push(1);
    assert!(decode_beat(&b, &nodes).is_err());
    // A node index beyond the cluster.
    let mut beat = small_beat();
    beat.acks[0].node = "n2".into();
    let mut enc = encode_beat(&beat, &nodes);
    let at = enc.windows(2).position(|w| w == [6, 5]).expect("acks field") + 2;
    enc[at] = 9;
    assert!(matches!(decode_beat(&enc, &nodes), Err(WireError::Malformed(m)) if m.contains("node index 9")));
    // A chunk claiming more chunks than a state may have, or an index past its count.
    let c = split_state(1, b"abc").unwrap().remove(0);
    let mut bad = c.clone();
    bad.count = 300;
    assert!(decode_chunk(&hbd::wire::encode_chunk(&bad)).is_err());
    let mut bad = c;
    bad.index = 1;
    assert!(decode_chunk(&hbd::wire::encode_chunk(&bad)).is_err());
    // Unknown group state, bad name index, invalid UTF-8 in a state.
    assert!(decode_state(&[1, 2, 1, b'a', 2, 5, 4, 0, 9, 0, 0]).is_err());
    assert!(decode_state(&[1, 2, 1, b'a', 2, 5, 4, 3, 3, 0, 0]).is_err());
    assert!(decode_state(&[1, 2, 1, 0xff]).is_err());
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["n1", "n2", "n3", "web", "db", ""]).prop_map(String::from),
        1 => ".{0,70}",
    ]
}

fn arb_state() -> impl Strategy<Value = State> {
    let word = || prop::sample::select(vec!["active", "failed", "running", "exit-code", "", "web", "?"]);
    let resource = prop_oneof![
        prop::sample::select(vec![
            ResourceState::Starting,
            ResourceState::Stopping,
            ResourceState::Started,
            ResourceState::Stopped,
            ResourceState::Unknown,
        ]),
        (word(), word(), word(), proptest::option::of(any::<i32>())).prop_map(|(a, s, r, e)| unit(a, s, r, e)),
    ];
    let group =
        (arb_name(), (0u8..6), any::<bool>(), any::<u32>(), any::<bool>(), proptest::collection::vec(resource, 0..4))
            .prop_map(|(name, code, failed, failcount, held_down, resources)| GroupReport {
                name,
                state: GroupState::from_code(code).unwrap(),
                failed,
                failcount,
                held_down,
                resources,
            });
    let kind = prop_oneof![
        (arb_name(), any::<bool>()).prop_map(|(node, on)| IntentKind::Standby { node, on }),
        (arb_name(), proptest::option::of(arb_name())).prop_map(|(group, node)| IntentKind::Location { group, node }),
        arb_name().prop_map(|group| IntentKind::Cleanup { group }),
    ];
    let intent = (any::<u64>(), arb_name(), kind).prop_map(|(serial, origin, kind)| Intent { serial, origin, kind });
    (proptest::collection::vec(group, 0..10), proptest::collection::vec(intent, 0..12))
        .prop_map(|(groups, intents)| State { groups, intents })
}

fn arb_beat() -> impl Strategy<Value = Beat> {
    let nodes = ["n1", "n2", "n3"];
    (
        any::<u64>(),
        any::<[bool; 5]>(),
        proptest::option::of(any::<u32>()),
        any::<u64>(),
        proptest::collection::vec((0usize..3, any::<u64>(), any::<u64>()), 0..4),
        proptest::collection::btree_set(0usize..3, 0..3),
    )
        .prop_map(move |(config_hash, f, ping, state_version, acks, up)| {
            let b = Beat {
                config_hash,
                standby: f[0],
                leaving: f[1],
                idle: f[2],
                settled: f[3],
                ping,
                state_version,
                acks: acks
                    .into_iter()
                    .map(|(n, generation, version)| Ack { node: nodes[n].into(), generation, version })
                    .collect(),
                up: up.into_iter().map(|n| nodes[n].to_string()).collect(),
                full: true,
            };
            if f[4] {
                b
            } else {
                b.liveness_only()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_state_round_trips_through_chunks(s in arb_state(), version in any::<u64>()) {
        let enc = encode_state(&s);
        let chunks = split_state(version, &enc).unwrap();
        let mut asm = Assembly::new(1, &chunks[0]);
        let mut whole = None;
        for c in chunks {
            whole = asm.add(decode_chunk(&hbd::wire::encode_chunk(&c)).unwrap());
        }
        prop_assert_eq!(decode_state(&whole.unwrap()).unwrap(), s);
    }

    #[test]
    fn any_beat_round_trips(b in arb_beat()) {
        let nodes = ["n1", "n2", "n3"];
        prop_assert_eq!(decode_beat(&encode_beat(&b, &nodes), &nodes).unwrap(), b);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_beat(&b, &["n1", "n2"]);
        let _ = decode_state(&b);
        let _ = decode_chunk(&b);
    }

    #[test]
    fn decode_never_panics_on_mutated_states(
        s in arb_state(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut b = encode_state(&s);
        for (i, v) in muts {
            let i = i.index(b.len());
            b[i] = v;
        }
        let _ = decode_state(&b);
    }
}
