//! Binary encoding of the messages carried in frames: a [`Beat`]
//! ([`MSG_BEAT`]) and a [`Chunk`] of a node's encoded [`State`]
//! ([`MSG_STATE`]).
//!
//! # Fields, and what a node does not know
//!
//! Every body is a sequence of fields `varint tag, varint length, bytes`
//! (`varint` = unsigned LEB128, shortest form not required). A decoder skips
//! fields whose tag it does not know, and ignores flag bits it does not
//! know; records inside a field (a group, an intent) start with their own
//! length, and bytes after the parts a node knows are skipped. A newer
//! release can therefore add fields and record members without breaking an
//! older one; only a change of meaning needs a new frame format version
//! (see [`VERSION`](super::VERSION)), which a node refuses loudly.
//!
//! Tag 1000 is taken by a test-only field (cargo feature
//! `wire-extra-field`, off in every release build): a build with it adds
//! the field to every full beat and every chunk, and the lab's upgrade test
//! runs a mixed cluster with such a node to show that the others skip it.
//!
//! ## Beat (every keepalive, every link)
//!
//! ```text
//! 1  config hash       8 bytes BE                           required
//! 2  flags             varint: 0x01 standby, 0x02 leaving,  required
//!                      0x04 idle (holds no group), 0x08 settled,
//!                      0x10 full (acks and up are meaningful)
//! 3  ping              varint (a u32); absent: no ping hosts
//! 4  state version     varint                               required
//! 5  nodes hash        4 bytes: [`nodes_hash`] of the sender's node list
//! 6  acks              repeated: varint node index, varint generation, varint version
//! 7  up                bitmap: bit i (LSB first) = node index i is heard
//! ```
//!
//! Nodes in acks and up are indexes in the sender's `[[node]]` list, which
//! keeps a beat small; a receiver whose node list hashes differently
//! ignores them (the beat then counts for liveness only, and the sender's
//! acknowledgements never confirm a claim: fail-safe).
//!
//! ## State (the blob cut into chunks)
//!
//! ```text
//! 1  names     repeated str (varint length + UTF-8): every node or group name
//!              used below; `name#` is an index in this table
//! 2  groups    repeated record: varint length, then name#, u8 state, varint flags
//!              (0x01 failed, 0x02 held down), varint failcount (u32), then
//!              (where the group runs on the sender; absent from older nodes)
//!              varint count and that many resource records, in the group's
//!              order: varint length, u8 kind (0 unknown, 1 starting,
//!              2 stopping, 3 started, 4 stopped, 5 unit), and
//!              for a unit: ActiveState name#, SubState name#, Result name#,
//!              varint exit status (0: none, else zigzag(status) + 1)
//! 3  intents   repeated record: varint length, then varint serial, origin name#, u8 kind:
//!                1 Standby: node name#, u8 on (0|1)     2 Unpin: group name#
//!                3 Pin: group name#, node name#         4 Cleanup: group name#
//!              (a record of an unknown kind is skipped)
//! ```
//!
//! ## Chunk
//!
//! ```text
//! 1  version   varint     2  index  varint     3  count  varint (1..=MAX_CHUNKS)
//! 4  digest    8 bytes: [`state_digest`] of the whole encoded state
//! 5  data      at most CHUNK_DATA bytes: bytes index*CHUNK_DATA.. of the state
//! ```
//!
//! # Size bounds
//!
//! A beat is at most [`beat_bound`]`(N)` bytes for `N` nodes (698 for 32,
//! within [`MAX_BODY`]); its liveness-only form, sent on serial links, at
//! most [`LIVENESS_BEAT_MAX`] whatever the cluster. A state is at most
//! [`state_bound`] bytes for a configuration (with every intent it can
//! hold: a standby per node, a pin and a cleanup per group; and every
//! resource's state; 138,660 bytes for 32 nodes and 1,000 groups of two
//! resources with 63-character names: 116 chunks); a configuration whose
//! bound exceeds [`MAX_STATE`] is refused by validation. Every chunk fits
//! one frame whatever the sender's name. A unit's state words (systemd's
//! `ActiveState`, `SubState`, `Result`) count towards that bound as at most
//! [`MAX_UNIT_WORDS`] different words of at most [`MAX_UNIT_WORD`] bytes;
//! anything beyond travels as `?`, and is read as `?` when a peer sends it.
//!
//! Decoding never panics, and no count or length field is trusted: each is
//! checked against the bytes that remain before anything is read or
//! allocated.
//!
//! [`MAX_BODY`]: super::MAX_BODY
//! [`MSG_BEAT`]: super::MSG_BEAT
//! [`MSG_STATE`]: super::MSG_STATE

use ring::digest;

use super::error::WireError;
use super::frame::{MAX_BODY, MSG_BEAT, MSG_STATE};
use crate::core::msg::{Ack, Beat, Chunk, GroupReport, GroupState, Intent, IntentKind, Message, ResourceState, State};
use crate::core::UnitState;

