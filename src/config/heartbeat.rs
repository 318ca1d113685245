//! `hactl config import-heartbeat`: turn a Heartbeat v1 configuration
//! (`ha.cf`, `haresources`, `authkeys`, `resource.d/`) into an hbd.toml, an
//! auth key file and the systemd units the groups need. What cannot be
//! mapped is listed with its file and line, never dropped silently.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ConfigError;
use super::schema::{self, valid_interface, valid_name};

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Import {
    /// The new hbd.toml, commented with where each part came from.
    pub toml: String,
    /// The new auth key file content (install as mode 0600), if the
    /// directory had an `authkeys` file.
    pub authkey: Option<String>,
    /// Everything not mapped (or mapped with a guess or a change), in file
    /// order.
    pub unmapped: Vec<Unmapped>,
    /// The unit files the groups need that no package provides, in group
    /// order (install them in /etc/systemd/system on every node).
    pub units: Vec<UnitFile>,
    /// What else must be on every node for the groups to start (packages
    /// whose units are used, scripts the units run), one instruction each.
    pub needs: Vec<String>,
}

/// A systemd unit written by the import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitFile {
    pub name: String,
    pub content: String,
    /// `haresources:N WORD`: where it came from.
    pub from: String,
}

/// Where the import looks for what a haresources name refers to, besides
/// `DIR/resource.d/`: the init scripts and installed units of the machine
/// it runs on (Heartbeat looked in /etc/ha.d/resource.d, then /etc/init.d).
#[derive(Clone, Debug)]
pub struct Host {
    pub init_d: Option<PathBuf>,
    pub unit_dirs: Vec<PathBuf>,
}

impl Host {
    /// This machine: /etc/init.d and systemd's unit directories.
    pub fn system() -> Self {
        Host {
            init_d: Some("/etc/init.d".into()),
            unit_dirs: ["/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        }
    }

    /// Nothing installed: every name is taken as it is written.
    pub fn empty() -> Self {
        Host { init_d: None, unit_dirs: Vec::new() }
    }

    fn has_unit(&self, name: &str) -> bool {
        let template = name.split_once('@').map(|(stem, rest)| {
            let suffix = rest.rsplit_once('.').map_or("", |(_, s)| s);
            format!("{stem}@.{suffix}")
        });
        self.unit_dirs.iter().any(|d| d.join(name).exists() || template.as_ref().is_some_and(|t| d.join(t).exists()))
    }

    fn init_script(&self, name: &str) -> Option<PathBuf> {
        let p = self.init_d.as_ref()?.join(name);
        p.is_file().then_some(p)
    }
}

/// A Heartbeat line hbd does not take over as it is, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub file: PathBuf,
    /// 1-based; 0 when the note is about the whole file.
    pub line: usize,
    pub text: String,
    pub why: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name =
            self.file.file_name().map_or_else(|| self.file.display().to_string(), |n| n.to_string_lossy().into_owned());
        if self.line == 0 {
            write!(f, "{name}: {}", self.why)
        } else {
            write!(f, "{name}:{}: {:?}: {}", self.line, self.text, self.why)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The selected key is `crc`: a checksum, not authentication.
    #[error(
        "{}:{line}: auth {id} selects crc, which gives no authentication (anyone on the network could forge heartbeats and take over); write a real key with `hactl keygen` instead",
        path.display()
    )]
    Crc { path: PathBuf, line: usize, id: u8 },
    /// A Heartbeat file this import cannot make sense of.
    #[error("{}:{line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
    /// The generated file does not validate (e.g. no `node` lines, or a
    /// haresources node that ha.cf does not list). `toml` is what was
    /// generated, for editing by hand.
    #[error("the imported configuration does not validate: {error}; fix the Heartbeat files and import again, or edit the generated file")]
    Generated { error: ConfigError, toml: String },
}

/// Import `dir/ha.cf` (required), `dir/haresources` and `dir/authkeys`
/// (both optional; their absence is noted in `unmapped`), looking up
/// resource names in `dir/resource.d/` and on this machine.
pub fn import_heartbeat(dir: &Path) -> Result<Import, ImportError> {
    import_heartbeat_on(dir, &Host::system())
}

/// [`import_heartbeat`], with resource names looked up in `dir/resource.d/`
/// and `host` instead of this machine.
pub fn import_heartbeat_on(dir: &Path, host: &Host) -> Result<Import, ImportError> {
    let read = |name: &str| {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "ha.cf" => Ok(None),
            Err(source) => Err(ImportError::Read { path, source }),
        }
    };
    let ha_cf = read("ha.cf")?.unwrap_or_default();
    let haresources = read("haresources")?;
    let authkeys = read("authkeys")?;
    let authkeys_mode = match authkeys {
        Some(_) => std::fs::metadata(dir.join("authkeys")).ok().map(|m| m.permissions().mode() & 0o7777),
        None => None,
    };
    let scripts = Scripts { dir: Some(dir.join("resource.d")), host: host.clone() };
    import_texts(dir, &ha_cf, haresources.as_deref(), authkeys.as_deref(), authkeys_mode, scripts)
}

/// [`import_heartbeat`] on the files' contents instead of the files:
/// `ha_cf` is the content of `dir/ha.cf`, `haresources` and `authkeys` that
/// of the optional files (`None`: absent). `dir` only names the files in
/// notes and in the generated comments; nothing is read from it.
pub fn import_heartbeat_texts(
    dir: &Path,
    ha_cf: &str,
    haresources: Option<&str>,
    authkeys: Option<&str>,
) -> Result<Import, ImportError> {
    import_texts(dir, ha_cf, haresources, authkeys, None, Scripts { dir: None, host: Host::empty() })
}

/// Where resource scripts are looked up.
#[derive(Clone, Debug)]
struct Scripts {
    /// `DIR/resource.d`, when files are read.
    dir: Option<PathBuf>,
    host: Host,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts { dir: None, host: Host::empty() }
    }
}

/// `authkeys_mode`: the permission bits of the authkeys file, if known.
fn import_texts(
    dir: &Path,
    ha_cf: &str,
    haresources: Option<&str>,
    authkeys: Option<&str>,
    authkeys_mode: Option<u32>,
    scripts: Scripts,
) -> Result<Import, ImportError> {
    let mut imp = Importer { dir: dir.to_path_buf(), scripts, ..Importer::default() };
    imp.ha_cf(ha_cf);

    match haresources {
        Some(text) => imp.haresources(text),
        None => {
            imp.note_file("haresources", "not found; no [[group]] was generated: add the groups by hand".to_string())
        }
    }

    let authkey = match authkeys {
        Some(text) => {
            if let Some(mode) = authkeys_mode {
                if mode & 0o077 != 0 {
                    imp.note_file(
                        "authkeys",
                        format!(
                            "has mode {mode:04o}; Heartbeat required 0600, so the secret may have been read by others: consider a fresh key (`hactl keygen`) instead of importing it"
                        ),
                    );
                }
            }
            Some(imp.authkeys(text)?)
        }
        None => {
            imp.note_file("authkeys", "not found; create /etc/hbd/authkey with `hactl keygen`".to_string());
            None
        }
    };

    let toml = imp.render();
    if let Err(error) = schema::parse(&toml, Path::new("hbd.toml (imported)")) {
        return Err(ImportError::Generated { error, toml });
    }
    Ok(Import { toml, authkey, unmapped: imp.unmapped, units: imp.units, needs: imp.needs })
}

// ---------------------------------------------------------------------------

/// A value with the ha.cf line it came from.
#[derive(Clone, Debug)]
struct Src<T> {
    value: T,
    line: usize,
    text: String,
}

impl<T> Src<T> {
    fn new(value: T, line: usize, text: &str) -> Self {
        Src { value, line, text: text.to_string() }
    }
}

