//! The authenticated frame: round trips, every error, key rotation, and
//! properties over arbitrary and mutated input.

use hbd::config::AuthKeys;
use hbd::wire::{peek_sender, Codec, Header, KeyIds, WireError, FRAME_OVERHEAD, MAX_BODY, MAX_FRAME, MSG_BEAT};
use proptest::prelude::*;

fn keys(list: &[(u8, &str)]) -> AuthKeys {
    AuthKeys { keys: list.iter().map(|(id, s)| (*id, s.as_bytes().to_vec())).collect() }
}

fn codec() -> Codec {
    Codec::new("demo", &keys(&[(1, "secret-one")]))
}

fn header(sender: &str) -> Header {
    Header { sender: sender.into(), generation: 7, seq: 42, msg_type: MSG_BEAT }
}

fn sample() -> Vec<u8> {
    codec().seal(&header("n1"), b"hello body").unwrap()
}

#[test]
fn round_trip() {
    let c = codec();
    for body in [&b""[..], b"x", &[0u8; 300], &[0xff; 1000]] {
        let h = Header { sender: "node-1.example".into(), generation: u64::MAX, seq: 0, msg_type: 9 };
        let f = c.seal(&h, body).unwrap();
        assert_eq!(f.len(), FRAME_OVERHEAD + h.sender.len() + body.len());
        assert_eq!(c.open(&f).unwrap(), (h, body.to_vec()));
    }
}

#[test]
fn layout_is_as_documented() {
    let f = sample();
    assert_eq!(&f[..4], b"HBD1");
    assert_eq!(f[4], 2);
    assert_eq!(f[5..13], hbd::wire::cluster_hash("demo"));
    assert_eq!(f[13], 2);
    assert_eq!(&f[14..16], b"n1");
    assert_eq!(f[16..24], 7u64.to_be_bytes());
    assert_eq!(f[24..32], 42u64.to_be_bytes());
    assert_eq!(f[32], MSG_BEAT);
    assert_eq!(f[33..35], 10u16.to_be_bytes());
    assert_eq!(&f[35..45], b"hello body");
    assert_eq!(f[45], 1);
    assert_eq!(f.len(), 46 + 32);
}

#[test]
fn body_size_limits() {
    let c = codec();
    let long = "n".repeat(64);
    // MAX_BODY fits whatever the sender's name.
    let f = c.seal(&header(&long), &vec![1; MAX_BODY]).unwrap();
    assert_eq!(f.len(), MAX_FRAME);
    assert!(c.open(&f).is_ok());
    assert_eq!(
        c.seal(&header(&long), &vec![1; MAX_BODY + 1]),
        Err(WireError::BodyTooLarge { len: MAX_BODY + 1, max: MAX_BODY })
    );
    // A short name leaves room for more.
    let max = MAX_FRAME - FRAME_OVERHEAD - 1;
    let f = c.seal(&header("a"), &vec![1; max]).unwrap();
    assert_eq!(f.len(), MAX_FRAME);
    assert!(c.open(&f).is_ok());
    assert!(matches!(c.seal(&header("a"), &vec![1; max + 1]), Err(WireError::BodyTooLarge { .. })));
}

#[test]
fn seal_rejects_bad_senders_and_missing_keys() {
    let c = codec();
    for bad in ["", "has space", "nöde", "tab\t", &"n".repeat(65)] {
        assert_eq!(c.seal(&header(bad), b""), Err(WireError::InvalidSender(bad.into())), "{bad:?}");
    }
    let none = Codec::new("demo", &AuthKeys { keys: vec![] });
    assert_eq!(none.sign_key_id(), 0);
    assert_eq!(none.seal(&header("n1"), b""), Err(WireError::NoSigningKey));
}

#[test]
fn flipped_tag_byte_is_bad_tag() {
    let f = sample();
    for i in f.len() - 32..f.len() {
        let mut g = f.clone();
        g[i] ^= 0x01;
        assert_eq!(codec().open(&g), Err(WireError::BadTag { id: 1 }), "byte {i}");
    }
}

