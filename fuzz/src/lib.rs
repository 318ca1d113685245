//! The checks behind the fuzz targets, one function per target.
//!
//! The targets in `fuzz_targets/` only call these, and the main crate's
//! `tests/fuzz_regressions.rs` includes this file (`#[path]`) to replay crash
//! inputs and the committed corpora on the stable toolchain, so it uses
//! nothing but `std` and `hbd`. Each function panics if a property fails.

use std::path::Path;

use hbd::config::{import_heartbeat_texts, parse, parse_auth_keys, AuthKeys, MIN_SECRET_LEN};
use hbd::wire::{
    decode_beat, decode_chunk, decode_message, decode_state, encode_beat, encode_chunk, encode_serial, encode_state,
    peek_sender, Codec, Header, SerialDecoder, WireError, FRAME_OVERHEAD, MAX_FRAME, MAX_SENDER,
};

/// The cluster name the `frame_open` seeds are sealed for.
pub const CLUSTER: &str = "lab";
/// The key (ID 1) the `frame_open` seeds are sealed with.
pub const KEY: &[u8] = b"fuzz-key-0123456789abcdef0123456789abcdef";

fn codec() -> Codec {
    Codec::new(CLUSTER, &AuthKeys { keys: vec![(1, KEY.to_vec())] })
}

/// The node list the bodies are decoded against.
pub const NODES: [&str; 3] = ["n1", "n2", "n3"];

fn check_body(msg_type: u8, body: &[u8]) {
    let _ = decode_message(msg_type, body, &NODES);
    heartbeat_body(body);
}

/// `Codec::open` on arbitrary bytes, and seal → open on fuzzer-chosen header
/// fields and bodies. The first input byte selects the mode:
///
/// * bit 0 clear: the rest is a frame, opened as received from the network.
///   A frame that opens must be exactly what `seal` makes of its header and
///   body (HMAC signing is deterministic).
/// * bit 0 set: the rest is header fields (sender length, sender, 8-byte
///   generation, 8-byte sequence, type) and a body, sealed with the valid key
///   (so the fuzzer gets past the tag check), then opened; the body is
///   decoded as a beat, a state and a chunk. Bit 1 maps the sender bytes to printable ASCII
///   so that most inputs make a sealable header; bits 2-7 pick a byte to
///   corrupt, which must make `open` fail.
pub fn frame_open(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let codec = codec();
    if mode & 1 == 0 {
        let _ = peek_sender(rest);
        if let Ok((h, body)) = codec.open(rest) {
            assert!(rest.len() <= MAX_FRAME);
            assert_eq!(codec.seal(&h, &body).expect("an opened frame must re-seal"), rest);
            assert_eq!(peek_sender(rest).as_deref(), Some(h.sender.as_str()));
            check_body(h.msg_type, &body);
        }
        return;
    }

    let Some((&n, rest)) = rest.split_first() else { return };
    let n = usize::from(n);
    if rest.len() < n + 17 {
        return;
    }
    let (sender, rest) = rest.split_at(n);
    let sender: String = if mode & 2 != 0 {
        sender.iter().map(|b| char::from(b'!' + b % 94)).collect()
    } else {
        String::from_utf8_lossy(sender).into_owned()
    };
    let generation = u64::from_be_bytes(rest[0..8].try_into().unwrap());
    let seq = u64::from_be_bytes(rest[8..16].try_into().unwrap());
    let msg_type = rest[16];
    let body = &rest[17..];
    let h = Header { sender, generation, seq, msg_type };

    let sendable = !h.sender.is_empty()
        && h.sender.len() <= MAX_SENDER
        && h.sender.bytes().all(|b| b.is_ascii_graphic())
        && FRAME_OVERHEAD + h.sender.len() + body.len() <= MAX_FRAME;
    let frame = match codec.seal(&h, body) {
        Ok(f) => {
            assert!(sendable, "sealed an unsendable header {h:?} with a {}-byte body", body.len());
            f
        }
        Err(e) => {
            assert!(!sendable, "refused to seal {h:?} with a {}-byte body: {e}", body.len());
            assert!(matches!(e, WireError::InvalidSender(_) | WireError::BodyTooLarge { .. }), "{e}");
            return;
        }
    };
    assert!(frame.len() <= MAX_FRAME);
    assert_eq!(frame.len(), FRAME_OVERHEAD + h.sender.len() + body.len());
    let (h2, body2) = codec.open(&frame).expect("a sealed frame must open");
    assert_eq!(h2, h);
    assert_eq!(body2, body);
    assert_eq!(peek_sender(&frame).as_deref(), Some(h.sender.as_str()));
    check_body(h.msg_type, &body2);

    // Any change must be detected: one changed byte, one byte short, one byte more.
    let mut bad = frame.clone();
    let at = usize::from(mode >> 2) * bad.len() / 64;
    bad[at] ^= 0x5a;
    assert!(codec.open(&bad).is_err(), "byte {at} changed and the frame still opened");
    assert!(codec.open(&frame[..frame.len() - 1]).is_err());
    let mut long = frame.clone();
    long.push(0);
    assert!(codec.open(&long).is_err());
    // Another cluster, or another secret for the same key ID, must not open it.
    let other_cluster = Codec::new("other", &AuthKeys { keys: vec![(1, KEY.to_vec())] });
    assert_eq!(other_cluster.open(&frame), Err(WireError::WrongCluster));
    let other_secret = Codec::new(CLUSTER, &AuthKeys { keys: vec![(1, b"another-secret-0123456789".to_vec())] });
    assert_eq!(other_secret.open(&frame), Err(WireError::BadTag { id: 1 }));
}