#[derive(Clone, Debug)]
enum LinkOut {
    Ucast { interface: String, peers: Vec<String> },
    Bcast { interface: String },
    Mcast { interface: String, group: String, port: u16, ttl: u32 },
    Serial { device: String },
}

#[derive(Clone, Debug)]
struct LinkEntry {
    name: String,
    kind: LinkOut,
    /// `ha.cf:N text` for each source line.
    sources: Vec<String>,
}

#[derive(Clone, Debug)]
enum ResOut {
    Vip { addr: IpAddr, prefix: u8, interface: String, note: String },
    Unit { name: String, note: String },
}

#[derive(Clone, Debug)]
struct GroupOut {
    name: String,
    preferred: String,
    line: usize,
    text: String,
    resources: Vec<ResOut>,
}

#[derive(Default)]
struct Importer {
    dir: PathBuf,
    scripts: Scripts,
    unmapped: Vec<Unmapped>,
    units: Vec<UnitFile>,
    needs: Vec<String>,
    nodes: Vec<Src<String>>,
    keepalive: Option<Src<Duration>>,
    warntime: Option<Src<Duration>>,
    deadtime: Option<Src<Duration>>,
    initdead: Option<Src<Duration>>,
    port: Option<Src<u16>>,
    baud: Option<Src<u32>>,
    auto_failback: Option<Src<bool>>,
    links: Vec<LinkEntry>,
    ping: Vec<Src<IpAddr>>,
    deadping: Option<Src<Duration>>,
    respawn: Vec<Src<(String, String)>>, // (unit, comment)
    groups: Vec<GroupOut>,
    /// The first `ucast` line, for the note about peers.
    first_ucast: Option<(usize, String)>,
}