#[test]
fn flipped_body_or_header_byte_is_bad_tag() {
    let f = sample();
    // Sender name, generation, sequence, type, body: all covered by the tag.
    for i in [14, 16, 23, 31, 32, 40] {
        let mut g = f.clone();
        g[i] ^= 0x02;
        assert_eq!(codec().open(&g), Err(WireError::BadTag { id: 1 }), "byte {i}");
    }
}

#[test]
fn wrong_secret_is_bad_tag() {
    let other = Codec::new("demo", &keys(&[(1, "another secret")]));
    let err = other.open(&sample()).unwrap_err();
    assert_eq!(err, WireError::BadTag { id: 1 });
    assert!(err.to_string().contains("key 1"), "{err}");
}

#[test]
fn other_cluster_is_wrong_cluster() {
    let other = Codec::new("prod", &keys(&[(1, "secret-one")]));
    assert_eq!(other.open(&sample()), Err(WireError::WrongCluster));
}

#[test]
fn unknown_key_id() {
    let c = Codec::new("demo", &keys(&[(1, "secret-one")]));
    let signed_2 = Codec::new("demo", &keys(&[(2, "two")])).seal(&header("n2"), b"").unwrap();
    let err = c.open(&signed_2).unwrap_err();
    assert_eq!(err, WireError::UnknownKey { id: 2, known: KeyIds(vec![1]) });
    assert_eq!(err.to_string(), "frame signed with key 2, which is not in the auth key file (keys: 1)");
    let multi = Codec::new("demo", &keys(&[(3, "c"), (4, "d")]));
    assert_eq!(
        multi.open(&signed_2).unwrap_err().to_string(),
        "frame signed with key 2, which is not in the auth key file (keys: 3, 4)"
    );
}

#[test]
fn version_2_is_unknown_version() {
    let mut f = sample();
    f[4] = 3;
    assert_eq!(codec().open(&f), Err(WireError::UnknownVersion(3)));
}

#[test]
fn bad_magic() {
    let mut f = sample();
    f[0] = b'X';
    assert_eq!(codec().open(&f), Err(WireError::BadMagic));
    // An all-zero datagram of plausible size.
    assert_eq!(codec().open(&[0; 200]), Err(WireError::BadMagic));
}

#[test]
fn truncated_at_every_length() {
    let f = sample();
    for len in 0..f.len() {
        match codec().open(&f[..len]) {
            Err(WireError::Truncated { len: l, need }) => {
                assert_eq!(l, len);
                assert!(need > len);
            }
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
}

#[test]
fn oversized() {
    let c = codec();
    let mut f = c.seal(&header("n1"), &vec![0; MAX_FRAME - FRAME_OVERHEAD - 2]).unwrap();
    assert_eq!(f.len(), MAX_FRAME);
    f.push(0);
    assert_eq!(c.open(&f), Err(WireError::Oversized { len: MAX_FRAME + 1 }));
    assert_eq!(c.open(&vec![0; 65_507]), Err(WireError::Oversized { len: 65_507 }));
}

#[test]
fn structural_damage_is_malformed() {
    let c = codec();
    let f = sample();
    // Trailing byte after the tag.
    let mut g = f.clone();
    g.push(0);
    assert!(matches!(c.open(&g), Err(WireError::Malformed(_))), "{:?}", c.open(&g));
    // Sender name length 0 and 65.
    for n in [0u8, 65] {
        let mut g = f.clone();
        g[13] = n;
        assert!(matches!(c.open(&g), Err(WireError::Malformed(_))), "{n}");
    }
    // A control character in the sender name.
    let mut g = f.clone();
    g[14] = b'\n';
    let err = c.open(&g).unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)));
    assert!(err.to_string().starts_with("malformed frame: "), "{err}");
    // A body length pointing past the end is a truncation.
    let mut g = f.clone();
    g[34] = 200;
    assert!(matches!(c.open(&g), Err(WireError::Truncated { .. })));
    // One pointing short of the end leaves trailing bytes.
    let mut g = f;
    g[34] = 3;
    assert!(matches!(c.open(&g), Err(WireError::Malformed(_))));
}