/// Longest node or group name the size bounds assume. The wire format
/// itself carries longer names; configuration does not allow them.
pub const MAX_NAME: usize = 64;
/// Most nodes a cluster may have: a beat acknowledges every peer.
pub const MAX_NODES: usize = 32;
/// Bytes of state data in one chunk: with the chunk's other fields it fits
/// [`MAX_BODY`] whatever the sender's name.
pub const CHUNK_DATA: usize = 1200;
/// Most chunks one state may take.
pub const MAX_CHUNKS: usize = 255;
/// Largest encoded state.
pub const MAX_STATE: usize = CHUNK_DATA * MAX_CHUNKS;
/// Longest word of a unit's state a node's state carries (systemd's are at
/// most 26 bytes: `failed-before-auto-restart`).
pub const MAX_UNIT_WORD: usize = 32;
/// Most different unit state words one state carries (one node runs few
/// at a time; systemd has a few dozen in all).
pub const MAX_UNIT_WORDS: usize = 32;
/// Largest liveness-only beat body (the form sent on serial links).
pub const LIVENESS_BEAT_MAX: usize = 10 + 3 + 7 + 12;

const F_STANDBY: u64 = 0x01;
const F_LEAVING: u64 = 0x02;
const F_IDLE: u64 = 0x04;
const F_SETTLED: u64 = 0x08;
const F_FULL: u64 = 0x10;

const G_FAILED: u64 = 0x01;
const G_HELD_DOWN: u64 = 0x02;

const R_UNKNOWN: u8 = 0;
const R_STARTING: u8 = 1;
const R_STOPPING: u8 = 2;
const R_STARTED: u8 = 3;
const R_STOPPED: u8 = 4;
const R_UNIT: u8 = 5;

const K_STANDBY: u8 = 1;
const K_UNPIN: u8 = 2;
const K_PIN: u8 = 3;
const K_CLEANUP: u8 = 4;

const B_CONFIG: u64 = 1;
const B_FLAGS: u64 = 2;
const B_PING: u64 = 3;
const B_VERSION: u64 = 4;
const B_NODES: u64 = 5;
const B_ACKS: u64 = 6;
const B_UP: u64 = 7;

const S_NAMES: u64 = 1;
const S_GROUPS: u64 = 2;
const S_INTENTS: u64 = 3;

const C_VERSION: u64 = 1;
const C_INDEX: u64 = 2;
const C_COUNT: u64 = 3;
const C_DIGEST: u64 = 4;
const C_DATA: u64 = 5;

const _: () = assert!(CHUNK_DATA + 40 + EXTRA_FIELD_LEN <= MAX_BODY);

/// Test-only (cargo feature `wire-extra-field`, off by default): a field
/// that no release knows, added to every full beat and every chunk, so that
/// the lab's upgrade test (tests/lab/upgrade.sh) can show that a node skips
/// what it does not know. A production build never sends it.
#[cfg(feature = "wire-extra-field")]
pub const EXTRA_FIELD: (u64, &[u8]) = (1000, b"hbd-test-extra");
/// Bytes the test-only extra field adds to a body (0 without the feature).
#[cfg(feature = "wire-extra-field")]
pub const EXTRA_FIELD_LEN: usize = 2 + 1 + EXTRA_FIELD.1.len();
/// Bytes the test-only extra field adds to a body (0 without the feature).
#[cfg(not(feature = "wire-extra-field"))]
pub const EXTRA_FIELD_LEN: usize = 0;

#[cfg(feature = "wire-extra-field")]
fn extra_field(out: &mut Vec<u8>) {
    field(out, EXTRA_FIELD.0, EXTRA_FIELD.1);
}
#[cfg(not(feature = "wire-extra-field"))]
fn extra_field(_: &mut Vec<u8>) {}

/// Largest beat body for a cluster of `nodes` nodes, every integer at its
/// maximum.
pub const fn beat_bound(nodes: usize) -> usize {
    let peers = nodes.saturating_sub(1);
    let acks = peers * (1 + 10 + 10);
    LIVENESS_BEAT_MAX + 6 + (1 + 2 + acks) + (1 + 1 + nodes.div_ceil(8)) + EXTRA_FIELD_LEN
}

/// Largest encoded state of a node of a cluster with these node names and
/// groups (name, number of resources), with every intent it can hold, every
/// resource's state and every integer at its maximum.
pub fn state_bound<'a>(
    nodes: impl IntoIterator<Item = &'a str>,
    groups: impl IntoIterator<Item = (&'a str, usize)>,
) -> usize {
    let (mut n, mut names) = (0usize, MAX_UNIT_WORDS * (1 + MAX_UNIT_WORD));
    for x in nodes {
        n += 1;
        names += varint_len(x.len() as u64) + x.len();
    }
    let groups: Vec<usize> = groups
        .into_iter()
        .map(|(x, resources)| {
            names += varint_len(x.len() as u64) + x.len();
            resources
        })
        .collect();
    let g = groups.len();
    let idx = varint_len((n + g + MAX_UNIT_WORDS) as u64);
    let field = |body: usize| 1 + varint_len(body as u64) + body;
    let resource = 1 + 1 + 3 * idx + 5;
    let groups: usize = groups
        .iter()
        .map(|&r| {
            let rec = idx + 1 + 1 + 5 + varint_len(r as u64) + r * resource;
            varint_len(rec as u64) + rec
        })
        .sum();
    let intents = n * (1 + 10 + idx + 1 + idx + 1) + g * (1 + 10 + idx + 1 + idx + idx) + g * (1 + 10 + idx + 1 + idx);
    field(names) + field(groups) + field(intents)
}

