//! Binary encoding of a [`Heartbeat`], the body of a [`MSG_HEARTBEAT`] frame.
//!
//! Layout (version 1 of the frame format), `varint` = unsigned LEB128 in its
//! shortest form, `str` = varint byte length + UTF-8 bytes:
//!
//! ```text
//! u64 BE   config_hash
//! u8       flags: 0x01 standby, 0x02 leaving, 0x04 ping present (others 0)
//! [varint  ping]                      if 0x04 (a u32)
//! varint   name count, then that many `str`: a table of every name
//!          (node or group) the body mentions; `name#` below is an index in it
//! varint   group count, each:  name#, u8 state code, u8 flags (0x01 failed, 0x02 held
//!            down: blocked on a node the sender cannot hear; others 0), varint failcount (u32)
//! varint   intent count, each: varint serial, origin name#, u8 kind, then
//!            1 Standby:          node name#, u8 on (0|1)
//!            2 Location unpin:   group name#
//!            3 Location pin:     group name#, node name#
//!            4 Cleanup:          group name#
//! varint   ack count, each:    node name#, varint generation, varint seq
//! varint   up count, each:     node name# (peers the sender hears)
//! ```
//!
//! Nothing may follow. Each name is sent once however often it is referenced.
//!
//! # Size bound
//!
//! With `N` distinct node names, `G` groups, `I` intents, `A` acks, `U` peers
//! heard and every name at most [`MAX_NAME`] = 64 bytes, the body is at most
//! `19 + (N + G) * 65 + 8 G + 14 I + 21 A + U` bytes even with every integer
//! at its maximum. For 5 nodes, 8 groups, 10 intents, 5 acks and 5 peers that
//! is 1178 bytes, within [`MAX_BODY`] (1270), so such a heartbeat always fits one
//! frame whatever the sender's name. Realistic heartbeats (short names, small
//! counters) are far smaller. [`encode_heartbeat`] itself never fails: a
//! heartbeat too large for one frame is reported by
//! [`Codec::seal`](super::Codec::seal) as [`WireError::BodyTooLarge`].
//!
//! Decoding never panics, and no count or length field is trusted: each is
//! checked against the bytes that remain before anything is read or
//! allocated. A name referenced several times is cloned per reference, so
//! the worst case is quadratic in the body size: under 2 MiB for the largest
//! body a frame can carry (and bodies are only decoded once their frame has
//! been authenticated).
//!
//! [`MSG_HEARTBEAT`]: super::MSG_HEARTBEAT
//! [`MAX_BODY`]: super::MAX_BODY

use super::error::WireError;
use crate::core::msg::{Ack, GroupReport, GroupState, Heartbeat, Intent, IntentKind};

/// Longest node or group name the size bound above assumes. The wire format
/// itself carries longer names; configuration should not allow them.
pub const MAX_NAME: usize = 64;

const F_STANDBY: u8 = 0x01;
const F_LEAVING: u8 = 0x02;
const F_PING: u8 = 0x04;

const G_FAILED: u8 = 0x01;
const G_HELD_DOWN: u8 = 0x02;

const K_STANDBY: u8 = 1;
const K_UNPIN: u8 = 2;
const K_PIN: u8 = 3;
const K_CLEANUP: u8 = 4;

/// Encodes a heartbeat. Total: every `Heartbeat` has an encoding, and
/// [`decode_heartbeat`] returns it unchanged. See the module docs for the
/// size bound.
pub fn encode_heartbeat(hb: &Heartbeat) -> Vec<u8> {
    let mut names = Names::default();
    for g in &hb.groups {
        names.add(&g.name);
    }
    for i in &hb.intents {
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
    for a in &hb.acks {
        names.add(&a.node);
    }
    for n in &hb.up {
        names.add(n);
    }

    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&hb.config_hash.to_be_bytes());
    let mut flags = 0;
    if hb.standby {
        flags |= F_STANDBY;
    }
    if hb.leaving {
        flags |= F_LEAVING;
    }
    if hb.ping.is_some() {
        flags |= F_PING;
    }
    out.push(flags);
    if let Some(p) = hb.ping {
        put_varint(&mut out, p.into());
    }

    put_varint(&mut out, names.list.len() as u64);
    for n in &names.list {
        put_str(&mut out, n);
    }

    put_varint(&mut out, hb.groups.len() as u64);
    for g in &hb.groups {
        put_varint(&mut out, names.index(&g.name));
        out.push(g.state.code());
        out.push((u8::from(g.failed) * G_FAILED) | (u8::from(g.held_down) * G_HELD_DOWN));
        put_varint(&mut out, g.failcount.into());
    }

    put_varint(&mut out, hb.intents.len() as u64);
    for i in &hb.intents {
        put_varint(&mut out, i.serial);
        put_varint(&mut out, names.index(&i.origin));
        match &i.kind {
            IntentKind::Standby { node, on } => {
                out.push(K_STANDBY);
                put_varint(&mut out, names.index(node));
                out.push(u8::from(*on));
            }
            IntentKind::Location { group, node: None } => {
                out.push(K_UNPIN);
                put_varint(&mut out, names.index(group));
            }
            IntentKind::Location { group, node: Some(node) } => {
                out.push(K_PIN);
                put_varint(&mut out, names.index(group));
                put_varint(&mut out, names.index(node));
            }
            IntentKind::Cleanup { group } => {
                out.push(K_CLEANUP);
                put_varint(&mut out, names.index(group));
            }
        }
    }

    put_varint(&mut out, hb.acks.len() as u64);
    for a in &hb.acks {
        put_varint(&mut out, names.index(&a.node));
        put_varint(&mut out, a.generation);
        put_varint(&mut out, a.seq);
    }

    put_varint(&mut out, hb.up.len() as u64);
    for n in &hb.up {
        put_varint(&mut out, names.index(n));
    }
    out
}