/// The body decoders (beat, state, state chunk) on arbitrary bytes.
/// Whatever decodes must re-encode to a body that decodes to the same
/// message (fields a node does not know are dropped on the way), and that
/// encoding is canonical: encoding it again gives the same bytes.
pub fn heartbeat_body(data: &[u8]) {
    if let Ok(b) = decode_beat(data, &NODES) {
        let enc = encode_beat(&b, &NODES);
        let again = decode_beat(&enc, &NODES).expect("an encoded beat must decode");
        assert_eq!(again, b);
        assert_eq!(encode_beat(&again, &NODES), enc);
    }
    if let Ok(s) = decode_state(data) {
        let enc = encode_state(&s);
        let again = decode_state(&enc).expect("an encoded state must decode");
        assert_eq!(again, s);
        assert_eq!(encode_state(&again), enc);
    }
    if let Ok(c) = decode_chunk(data) {
        let enc = encode_chunk(&c);
        assert_eq!(decode_chunk(&enc).expect("an encoded chunk must decode"), c);
    }
}

fn records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = ((usize::from(data[0]) << 8) | usize::from(data[1])) % 4096;
        data = &data[2..];
        let len = len.min(data.len());
        out.push(&data[..len]);
        data = &data[len..];
    }
    out
}

/// `SerialDecoder::push` over a byte stream split at fuzzer-chosen points.
///
/// Byte 0 is the mode; bits 0-2 give `k`, the number of chunk sizes that
/// follow (one byte each; 0 = an empty push, then one byte). The stream is
/// fed in chunks of those sizes, cycling. Every output frame must be at most
/// `MAX_FRAME` bytes, and the split must not matter: the same frames and the
/// same discard count as one push of the whole stream.
///
/// Bit 3 of the mode: the stream is built instead of taken as it is. The rest
/// of the input is records (2-byte big-endian length, then that many bytes),
/// alternately line noise and frames; each frame (cut to `MAX_FRAME` bytes)
/// is sent with `encode_serial`. Every frame sent must come out, in order,
/// whatever noise surrounds it.
pub fn serial(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let k = usize::from(mode & 7);
    if rest.len() < k {
        return;
    }
    let (sizes, rest) = rest.split_at(k);

    let mut sent: Vec<&[u8]> = Vec::new();
    let built;
    let stream: &[u8] = if mode & 8 != 0 {
        let mut s = Vec::new();
        for (i, r) in records(rest).into_iter().enumerate() {
            if i % 2 == 0 {
                s.extend_from_slice(r);
            } else if !r.is_empty() {
                let f = &r[..r.len().min(MAX_FRAME)];
                s.extend_from_slice(&encode_serial(f));
                sent.push(f);
            }
        }
        built = s;
        &built
    } else {
        rest
    };

    let mut whole = SerialDecoder::new();
    let all = whole.push(stream);

    let mut dec = SerialDecoder::new();
    let mut got = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let size = sizes.get(i % k.max(1)).map_or(stream.len(), |&s| usize::from(s));
        i += 1;
        if size == 0 {
            got.extend(dec.push(&[]));
        }
        let end = (at + size.max(1)).min(stream.len());
        got.extend(dec.push(&stream[at..end]));
        at = end;
    }
    for f in &got {
        assert!(f.len() <= MAX_FRAME, "decoded a {}-byte frame", f.len());
    }
    assert_eq!(got, all, "the split changed the frames");
    assert_eq!(dec.discarded(), whole.discarded(), "the split changed the discard count");

    // Every frame sent comes out, in order (noise may add frames of its own).
    let mut it = got.iter();
    for f in sent {
        assert!(it.any(|g| g == f), "a {}-byte frame was lost", f.len());
    }
}

/// `config::parse` and `config::parse_auth_keys` on arbitrary text (bytes
/// converted lossily to UTF-8). Errors are fine; panics are not. What parses
/// must hold what the parsers promise.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = parse(&text, Path::new("/etc/hbd/hbd.toml")) {
        assert!(!cfg.nodes.is_empty());
        for g in &cfg.groups {
            assert!(cfg.node_index(&g.preferred).is_some(), "group {} prefers an unknown node", g.name);
        }
    }
    if let Ok(keys) = parse_auth_keys(&text, Path::new("/etc/hbd/authkey")) {
        assert!(!keys.keys.is_empty());
        for (id, secret) in &keys.keys {
            assert!(*id >= 1);
            assert!(secret.len() >= MIN_SECRET_LEN);
        }
    }
}

/// The Heartbeat importer on three texts: the input (lossily UTF-8) split at
/// the first two NUL bytes into ha.cf, haresources and authkeys; a missing
/// part is an absent file. Whatever it imports must be a valid hbd.toml and,
/// if there was an authkeys text, a valid hbd auth key file: that is the
/// importer's promise.
pub fn import_heartbeat(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let ha_cf = parts.next().unwrap_or_default();
    let haresources = parts.next();
    let authkeys = parts.next();
    let Ok(imp) = import_heartbeat_texts(Path::new("/etc/ha.d"), ha_cf, haresources, authkeys) else { return };
    if let Err(e) = parse(&imp.toml, Path::new("hbd.toml (imported)")) {
        panic!("imported TOML does not parse: {e}\n{}", imp.toml);
    }
    assert_eq!(imp.authkey.is_some(), authkeys.is_some());
    if let Some(k) = &imp.authkey {
        if let Err(e) = parse_auth_keys(k, Path::new("authkey (imported)")) {
            panic!("imported auth key does not parse: {e}");
        }
    }
}