/// First 4 bytes of SHA-256 over the node names, each followed by a newline.
pub fn nodes_hash<S: AsRef<str>>(nodes: &[S]) -> u32 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for n in nodes {
        ctx.update(n.as_ref().as_bytes());
        ctx.update(b"\n");
    }
    let d = ctx.finish();
    let mut h = [0u8; 4];
    h.copy_from_slice(&d.as_ref()[..4]);
    u32::from_be_bytes(h)
}

/// First 8 bytes of SHA-256 of an encoded state.
pub fn state_digest(state: &[u8]) -> u64 {
    let d = digest::digest(&digest::SHA256, state);
    let mut h = [0u8; 8];
    h.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(h)
}

// ------------------------------------------------------------------ beat

/// Encodes a beat; `nodes` is the sender's node list (acks and up refer to
/// it by index; names not in it are left out).
pub fn encode_beat<S: AsRef<str>>(b: &Beat, nodes: &[S]) -> Vec<u8> {
    let index = |n: &str| nodes.iter().position(|x| x.as_ref() == n);
    let mut out = Vec::with_capacity(64);
    field(&mut out, B_CONFIG, &b.config_hash.to_be_bytes());
    let mut flags = 0;
    for (on, f) in
        [(b.standby, F_STANDBY), (b.leaving, F_LEAVING), (b.idle, F_IDLE), (b.settled, F_SETTLED), (b.full, F_FULL)]
    {
        if on {
            flags |= f;
        }
    }
    field_varint(&mut out, B_FLAGS, flags);
    if let Some(p) = b.ping {
        field_varint(&mut out, B_PING, p.into());
    }
    field_varint(&mut out, B_VERSION, b.state_version);
    if b.full {
        field(&mut out, B_NODES, &nodes_hash(nodes).to_be_bytes());
        let mut acks = Vec::new();
        for a in &b.acks {
            if let Some(i) = index(&a.node) {
                put_varint(&mut acks, i as u64);
                put_varint(&mut acks, a.generation);
                put_varint(&mut acks, a.version);
            }
        }
        field(&mut out, B_ACKS, &acks);
        let mut up = vec![0u8; nodes.len().div_ceil(8)];
        for n in &b.up {
            if let Some(i) = index(n) {
                up[i / 8] |= 1 << (i % 8);
            }
        }
        field(&mut out, B_UP, &up);
        extra_field(&mut out);
    }
    out
}

/// Decodes a beat; `nodes` is the receiver's node list. Unknown fields and
/// flags are skipped. If the sender's node list differs (its hash), or the
/// beat is the liveness-only form, the result has `full == false` and no
/// acks or up.
pub fn decode_beat<S: AsRef<str>>(body: &[u8], nodes: &[S]) -> Result<Beat, WireError> {
    let bad = |w: String| WireError::Malformed(format!("beat: {w}"));
    let (mut config, mut flags, mut ping, mut version, mut hash, mut acks_f, mut up_f) =
        (None, None, None, None, None, None, None);
    for f in fields(body).map_err(bad)? {
        let (tag, v) = f;
        match tag {
            B_CONFIG => config = Some(fixed::<8>(v, "config hash").map_err(bad)?),
            B_FLAGS => flags = Some(whole_varint(v, "flags").map_err(bad)?),
            B_PING => {
                let p = whole_varint(v, "ping").map_err(bad)?;
                ping = Some(u32::try_from(p).map_err(|_| bad(format!("ping count {p} overflows 32 bits")))?);
            }
            B_VERSION => version = Some(whole_varint(v, "state version").map_err(bad)?),
            B_NODES => hash = Some(u32::from_be_bytes(fixed::<4>(v, "nodes hash").map_err(bad)?)),
            B_ACKS => acks_f = Some(v),
            B_UP => up_f = Some(v),
            _ => {}
        }
    }
    let config = config.ok_or_else(|| bad("no config hash".into()))?;
    let flags = flags.ok_or_else(|| bad("no flags".into()))?;
    let state_version = version.ok_or_else(|| bad("no state version".into()))?;
    let mut b = Beat {
        config_hash: u64::from_be_bytes(config),
        standby: flags & F_STANDBY != 0,
        leaving: flags & F_LEAVING != 0,
        idle: flags & F_IDLE != 0,
        settled: flags & F_SETTLED != 0,
        ping,
        state_version,
        acks: Vec::new(),
        up: Vec::new(),
        full: false,
    };
    if flags & F_FULL == 0 || hash != Some(nodes_hash(nodes)) {
        return Ok(b);
    }
    let name = |i: u64| -> Result<String, WireError> {
        usize::try_from(i)
            .ok()
            .and_then(|i| nodes.get(i))
            .map(|n| n.as_ref().to_string())
            .ok_or_else(|| bad(format!("node index {i}, but the cluster has {} nodes", nodes.len())))
    };
    if let Some(a) = acks_f {
        let mut r = Reader { b: a, at: 0 };
        while r.remaining() > 0 {
            let node = name(r.varint("ack node").map_err(bad)?)?;
            let generation = r.varint("ack generation").map_err(bad)?;
            let version = r.varint("ack version").map_err(bad)?;
            b.acks.push(Ack { node, generation, version });
        }
    }
    if let Some(u) = up_f {
        for (byte, bits) in u.iter().enumerate() {
            for bit in 0..8 {
                if bits & (1 << bit) != 0 {
                    b.up.push(name((byte * 8 + bit) as u64)?);
                }
            }
        }
    }
    b.full = true;
    Ok(b)
}