/// Decodes a heartbeat body. Any input that is not exactly one encoding
/// (bad tag values, out-of-range indexes, non-shortest varints, invalid
/// UTF-8, trailing bytes, truncation) is a [`WireError::Malformed`].
pub fn decode_heartbeat(body: &[u8]) -> Result<Heartbeat, WireError> {
    let mut r = Reader { b: body, at: 0 };
    let config_hash = r.u64_be("config hash")?;
    let flags = r.u8("flags")?;
    if flags & !(F_STANDBY | F_LEAVING | F_PING) != 0 {
        return Err(bad(format!("unknown flags {flags:#04x}")));
    }
    let ping = if flags & F_PING != 0 { Some(r.u32("ping count")?) } else { None };

    let n = r.count("name")?;
    let mut names = Vec::new();
    for _ in 0..n {
        names.push(r.str()?);
    }
    let name = |r: &mut Reader, what: &str| -> Result<String, WireError> {
        let i = r.varint(what)?;
        usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i))
            .cloned()
            .ok_or_else(|| bad(format!("{what} refers to name #{i}, but only {} are listed", names.len())))
    };

    let n = r.count("group")?;
    let mut groups = Vec::new();
    for _ in 0..n {
        let gname = name(&mut r, "group name")?;
        let code = r.u8("group state")?;
        let state = GroupState::from_code(code).ok_or_else(|| bad(format!("unknown group state {code}")))?;
        let flags = r.u8("group flags")?;
        if flags & !(G_FAILED | G_HELD_DOWN) != 0 {
            return Err(bad(format!("group flags 0x{flags:02x} has unknown bits")));
        }
        let failcount = r.u32("failcount")?;
        groups.push(GroupReport {
            name: gname,
            state,
            failed: flags & G_FAILED != 0,
            failcount,
            held_down: flags & G_HELD_DOWN != 0,
        });
    }

    let n = r.count("intent")?;
    let mut intents = Vec::new();
    for _ in 0..n {
        let serial = r.varint("intent serial")?;
        let origin = name(&mut r, "intent origin")?;
        let kind = match r.u8("intent kind")? {
            K_STANDBY => {
                let node = name(&mut r, "standby node")?;
                let on = r.bool("standby flag")?;
                IntentKind::Standby { node, on }
            }
            K_UNPIN => IntentKind::Location { group: name(&mut r, "location group")?, node: None },
            K_PIN => {
                let group = name(&mut r, "location group")?;
                let node = name(&mut r, "location node")?;
                IntentKind::Location { group, node: Some(node) }
            }
            K_CLEANUP => IntentKind::Cleanup { group: name(&mut r, "cleanup group")? },
            k => return Err(bad(format!("unknown intent kind {k}"))),
        };
        intents.push(Intent { serial, origin, kind });
    }

    let n = r.count("ack")?;
    let mut acks = Vec::new();
    for _ in 0..n {
        let node = name(&mut r, "ack node")?;
        let generation = r.varint("ack generation")?;
        let seq = r.varint("ack sequence")?;
        acks.push(Ack { node, generation, seq });
    }

    let n = r.count("up")?;
    let mut up = Vec::new();
    for _ in 0..n {
        up.push(name(&mut r, "up node")?);
    }

    if r.at != body.len() {
        return Err(bad(format!("{} bytes after the last peer", body.len() - r.at)));
    }
    Ok(Heartbeat {
        config_hash,
        standby: flags & F_STANDBY != 0,
        leaving: flags & F_LEAVING != 0,
        ping,
        groups,
        intents,
        acks,
        up,
    })
}

fn bad(what: String) -> WireError {
    WireError::Malformed(format!("heartbeat body: {what}"))
}

/// The name table of one body, in first-use order.
#[derive(Default)]
struct Names<'a> {
    list: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn add(&mut self, n: &'a str) {
        if !self.list.contains(&n) {
            self.list.push(n);
        }
    }
    fn index(&self, n: &str) -> u64 {
        // Every name was added before it is looked up.
        self.list.iter().position(|x| *x == n).unwrap_or(0) as u64
    }
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

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], WireError> {
        if n > self.remaining() {
            return Err(bad(format!("ends inside the {what}")));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn bool(&mut self, what: &str) -> Result<bool, WireError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(format!("{what} is {v}, not 0 or 1"))),
        }
    }

    fn u64_be(&mut self, what: &str) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }

    /// Unsigned LEB128, shortest form only.
    fn varint(&mut self, what: &str) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(bad(format!("{what} overflows 64 bits")));
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(bad(format!("{what} is not in shortest form")));
                }
                return Ok(v);
            }
        }
        Err(bad(format!("{what} overflows 64 bits")))
    }

    fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| bad(format!("{what} {v} overflows 32 bits")))
    }

    /// A count of entries that take at least one byte each: never more than
    /// the bytes left, so a forged count cannot make us loop or allocate.
    fn count(&mut self, what: &str) -> Result<usize, WireError> {
        let n = self.varint(&format!("{what} count"))?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(bad(format!("{n} {what}s announced, only {} bytes left", self.remaining()))),
        }
    }

    fn str(&mut self) -> Result<String, WireError> {
        let len = self.varint("name length")?;
        let len = usize::try_from(len).map_err(|_| bad("name length overflows".into()))?;
        let bytes = self.take(len, "name")?;
        String::from_utf8(bytes.to_vec()).map_err(|_| bad("a name is not valid UTF-8".into()))
    }
}
