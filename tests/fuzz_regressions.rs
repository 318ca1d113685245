//! The fuzz targets' checks (`fuzz/src/lib.rs`, see docs/fuzzing.md) on the
//! stable toolchain: every committed corpus input, and each input a fuzzer
//! found crashing, as a plain test.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

use hbd::config::AuthKeys;
use hbd::wire::Codec;

/// A fuzz target's check: panics if the input breaks a property.
type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 5] = [
    ("frame_open", checks::frame_open),
    ("heartbeat_body", checks::heartbeat_body),
    ("serial", checks::serial),
    ("config", checks::config),
    ("import_heartbeat", checks::import_heartbeat),
];

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn committed_corpora_pass() {
    for (target, check) in TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} is empty");
        for (name, data) in inputs {
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "fuzz/corpus/{target}/{name} fails the {target} check");
        }
    }
}

/// The frame seeds (written by fuzz/gen_corpus.py) are real frames, so the
/// fuzzer starts past the tag check.
#[test]
fn frame_seeds_open() {
    let codec = Codec::new(checks::CLUSTER, &AuthKeys { keys: vec![(1, checks::KEY.to_vec())] });
    let mut n = 0;
    for (name, data) in corpus("frame_open") {
        if name.starts_with("seed-frame-") && name != "seed-frame-key-2" {
            codec.open(&data[1..]).unwrap_or_else(|e| panic!("{name}: {e}"));
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} frame seeds");
}

/// The serial decoder handed up frames longer than `MAX_FRAME` (up to twice
/// that) when their COBS and CRC were intact; the `serial` check requires
/// every output frame to fit `MAX_FRAME`.
#[test]
fn serial_drops_oversized_frames() {
    use hbd::wire::{encode_serial, SerialDecoder, MAX_FRAME};

    for len in [MAX_FRAME + 1, MAX_FRAME + 300, 2 * MAX_FRAME] {
        let frame = vec![0x5a; len];
        let mut input = vec![0u8]; // mode 0: the stream as it is, in one push
        input.extend(encode_serial(&frame));
        checks::serial(&input);

        let mut dec = SerialDecoder::new();
        assert!(dec.push(&encode_serial(&frame)).is_empty(), "{len}-byte frame decoded");
        assert_eq!(dec.discarded(), 1);
    }
    // The largest frame still goes through, and the decoder resynchronises after the oversized one.
    let mut dec = SerialDecoder::new();
    let mut stream = encode_serial(&vec![1; MAX_FRAME + 1]);
    stream.extend(encode_serial(&vec![2; MAX_FRAME]));
    assert_eq!(dec.push(&stream), vec![vec![2; MAX_FRAME]]);
}

/// ha.cf times too large for a `Duration` ("warntime 1111…10", "deadtime
/// 1e300") made the importer panic in `Duration::from_secs_f64`; they are
/// now "not a time", noted, and the default is used.
#[test]
fn import_huge_heartbeat_times() {
    use hbd::config::import_heartbeat_texts;

    let crash = format!("node n1 n2\nbcast eth0\nwarntime {}0\n", "1".repeat(95));
    checks::import_heartbeat(crash.as_bytes());
    for (directive, value) in [
        ("warntime", "1".repeat(95)),
        ("deadtime", "1e300".into()),
        ("keepalive", "1e30ms".into()),
        ("initdead", "inf".into()),
    ] {
        let ha_cf = format!("node n1 n2\nbcast eth0\n{directive} {value}\n");
        checks::import_heartbeat(ha_cf.as_bytes());
        let imp = import_heartbeat_texts(Path::new("/etc/ha.d"), &ha_cf, None, None).unwrap();
        let note = imp.unmapped.iter().find(|u| u.line == 3).unwrap_or_else(|| panic!("{directive} {value}: no note"));
        assert!(note.why.contains("not a time"), "{directive} {value}: {note}");
    }
}

/// A state whose unit words are longer than `MAX_UNIT_WORD` (a peer that
/// does not keep to the bounds) decoded with the long words, while encoding
/// it again carried `?` for them: two views of one state. Found by the
/// fuzzer (heartbeat_body, in CI); such words now decode as `?`, as they
/// would be carried.
#[test]
fn unit_words_past_the_bounds_decode_as_carried() {
    use hbd::core::msg::ResourceState;
    use hbd::wire::{decode_state, encode_state, MAX_UNIT_WORD};

    let data = include_bytes!("../fuzz/corpus/heartbeat_body/8c42aedbc37f507a8fcffeee08f64f66ed2c3dc3");
    checks::heartbeat_body(data);
    let s = decode_state(data).expect("the found input is a state");
    let words: Vec<&str> = s
        .groups
        .iter()
        .flat_map(|g| &g.resources)
        .filter_map(|r| if let ResourceState::Unit(u) = r { Some([&u.active, &u.sub, &u.result]) } else { None })
        .flatten()
        .map(String::as_str)
        .collect();
    assert!(words.contains(&"?"), "{words:?}");
    assert!(words.iter().all(|w| w.len() <= MAX_UNIT_WORD), "{words:?}");
    assert_eq!(decode_state(&encode_state(&s)).unwrap(), s);
}