// ----------------------------------------------------------------- state

/// Encodes a state. Deterministic: equal states give equal bytes.
pub fn encode_state(s: &State) -> Vec<u8> {
    let mut names = Names::default();
    for g in &s.groups {
        names.add(&g.name);
    }
    for i in &s.intents {
        names.add(&i.origin);
        match &i.kind {
            IntentKind::Standby { node, .. } => names.add(node),
            IntentKind::Location { group, node } => {
                names.add(group);
                if let Some(n) = node {
                    names.add(n);
                }
            }
            IntentKind::Cleanup { group } => names.add(group),
        }
    }
    // A unit's state words, within the bounds `state_bound` counts on.
    let mut words = UnitWords::default();
    for g in &s.groups {
        for r in &g.resources {
            if let ResourceState::Unit(u) = r {
                for w in [&u.active, &u.sub, &u.result] {
                    names.add(words.take(w));
                }
            }
        }
    }
    let mut out = Vec::with_capacity(256);
    let mut f = Vec::new();
    for n in &names.list {
        put_str(&mut f, n);
    }
    field(&mut out, S_NAMES, &f);

    f.clear();
    let mut rec = Vec::new();
    for g in &s.groups {
        rec.clear();
        put_varint(&mut rec, names.index(&g.name));
        rec.push(g.state.code());
        put_varint(&mut rec, (u64::from(g.failed) * G_FAILED) | (u64::from(g.held_down) * G_HELD_DOWN));
        put_varint(&mut rec, g.failcount.into());
        if !g.resources.is_empty() {
            put_varint(&mut rec, g.resources.len() as u64);
            let mut res = Vec::new();
            for r in &g.resources {
                res.clear();
                match r {
                    ResourceState::Unknown => res.push(R_UNKNOWN),
                    ResourceState::Starting => res.push(R_STARTING),
                    ResourceState::Stopping => res.push(R_STOPPING),
                    ResourceState::Started => res.push(R_STARTED),
                    ResourceState::Stopped => res.push(R_STOPPED),
                    ResourceState::Unit(u) => {
                        res.push(R_UNIT);
                        for w in [&u.active, &u.sub, &u.result] {
                            put_varint(&mut res, names.index(words.carried(w)));
                        }
                        put_varint(&mut res, u.exit_status.map_or(0, |e| u64::from(zigzag(e)) + 1));
                    }
                }
                put_varint(&mut rec, res.len() as u64);
                rec.extend_from_slice(&res);
            }
        }
        put_varint(&mut f, rec.len() as u64);
        f.extend_from_slice(&rec);
    }
    field(&mut out, S_GROUPS, &f);

    f.clear();
    for i in &s.intents {
        rec.clear();
        put_varint(&mut rec, i.serial);
        put_varint(&mut rec, names.index(&i.origin));
        match &i.kind {
            IntentKind::Standby { node, on } => {
                rec.push(K_STANDBY);
                put_varint(&mut rec, names.index(node));
                rec.push(u8::from(*on));
            }
            IntentKind::Location { group, node: None } => {
                rec.push(K_UNPIN);
                put_varint(&mut rec, names.index(group));
            }
            IntentKind::Location { group, node: Some(node) } => {
                rec.push(K_PIN);
                put_varint(&mut rec, names.index(group));
                put_varint(&mut rec, names.index(node));
            }
            IntentKind::Cleanup { group } => {
                rec.push(K_CLEANUP);
                put_varint(&mut rec, names.index(group));
            }
        }
        put_varint(&mut f, rec.len() as u64);
        f.extend_from_slice(&rec);
    }
    field(&mut out, S_INTENTS, &f);
    out
}

