//! The TOML file: raw serde structs (strict: unknown keys are errors), then
//! conversion and validation into the typed model. Every error points at a
//! line and column, names the key and says what to do.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::alert_time::{render_timestamp, DEFAULT_TIMESTAMP_FORMAT, MAX_TIMESTAMP_FORMAT};
use super::check::{self, Check, NodeCheck, Probe};
use super::error::{line_col, ConfigError};
use super::{
    Alert, AlertKind, Cluster, Config, Fencing, Garp, Group, Link, LinkKind, Listen, Metrics, NodeConf, Ping, Resource,
    Respawn,
};

/// Unit name suffixes systemd knows; a unit name must end in one of them.
pub const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".timer",
    ".path",
    ".slice",
    ".scope",
    ".device",
];

pub(crate) const DEFAULT_KEEPALIVE: Duration = Duration::from_millis(200);
pub(crate) const DEFAULT_WARNTIME: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_DEADTIME: Duration = Duration::from_secs(2);
pub(crate) const DEFAULT_INITDEAD: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_PORT: u16 = 694;
pub(crate) const DEFAULT_MCAST_PORT: u16 = 694;
pub(crate) const DEFAULT_MCAST_TTL: u32 = 1;
pub(crate) const DEFAULT_BAUD: u32 = 19200;
pub(crate) const DEFAULT_MIGRATION_THRESHOLD: u32 = 3;
pub(crate) const DEFAULT_FAILURE_TIMEOUT: Duration = Duration::from_secs(600);
pub(crate) const MAX_KEEPALIVE: Duration = Duration::from_secs(60);
pub(crate) const MAX_DEADTIME: Duration = Duration::from_secs(600);
pub(crate) const MAX_INITDEAD: Duration = Duration::from_secs(3600);
/// How long one run of an alert agent may take unless `timeout` says.
pub const DEFAULT_ALERT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest an alert agent may be given.
pub(crate) const MAX_ALERT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest start/stop deadline a resource may set.
pub(crate) const MAX_OP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Default for Garp {
    fn default() -> Self {
        Garp { count: 5, interval: Duration::from_millis(200), repeat_after: Duration::from_secs(5) }
    }
}

impl Ping {
    /// No ping hosts, probe every second, unreachable after a second.
    pub fn with_defaults() -> Self {
        Ping { hosts: Vec::new(), interval: Duration::from_secs(1), timeout: Duration::from_secs(1) }
    }
}

/// Read and validate `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// Parse and validate `text`; `path` is used in messages and kept in
/// [`Config::path`].
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Use what could be parsed to name the key near the error.
            let (partial, _) = DeTable::parse_recoverable(text);
            let spans = SpanIndex::new(&partial);
            return Err(syntax_error(text, path, &spans, &e));
        }
    };
    let ctx = Ctx { path, text, spans: SpanIndex::new(&doc) };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Err(ctx.serde_error(&e)),
    };
    ctx.convert(raw)
}

fn syntax_error(text: &str, path: &Path, spans: &SpanIndex, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let at = span.start;
    let (line, column) = line_col(text, at);
    let mut detail = one_line(e.message());
    if detail.starts_with("duplicate key") {
        let dup = text.get(span).unwrap_or("").trim().trim_start_matches('[').trim_end_matches(']');
        detail = format!("duplicate key `{dup}`; remove or merge the repeated one");
    }
    let key = spans.key_at(at).map(|k| k.to_string()).unwrap_or_default();
    let message =
        if key.is_empty() { format!("invalid TOML: {detail}") } else { format!("{key}: invalid TOML: {detail}") };
    ConfigError::At { path: path.to_path_buf(), line, column, key, message }
}