#[test]
fn key_rotation() {
    let old = Codec::new("demo", &keys(&[(1, "one")]));
    let rotating = Codec::new("demo", &keys(&[(2, "two"), (1, "one")]));
    let both_old_first = Codec::new("demo", &keys(&[(1, "one"), (2, "two")]));
    let new = Codec::new("demo", &keys(&[(2, "two")]));
    assert_eq!(rotating.sign_key_id(), 2);
    assert_eq!(rotating.key_ids(), vec![2, 1]);

    // Signed with key 1, verified by a file listing 2 then 1.
    let f1 = old.seal(&header("n1"), b"a").unwrap();
    assert_eq!(rotating.open(&f1).unwrap().1, b"a");
    // Signed with key 2, verified by a file holding 1 and 2.
    let f2 = rotating.seal(&header("n2"), b"b").unwrap();
    assert_eq!(f2[f2.len() - 33], 2);
    assert_eq!(both_old_first.open(&f2).unwrap().1, b"b");
    assert_eq!(new.open(&f2).unwrap().1, b"b");
    // ... but not by a node that has only the old key.
    assert!(matches!(old.open(&f2), Err(WireError::UnknownKey { id: 2, .. })));
}

#[test]
fn peek_sender_is_unauthenticated_name() {
    let f = sample();
    assert_eq!(peek_sender(&f).as_deref(), Some("n1"));
    let mut g = f.clone();
    let tag = g.len() - 1;
    g[tag] ^= 1;
    assert_eq!(peek_sender(&g).as_deref(), Some("n1"));
    let other = Codec::new("prod", &keys(&[(1, "x")])).seal(&header("n9"), b"").unwrap();
    assert_eq!(peek_sender(&other).as_deref(), Some("n9"));
    assert_eq!(peek_sender(&f[..15]), None);
    assert_eq!(peek_sender(b"garbage"), None);
    let mut g = f;
    g[14] = 0x07;
    assert_eq!(peek_sender(&g), None);
}

#[test]
fn debug_does_not_print_secrets() {
    let c = Codec::new("demo", &keys(&[(1, "supersecretvalue")]));
    let s = format!("{c:?}");
    assert!(!s.contains("supersecret"), "{s}");
}

fn arb_header() -> impl Strategy<Value = Header> {
    ("[!-~]{1,64}", any::<u64>(), any::<u64>(), any::<u8>()).prop_map(|(sender, generation, seq, msg_type)| Header {
        sender,
        generation,
        seq,
        msg_type,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let _ = codec().open(&bytes);
        let _ = peek_sender(&bytes);
    }

    #[test]
    fn open_never_panics_behind_a_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 0..1400)) {
        // Gets past magic, version and cluster checks to exercise the layout checks.
        let mut f = sample()[..13].to_vec();
        f.extend_from_slice(&tail);
        let r = codec().open(&f);
        prop_assert!(r.is_err());
    }

    #[test]
    fn any_header_and_body_round_trip(h in arb_header(), body in proptest::collection::vec(any::<u8>(), 0..MAX_BODY)) {
        let c = codec();
        let f = c.seal(&h, &body).unwrap();
        prop_assert!(f.len() <= MAX_FRAME);
        prop_assert_eq!(c.open(&f).unwrap(), (h, body));
    }

    #[test]
    fn single_byte_mutation_never_opens(
        h in arb_header(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        pos in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let c = codec();
        let f = c.seal(&h, &body).unwrap();
        let mut g = f.clone();
        let i = pos.index(g.len());
        g[i] ^= xor;
        match c.open(&g) {
            Err(_) => {}
            Ok(opened) => prop_assert_eq!(opened, (h, body), "byte {} changed yet opened", i),
        }
    }
}