/// Decodes a state. Unknown fields, flag bits, trailing record bytes and
/// intents of unknown kinds are skipped; anything else that does not
/// follow the layout is a [`WireError::Malformed`].
pub fn decode_state(body: &[u8]) -> Result<State, WireError> {
    let bad = |w: String| WireError::Malformed(format!("state: {w}"));
    let (mut names_f, mut groups_f, mut intents_f) = (None, None, None);
    for (tag, v) in fields(body).map_err(bad)? {
        match tag {
            S_NAMES => names_f = Some(v),
            S_GROUPS => groups_f = Some(v),
            S_INTENTS => intents_f = Some(v),
            _ => {}
        }
    }
    let mut names = Vec::new();
    if let Some(v) = names_f {
        let mut r = Reader { b: v, at: 0 };
        while r.remaining() > 0 {
            names.push(r.str().map_err(bad)?);
        }
    }
    let name = |r: &mut Reader, what: &str| -> Result<String, WireError> {
        let i = r.varint(what).map_err(bad)?;
        usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i))
            .cloned()
            .ok_or_else(|| bad(format!("{what} refers to name #{i}, but only {} are listed", names.len())))
    };
    let mut s = State::default();
    if let Some(v) = groups_f {
        let mut outer = Reader { b: v, at: 0 };
        while outer.remaining() > 0 {
            let mut r = outer.record("group").map_err(bad)?;
            let gname = name(&mut r, "group name")?;
            let code = r.u8("group state").map_err(bad)?;
            let state = GroupState::from_code(code).ok_or_else(|| bad(format!("unknown group state {code}")))?;
            let flags = r.varint("group flags").map_err(bad)?;
            let failcount = r.varint("failcount").map_err(bad)?;
            let failcount = u32::try_from(failcount).map_err(|_| bad(format!("failcount {failcount} overflows")))?;
            let mut resources = Vec::new();
            if r.remaining() > 0 {
                let count = r.varint("resource count").map_err(bad)?;
                for _ in 0..count {
                    let mut r = r.record("resource").map_err(bad)?;
                    resources.push(match r.u8("resource kind").map_err(bad)? {
                        R_STARTING => ResourceState::Starting,
                        R_STOPPING => ResourceState::Stopping,
                        R_STARTED => ResourceState::Started,
                        R_STOPPED => ResourceState::Stopped,
                        R_UNIT => {
                            let active = name(&mut r, "unit active state")?;
                            let sub = name(&mut r, "unit sub-state")?;
                            let result = name(&mut r, "unit result")?;
                            let exit = r.varint("unit exit status").map_err(bad)?;
                            let exit_status = match exit {
                                0 => None,
                                e => Some(
                                    u32::try_from(e - 1)
                                        .map(unzigzag)
                                        .map_err(|_| bad(format!("exit status {e} overflows")))?,
                                ),
                            };
                            ResourceState::Unit(UnitState { active, sub, result, exit_status })
                        }
                        // A kind a newer node knows.
                        _ => ResourceState::Unknown,
                    });
                }
            }
            s.groups.push(GroupReport {
                name: gname,
                state,
                failed: flags & G_FAILED != 0,
                failcount,
                held_down: flags & G_HELD_DOWN != 0,
                resources,
            });
        }
    }
    carry_unit_words(&mut s.groups);
    if let Some(v) = intents_f {
        let mut outer = Reader { b: v, at: 0 };
        while outer.remaining() > 0 {
            let mut r = outer.record("intent").map_err(bad)?;
            let serial = r.varint("intent serial").map_err(bad)?;
            let origin = name(&mut r, "intent origin")?;
            let kind = match r.u8("intent kind").map_err(bad)? {
                K_STANDBY => {
                    let node = name(&mut r, "standby node")?;
                    let on = match r.u8("standby flag").map_err(bad)? {
                        0 => false,
                        1 => true,
                        v => return Err(bad(format!("standby flag is {v}, not 0 or 1"))),
                    };
                    IntentKind::Standby { node, on }
                }
                K_UNPIN => IntentKind::Location { group: name(&mut r, "location group")?, node: None },
                K_PIN => {
                    let group = name(&mut r, "location group")?;
                    let node = name(&mut r, "location node")?;
                    IntentKind::Location { group, node: Some(node) }
                }
                K_CLEANUP => IntentKind::Cleanup { group: name(&mut r, "cleanup group")? },
                _ => continue,
            };
            s.intents.push(Intent { serial, origin, kind });
        }
    }
    Ok(s)
}

/// Cuts an encoded state of version `version` into chunks of at most
/// [`CHUNK_DATA`] bytes (an empty state is one empty chunk). Fails if it
/// would take more than [`MAX_CHUNKS`].
pub fn split_state(version: u64, state: &[u8]) -> Result<Vec<Chunk>, WireError> {
    let count = state.len().div_ceil(CHUNK_DATA).max(1);
    if count > MAX_CHUNKS {
        return Err(WireError::StateTooLarge { len: state.len(), max: MAX_STATE });
    }
    let digest = state_digest(state);
    Ok((0..count)
        .map(|i| Chunk {
            version,
            index: i as u32,
            count: count as u32,
            digest,
            data: state[i * CHUNK_DATA..((i + 1) * CHUNK_DATA).min(state.len())].to_vec(),
        })
        .collect())
}

/// Collects the chunks of one state version and hands back the whole
/// encoding once every chunk is in and the digest matches. Memory is
/// bounded by `count` ≤ [`MAX_CHUNKS`] chunks of ≤ [`CHUNK_DATA`] bytes.
#[derive(Clone, Debug)]
pub struct Assembly {
    pub generation: u64,
    pub version: u64,
    count: u32,
    digest: u64,
    parts: Vec<Option<Vec<u8>>>,
    have: usize,
}