/// Heartbeat times: seconds (possibly fractional), or with an `ms`/`us`/`s` suffix.
fn hb_duration(s: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    // Negative, NaN, infinite or too large for a Duration: not a time.
    Duration::try_from_secs_f64(v * scale).ok()
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// systemd-escape: `/` → `-`, unsafe bytes → `\xNN`, leading `.` escaped.
fn systemd_escape(s: &str) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.') => out.push(b as char),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// A mount point as systemd names it: absolute, no empty or "." parts, no
/// trailing slash. `None` for a relative path or one with "..".
fn mount_point(dir: &str) -> Option<String> {
    if !dir.starts_with('/') {
        return None;
    }
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.contains(&"..") {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

/// The mount unit name for a mount point, as `systemd-escape --path --suffix=mount`.
fn mount_unit(dir: &str) -> String {
    let p = mount_point(dir).unwrap_or_else(|| dir.to_string());
    let trimmed = p.trim_start_matches('/');
    if trimmed.is_empty() {
        return "-.mount".to_string();
    }
    format!("{}.mount", systemd_escape(trimmed))
}

/// One word of a unit file's Exec line, quoted so that systemd passes it on
/// as it is (no specifiers, no variables).
fn exec_word(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value in a unit file's setting, with specifiers kept literal.
fn unit_value(s: &str) -> String {
    s.replace('%', "%%")
}

/// A netmask written as bits ("24") or dotted ("255.255.255.0").
fn prefix_of(s: &str, v4: bool) -> Option<u8> {
    if let Ok(bits) = s.parse::<u8>() {
        return (bits <= if v4 { 32 } else { 128 }).then_some(bits);
    }
    let mask: Ipv4Addr = s.parse().ok()?;
    let m = u32::from(mask);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
}

impl Importer {
    fn note(&mut self, file: &str, line: usize, text: &str, why: impl Into<String>) {
        self.unmapped.push(Unmapped { file: self.dir.join(file), line, text: text.to_string(), why: why.into() });
    }

    fn note_file(&mut self, file: &str, why: String) {
        self.note(file, 0, "", why);
    }

    fn ha_cf(&mut self, text: &str) {
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            // Trailing comments are allowed in ha.cf.
            let t = t.split_once('#').map_or(t, |(a, _)| a).trim();
            let words: Vec<&str> = t.split_whitespace().collect();
            let (directive, args) = (words[0].to_ascii_lowercase(), &words[1..]);
            let from = |value: String| Src { value, line, text: t.to_string() };
            let time = |this: &mut Self, slot: &str| -> Option<Src<Duration>> {
                match args {
                    [v] => match hb_duration(v) {
                        Some(d) => Some(Src { value: d, line, text: t.to_string() }),
                        None => {
                            this.note("ha.cf", line, t, format!("{slot} value is not a time; hbd's default is used"));
                            None
                        }
                    },
                    _ => {
                        this.note("ha.cf", line, t, format!("expected \"{slot} SECONDS\"; hbd's default is used"));
                        None
                    }
                }
            };
            match directive.as_str() {
                "node" => {
                    if args.is_empty() {
                        self.note("ha.cf", line, t, "node without a name");
                    }
                    for name in args {
                        if !self.nodes.iter().any(|n| n.value == *name) {
                            self.nodes.push(from(name.to_string()));
                        }
                    }
                }
                "keepalive" => self.keepalive = time(self, "keepalive").or(self.keepalive.take()),
                "warntime" => self.warntime = time(self, "warntime").or(self.warntime.take()),
                "deadtime" => self.deadtime = time(self, "deadtime").or(self.deadtime.take()),
                "initdead" => self.initdead = time(self, "initdead").or(self.initdead.take()),
                "deadping" => self.deadping = time(self, "deadping").or(self.deadping.take()),
                "udpport" => match args {
                    [p] if p.parse::<u16>().is_ok_and(|p| p != 0) => self.port = Some(Src::new(p.parse().unwrap_or(694), line, t)),
                    _ => self.note("ha.cf", line, t, "expected \"udpport PORT\"; port 694 is used"),
                },
                "baud" => match args {
                    [b] if b.parse::<u32>().is_ok_and(|b| b > 0) => self.baud = Some(Src::new(b.parse().unwrap_or(19200), line, t)),
                    _ => self.note("ha.cf", line, t, "expected \"baud SPEED\"; 19200 is used"),
                },
                "ucast" => match args {
                    [iface, peer] if valid_interface(iface) && peer.parse::<IpAddr>().is_ok() => {
                        let src = format!("ha.cf:{line} {t}");
                        if self.first_ucast.is_none() {
                            self.first_ucast = Some((line, t.to_string()));
                        }
                        if let Some(l) = self
                            .links
                            .iter_mut()
                            .find(|l| matches!(&l.kind, LinkOut::Ucast { interface, .. } if interface == iface))
                        {
                            if let LinkOut::Ucast { peers, .. } = &mut l.kind {
                                if !peers.iter().any(|p| p == peer) {
                                    peers.push(peer.to_string());
                                }
                            }
                            l.sources.push(src);
                        } else {
                            self.links.push(LinkEntry {
                                name: format!("ucast-{iface}"),
                                kind: LinkOut::Ucast { interface: iface.to_string(), peers: vec![peer.to_string()] },
                                sources: vec![src],
                            });
                        }
                    }
                    _ => self.note("ha.cf", line, t, "expected \"ucast INTERFACE IP-ADDRESS\" (a host name cannot be used); add the link by hand"),
                },
                "bcast" => {
                    if args.is_empty() {
                        self.note("ha.cf", line, t, "bcast without an interface");
                    }
                    for iface in args {
                        if !valid_interface(iface) {
                            self.note("ha.cf", line, t, format!("{iface:?} is not an interface name"));
                            continue;
                        }
                        if self.links.iter().any(|l| matches!(&l.kind, LinkOut::Bcast { interface } if interface == iface)) {
                            continue;
                        }
                        self.links.push(LinkEntry {
                            name: format!("bcast-{iface}"),
                            kind: LinkOut::Bcast { interface: iface.to_string() },
                            sources: vec![format!("ha.cf:{line} {t}")],
                        });
                    }
                }
                "mcast" => {
                    let parsed = match args {
                        [iface, group, port, ttl, lp] => (|| {
                            let g: IpAddr = group.parse().ok()?;
                            let p: u16 = port.parse().ok()?;
                            let ttl: u32 = ttl.parse().ok()?;
                            (valid_interface(iface) && g.is_multicast() && p != 0 && (1..=255).contains(&ttl))
                                .then(|| (iface.to_string(), g.to_string(), p, ttl, *lp))
                        })(),
                        _ => None,
                    };
                    match parsed {
                        Some((interface, group, port, ttl, lp)) => {
                            let mut sources = vec![format!("ha.cf:{line} {t}")];
                            if lp != "0" {
                                sources.push("(loop is always off in hbd)".to_string());
                            }
                            let name = if self.links.iter().any(|l| l.name == format!("mcast-{interface}")) {
                                format!("mcast-{interface}-{}", self.links.len() + 1)
                            } else {
                                format!("mcast-{interface}")
                            };
                            self.links.push(LinkEntry {
                                name,
                                kind: LinkOut::Mcast { interface, group, port, ttl },
                                sources,
                            });
                        }
                        None => self.note(
                            "ha.cf",
                            line,
                            t,
                            "expected \"mcast INTERFACE GROUP PORT TTL LOOP\" with a multicast group; add the link by hand",
                        ),
                    }
                }
                "serial" => {
                    for dev in args {
                        if !dev.starts_with('/') {
                            self.note("ha.cf", line, t, format!("{dev:?} is not an absolute device path"));
                            continue;
                        }
                        let base = dev.rsplit('/').next().unwrap_or("tty");
                        let name = format!("serial-{base}");
                        let name = if valid_name(&name) { name } else { format!("serial{}", self.links.len() + 1) };
                        self.links.push(LinkEntry {
                            name,
                            kind: LinkOut::Serial { device: dev.to_string() },
                            sources: vec![format!("ha.cf:{line} {t}")],
                        });
                    }
                }
                "ping" => {
                    for h in args {
                        match h.parse::<IpAddr>() {
                            Ok(a) if !self.ping.iter().any(|p| p.value == a) => self.ping.push(Src::new(a, line, t)),
                            Ok(_) => {}
                            Err(_) => self.note("ha.cf", line, t, format!("ping host {h:?} is not an IP address; hbd needs addresses")),
                        }
                    }
                }
                "ping_group" => {
                    let mut added = Vec::new();
                    for h in args.iter().skip(1) {
                        match h.parse::<IpAddr>() {
                            Ok(a) => {
                                if !self.ping.iter().any(|p| p.value == a) {
                                    self.ping.push(Src::new(a, line, t));
                                }
                                added.push(h.to_string());
                            }
                            Err(_) => self.note("ha.cf", line, t, format!("ping host {h:?} is not an IP address; hbd needs addresses")),
                        }
                    }
                    self.note(
                        "ha.cf",
                        line,
                        t,
                        format!(
                            "members {} added to [ping] hosts; hbd counts each host, where Heartbeat counted the group as one",
                            added.join(", ")
                        ),
                    );
                }
                "auto_failback" => match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
                    Some("on" | "yes" | "true" | "1") => self.auto_failback = Some(Src::new(true, line, t)),
                    Some("off" | "no" | "false" | "0") => self.auto_failback = Some(Src::new(false, line, t)),
                    Some("legacy") => {
                        self.auto_failback = Some(Src::new(true, line, t));
                        self.note("ha.cf", line, t, "hbd has no legacy mode; mapped to auto_failback = true");
                    }
                    _ => self.note("ha.cf", line, t, "expected on, off or legacy; hbd's default (true) is used"),
                },
                "nice_failback" => match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
                    Some("on" | "yes" | "true" | "1") => self.auto_failback = Some(Src::new(false, line, t)),
                    Some("off" | "no" | "false" | "0") => self.auto_failback = Some(Src::new(true, line, t)),
                    _ => self.note("ha.cf", line, t, "expected on or off"),
                },
                "respawn" => self.respawn_line(line, t, args),
                "logfacility" | "logfile" | "debugfile" | "use_logd" | "debug" | "conn_logd_time" => {
                    self.note("ha.cf", line, t, "not needed, hbd logs to the journal")
                }
                "watchdog" => self.note(
                    "ha.cf",
                    line,
                    t,
                    "not needed, hbd uses systemd's watchdog (WatchdogSec= in hbd.service)",
                ),
                "crm" | "pacemaker" => match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
                    Some("off" | "no" | "false") => self.note("ha.cf", line, t, "not needed, hbd has no CRM"),
                    _ => self.note(
                        "ha.cf",
                        line,
                        t,
                        "hbd replaces the CRM: resources defined in the CIB are not imported; write [[group]]s by hand",
                    ),
                },
                "stonith" | "stonith_host" => self.note(
                    "ha.cf",
                    line,
                    t,
                    "not imported: hbd fences through hbd-fence@NODE.service with cluster.fencing = \"required\"; write that unit around this STONITH device",
                ),
                "autojoin" => self.note("ha.cf", line, t, "hbd has no autojoin; every node is listed in [[node]]"),
                "apiauth" => self.note(
                    "ha.cf",
                    line,
                    t,
                    "not needed; hbd's D-Bus API allows root and group haclient to change state",
                ),
                "compression" | "compression_threshold" | "traditional_compression" => {
                    self.note("ha.cf", line, t, "not needed; hbd frames are small and never compressed")
                }
                "realtime" | "rtprio" => self.note(
                    "ha.cf",
                    line,
                    t,
                    "not needed; hbd always runs its heartbeats at realtime priority with its memory locked (hbd.service)",
                ),
                "coredumps" | "uuidfrom" | "msgfmt" | "hopfudge" | "max_rexmit_delay"
                | "hbgenmethod" | "memreserve" => {
                    self.note("ha.cf", line, t, "not needed; hbd has no equivalent setting")
                }
                _ => self.note("ha.cf", line, t, "unknown directive; hbd has no equivalent"),
            }
        }
    }

    fn respawn_line(&mut self, line: usize, t: &str, args: &[&str]) {
        let [user, prog, rest @ ..] = args else {
            self.note("ha.cf", line, t, "expected \"respawn USER PROGRAM\"");
            return;
        };
        let base = prog.rsplit('/').next().unwrap_or(prog);
        const HEARTBEAT_PARTS: &[&str] =
            &["ccm", "cib", "crmd", "lrmd", "stonithd", "attrd", "mgmtd", "pengine", "tengine", "hbagent", "pingd"];
        if base == "ipfail" {
            self.note("ha.cf", line, t, "not needed: hbd does ipfail itself from the [ping] hosts");
            return;
        }
        if HEARTBEAT_PARTS.contains(&base) {
            self.note("ha.cf", line, t, "a Heartbeat/Pacemaker component; hbd does not use it");
            return;
        }
        let unit = format!("{base}.service");
        if schema::check_unit(&unit).is_err() || base.contains('@') {
            self.note(
                "ha.cf",
                line,
                t,
                format!("cannot derive a unit name from {base:?}; write a unit running {prog} and add it as [[respawn]] unit"),
            );
            return;
        }
        let cmd = std::iter::once(*prog).chain(rest.iter().copied()).collect::<Vec<_>>().join(" ");
        self.note(
            "ha.cf",
            line,
            t,
            format!(
                "mapped to [[respawn]] unit {unit:?}, which you must write: ExecStart={cmd}, User={user}, Restart=always"
            ),
        );
        self.respawn.push(Src {
            value: (unit, format!("ha.cf:{line} {t} (unit to write: ExecStart={cmd} User={user} Restart=always)")),
            line,
            text: t.to_string(),
        });
    }

    /// The interface for a VIP that did not name one, and a comment on it.
    fn guess_interface(&mut self, line: usize, text: &str) -> (String, String) {
        let found = self.links.iter().find_map(|l| match &l.kind {
            LinkOut::Ucast { interface, .. } | LinkOut::Bcast { interface } => {
                Some((interface.clone(), l.name.clone()))
            }
            _ => None,
        });
        match found {
            Some((iface, link)) => {
                self.note(
                    "haresources",
                    line,
                    text,
                    format!("the VIP names no interface; {iface:?} was taken from link {link:?}: check it is the interface the VIP belongs on"),
                );
                (iface.clone(), format!("interface guessed from link {link}: CHECK"))
            }
            None => {
                self.note(
                    "haresources",
                    line,
                    text,
                    "the VIP names no interface and ha.cf has no ucast/bcast link to take one from; \"eth0\" was written: fix it",
                );
                ("eth0".to_string(), "interface unknown, \"eth0\" written: FIX".to_string())
            }
        }
    }

    fn haresources(&mut self, text: &str) {
        // Join backslash continuations, remembering where each line starts.
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (n, raw) in text.lines().enumerate() {
            let (start, mut acc) = pending.take().unwrap_or((n + 1, String::new()));
            let t = raw.trim_end();
            if let Some(head) = t.strip_suffix('\\') {
                acc.push_str(head);
                acc.push(' ');
                pending = Some((start, acc));
            } else {
                acc.push_str(t);
                logical.push((start, acc));
            }
        }
        if let Some(p) = pending {
            logical.push(p);
        }
        for (line, full) in logical {
            let t = full.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let t: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut words = t.split(' ');
            let mut node = words.next().unwrap_or_default().to_string();
            // Heartbeat compared node names without case (as host names are).
            let known = self.nodes.iter().find(|n| n.value.eq_ignore_ascii_case(&node)).map(|n| n.value.clone());
            if let Some(k) = known.filter(|k| *k != node) {
                self.note(
                    "haresources",
                    line,
                    &t,
                    format!("node {node:?} is written {k:?} in ha.cf; hbd compares names exactly, so {k:?} is used"),
                );
                node = k;
            }
            let mut resources = Vec::new();
            for word in words {
                if let Some(r) = self.resource(line, &t, word) {
                    resources.push(r);
                }
            }
            if resources.is_empty() {
                self.note(
                    "haresources",
                    line,
                    &t,
                    "nothing on this line maps to hbd resources; no group was made from it",
                );
                continue;
            }
            // Named after what the group is for: its last service (the
            // application, after the address, disk and mount it needs),
            // else its first unit.
            let stem_of = |name: &str| {
                let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                let stem: String = stem
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
                    .collect();
                valid_name(&stem).then_some(stem)
            };
            let units: Vec<&str> = resources
                .iter()
                .filter_map(|r| match r {
                    ResOut::Unit { name, .. } => Some(name.as_str()),
                    _ => None,
                })
                .collect();
            let app = units.iter().rev().find(|u| u.ends_with(".service") && !u.contains('@'));
            let first_unit = app.or(units.first()).and_then(|u| stem_of(u));
            let n = self.groups.len() + 1;
            let mut name = first_unit.unwrap_or_else(|| format!("group{n}"));
            if self.groups.iter().any(|g| g.name == name) {
                name = format!("{name}-{n}");
            }
            self.groups.push(GroupOut { name, preferred: node, line, text: t.clone(), resources });
        }
    }

    fn resource(&mut self, line: usize, t: &str, word: &str) -> Option<ResOut> {
        let (kind, args): (&str, Vec<&str>) = match word.split_once("::") {
            Some((k, rest)) => (k, rest.split("::").collect()),
            None => (word, Vec::new()),
        };
        // A bare address is IPaddr.
        if args.is_empty() && word.split('/').next().is_some_and(|a| a.parse::<IpAddr>().is_ok()) {
            return self.vip(line, t, word, word);
        }
        let not_mapped = |this: &mut Self, why: &str| {
            this.note("haresources", line, t, format!("{word}: not mapped, because {why}"));
            None
        };
        match kind {
            // IPv6 addresses contain "::" themselves: take the rest as one spec.
            "IPv6addr" => match word.split_once("::").map(|(_, spec)| spec) {
                Some(spec) if !spec.is_empty() => self.vip(line, t, word, spec),
                _ => {
                    self.note("haresources", line, t, format!("{word}: no address given"));
                    None
                }
            },
            "IPaddr" | "IPaddr2" => match args.as_slice() {
                [spec, ..] => self.vip(line, t, word, spec),
                [] => {
                    self.note("haresources", line, t, format!("{word}: no address given"));
                    None
                }
            },
            "Filesystem" => self.filesystem(line, t, word, &args),
            "drbddisk" => match args.as_slice() {
                [r] if !r.is_empty() && *r != "all" => {
                    let unit = format!("drbd-promote@{}.service", systemd_escape(r));
                    self.need(format!(
                        "{unit}: drbd-utils' own unit (drbd-utils 9.x), no unit was written for it: install drbd-utils on every node, with DRBD resource {r:?} defined in /etc/drbd.d/"
                    ));
                    Some(ResOut::Unit {
                        note: format!("haresources:{line} {word}: drbd-utils' own unit promotes {r} to primary"),
                        name: unit,
                    })
                }
                _ => not_mapped(
                    self,
                    "drbd-promote@RES.service promotes one DRBD resource: name each one (drbddisk::r0 → drbd-promote@r0.service)",
                ),
            },
            "ldirectord" => {
                if let Some(cf) = args.first() {
                    self.note(
                        "haresources",
                        line,
                        t,
                        format!("{word}: ldirectord.service reads /etc/ha.d/ldirectord.cf; to use {cf} instead, override its ExecStart= in a drop-in"),
                    );
                }
                self.need(
                    "ldirectord.service: from Debian's ldirectord package, on every node (it reads /etc/ha.d/ldirectord.cf and needs IPVS, the ip_vs kernel module; without IPVS, HAProxy does the same job: docs/recipes/lvs-director.md)"
                        .to_string(),
                );
                Some(ResOut::Unit {
                    note: format!("haresources:{line} {word}: the ldirectord package's own unit"),
                    name: "ldirectord.service".to_string(),
                })
            }
            "apache" => {
                if let Some(cf) = args.first() {
                    self.note(
                        "haresources",
                        line,
                        t,
                        format!("{word}: Debian's apache2.service reads /etc/apache2/apache2.conf; the configuration {cf} is not carried over"),
                    );
                }
                self.need("apache2.service: from Debian's apache2 package, on every node".to_string());
                Some(ResOut::Unit {
                    note: format!("haresources:{line} {word}: Apache's own unit on Debian"),
                    name: "apache2.service".to_string(),
                })
            }
            "Delay" => self.delay(line, t, word, &args),
            "MailTo" => not_mapped(
                self,
                "hbd sends no mail; an [[alert]] agent does it on every event: path = \"/usr/share/pacemaker/alerts/alert_smtp.sh.sample\", recipient = the address",
            ),
            "WinPopup" => not_mapped(
                self,
                "hbd sends no WinPopup messages; an [[alert]] agent can (it gets the event in CRM_alert_* variables)",
            ),
            "AudibleAlarm" => not_mapped(
                self,
                "it beeps on the console of the node that holds the group; hbd has no such resource: an [[alert]] agent can",
            ),
            "SendArp" => not_mapped(
                self,
                "hbd sends gratuitous ARP for its own VIPs itself ([garp]); an address hbd does not own needs no announcement from it",
            ),
            "IPsrcaddr" => not_mapped(
                self,
                "hbd does not change routes; to make the VIP the source address of outgoing traffic, add a oneshot unit after the VIP with ExecStart=ip route change default via GATEWAY src ADDRESS and ExecStop= putting the old route back",
            ),
            "portblock" => not_mapped(
                self,
                "hbd does not manage firewall rules; add a oneshot unit (RemainAfterExit=yes) whose ExecStart=/ExecStop= insert and delete the iptables rule, where portblock stood in the group",
            ),
            "Xinetd" => not_mapped(
                self,
                "xinetd services are switched by editing xinetd's files; under systemd, put the service's .socket unit in the group instead",
            ),
            "LVM" => not_mapped(
                self,
                "hbd has no volume group resource; add a oneshot unit (RemainAfterExit=yes) with ExecStart=vgchange -a y VG and ExecStop=vgchange -a n VG, before the mounts",
            ),
            "Raid1" => not_mapped(
                self,
                "hbd has no software RAID resource; add a oneshot unit (RemainAfterExit=yes) with ExecStart=mdadm --assemble MD and ExecStop=mdadm --stop MD, before the mounts",
            ),
            "LinuxSCSI" => not_mapped(
                self,
                "it adds and removes SCSI disks through /proc/scsi/scsi, which current kernels no longer have; attach shared disks at boot instead",
            ),
            "ServeRAID" | "ICP" => not_mapped(
                self,
                "it moves merge groups of IBM ServeRAID / ICP Vortex controllers, hardware hbd cannot test; run the script from a oneshot unit if such a controller is still in use",
            ),
            "WAS" | "db2" | "ids" => not_mapped(
                self,
                "hbd starts systemd units: put the product's own unit (WebSphere, DB2, Informix) in the group",
            ),
            "OCF" => not_mapped(
                self,
                "hbd runs systemd units, not OCF resource agents: put the unit of the daemon the agent managed in the group",
            ),
            "hto-mapfuncs" => not_mapped(self, "it is not a resource: the other resource.d scripts source it"),
            _ => self.script(line, t, word, kind, &args),
        }
    }

    fn need(&mut self, what: String) {
        if !self.needs.contains(&what) {
            self.needs.push(what);
        }
    }

    fn add_unit(&mut self, name: &str, content: String, from: String) {
        // The same resource named on two lines is refused by the schema
        // later; write its unit once.
        if !self.units.iter().any(|u| u.name == name) {
            self.units.push(UnitFile { name: name.to_string(), content, from });
        }
    }

    fn header(&self, line: usize, word: &str) -> String {
        format!(
            "# Written by `hactl config import-heartbeat` from {}:{line} ({word}).\n\
             # hbd starts and stops it with its group: do not enable it.\n",
            self.dir.join("haresources").display()
        )
    }

    /// `Filesystem::DEVICE::/MOUNTPOINT[::TYPE[::OPTIONS]]` → a mount unit.
    fn filesystem(&mut self, line: usize, t: &str, word: &str, args: &[&str]) -> Option<ResOut> {
        let (dev, dir, fstype, options) = match args {
            [dev, dir] => (*dev, *dir, None, None),
            [dev, dir, fs] => (*dev, *dir, Some(*fs), None),
            [dev, dir, fs, opts] => (*dev, *dir, Some(*fs), Some(*opts)),
            _ => ("", "", None, None),
        };
        let Some(where_) = mount_point(dir).filter(|_| !dev.is_empty()) else {
            self.note(
                "haresources",
                line,
                t,
                format!(
                    "{word}: expected Filesystem::DEVICE::/MOUNTPOINT[::TYPE[::OPTIONS]] with an absolute mount point"
                ),
            );
            return None;
        };
        if where_ == "/" {
            self.note("haresources", line, t, format!("{word}: the root file system cannot move between nodes"));
            return None;
        }
        // Heartbeat's Filesystem took "-Lname"/"-Uuuid" as mount does.
        let what = if let Some(label) = dev.strip_prefix("-L") {
            format!("/dev/disk/by-label/{}", systemd_escape(label))
        } else if let Some(uuid) = dev.strip_prefix("-U") {
            format!("/dev/disk/by-uuid/{uuid}")
        } else {
            dev.to_string()
        };
        let unit = mount_unit(&where_);
        let mut content = self.header(line, word);
        content.push_str(
            "# Keep this file system out of /etc/fstab (or mark it noauto there): it\n\
             # must be mounted on one node at a time, the one that runs the group.\n",
        );
        let _ = write!(
            content,
            "\n[Unit]\nDescription={} for hbd (Heartbeat {})\n\n[Mount]\nWhat={}\nWhere={}\n",
            unit_value(&where_),
            unit_value(word),
            unit_value(&what),
            unit_value(&where_)
        );
        if let Some(fs) = fstype {
            let _ = writeln!(content, "Type={}", unit_value(fs));
        }
        if let Some(o) = options {
            let _ = writeln!(content, "Options={}", unit_value(o));
        }
        self.add_unit(&unit, content, format!("haresources:{line} {word}"));
        Some(ResOut::Unit { note: format!("haresources:{line} {word}: unit written"), name: unit })
    }

    /// `Delay::START[::STOP]`: pauses, as Heartbeat's Delay did (10 s, and
    /// the stop pause the start one, when not given).
    fn delay(&mut self, line: usize, t: &str, word: &str, args: &[&str]) -> Option<ResOut> {
        let secs = |s: &str| s.parse::<u32>().ok().filter(|n| *n <= 3600);
        let (start, stop) = match args {
            [] => (Some(10), Some(10)),
            [a] => (secs(a), secs(a)),
            [a, b] => (secs(a), secs(b)),
            _ => (None, None),
        };
        let (Some(start), Some(stop)) = (start, stop) else {
            self.note(
                "haresources",
                line,
                t,
                format!("{word}: expected Delay[::START-SECONDS[::STOP-SECONDS]], at most 3600 each"),
            );
            return None;
        };
        let unit = format!("heartbeat-delay-{start}-{stop}.service");
        let mut content = self.header(line, word);
        let _ = write!(
            content,
            "\n[Unit]\nDescription=Pause of {start} s at start and {stop} s at stop (Heartbeat {word})\n\n\
             [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep {start}\nExecStop=/bin/sleep {stop}\n\
             TimeoutSec={}\n",
            start.max(stop) + 30
        );
        self.add_unit(&unit, content, format!("haresources:{line} {word}"));
        Some(ResOut::Unit { note: format!("haresources:{line} {word}: unit written"), name: unit })
    }

    /// Any other name: the user's resource script, an installed unit, or an
    /// init script, in Heartbeat's search order (resource.d, then init.d).
    fn script(&mut self, line: usize, t: &str, word: &str, kind: &str, args: &[&str]) -> Option<ResOut> {
        let own = self.scripts.dir.as_ref().map(|d| d.join(kind)).filter(|p| p.is_file());
        if let Some(p) = own {
            let executable = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false);
            if !executable {
                self.note(
                    "haresources",
                    line,
                    t,
                    format!(
                        "{word}: {} is not executable; Heartbeat could not run it either: chmod 755 it on every node",
                        p.display()
                    ),
                );
            }
            let installed = format!("/etc/ha.d/resource.d/{kind}");
            let from = if p == Path::new(&installed) {
                "Heartbeat needed it there on every node too".to_string()
            } else {
                format!("a Heartbeat node has it already; else copy {}", p.display())
            };
            self.need(format!("{installed}: the resource script, unchanged, mode 0755, on every node ({from})"));
            return self.script_unit(line, t, word, kind, args, &installed, "the Heartbeat resource script");
        }
        let has_suffix = schema::UNIT_SUFFIXES.iter().any(|s| word.ends_with(s));
        if args.is_empty() && !has_suffix {
            let service = format!("{kind}.service");
            if self.scripts.host.has_unit(&service) {
                self.need(format!("{service}: installed on this machine; install the same package on every node"));
                return Some(ResOut::Unit {
                    note: format!("haresources:{line} {word}: the unit installed here"),
                    name: service,
                });
            }
        }
        if !has_suffix && self.scripts.host.init_script(kind).is_some() {
            // Where it is on the nodes, as on this machine.
            let installed = format!("/etc/init.d/{kind}");
            self.need(format!("{installed}: the init script, on every node (from the package that installed it here)"));
            return self.script_unit(line, t, word, kind, args, &installed, "the init script");
        }
        // Red Hat's name for Apache, in the guides' haresources.
        if kind == "httpd" && args.is_empty() && self.scripts.host.has_unit("apache2.service") {
            self.note(
                "haresources",
                line,
                t,
                format!("{word}: there is no httpd here; Debian's Apache is apache2.service, which is used"),
            );
            self.need("apache2.service: installed on this machine; install apache2 on every node".to_string());
            return Some(ResOut::Unit {
                note: format!("haresources:{line} {word}: Debian's name for it"),
                name: "apache2.service".to_string(),
            });
        }
        let where_ = match &self.scripts.dir {
            Some(d) => format!("{}, ", d.display()),
            None => String::new(),
        };
        if !args.is_empty() {
            self.note(
                "haresources",
                line,
                t,
                format!(
                    "{word}: not mapped, because there is no script {kind:?} in {where_}/etc/init.d: put the script in resource.d and import again, or write a unit and add {{ unit = ... }} to the group"
                ),
            );
            return None;
        }
        let name = if has_suffix { word.to_string() } else { format!("{word}.service") };
        if schema::check_unit(&name).is_err() || name.contains('@') {
            self.note(
                "haresources",
                line,
                t,
                format!("{word}: cannot turn this into a unit name; add the unit by hand"),
            );
            return None;
        }
        if !self.scripts.host.has_unit(&name) {
            let hint = if kind == "httpd" {
                " (Debian's Apache is apache2.service: install apache2 and put that unit in the group)"
            } else {
                ""
            };
            let missing = if has_suffix {
                format!("there is no {name} on this machine")
            } else {
                format!("there is no script {kind:?} in {where_}/etc/init.d and no {name} on this machine")
            };
            self.note(
                "haresources",
                line,
                t,
                format!(
                    "{word}: {missing}; the group names {name}: install the package that provides it on every node{hint}, or write that unit"
                ),
            );
        }
        Some(ResOut::Unit { note: format!("haresources:{line} {word}: CHECK that {name} exists on every node"), name })
    }

    /// A unit that runs a Heartbeat resource script or init script as
    /// Heartbeat did: `SCRIPT [ARGS] start` / `SCRIPT [ARGS] stop`.
    #[allow(clippy::too_many_arguments)]
    fn script_unit(
        &mut self,
        line: usize,
        t: &str,
        word: &str,
        kind: &str,
        args: &[&str],
        path: &str,
        what: &str,
    ) -> Option<ResOut> {
        let mut stem = systemd_escape(kind);
        for a in args {
            stem.push('-');
            stem.push_str(&systemd_escape(a));
        }
        let name = format!("{stem}.service");
        if name.len() > 255 || schema::check_unit(&name).is_err() {
            self.note(
                "haresources",
                line,
                t,
                format!("{word}: the unit name for it would be {name:?}, which systemd refuses; write a unit running {path} and add it by hand"),
            );
            return None;
        }
        let cmd = |op: &str| {
            std::iter::once(path).chain(args.iter().copied()).chain([op]).map(exec_word).collect::<Vec<_>>().join(" ")
        };
        let mut content = self.header(line, word);
        let _ = write!(
            content,
            "# It runs {what}\n#   {path}\n\
             # unchanged, with \"start\" and \"stop\" as Heartbeat did. The script returns\n\
             # once its resource is up, so the unit stays active after it\n\
             # (RemainAfterExit=yes) until hbd stops it. What the script started stays\n\
             # in this unit's cgroup, and whatever \"stop\" leaves running is killed:\n\
             # nothing of it outlives a failover. \"status\" is not run: Heartbeat asked\n\
             # it so as not to start a resource twice, and systemd does not start an\n\
             # active unit again.\n\
             \n[Unit]\nDescription=Heartbeat resource {} for hbd\n\n\
             [Service]\nType=oneshot\nRemainAfterExit=yes\n\
             # Debian's LSB hook would hand an init script's \"start\" back to systemctl.\n\
             Environment=_SYSTEMCTL_SKIP_REDIRECT=1\n\
             ExecStart={}\nExecStop={}\nTimeoutSec=5min\n",
            unit_value(word),
            cmd("start"),
            cmd("stop")
        );
        self.add_unit(&name, content, format!("haresources:{line} {word}"));
        Some(ResOut::Unit { note: format!("haresources:{line} {word}: unit written, runs {path}"), name })
    }

    /// `IP[/PREFIX[/IFACE[/BROADCAST]]]`.
    fn vip(&mut self, line: usize, t: &str, word: &str, spec: &str) -> Option<ResOut> {
        let mut parts = spec.split('/');
        let addr: IpAddr = match parts.next().and_then(|a| a.parse().ok()) {
            Some(a) => a,
            None => {
                self.note("haresources", line, t, format!("{word}: not an IP address"));
                return None;
            }
        };
        let mut notes = vec![format!("haresources:{line} {word}")];
        let prefix = match parts.next().filter(|p| !p.is_empty()) {
            Some(p) => match prefix_of(p, addr.is_ipv4()) {
                Some(p) => p,
                None => {
                    self.note("haresources", line, t, format!("{word}: {p:?} is not a netmask"));
                    return None;
                }
            },
            None => {
                let p = if addr.is_ipv4() { 24 } else { 64 };
                notes.push(format!("no netmask given, /{p} assumed: CHECK"));
                self.note("haresources", line, t, format!("{word}: no netmask given; /{p} was assumed: check it"));
                p
            }
        };
        let interface = match parts.next().filter(|p| !p.is_empty()) {
            Some(i) if valid_interface(i) => i.to_string(),
            Some(i) => {
                self.note("haresources", line, t, format!("{word}: {i:?} is not an interface name"));
                return None;
            }
            None => {
                let (iface, why) = self.guess_interface(line, t);
                notes.push(why);
                iface
            }
        };
        if parts.next().is_some() {
            notes.push("broadcast address dropped: the kernel derives it".to_string());
        }
        Some(ResOut::Vip { addr, prefix, interface, note: notes.join("; ") })
    }

    fn authkeys(&mut self, text: &str) -> Result<String, ImportError> {
        let path = self.dir.join("authkeys");
        let mut selected: Option<(u8, usize)> = None;
        // (id, method, secret, line)
        let mut keys: Vec<(u8, String, String, usize)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let mut it = t.splitn(3, char::is_whitespace);
            let first = it.next().unwrap_or_default();
            if first.eq_ignore_ascii_case("auth") {
                match it.next().map(str::trim).and_then(|i| i.parse::<u8>().ok()) {
                    Some(id) => selected = Some((id, line)),
                    None => {
                        return Err(ImportError::Invalid {
                            path,
                            line,
                            message: "expected \"auth N\" with N the key to use (1–255)".to_string(),
                        })
                    }
                }
                continue;
            }
            let Some(id) = first.parse::<u8>().ok().filter(|i| *i >= 1) else {
                // Do not echo the line: it may hold a secret.
                self.note("authkeys", line, "(not shown)", "not \"N METHOD SECRET\"; ignored");
                continue;
            };
            let method = it.next().unwrap_or_default().trim().to_ascii_lowercase();
            let secret = it.next().unwrap_or_default().trim().to_string();
            keys.push((id, method, secret, line));
        }
        let Some((sel, sel_line)) = selected.or_else(|| keys.first().map(|k| (k.0, 0))) else {
            return Err(ImportError::Invalid {
                path,
                line: 1,
                message: "no keys found; create an hbd key with `hactl keygen` instead".to_string(),
            });
        };
        if sel_line == 0 {
            self.note_file("authkeys", format!("no \"auth N\" line; key {sel} (the first) signs"));
        }
        let Some(pos) = keys.iter().position(|k| k.0 == sel) else {
            return Err(ImportError::Invalid {
                path,
                line: sel_line,
                message: format!(
                    "auth {sel} selects a key that is not defined; add \"{sel} sha1 SECRET\" or fix the auth line"
                ),
            });
        };
        // The selected key first: it signs; the others verify.
        let chosen = keys.remove(pos);
        keys.insert(0, chosen);
        let mut out = format!(
            "# hbd auth key imported from {}. Install as /etc/hbd/authkey, mode 0600, owned by root.\n\
             # The first key signs, every key verifies. Better: a fresh one from `hactl keygen`.\n",
            path.display()
        );
        let mut seen = Vec::new();
        for (i, (id, method, secret, line)) in keys.into_iter().enumerate() {
            let desc = format!("{id} {method} (secret not shown)");
            if method == "crc" {
                if i == 0 {
                    return Err(ImportError::Crc { path, line, id });
                }
                self.note("authkeys", line, &desc, "crc gives no authentication; this key was dropped");
                continue;
            }
            if method != "sha1" && method != "md5" {
                self.note("authkeys", line, &desc, "unknown method; this key was dropped");
                continue;
            }
            if secret.is_empty() {
                self.note("authkeys", line, &desc, "no secret; this key was dropped");
                continue;
            }
            if seen.contains(&id) {
                self.note("authkeys", line, &desc, "key ID defined twice; the first one was kept");
                continue;
            }
            seen.push(id);
            let secret = if secret.len() < super::MIN_SECRET_LEN {
                self.note(
                    "authkeys",
                    line,
                    &desc,
                    format!(
                        "the secret is shorter than {} bytes; key {id} is its SHA-256 in hex instead (the same on every node that imports this file); better: `hactl keygen`",
                        super::MIN_SECRET_LEN
                    ),
                );
                let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
                let mut hex = String::new();
                for b in d.as_ref() {
                    let _ = write!(hex, "{b:02x}");
                }
                let _ = writeln!(out, "# authkeys:{line}: key {id} ({method}), secret too short: SHA-256 of it");
                hex
            } else {
                let _ = writeln!(out, "# authkeys:{line}: key {id} ({method})");
                secret
            };
            let _ = writeln!(out, "{id} {secret}");
        }
        if seen.is_empty() {
            return Err(ImportError::Invalid {
                path,
                line: sel_line.max(1),
                message: "no usable key; create one with `hactl keygen`".to_string(),
            });
        }
        Ok(out)
    }

    fn timings(&mut self) -> [(&'static str, Duration, String); 4] {
        let src = |f: &Option<Src<Duration>>| f.as_ref().map(|f| format!("ha.cf:{} {}", f.line, f.text));
        let mut k = self.keepalive.as_ref().map(|f| f.value);
        let mut d = self.deadtime.as_ref().map(|f| f.value);
        let mut w = self.warntime.as_ref().map(|f| f.value);
        let mut i = self.initdead.as_ref().map(|f| f.value);
        let mut ks = src(&self.keepalive).unwrap_or_else(|| "not in ha.cf: hbd's default".to_string());
        let ds = src(&self.deadtime).unwrap_or_else(|| "not in ha.cf: derived".to_string());
        let mut ws = src(&self.warntime).unwrap_or_else(|| "not in ha.cf: derived".to_string());
        let mut is = src(&self.initdead).unwrap_or_else(|| "not in ha.cf: derived".to_string());
        let kv = *k.get_or_insert(schema::DEFAULT_KEEPALIVE);
        if kv.is_zero() {
            k = Some(schema::DEFAULT_KEEPALIVE);
            ks.push_str("; 0 is not allowed, hbd's default used");
            self.adjust(
                &self.keepalive.clone(),
                format!("keepalive 0 is not allowed; hbd's default {} is used", fmt_dur(schema::DEFAULT_KEEPALIVE)),
            );
        }
        let kv = k.unwrap_or(schema::DEFAULT_KEEPALIVE);
        let dv = *d.get_or_insert(schema::DEFAULT_DEADTIME.max(kv * 5));
        let mut kv = kv;
        if dv <= kv * 2 {
            let new = dv / 4;
            self.adjust(&self.keepalive.clone(), format!(
                "deadtime {} is not more than 2 × keepalive {} as hbd requires; keepalive lowered to {} to keep the same failover time",
                fmt_dur(dv), fmt_dur(kv), fmt_dur(new)
            ));
            ks.push_str(&format!("; lowered to {} (deadtime must be more than 2 × keepalive)", fmt_dur(new)));
            kv = new;
            k = Some(new);
        }
        let iv = *i.get_or_insert(schema::DEFAULT_INITDEAD.max(dv));
        if iv < dv {
            self.adjust(
                &self.initdead.clone(),
                format!("initdead {} is less than deadtime {}; raised to {}", fmt_dur(iv), fmt_dur(dv), fmt_dur(dv)),
            );
            is.push_str("; raised to deadtime (initdead must be at least deadtime)");
            i = Some(dv);
        }
        let default_w = if schema::DEFAULT_WARNTIME > kv && schema::DEFAULT_WARNTIME < dv {
            schema::DEFAULT_WARNTIME
        } else {
            (kv + dv) / 2
        };
        let wv = *w.get_or_insert(default_w);
        if wv <= kv || wv >= dv {
            let new = (kv + dv) / 2;
            self.adjust(
                &self.warntime.clone(),
                format!(
                    "warntime {} is not between keepalive {} and deadtime {}; set to {}",
                    fmt_dur(wv),
                    fmt_dur(kv),
                    fmt_dur(dv),
                    fmt_dur(new)
                ),
            );
            ws.push_str(&format!("; set to {} (must be between keepalive and deadtime)", fmt_dur(new)));
            w = Some(new);
        }
        [
            ("keepalive", k.unwrap_or(kv), ks),
            ("warntime", w.unwrap_or(default_w), ws),
            ("deadtime", d.unwrap_or(dv), ds),
            ("initdead", i.unwrap_or(iv), is),
        ]
    }

    fn adjust(&mut self, from: &Option<Src<Duration>>, why: String) {
        match from {
            Some(f) => self.note("ha.cf", f.line, &f.text.clone(), why),
            None => self.note_file("ha.cf", why),
        }
    }

    fn render(&mut self) -> String {
        let mut o = String::new();
        let dir = self.dir.display().to_string();
        let _ = writeln!(o, "# hbd.toml imported from the Heartbeat configuration in {dir}");
        o.push_str(
            "# (ha.cf, haresources, authkeys). Each part says where it came from.\n\
             # Review it, then install the same file on every node as /etc/hbd/hbd.toml.\n\n",
        );
        let timings = self.timings();
        o.push_str("[cluster]\n");
        o.push_str("name = \"heartbeat\"  # Heartbeat had no cluster name: choose one, the same on every node\n");
        for (key, value, src) in timings {
            let _ = writeln!(o, "{key} = {}  # {src}", q(&fmt_dur(value)));
        }
        match &self.port {
            Some(p) => {
                let _ = writeln!(o, "port = {}  # ha.cf:{} {}", p.value, p.line, p.text);
            }
            None => o.push_str("port = 694  # not in ha.cf: Heartbeat's and hbd's default\n"),
        }
        match &self.auto_failback {
            Some(a) => {
                let _ = writeln!(o, "auto_failback = {}  # ha.cf:{} {}", a.value, a.line, a.text);
            }
            None => o.push_str("auto_failback = true  # not in ha.cf: hbd's default\n"),
        }
        o.push_str("auth_key = \"/etc/hbd/authkey\"  # written from authkeys (see the import's output)\n");
        o.push_str("migration_threshold = 3  # hbd's default: unit failures before the group moves\n");
        o.push_str("fencing = \"off\"  # Heartbeat's stonith is not imported; see the list of unmapped lines\n");

        for n in &self.nodes {
            let _ = writeln!(o, "\n[[node]]  # ha.cf:{} {}\nname = {}", n.line, n.text, q(&n.value));
        }

        for l in &self.links {
            let _ = writeln!(o, "\n[[link]]  # {}", l.sources.join("; "));
            let _ = writeln!(o, "name = {}", q(&l.name));
            match &l.kind {
                LinkOut::Ucast { interface, peers } => {
                    let peers: Vec<String> = peers.iter().map(|p| q(p)).collect();
                    let _ = writeln!(o, "type = \"ucast\"\ninterface = {}", q(interface));
                    let _ = writeln!(
                        o,
                        "# Heartbeat's ucast names the other node only; list every node's address\n\
                         # here (a node skips its own) so that one file serves all nodes.\n\
                         peers = [{}]",
                        peers.join(", ")
                    );
                }
                LinkOut::Bcast { interface } => {
                    let _ = writeln!(o, "type = \"bcast\"\ninterface = {}", q(interface));
                }
                LinkOut::Mcast { interface, group, port, ttl } => {
                    let _ = writeln!(
                        o,
                        "type = \"mcast\"\ninterface = {}\ngroup = {}\nport = {port}\nttl = {ttl}",
                        q(interface),
                        q(group)
                    );
                }
                LinkOut::Serial { device } => {
                    let _ = writeln!(o, "type = \"serial\"\ndevice = {}", q(device));
                    match &self.baud {
                        Some(b) => {
                            let _ = writeln!(o, "baud = {}  # ha.cf:{} {}", b.value, b.line, b.text);
                        }
                        None => o.push_str("baud = 19200  # not in ha.cf: Heartbeat's default\n"),
                    }
                }
            }
        }
        if let (Some(b), false) = (&self.baud, self.links.iter().any(|l| matches!(l.kind, LinkOut::Serial { .. }))) {
            let (line, text) = (b.line, b.text.clone());
            self.note("ha.cf", line, &text, "baud without a serial link; ignored");
        }
        if let Some((line, text)) = self.first_ucast.clone() {
            self.note(
                "ha.cf",
                line,
                &text,
                "ucast names only the other node; add every node's address to the link's peers so one hbd.toml serves all nodes",
            );
        }
        // File order: ha.cf, haresources, authkeys, each by line.
        let rank = |u: &Unmapped| match u.file.file_name().and_then(|n| n.to_str()) {
            Some("ha.cf") => 0,
            Some("haresources") => 1,
            _ => 2,
        };
        self.unmapped.sort_by_key(|u| (rank(u), u.line));

        if !self.ping.is_empty() || self.deadping.is_some() {
            o.push_str("\n[ping]  # ping nodes (Heartbeat's ping/ping_group, used by ipfail)\n");
            let hosts: Vec<String> = self.ping.iter().map(|p| q(&p.value.to_string())).collect();
            let srcs: Vec<String> = {
                let mut lines: Vec<usize> = self.ping.iter().map(|p| p.line).collect();
                lines.dedup();
                lines.iter().map(|l| format!("ha.cf:{l}")).collect()
            };
            let _ = writeln!(o, "hosts = [{}]  # {}", hosts.join(", "), srcs.join(", "));
            o.push_str("interval = \"1s\"  # hbd's default\n");
            match &self.deadping {
                Some(d) => {
                    let _ = writeln!(o, "timeout = {}  # ha.cf:{} {}", q(&fmt_dur(d.value)), d.line, d.text);
                }
                None => o.push_str("timeout = \"1s\"  # hbd's default\n"),
            }
        }

        for g in &self.groups {
            let _ = writeln!(o, "\n[[group]]  # haresources:{} {}", g.line, g.text);
            let _ = writeln!(o, "name = {}", q(&g.name));
            let _ = writeln!(o, "preferred = {}  # the node named first on the line", q(&g.preferred));
            o.push_str("resources = [\n");
            for r in &g.resources {
                match r {
                    ResOut::Vip { addr, prefix, interface, note } => {
                        let _ = writeln!(
                            o,
                            "  {{ vip = {}, interface = {} }},  # {note}",
                            q(&format!("{addr}/{prefix}")),
                            q(interface)
                        );
                    }
                    ResOut::Unit { name, note } => {
                        let _ = writeln!(o, "  {{ unit = {} }},  # {note}", q(name));
                    }
                }
            }
            o.push_str("]\n");
        }

        for r in &self.respawn {
            let _ = writeln!(o, "\n[[respawn]]  # {}\nunit = {}", r.value.1, q(&r.value.0));
        }

        if !self.unmapped.is_empty() {
            o.push_str("\n# Not imported as it was (also printed by the import):\n");
            for u in &self.unmapped {
                let _ = writeln!(o, "#   {}", u.to_string().replace('\n', " "));
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_unit_names_follow_systemd_escape() {
        assert_eq!(mount_unit("/data"), "data.mount");
        assert_eq!(mount_unit("/srv/www"), "srv-www.mount");
        assert_eq!(mount_unit("/srv//www/"), "srv-www.mount");
        assert_eq!(mount_unit("/var/lib/my-app"), "var-lib-my\\x2dapp.mount");
        assert_eq!(mount_unit("/mnt/a b"), "mnt-a\\x20b.mount");
        assert_eq!(mount_unit("/"), "-.mount");
        // As systemd-escape --path: only a leading "." of the whole path is escaped.
        assert_eq!(mount_unit("/srv/.hidden"), "srv-.hidden.mount");
        assert_eq!(mount_unit("/.a"), "\\x2ea.mount");
        assert_eq!(mount_unit("/-x"), "\\x2dx.mount");
        assert_eq!(mount_unit("/a/./b"), "a-b.mount");
        assert_eq!(mount_unit("/\u{e9}"), "\\xc3\\xa9.mount");
        assert_eq!(mount_point("/a/../b"), None);
        assert_eq!(mount_point("data"), None);
        assert_eq!(systemd_escape("r0"), "r0");
        assert_eq!(systemd_escape(".hidden"), "\\x2ehidden");
    }

    #[test]
    fn heartbeat_times() {
        assert_eq!(hb_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(hb_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(hb_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(hb_duration("3s"), Some(Duration::from_secs(3)));
        assert_eq!(hb_duration("soon"), None);
        assert_eq!(hb_duration("-1"), None);
    }

    #[test]
    fn netmasks() {
        assert_eq!(prefix_of("24", true), Some(24));
        assert_eq!(prefix_of("255.255.255.0", true), Some(24));
        assert_eq!(prefix_of("255.255.0.255", true), None);
        assert_eq!(prefix_of("33", true), None);
        assert_eq!(prefix_of("64", false), Some(64));
    }

    #[test]
    fn unmapped_display() {
        let u = Unmapped {
            file: "/etc/ha.d/ha.cf".into(),
            line: 12,
            text: "debugfile /var/log/ha-debug".into(),
            why: "not needed, hbd logs to the journal".into(),
        };
        assert_eq!(u.to_string(), "ha.cf:12: \"debugfile /var/log/ha-debug\": not needed, hbd logs to the journal");
    }
}