fn one_line(s: &str) -> String {
    s.trim().lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

// ---------------------------------------------------------------------------
// Keys and spans

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted key such as `group[0].resources[1].vip`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Key(Vec<Seg>);

impl Key {
    fn root(name: &str) -> Key {
        Key(vec![Seg::Key(name.to_string())])
    }
    fn k(&self, name: &str) -> Key {
        let mut v = self.0.clone();
        v.push(Seg::Key(name.to_string()));
        Key(v)
    }
    fn i(&self, index: usize) -> Key {
        let mut v = self.0.clone();
        v.push(Seg::Index(index));
        Key(v)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

struct Entry {
    key: Key,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
}

/// Where every key and value of the document is.
struct SpanIndex {
    entries: Vec<Entry>,
}

impl SpanIndex {
    fn new(doc: &Spanned<DeTable<'_>>) -> SpanIndex {
        let mut entries = Vec::new();
        walk_table(doc.get_ref(), &Key::default(), &mut entries);
        SpanIndex { entries }
    }

    /// The span of `key`'s value, or of its nearest ancestor present in
    /// the file; `true` if `key` itself is present.
    fn lookup(&self, key: &Key) -> (Range<usize>, bool) {
        for len in (1..=key.0.len()).rev() {
            let prefix = &key.0[..len];
            if let Some(e) = self.entries.iter().find(|e| e.key.0 == prefix) {
                return (e.value_span.clone(), len == key.0.len());
            }
        }
        (0..0, false)
    }

    /// The innermost key whose key or value covers byte `at`.
    fn key_at(&self, at: usize) -> Option<&Key> {
        let covers = |r: &Range<usize>| r.start <= at && (at < r.end || r.is_empty() && at == r.start);
        let mut best: Option<(&Entry, usize)> = None;
        for e in &self.entries {
            for span in e.key_span.iter().chain(std::iter::once(&e.value_span)) {
                if covers(span) {
                    let len = span.end - span.start;
                    // On a tie the later (inner) entry wins.
                    if best.is_none_or(|(_, l)| len <= l) {
                        best = Some((e, len));
                    }
                }
            }
        }
        best.map(|(e, _)| &e.key)
    }
}

fn walk_table(table: &DeTable<'_>, prefix: &Key, out: &mut Vec<Entry>) {
    for (k, v) in table.iter() {
        let key = prefix.k(k.get_ref());
        out.push(Entry { key: key.clone(), key_span: Some(k.span()), value_span: v.span() });
        walk_value(v.get_ref(), &key, out);
    }
}

fn walk_value(value: &DeValue<'_>, key: &Key, out: &mut Vec<Entry>) {
    match value {
        DeValue::Table(t) => walk_table(t, key, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = key.i(i);
                out.push(Entry { key: key.clone(), key_span: None, value_span: item.span() });
                walk_value(item.get_ref(), &key, out);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Raw structs: what serde reads

/// Marks a message from [`Dur`], to be shown as `KEY = VALUE message`.
const DUR_MARK: &str = "\u{1}";

/// A duration written with a unit ("200ms", "2s"); a bare number is refused.
#[derive(Clone, Copy, Debug)]
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"2s\" or \"200ms\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                humantime::parse_duration(s).map(Dur).map_err(|e| {
                    E::custom(format!(
                        "{DUR_MARK}is not a duration ({e}); write it with a unit, e.g. \"2s\" or \"200ms\""
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Dur, E> {
                Err(E::custom(format!("{DUR_MARK}has no unit; write it with a unit, e.g. \"2s\"")))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Dur, E> {
                Err(E::custom(format!("{DUR_MARK}has no unit; write it with a unit, e.g. \"2s\"")))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Dur, E> {
                Err(E::custom(format!("{DUR_MARK}has no unit; write it with a unit, e.g. \"2s\"")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cluster: Option<RawCluster>,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    link: Vec<RawLink>,
    ping: Option<RawPing>,
    garp: Option<RawGarp>,
    #[serde(default)]
    group: Vec<RawGroup>,
    #[serde(default)]
    respawn: Vec<RawRespawn>,
    #[serde(default)]
    node_check: Vec<RawNodeCheck>,
    metrics: Option<RawMetrics>,
    #[serde(default)]
    alert: Vec<RawAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    path: Option<String>,
    recipient: Option<String>,
    timeout: Option<Dur>,
    select: Option<Vec<String>>,
    options: Option<toml::Table>,
    timestamp_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Option<String>,
    keepalive: Option<Dur>,
    warntime: Option<Dur>,
    deadtime: Option<Dur>,
    initdead: Option<Dur>,
    port: Option<u16>,
    auto_failback: Option<bool>,
    auth_key: Option<String>,
    migration_threshold: Option<u32>,
    fencing: Option<RawFencing>,
    failure_timeout: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawFencing {
    Off,
    Required,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawLinkType {
    Ucast,
    Bcast,
    Mcast,
    Serial,
}

impl RawLinkType {
    fn as_str(self) -> &'static str {
        match self {
            RawLinkType::Ucast => "ucast",
            RawLinkType::Bcast => "bcast",
            RawLinkType::Mcast => "mcast",
            RawLinkType::Serial => "serial",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<RawLinkType>,
    interface: Option<String>,
    peers: Option<Vec<String>>,
    port: Option<u16>,
    group: Option<String>,
    ttl: Option<u32>,
    device: Option<String>,
    baud: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPing {
    hosts: Option<Vec<String>>,
    interval: Option<Dur>,
    timeout: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGarp {
    count: Option<u32>,
    interval: Option<Dur>,
    repeat_after: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Option<String>,
    preferred: Option<String>,
    resources: Option<Vec<RawResource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    vip: Option<String>,
    interface: Option<String>,
    unit: Option<String>,
    timeout: Option<Dur>,
    check: Option<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    http: Option<String>,
    tcp: Option<String>,
    unit: Option<String>,
    expect: Option<u16>,
    interval: Option<Dur>,
    timeout: Option<Dur>,
    rise: Option<u32>,
    fall: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeCheck {
    name: Option<String>,
    check: Option<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRespawn {
    unit: Option<String>,
}

// ---------------------------------------------------------------------------
// Validation

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    spans: SpanIndex,
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Ctx<'_> {
    fn at(&self, offset: usize, key: String, message: String) -> ConfigError {
        let (line, column) = line_col(self.text, offset);
        ConfigError::At { path: self.path.to_path_buf(), line, column, key, message }
    }

    /// An error about `key`; `message` is the whole sentence.
    fn err(&self, key: &Key, message: String) -> ConfigError {
        let (span, _) = self.spans.lookup(key);
        self.at(span.start, key.to_string(), message)
    }

    /// `KEY = VALUE REST`, quoting the value as written in the file, or
    /// `shown` with "(the default)" when the key is not in the file.
    fn bad(&self, key: &Key, shown: &str, rest: &str) -> ConfigError {
        let (span, exact) = self.spans.lookup(key);
        let message = if exact {
            format!("{key} = {} {rest}", self.text[span.clone()].trim())
        } else {
            format!("{key} = {shown} (the default) {rest}")
        };
        self.at(span.start, key.to_string(), message)
    }

    fn missing(&self, key: &Key, what_to_do: &str) -> ConfigError {
        self.err(key, format!("{key} is missing; {what_to_do}"))
    }

    fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let at = e.span().map_or(0, |s| s.start);
        let key = self.spans.key_at(at).cloned().unwrap_or_default();
        let msg = one_line(e.message());
        let message = if let Some(rest) = msg.strip_prefix("unknown field ") {
            // "unknown field `x`, expected one of `a`, `b`"
            let expected = rest.split_once(", expected ").map(|(_, x)| x).unwrap_or("");
            let expected = expected.replace('`', "");
            if expected.is_empty() || expected == "there are no fields" {
                format!("{key}: unknown key; remove it")
            } else {
                format!("{key}: unknown key; check the spelling (expected {expected}) or remove it")
            }
        } else if let Some(rest) = msg.strip_prefix("unknown variant ") {
            let expected = rest.split_once(", expected ").map(|(_, x)| x).unwrap_or("");
            format!("{key}: unknown value {}; use {}", self.value_text(&key), expected.replace('`', "\""))
        } else if let Some(rest) = msg.strip_prefix(DUR_MARK) {
            format!("{key} = {} {rest}", self.value_text(&key))
        } else if key.0.is_empty() {
            msg
        } else {
            format!("{key}: {msg}")
        };
        self.at(at, key.to_string(), message)
    }

    fn value_text(&self, key: &Key) -> String {
        match self.spans.lookup(key) {
            (span, true) => self.text[span].trim().to_string(),
            _ => String::new(),
        }
    }

    fn convert(&self, raw: RawFile) -> Result<Config, ConfigError> {
        let cluster = self.cluster(raw.cluster)?;
        let nodes = self.nodes(raw.node)?;
        let links = self.links(raw.link, cluster.port)?;
        let ping = self.ping(raw.ping)?;
        let garp = self.garp(raw.garp)?;
        let groups = self.groups(raw.group, &nodes)?;
        let respawn = self.respawn(raw.respawn, &groups)?;
        let node_checks = self.node_checks(raw.node_check, &groups)?;
        let metrics = self.metrics(raw.metrics)?;
        let alerts = self.alerts(raw.alert)?;
        self.limits(&cluster, &nodes, &links, &groups)?;
        Ok(Config {
            path: self.path.to_path_buf(),
            cluster,
            nodes,
            links,
            ping,
            garp,
            groups,
            respawn,
            node_checks,
            metrics,
            alerts,
        })
    }

    /// What the wire format can carry: refuse a file beyond it before it is
    /// deployed, naming the limit (see src/wire/body.rs).
    fn limits(
        &self,
        cluster: &Cluster,
        nodes: &[NodeConf],
        links: &[Link],
        groups: &[Group],
    ) -> Result<(), ConfigError> {
        use crate::wire;
        if nodes.len() > wire::MAX_NODES {
            return Err(self.err(
                &Key::root("node").i(wire::MAX_NODES),
                format!(
                    "node: {} nodes; a cluster has at most {} (every heartbeat acknowledges each peer and must fit one frame)",
                    nodes.len(),
                    wire::MAX_NODES
                ),
            ));
        }
        let bound = wire::state_bound(
            nodes.iter().map(|n| n.name.as_str()),
            groups.iter().map(|g| (g.name.as_str(), g.resources.len())),
        );
        if bound > wire::MAX_STATE {
            // How many groups with names of 63 characters and as many
            // resources as the largest here would fit.
            let long = "x".repeat(63);
            let most = groups.iter().map(|g| g.resources.len()).max().unwrap_or(0);
            // (The bound grows with the number of groups.)
            let counts: Vec<usize> = (0..=groups.len()).collect();
            let fit = counts
                .partition_point(|&g| {
                    wire::state_bound(nodes.iter().map(|n| n.name.as_str()), (0..g).map(|_| (long.as_str(), most)))
                        <= wire::MAX_STATE
                })
                .saturating_sub(1);
            return Err(self.err(
                &Key::root("group"),
                format!(
                    "group: {} groups need up to {bound} bytes of replicated state per node, more than the limit of {} bytes ({} chunks of {}); use fewer groups, fewer resources per group or shorter names (with {} nodes, {fit} groups of {most} {} with names of 63 characters fit)",
                    groups.len(),
                    wire::MAX_STATE,
                    wire::MAX_CHUNKS,
                    wire::CHUNK_DATA,
                    nodes.len(),
                    if most == 1 { "resource" } else { "resources" }
                ),
            ));
        }
        // A serial link carries the liveness-only beat, one per keepalive,
        // and may use at most half the line for it.
        let longest = nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        let beat = wire::serial_len(wire::FRAME_OVERHEAD + longest + wire::LIVENESS_BEAT_MAX);
        for (i, l) in links.iter().enumerate() {
            let LinkKind::Serial { baud, .. } = l.kind else { continue };
            // 10 bits a byte (8N1).
            let takes = Duration::from_micros(beat as u64 * 10 * 1_000_000 / u64::from(baud));
            if takes * 2 > cluster.keepalive {
                return Err(self.bad(
                    &Key::root("link").i(i).k("baud"),
                    &baud.to_string(),
                    &format!(
                        "is too slow for keepalive = {}: a heartbeat takes up to {beat} bytes ({} ms at {baud} baud) and may use at most half the line; raise baud or keepalive",
                        fmt_dur(cluster.keepalive),
                        takes.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn cluster(&self, raw: Option<RawCluster>) -> Result<Cluster, ConfigError> {
        let k = Key::root("cluster");
        let Some(raw) = raw else {
            return Err(self.err(
                &k,
                "cluster: the [cluster] table is missing; add one with at least name = \"mycluster\"".to_string(),
            ));
        };
        let name = match raw.name {
            None => {
                return Err(self.missing(
                    &k.k("name"),
                    "add name = \"mycluster\" to [cluster] (nodes ignore frames from other cluster names)",
                ))
            }
            Some(n) => n,
        };
        if !valid_name(&name) {
            return Err(self.bad(&k.k("name"), &format!("{name:?}"), NAME_RULE));
        }
        let keepalive = raw.keepalive.map_or(DEFAULT_KEEPALIVE, |d| d.0);
        let warntime = raw.warntime.map_or(DEFAULT_WARNTIME, |d| d.0);
        let deadtime = raw.deadtime.map_or(DEFAULT_DEADTIME, |d| d.0);
        let initdead = raw.initdead.map_or(DEFAULT_INITDEAD, |d| d.0);
        let q = |d: Duration| format!("\"{}\"", fmt_dur(d));
        if keepalive.is_zero() {
            return Err(self.bad(&k.k("keepalive"), &q(keepalive), "must be more than 0; e.g. \"200ms\""));
        }
        // Upper bounds keep every sum of times the core forms far from
        // overflowing, and nobody runs a heartbeat slower than these.
        for (key, d, max) in [
            ("keepalive", keepalive, MAX_KEEPALIVE),
            ("warntime", warntime, MAX_DEADTIME),
            ("deadtime", deadtime, MAX_DEADTIME),
            ("initdead", initdead, MAX_INITDEAD),
        ] {
            if d > max {
                return Err(self.bad(&k.k(key), &q(d), &format!("must be at most {}", fmt_dur(max))));
            }
        }
        if deadtime <= keepalive * 2 {
            return Err(self.bad(
                &k.k("deadtime"),
                &q(deadtime),
                &format!("must be more than 2 × keepalive ({}); raise deadtime or lower keepalive", fmt_dur(keepalive)),
            ));
        }
        if initdead < deadtime {
            return Err(self.bad(
                &k.k("initdead"),
                &q(initdead),
                &format!(
                    "must be at least deadtime ({}); raise initdead (peers may take a while to boot)",
                    fmt_dur(deadtime)
                ),
            ));
        }
        if warntime <= keepalive || warntime >= deadtime {
            return Err(self.bad(
                &k.k("warntime"),
                &q(warntime),
                &format!(
                    "must be between keepalive ({}) and deadtime ({}); e.g. half of deadtime",
                    fmt_dur(keepalive),
                    fmt_dur(deadtime)
                ),
            ));
        }
        let port = raw.port.unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(self.bad(&k.k("port"), "0", "is not a usable UDP port; use e.g. 694"));
        }
        let auth_key = PathBuf::from(raw.auth_key.unwrap_or_else(|| super::DEFAULT_AUTH_KEY.to_string()));
        if !auth_key.is_absolute() {
            return Err(self.bad(&k.k("auth_key"), "", "must be an absolute path, e.g. \"/etc/hbd/authkey\""));
        }
        let migration_threshold = raw.migration_threshold.unwrap_or(DEFAULT_MIGRATION_THRESHOLD);
        if migration_threshold == 0 {
            return Err(self.bad(
                &k.k("migration_threshold"),
                "0",
                "must be at least 1 (unit failures before the group moves); e.g. 3",
            ));
        }
        let fencing = match raw.fencing {
            None | Some(RawFencing::Off) => Fencing::Off,
            Some(RawFencing::Required) => Fencing::Required,
        };
        let failure_timeout = raw.failure_timeout.map_or(DEFAULT_FAILURE_TIMEOUT, |d| d.0);
        if failure_timeout > MAX_OP_TIMEOUT * 1000 {
            return Err(self.bad(
                &k.k("failure_timeout"),
                &q(failure_timeout),
                "is too long; use \"0\" for fail counts that never expire",
            ));
        }
        Ok(Cluster {
            name,
            keepalive,
            warntime,
            deadtime,
            initdead,
            port,
            auto_failback: raw.auto_failback.unwrap_or(true),
            auth_key,
            migration_threshold,
            fencing,
            failure_timeout,
        })
    }

    fn nodes(&self, raw: Vec<RawNode>) -> Result<Vec<NodeConf>, ConfigError> {
        let k = Key::root("node");
        if raw.is_empty() {
            return Err(self.err(
                &k,
                "node: no [[node]] tables; add one per cluster member, e.g. [[node]] name = \"n1\"".to_string(),
            ));
        }
        let mut nodes: Vec<NodeConf> = Vec::new();
        for (i, n) in raw.into_iter().enumerate() {
            let key = k.i(i).k("name");
            let Some(name) = n.name else {
                return Err(self.missing(&key, "set it to the node's hostname, e.g. name = \"n1\""));
            };
            if !valid_name(&name) {
                return Err(self.bad(&key, "", NODE_NAME_RULE));
            }
            if let Some(j) = nodes.iter().position(|o| o.name == name) {
                return Err(self.bad(&key, "", &format!("is already node[{j}]; node names must be unique")));
            }
            nodes.push(NodeConf { name });
        }
        Ok(nodes)
    }

    fn links(&self, raw: Vec<RawLink>, cluster_port: u16) -> Result<Vec<Link>, ConfigError> {
        let k = Key::root("link");
        if raw.is_empty() {
            return Err(self.err(
                &k,
                "link: no [[link]] tables; add at least one, e.g. [[link]] name = \"lan\" type = \"bcast\" interface = \"eth0\""
                    .to_string(),
            ));
        }
        let mut links: Vec<Link> = Vec::new();
        for (i, l) in raw.into_iter().enumerate() {
            let lk = k.i(i);
            let Some(name) = l.name.clone() else {
                return Err(self.missing(&lk.k("name"), "give the link a name, e.g. name = \"hb\""));
            };
            if !valid_name(&name) {
                return Err(self.bad(&lk.k("name"), "", NAME_RULE));
            }
            if let Some(j) = links.iter().position(|o| o.name == name) {
                return Err(self.bad(&lk.k("name"), "", &format!("is already link[{j}]; link names must be unique")));
            }
            let Some(ty) = l.kind else {
                return Err(self.missing(&lk.k("type"), "set type = \"ucast\", \"bcast\", \"mcast\" or \"serial\""));
            };
            // Keys that do not apply to this type are mistakes, not noise.
            let present = [
                ("interface", l.interface.is_some(), &[RawLinkType::Ucast, RawLinkType::Bcast, RawLinkType::Mcast][..]),
                ("peers", l.peers.is_some(), &[RawLinkType::Ucast][..]),
                ("port", l.port.is_some(), &[RawLinkType::Ucast, RawLinkType::Bcast, RawLinkType::Mcast][..]),
                ("group", l.group.is_some(), &[RawLinkType::Mcast][..]),
                ("ttl", l.ttl.is_some(), &[RawLinkType::Mcast][..]),
                ("device", l.device.is_some(), &[RawLinkType::Serial][..]),
                ("baud", l.baud.is_some(), &[RawLinkType::Serial][..]),
            ];
            for (key, set, types) in present {
                if set && !types.contains(&ty) {
                    let kinds: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                    return Err(self.err(
                        &lk.k(key),
                        format!(
                            "{} does not apply to a {} link (only {}); remove it",
                            lk.k(key),
                            ty.as_str(),
                            kinds.join(", ")
                        ),
                    ));
                }
            }
            let interface = |l: &RawLink| -> Result<String, ConfigError> {
                let Some(iface) = l.interface.clone() else {
                    return Err(self.missing(
                        &lk.k("interface"),
                        &format!(
                            "a {} link needs the network interface to use, e.g. interface = \"eth0\"",
                            ty.as_str()
                        ),
                    ));
                };
                if !valid_interface(&iface) {
                    return Err(self.bad(&lk.k("interface"), "", INTERFACE_RULE));
                }
                Ok(iface)
            };
            let port = |default: u16| -> Result<u16, ConfigError> {
                match l.port {
                    Some(0) => Err(self.bad(&lk.k("port"), "0", "is not a usable UDP port; use e.g. 694")),
                    Some(p) => Ok(p),
                    None => Ok(default),
                }
            };
            let kind = match ty {
                RawLinkType::Ucast => {
                    let interface = interface(&l)?;
                    let peers_raw = l.peers.clone().unwrap_or_default();
                    if peers_raw.is_empty() {
                        return Err(self.err(
                            &lk.k("peers"),
                            format!(
                                "{}: a ucast link needs peers, the addresses of the nodes on this link (own address is skipped), e.g. peers = [\"10.0.0.1\", \"10.0.0.2\"]",
                                lk.k("peers")
                            ),
                        ));
                    }
                    let mut peers = Vec::new();
                    for (j, p) in peers_raw.iter().enumerate() {
                        match p.trim().parse::<IpAddr>() {
                            Ok(a) => peers.push(a),
                            Err(_) => {
                                return Err(self.bad(
                                    &lk.k("peers").i(j),
                                    "",
                                    "is not an IP address; write the peer's address, e.g. \"10.0.0.2\"",
                                ))
                            }
                        }
                    }
                    LinkKind::Ucast { interface, peers, port: port(cluster_port)? }
                }
                RawLinkType::Bcast => LinkKind::Bcast { interface: interface(&l)?, port: port(cluster_port)? },
                RawLinkType::Mcast => {
                    let interface = interface(&l)?;
                    let Some(g) = l.group.clone() else {
                        return Err(self.missing(
                            &lk.k("group"),
                            "an mcast link needs a multicast group, e.g. group = \"239.0.0.94\"",
                        ));
                    };
                    let group =
                        match g.trim().parse::<IpAddr>() {
                            Ok(a) if a.is_multicast() => a,
                            _ => return Err(self.bad(
                                &lk.k("group"),
                                "",
                                "is not a multicast address; use one in 224.0.0.0/4 (e.g. \"239.0.0.94\") or ff00::/8",
                            )),
                        };
                    let ttl = l.ttl.unwrap_or(DEFAULT_MCAST_TTL);
                    if !(1..=255).contains(&ttl) {
                        return Err(self.bad(&lk.k("ttl"), "", "must be 1–255; 1 keeps frames on the local network"));
                    }
                    LinkKind::Mcast { interface, group, port: port(DEFAULT_MCAST_PORT)?, ttl }
                }
                RawLinkType::Serial => {
                    let Some(device) = l.device.clone() else {
                        return Err(
                            self.missing(&lk.k("device"), "a serial link needs its tty, e.g. device = \"/dev/ttyS0\"")
                        );
                    };
                    let device = PathBuf::from(device);
                    if !device.is_absolute() {
                        return Err(self.bad(&lk.k("device"), "", "must be an absolute path, e.g. \"/dev/ttyS0\""));
                    }
                    let baud = l.baud.unwrap_or(DEFAULT_BAUD);
                    if baud == 0 {
                        return Err(self.bad(&lk.k("baud"), "0", "must be a serial speed, e.g. 19200 or 115200"));
                    }
                    LinkKind::Serial { device, baud }
                }
            };
            links.push(Link { name, kind });
        }
        Ok(links)
    }

    fn ping(&self, raw: Option<RawPing>) -> Result<Ping, ConfigError> {
        let k = Key::root("ping");
        let mut ping = Ping::with_defaults();
        let Some(raw) = raw else { return Ok(ping) };
        for (i, h) in raw.hosts.unwrap_or_default().iter().enumerate() {
            match h.trim().parse::<IpAddr>() {
                Ok(a) => {
                    if ping.hosts.contains(&a) {
                        return Err(self.bad(&k.k("hosts").i(i), "", "is listed twice; remove one"));
                    }
                    ping.hosts.push(a)
                }
                Err(_) => {
                    return Err(self.bad(
                        &k.k("hosts").i(i),
                        "",
                        "is not an IP address; ping hosts are written as addresses, e.g. \"10.0.0.1\"",
                    ))
                }
            }
        }
        if let Some(d) = raw.interval {
            if d.0.is_zero() {
                return Err(self.bad(&k.k("interval"), "", "must be more than 0; e.g. \"1s\""));
            }
            ping.interval = d.0;
        }
        if let Some(d) = raw.timeout {
            if d.0.is_zero() {
                return Err(self.bad(&k.k("timeout"), "", "must be more than 0; e.g. \"1s\""));
            }
            ping.timeout = d.0;
        }
        Ok(ping)
    }

    fn garp(&self, raw: Option<RawGarp>) -> Result<Garp, ConfigError> {
        let k = Key::root("garp");
        let mut garp = Garp::default();
        let Some(raw) = raw else { return Ok(garp) };
        if let Some(c) = raw.count {
            if c > 100 {
                return Err(self.bad(&k.k("count"), "", "is too many packets for one burst; use at most 100"));
            }
            garp.count = c;
        }
        if let Some(d) = raw.interval {
            if d.0.is_zero() && garp.count > 1 {
                return Err(self.bad(&k.k("interval"), "", "must be more than 0 when count > 1; e.g. \"200ms\""));
            }
            garp.interval = d.0;
        }
        if let Some(d) = raw.repeat_after {
            garp.repeat_after = d.0;
        }
        Ok(garp)
    }

    fn groups(&self, raw: Vec<RawGroup>, nodes: &[NodeConf]) -> Result<Vec<Group>, ConfigError> {
        let k = Key::root("group");
        let node_list = || nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ");
        let mut groups: Vec<Group> = Vec::new();
        // Maps, not searches: a file of thousands of groups is checked in
        // time linear in its size.
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        // Which group (and resource key) already holds a VIP (by address)
        // or a unit (by name), whatever its other settings: run by two
        // groups, each node would stop it for the one it does not run.
        let mut owners: std::collections::HashMap<(Option<std::net::IpAddr>, String), String> =
            std::collections::HashMap::new();
        for (i, g) in raw.into_iter().enumerate() {
            let gk = k.i(i);
            let Some(name) = g.name else {
                return Err(self.missing(&gk.k("name"), "give the group a name, e.g. name = \"web\""));
            };
            if !valid_name(&name) {
                return Err(self.bad(&gk.k("name"), "", NAME_RULE));
            }
            if let Some(j) = index.get(&name) {
                return Err(self.bad(&gk.k("name"), "", &format!("is already group[{j}]; group names must be unique")));
            }
            index.insert(name.clone(), groups.len());
            let Some(preferred) = g.preferred else {
                return Err(self.missing(
                    &gk.k("preferred"),
                    &format!("set it to the node that should normally run the group, one of: {}", node_list()),
                ));
            };
            if !nodes.iter().any(|n| n.name == preferred) {
                return Err(self.bad(&gk.k("preferred"), "", &format!("is not a node; use one of: {}", node_list())));
            }
            let raw_res = g.resources.unwrap_or_default();
            if raw_res.is_empty() {
                return Err(self.err(
                    &gk.k("resources"),
                    format!(
                        "{}: group {name:?} has no resources; list them in start order, e.g. resources = [{{ vip = \"10.0.0.60/24\", interface = \"eth0\" }}, {{ unit = \"nginx.service\" }}]",
                        gk.k("resources")
                    ),
                ));
            }
            let mut resources = Vec::new();
            for (j, r) in raw_res.into_iter().enumerate() {
                let rk = gk.k("resources").i(j);
                let res = match (r.vip, r.unit) {
                    (Some(_), Some(_)) => {
                        return Err(self.err(
                            &rk,
                            format!("{rk} has both vip and unit; split it into {{ vip = ..., interface = ... }} and {{ unit = ... }}"),
                        ))
                    }
                    (None, None) => {
                        return Err(self.err(
                            &rk,
                            format!("{rk} has neither vip nor unit; write {{ vip = \"10.0.0.60/24\", interface = \"eth0\" }} or {{ unit = \"nginx.service\" }}"),
                        ))
                    }
                    (Some(_), None) if r.check.is_some() => {
                        return Err(self.err(
                            &rk.k("check"),
                            format!(
                                "{}: a check applies to a unit (it probes the service); move it to the unit's resource",
                                rk.k("check")
                            ),
                        ))
                    }
                    (Some(_), None) if r.timeout.is_some() => {
                        return Err(self.err(
                            &rk.k("timeout"),
                            format!("{}: timeout only applies to a unit; remove it", rk.k("timeout")),
                        ))
                    }
                    (Some(vip), None) => {
                        let Some((addr, prefix)) = parse_vip(&vip) else {
                            return Err(self.bad(
                                &rk.k("vip"),
                                "",
                                "is not addr/prefix; write e.g. \"10.77.0.60/24\" or \"fd00::60/64\"",
                            ));
                        };
                        let Some(interface) = r.interface else {
                            return Err(self.missing(
                                &rk.k("interface"),
                                "a vip needs the interface to add it to, e.g. { vip = \"10.77.0.60/24\", interface = \"eth0\" }",
                            ));
                        };
                        if !valid_interface(&interface) {
                            return Err(self.bad(&rk.k("interface"), "", INTERFACE_RULE));
                        }
                        Resource::Vip { addr, prefix, interface }
                    }
                    (None, Some(unit)) => {
                        if r.interface.is_some() {
                            return Err(self.err(
                                &rk.k("interface"),
                                format!("{}: interface only applies to a vip; remove it", rk.k("interface")),
                            ));
                        }
                        if let Err(why) = check_unit(&unit) {
                            return Err(self.bad(&rk.k("unit"), "", &why));
                        }
                        let timeout = match r.timeout {
                            None => None,
                            Some(Dur(d)) if d.is_zero() || d > MAX_OP_TIMEOUT => {
                                return Err(self.bad(
                                    &rk.k("timeout"),
                                    &format!("\"{}\"", fmt_dur(d)),
                                    &format!(
                                        "must be more than 0 and at most {}; leave it out to use the unit's own TimeoutStartSec=/TimeoutStopSec=",
                                        fmt_dur(MAX_OP_TIMEOUT)
                                    ),
                                ))
                            }
                            Some(Dur(d)) => Some(d),
                        };
                        let check = match r.check {
                            Some(c) => Some(self.check(&rk.k("check"), c)?),
                            None => None,
                        };
                        Resource::Unit { name: unit, timeout, check }
                    }
                };
                let key = match &res {
                    Resource::Vip { addr, .. } => (Some(*addr), String::new()),
                    Resource::Unit { name, .. } => (None, name.clone()),
                };
                if let Some(other) = owners.get(&key) {
                    let field = if res.kind() == "vip" { "vip" } else { "unit" };
                    return Err(self.bad(
                        &rk.k(field),
                        "",
                        &format!("is already used by {other}; a resource belongs to one group only"),
                    ));
                }
                owners.insert(key, rk.to_string());
                resources.push(res);
            }
            groups.push(Group { name, preferred, resources });
        }
        Ok(groups)
    }

    /// One `check = { … }` table.
    fn check(&self, k: &Key, c: RawCheck) -> Result<Check, ConfigError> {
        let example = "write one of { http = \"http://127.0.0.1/health\" }, { tcp = \"127.0.0.1:5432\" } or { unit = \"pg-check.service\" }";
        let probe = match (c.http, c.tcp, c.unit) {
            (Some(url), None, None) => {
                let Some((host, port, path)) = check::parse_http_url(&url) else {
                    return Err(self.bad(
                        &k.k("http"),
                        "",
                        "is not an http:// URL; write e.g. \"http://127.0.0.1:8080/health\" (plain HTTP: for TLS, probe a local health port or use a unit check)",
                    ));
                };
                let expect = c.expect.unwrap_or(200);
                if !(100..=599).contains(&expect) {
                    return Err(self.bad(&k.k("expect"), "", "is not an HTTP status code; e.g. expect = 200"));
                }
                Probe::Http { url, host, port, path, expect }
            }
            (None, Some(addr), None) => {
                if check::split_host_port(&addr).is_none() {
                    return Err(self.bad(
                        &k.k("tcp"),
                        "",
                        "is not host:port; write e.g. \"127.0.0.1:5432\" or \"[::1]:5432\"",
                    ));
                }
                Probe::Tcp { addr }
            }
            (None, None, Some(name)) => {
                if let Err(why) = check_unit(&name) {
                    return Err(self.bad(&k.k("unit"), "", &why));
                }
                Probe::Unit { name }
            }
            (None, None, None) => return Err(self.err(k, format!("{k} says nothing to probe; {example}"))),
            _ => return Err(self.err(k, format!("{k} has more than one of http, tcp and unit; {example}"))),
        };
        if c.expect.is_some() && !matches!(probe, Probe::Http { .. }) {
            return Err(
                self.err(&k.k("expect"), format!("{}: expect only applies to an http check; remove it", k.k("expect")))
            );
        }
        let interval = c.interval.map_or(check::DEFAULT_INTERVAL, |d| d.0);
        if interval < check::MIN_INTERVAL || interval > MAX_OP_TIMEOUT {
            return Err(self.bad(
                &k.k("interval"),
                &format!("\"{}\"", fmt_dur(interval)),
                &format!("must be from {} to {}", fmt_dur(check::MIN_INTERVAL), fmt_dur(MAX_OP_TIMEOUT)),
            ));
        }
        let timeout = c.timeout.map_or(check::DEFAULT_TIMEOUT.min(interval / 2), |d| d.0);
        if timeout.is_zero() || timeout >= interval {
            return Err(self.bad(
                &k.k("timeout"),
                &format!("\"{}\"", fmt_dur(timeout)),
                &format!(
                    "must be more than 0 and less than interval ({}): a probe must end before the next one starts",
                    fmt_dur(interval)
                ),
            ));
        }
        let run = |key: &str, v: Option<u32>, default: u32| {
            let v = v.unwrap_or(default);
            if v == 0 || v > check::MAX_RUN {
                return Err(self.bad(
                    &k.k(key),
                    &v.to_string(),
                    &format!("must be from 1 to {} (probes in a row)", check::MAX_RUN),
                ));
            }
            Ok(v)
        };
        let rise = run("rise", c.rise, check::DEFAULT_RISE)?;
        let fall = run("fall", c.fall, check::DEFAULT_FALL)?;
        Ok(Check { probe, interval, timeout, rise, fall })
    }

    fn node_checks(&self, raw: Vec<RawNodeCheck>, groups: &[Group]) -> Result<Vec<NodeCheck>, ConfigError> {
        let k = Key::root("node_check");
        let mut out: Vec<NodeCheck> = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            let nk = k.i(i);
            let Some(name) = r.name else {
                return Err(self.missing(&nk.k("name"), "name the check, e.g. name = \"uplink\""));
            };
            if !valid_name(&name) {
                return Err(self.bad(&nk.k("name"), "", NAME_RULE));
            }
            if let Some(j) = out.iter().position(|o| o.name == name) {
                return Err(self.bad(&nk.k("name"), "", &format!("is already node_check[{j}]; names must be unique")));
            }
            let Some(c) = r.check else {
                return Err(self.missing(&nk.k("check"), "say what to probe, e.g. check = { tcp = \"10.0.0.1:53\" }"));
            };
            let check = self.check(&nk.k("check"), c)?;
            if let Probe::Unit { name: unit } = &check.probe {
                if let Some(g) = groups.iter().find(|g| g.resources.iter().any(|r| r.unit_name() == Some(unit))) {
                    return Err(self.bad(
                        &nk.k("check").k("unit"),
                        "",
                        &format!("is a unit of group {:?}; a check unit is a separate oneshot unit", g.name),
                    ));
                }
            }
            out.push(NodeCheck { name, check });
        }
        Ok(out)
    }

    fn respawn(&self, raw: Vec<RawRespawn>, groups: &[Group]) -> Result<Vec<Respawn>, ConfigError> {
        let k = Key::root("respawn");
        let mut out: Vec<Respawn> = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            let key = k.i(i).k("unit");
            let Some(unit) = r.unit else {
                return Err(self.missing(&key, "name the unit to run on every node, e.g. unit = \"hbd-probe.service\""));
            };
            if let Err(why) = check_unit(&unit) {
                return Err(self.bad(&key, "", &why));
            }
            if out.iter().any(|o| o.unit == unit) {
                return Err(self.bad(&key, "", "is listed twice; remove one"));
            }
            if let Some(g) = groups.iter().find(|g| g.resources.iter().any(|r| r.unit_name() == Some(unit.as_str()))) {
                return Err(self.bad(
                    &key,
                    "",
                    &format!(
                        "is also in group {:?}; a unit either runs everywhere (respawn) or fails over (group), not both",
                        g.name
                    ),
                ));
            }
            out.push(Respawn { unit });
        }
        Ok(out)
    }
}

impl Ctx<'_> {
    fn metrics(&self, raw: Option<RawMetrics>) -> Result<Option<Metrics>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let key = Key::root("metrics").k("listen");
        let Some(listen) = raw.listen else {
            return Err(self.missing(
                &key,
                "add listen = \"127.0.0.1:9694\" (an address and port, or the path of a unix socket), or remove [metrics]",
            ));
        };
        let listen = if listen.starts_with('/') {
            let path = PathBuf::from(&listen);
            if path.file_name().is_none() || listen.ends_with('/') {
                return Err(self.bad(
                    &key,
                    "",
                    "is a directory, not a socket path; name the socket, e.g. \"/run/hbd/metrics.sock\"",
                ));
            }
            Listen::Unix(path)
        } else {
            match listen.parse::<std::net::SocketAddr>() {
                Ok(a) if a.port() == 0 => {
                    return Err(self.bad(&key, "", "has port 0; give the port Prometheus scrapes, e.g. \"127.0.0.1:9694\""))
                }
                Ok(a) => Listen::Tcp(a),
                Err(_) => {
                    return Err(self.bad(
                        &key,
                        "",
                        "is neither an address with a port (\"127.0.0.1:9694\", \"[::1]:9694\") nor an absolute unix socket path (\"/run/hbd/metrics.sock\")",
                    ))
                }
            }
        };
        Ok(Some(Metrics { listen }))
    }

    fn alerts(&self, raw: Vec<RawAlert>) -> Result<Vec<Alert>, ConfigError> {
        use std::os::unix::fs::PermissionsExt as _;
        let k = Key::root("alert");
        let mut out = Vec::new();
        for (i, a) in raw.into_iter().enumerate() {
            let key = k.i(i);
            let Some(path) = a.path else {
                return Err(self.missing(
                    &key.k("path"),
                    "name the agent to run, e.g. path = \"/usr/share/pacemaker/alerts/alert_file.sh.sample\"",
                ));
            };
            if !path.starts_with('/') {
                return Err(self.bad(&key.k("path"), "", "is not an absolute path; write the agent's full path"));
            }
            match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(self.bad(
                        &key.k("path"),
                        "",
                        "does not exist; install the agent there (Pacemaker's samples are in /usr/share/pacemaker/alerts/, package pacemaker-common) or correct the path",
                    ))
                }
                Err(e) => return Err(self.bad(&key.k("path"), "", &format!("cannot be read: {e}"))),
                Ok(m) if !m.is_file() => {
                    return Err(self.bad(&key.k("path"), "", "is not a file; name the agent's executable"))
                }
                Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                    return Err(self.bad(&key.k("path"), "", &format!("is not executable; run: chmod +x {path}")))
                }
                Ok(_) => {}
            }
            let recipient = a.recipient.unwrap_or_default();
            self.one_line(&key.k("recipient"), &recipient)?;
            let timeout = a.timeout.map_or(DEFAULT_ALERT_TIMEOUT, |d| d.0);
            if timeout.is_zero() || timeout > MAX_ALERT_TIMEOUT {
                return Err(self.bad(
                    &key.k("timeout"),
                    "",
                    &format!("must be more than 0 and at most {}; e.g. \"30s\"", fmt_dur(MAX_ALERT_TIMEOUT)),
                ));
            }
            let select = match a.select {
                None => AlertKind::ALL.to_vec(),
                Some(names) => {
                    let mut kinds = Vec::new();
                    for (j, n) in names.iter().enumerate() {
                        let Some(kind) = AlertKind::ALL.into_iter().find(|k| k.as_str() == n) else {
                            return Err(self.bad(
                                &key.k("select").i(j),
                                "",
                                "is not a kind of event; use \"node\", \"resource\" or \"fencing\"",
                            ));
                        };
                        if !kinds.contains(&kind) {
                            kinds.push(kind);
                        }
                    }
                    if kinds.is_empty() {
                        return Err(self.bad(
                            &key.k("select"),
                            "",
                            "selects nothing; list some of \"node\", \"resource\", \"fencing\", or remove the key for all",
                        ));
                    }
                    kinds
                }
            };
            let options = self.alert_options(&key.k("options"), a.options.unwrap_or_default())?;
            let timestamp_format = match a.timestamp_format {
                None => DEFAULT_TIMESTAMP_FORMAT.to_string(),
                Some(f) => {
                    let k = key.k("timestamp_format");
                    if f.len() > MAX_TIMESTAMP_FORMAT || f.contains(['\0', '\n']) {
                        return Err(self.bad(
                            &k,
                            "",
                            &format!("must be one line of at most {MAX_TIMESTAMP_FORMAT} characters; e.g. \"%Y-%m-%d %H:%M:%S.%03N\""),
                        ));
                    }
                    if render_timestamp(&f, std::time::SystemTime::now()).is_empty() {
                        return Err(self.bad(
                            &k,
                            "",
                            &format!("makes an empty timestamp; write a strftime format with %N for the fraction of a second, e.g. \"{DEFAULT_TIMESTAMP_FORMAT}\" (Pacemaker's default)"),
                        ));
                    }
                    f
                }
            };
            out.push(Alert { path: PathBuf::from(path), recipient, timeout, select, options, timestamp_format });
        }
        Ok(out)
    }

    /// A value passed on to an agent's environment: one line, no NUL.
    fn one_line(&self, key: &Key, value: &str) -> Result<(), ConfigError> {
        if value.contains(['\0', '\n']) {
            return Err(self.bad(key, "", "holds a newline or NUL; write it on one line"));
        }
        Ok(())
    }

    /// An alert's `options`: set in the agent's environment, so each name
    /// must be one, and not one hbd sets for the event.
    fn alert_options(&self, key: &Key, table: toml::Table) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out = Vec::new();
        for (name, value) in table {
            let k = key.k(&name);
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.err(
                    &k,
                    format!("{k}: not an environment variable name; use A-Z a-z 0-9 _, not starting with a digit (e.g. trap_community)"),
                ));
            }
            if name.starts_with("CRM_alert_") || name.starts_with("HBD_alert_") {
                return Err(self.err(&k, format!("{k}: set by hbd for each event; remove it from options")));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(self.bad(
                        &k,
                        "",
                        "must be a string, a number or true/false: the agent reads it from its environment",
                    ))
                }
            };
            self.one_line(&k, &value)?;
            out.push((name, value));
        }
        Ok(out)
    }
}

const NAME_RULE: &str = "is not a valid name; use 1–63 of A-Z a-z 0-9 . _ - starting with a letter or digit";
const NODE_NAME_RULE: &str =
    "is not a valid node name; use the node's hostname: 1–63 of A-Z a-z 0-9 . _ - starting with a letter or digit";
const INTERFACE_RULE: &str =
    "is not a valid interface name; use the name `ip link` shows, e.g. \"eth0\" (1–15 characters, no spaces or /)";

/// Hostname-like: `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`.
pub(crate) fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    s.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) fn valid_interface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.chars().all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

/// `addr/prefix`, IPv4 or IPv6.
pub(crate) fn parse_vip(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.trim().split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// `Err(rest of a sentence)` if `name` is not a concrete systemd unit name.
pub(crate) fn check_unit(name: &str) -> Result<(), String> {
    let Some(suffix) = UNIT_SUFFIXES.iter().find(|s| name.ends_with(*s)) else {
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let stem = if stem.is_empty() { "nginx" } else { stem };
        return Err(format!(
            "has no unit suffix; write the full unit name, e.g. \"{stem}.service\" (or .socket, .mount, .target, .timer, .path, …)"
        ));
    };
    let stem = &name[..name.len() - suffix.len()];
    if stem.is_empty() {
        return Err("has no name before the suffix; e.g. \"nginx.service\"".to_string());
    }
    if stem.ends_with('@') {
        return Err(format!("is a template; name an instance, e.g. \"{stem}instance{suffix}\""));
    }
    if name.len() > 255
        || !stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '\\' | '@' | '-'))
    {
        return Err(
            "is not a valid unit name; use A-Z a-z 0-9 : _ . \\ @ - (escape other characters with systemd-escape)"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["n1", "node-1.example.com", "a", "A_b", &"x".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "_a", "a b", "a/b", "é", &"x".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn vips() {
        assert_eq!(parse_vip("10.0.0.1/24"), Some(("10.0.0.1".parse().unwrap(), 24)));
        assert_eq!(parse_vip("fd00::1/128"), Some(("fd00::1".parse().unwrap(), 128)));
        for bad in ["10.0.0.1", "10.0.0.1/", "10.0.0.1/+4", "10.0.0.1/33", "fd00::1/129", "x/24", "10.0.0.1/24/eth0"] {
            assert_eq!(parse_vip(bad), None, "{bad}");
        }
    }

    #[test]
    fn units() {
        for ok in ["a.service", "data.mount", "x@y.service", "srv-www.mount", "my\\x2dapp.mount", "t.target"] {
            assert_eq!(check_unit(ok), Ok(()), "{ok}");
        }
        for bad in ["nginx", ".service", "x@.service", "a b.service", "nginx.servic"] {
            assert!(check_unit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_display() {
        let k = Key::root("group").i(0).k("resources").i(1).k("vip");
        assert_eq!(k.to_string(), "group[0].resources[1].vip");
    }
}