impl Assembly {
    /// An assembly for the state that `first` belongs to.
    pub fn new(generation: u64, first: &Chunk) -> Assembly {
        Assembly {
            generation,
            version: first.version,
            count: first.count,
            digest: first.digest,
            parts: vec![None; first.count as usize],
            have: 0,
        }
    }

    /// Whether `c` (of `generation`) belongs to this assembly.
    pub fn matches(&self, generation: u64, c: &Chunk) -> bool {
        self.generation == generation && self.version == c.version && self.count == c.count && self.digest == c.digest
    }

    /// Adds a chunk that [`Assembly::matches`]; returns the whole state when
    /// this completed it (and its digest is right), else None.
    pub fn add(&mut self, c: Chunk) -> Option<Vec<u8>> {
        let slot = self.parts.get_mut(c.index as usize)?;
        if slot.is_none() {
            *slot = Some(c.data);
            self.have += 1;
        }
        if self.have < self.parts.len() {
            return None;
        }
        let whole: Vec<u8> = self.parts.iter().flatten().flatten().copied().collect();
        (state_digest(&whole) == self.digest).then_some(whole)
    }

    /// Chunks still missing.
    pub fn missing(&self) -> usize {
        self.parts.len() - self.have
    }
}

// ----------------------------------------------------------------- chunk

pub fn encode_chunk(c: &Chunk) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.data.len() + 40);
    field_varint(&mut out, C_VERSION, c.version);
    field_varint(&mut out, C_INDEX, c.index.into());
    field_varint(&mut out, C_COUNT, c.count.into());
    field(&mut out, C_DIGEST, &c.digest.to_be_bytes());
    field(&mut out, C_DATA, &c.data);
    extra_field(&mut out);
    out
}

pub fn decode_chunk(body: &[u8]) -> Result<Chunk, WireError> {
    let bad = |w: String| WireError::Malformed(format!("state chunk: {w}"));
    let (mut version, mut index, mut count, mut dig, mut data) = (None, None, None, None, None);
    for (tag, v) in fields(body).map_err(bad)? {
        match tag {
            C_VERSION => version = Some(whole_varint(v, "version").map_err(bad)?),
            C_INDEX => index = Some(whole_varint(v, "index").map_err(bad)?),
            C_COUNT => count = Some(whole_varint(v, "count").map_err(bad)?),
            C_DIGEST => dig = Some(u64::from_be_bytes(fixed::<8>(v, "digest").map_err(bad)?)),
            C_DATA => data = Some(v),
            _ => {}
        }
    }
    let (Some(version), Some(index), Some(count), Some(digest), Some(data)) = (version, index, count, dig, data) else {
        return Err(bad("a required field is missing".into()));
    };
    if count == 0 || count > MAX_CHUNKS as u64 || index >= count {
        return Err(bad(format!("chunk {index} of {count} (at most {MAX_CHUNKS} chunks)")));
    }
    if data.len() > CHUNK_DATA {
        return Err(bad(format!("{} data bytes (at most {CHUNK_DATA})", data.len())));
    }
    Ok(Chunk { version, index: index as u32, count: count as u32, digest, data: data.to_vec() })
}

// -------------------------------------------------------------- messages

/// The frame type and body of a message; `nodes` is the sender's node list.
pub fn encode_message<S: AsRef<str>>(m: &Message, nodes: &[S]) -> (u8, Vec<u8>) {
    match m {
        Message::Beat(b) => (MSG_BEAT, encode_beat(b, nodes)),
        Message::Chunk(c) => (MSG_STATE, encode_chunk(c)),
    }
}

/// Decodes the body of a frame of type `msg_type`; `nodes` is the
/// receiver's node list. A type this node does not know is `Ok(None)`:
/// skipped, like an unknown field.
pub fn decode_message<S: AsRef<str>>(msg_type: u8, body: &[u8], nodes: &[S]) -> Result<Option<Message>, WireError> {
    match msg_type {
        MSG_BEAT => decode_beat(body, nodes).map(|b| Some(Message::Beat(b))),
        MSG_STATE => decode_chunk(body).map(|c| Some(Message::Chunk(c))),
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------- helpers

/// The name table of one state, in first-use order.
#[derive(Default)]
struct Names<'a> {
    list: Vec<&'a str>,
    at: std::collections::HashMap<&'a str, u64>,
}

impl<'a> Names<'a> {
    fn add(&mut self, n: &'a str) {
        if !self.at.contains_key(n) {
            self.at.insert(n, self.list.len() as u64);
            self.list.push(n);
        }
    }
    fn index(&self, n: &str) -> u64 {
        // Every name was added before it is looked up.
        self.at.get(n).copied().unwrap_or(0)
    }
}

/// The unit state words a state carries: at most [`MAX_UNIT_WORDS`]
/// different ones (the last place is `?`'s), each at most
/// [`MAX_UNIT_WORD`] bytes; others are carried as `?`.
#[derive(Default)]
struct UnitWords<'a> {
    taken: std::collections::HashSet<&'a str>,
    /// Words taken as they are (not `?` for another).
    kept: usize,
}

impl<'a> UnitWords<'a> {
    const OTHER: &'static str = "?";
    /// Takes the words on in the state's order; returns what is carried for
    /// `w`: itself, or `?`.
    fn take(&mut self, w: &'a str) -> &'a str {
        if self.taken.contains(w) {
            return w;
        }
        let w = if w != Self::OTHER && w.len() <= MAX_UNIT_WORD && self.kept < MAX_UNIT_WORDS - 1 {
            self.kept += 1;
            w
        } else {
            Self::OTHER
        };
        self.taken.insert(w);
        w
    }
    fn carried<'b>(&self, w: &'b str) -> &'b str {
        if self.taken.contains(w) {
            w
        } else {
            Self::OTHER
        }
    }
}

/// Unit words past the bounds become `?` in a decoded state too, as
/// [`encode_state`] would carry them: a state that came in is the state
/// this node passes on and compares (a peer that keeps to the bounds never
/// sends them; one that does not must not make two views of one state).
fn carry_unit_words(groups: &mut [GroupReport]) {
    fn words(groups: &[GroupReport]) -> impl Iterator<Item = &String> {
        let units = groups.iter().flat_map(|g| &g.resources).filter_map(|r| match r {
            ResourceState::Unit(u) => Some([&u.active, &u.sub, &u.result]),
            _ => None,
        });
        units.flatten()
    }
    let kept: Vec<bool> = {
        let mut carried = UnitWords::default();
        words(groups).map(|w| carried.take(w) == w.as_str()).collect()
    };
    if kept.iter().all(|k| *k) {
        return;
    }
    let units = groups.iter_mut().flat_map(|g| &mut g.resources).filter_map(|r| match r {
        ResourceState::Unit(u) => Some(u),
        _ => None,
    });
    let mut kept = kept.into_iter();
    for u in units {
        for w in [&mut u.active, &mut u.sub, &mut u.result] {
            if kept.next() == Some(false) {
                *w = UnitWords::OTHER.to_string();
            }
        }
    }
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn unzigzag(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn field(out: &mut Vec<u8>, tag: u64, v: &[u8]) {
    put_varint(out, tag);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

fn field_varint(out: &mut Vec<u8>, tag: u64, v: u64) {
    let mut b = Vec::with_capacity(10);
    put_varint(&mut b, v);
    field(out, tag, &b);
}

/// Splits a body into (tag, value) fields.
fn fields(body: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let mut r = Reader { b: body, at: 0 };
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let tag = r.varint("field tag")?;
        let len = r.varint("field length")?;
        let len = usize::try_from(len).map_err(|_| "field length overflows".to_string())?;
        out.push((tag, r.take(len, "field")?));
    }
    Ok(out)
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], String> {
    v.try_into().map_err(|_| format!("{what} is {} bytes, not {N}", v.len()))
}

fn whole_varint(v: &[u8], what: &str) -> Result<u64, String> {
    let mut r = Reader { b: v, at: 0 };
    let x = r.varint(what)?;
    if r.remaining() != 0 {
        return Err(format!("{what}: {} bytes after the number", r.remaining()));
    }
    Ok(x)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!("ends inside the {what}"));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    /// Unsigned LEB128 of at most 64 bits.
    fn varint(&mut self, what: &str) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = self.u8(what)?;
            if i == 9 && byte > 1 {
                return Err(format!("{what} overflows 64 bits"));
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("{what} overflows 64 bits"))
    }

    /// A length-prefixed record; the rest of it, after what the caller
    /// reads, is skipped.
    fn record(&mut self, what: &str) -> Result<Reader<'a>, String> {
        let len = self.varint(&format!("{what} record length"))?;
        let len = usize::try_from(len).map_err(|_| format!("{what} record length overflows"))?;
        Ok(Reader { b: self.take(len, what)?, at: 0 })
    }

    fn str(&mut self) -> Result<String, String> {
        let len = self.varint("name length")?;
        let len = usize::try_from(len).map_err(|_| "name length overflows".to_string())?;
        let bytes = self.take(len, "name")?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a name is not valid UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_words_beyond_the_bounds_travel_as_a_question_mark() {
        let unit = |w: &str| {
            ResourceState::Unit(UnitState {
                active: "active".into(),
                sub: w.into(),
                result: "success".into(),
                exit_status: Some(-1),
            })
        };
        let long = "x".repeat(MAX_UNIT_WORD + 1);
        let mut resources = vec![unit("running"), unit(&long)];
        resources.extend((0..MAX_UNIT_WORDS).map(|i| unit(&format!("w{i}"))));
        let group = GroupReport {
            name: "web".into(),
            state: GroupState::Started,
            failed: false,
            failcount: 0,
            held_down: false,
            resources,
        };
        let got = decode_state(&encode_state(&State { groups: vec![group], intents: vec![] })).unwrap();
        let subs: Vec<&str> = got.groups[0]
            .resources
            .iter()
            .map(|r| match r {
                ResourceState::Unit(u) => u.sub.as_str(),
                _ => panic!("{r:?}"),
            })
            .collect();
        // "active", "running", "success": then 28 more fit, the 32nd place
        // is "?".
        assert_eq!(subs[..2], ["running", "?"]);
        assert_eq!(subs[2..30].to_vec(), (0..28).map(|i| format!("w{i}")).collect::<Vec<_>>());
        assert!(subs[30..].iter().all(|s| *s == "?"), "{subs:?}");
        let ResourceState::Unit(u) = &got.groups[0].resources[0] else { unreachable!() };
        assert_eq!(u.exit_status, Some(-1));
    }

    #[test]
    fn chunks_reassemble_in_any_order_with_duplicates() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut chunks = split_state(3, &data).unwrap();
        assert_eq!(chunks.len(), 9);
        chunks.reverse();
        chunks.insert(3, chunks[5].clone());
        let mut a = Assembly::new(1, &chunks[0]);
        let mut got = None;
        for c in chunks {
            assert!(a.matches(1, &c));
            assert!(got.is_none(), "completed early");
            got = a.add(c);
        }
        assert_eq!(got.unwrap(), data);
    }

    #[test]
    fn assembly_refuses_a_wrong_digest_and_other_versions() {
        let data = vec![5u8; 3000];
        let chunks = split_state(1, &data).unwrap();
        let other = split_state(2, &data).unwrap();
        let a = Assembly::new(1, &chunks[0]);
        assert!(!a.matches(1, &other[1]));
        assert!(!a.matches(2, &chunks[1]));
        let mut forged = chunks.clone();
        forged[2].data[0] ^= 1;
        let mut a = Assembly::new(1, &forged[0]);
        let mut done = None;
        for c in forged {
            done = a.add(c);
        }
        assert_eq!(done, None);
        assert_eq!(split_state(1, &[]).unwrap().len(), 1);
        assert!(split_state(1, &vec![0; MAX_STATE + 1]).is_err());
    }

    #[test]
    fn unknown_fields_flags_and_record_bytes_are_skipped() {
        let nodes = ["n1", "n2"];
        let beat = Beat {
            config_hash: 9,
            standby: false,
            leaving: false,
            idle: true,
            settled: true,
            ping: None,
            state_version: 4,
            acks: vec![Ack { node: "n2".into(), generation: 3, version: 2 }],
            up: vec!["n2".into()],
            full: true,
        };
        let mut b = encode_beat(&beat, &nodes);
        // A field from the future, in the middle and at the end.
        let mut extra = Vec::new();
        field(&mut extra, 99, b"from a newer release");
        b.splice(0..0, extra.iter().copied());
        b.extend_from_slice(&extra);
        assert_eq!(decode_beat(&b, &nodes).unwrap(), beat);

        let s = State {
            groups: vec![GroupReport {
                name: "web".into(),
                state: GroupState::Started,
                failed: false,
                failcount: 1,
                held_down: false,
                resources: vec![ResourceState::Started, ResourceState::Unknown],
            }],
            intents: vec![],
        };
        let mut e = encode_state(&s);
        field(&mut e, 42, &[1, 2, 3]);
        assert_eq!(decode_state(&e).unwrap(), s);
    }

    #[cfg(feature = "wire-extra-field")]
    #[test]
    fn the_test_only_extra_field_is_sent_and_skipped() {
        let nodes = ["n1".to_string(), "n2".to_string()];
        let beat = Beat {
            config_hash: 1,
            standby: false,
            leaving: false,
            idle: false,
            settled: true,
            ping: None,
            state_version: 3,
            acks: vec![],
            up: vec!["n2".into()],
            full: true,
        };
        let b = encode_beat(&beat, &nodes);
        assert!(fields(&b).unwrap().contains(&(EXTRA_FIELD.0, EXTRA_FIELD.1)));
        assert_eq!(decode_beat(&b, &nodes).unwrap(), beat);
        let c = Chunk { version: 1, index: 0, count: 1, digest: 9, data: vec![1; CHUNK_DATA] };
        let e = encode_chunk(&c);
        assert!(e.len() <= MAX_BODY);
        assert_eq!(decode_chunk(&e).unwrap(), c);
    }

    #[test]
    fn a_foreign_node_list_makes_a_beat_liveness_only() {
        let beat = Beat {
            config_hash: 1,
            standby: false,
            leaving: false,
            idle: false,
            settled: true,
            ping: Some(2),
            state_version: 7,
            acks: vec![Ack { node: "n1".into(), generation: 1, version: 1 }],
            up: vec!["n1".into()],
            full: true,
        };
        let b = encode_beat(&beat, &["n1", "n2"]);
        assert_eq!(decode_beat(&b, &["n1", "n2", "n3"]).unwrap(), beat.liveness_only());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 1;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_beat(&bytes, &["a", "b"]);
            let _ = decode_state(&bytes);
            let _ = decode_chunk(&bytes);
        }
    }
}
