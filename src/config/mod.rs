//! `/etc/hbd/hbd.toml`: the typed model every other layer uses, its parser
//! and validator, and the auth key file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod alert_time;
mod authkey;
pub mod check;
mod digest;
mod error;
pub mod heartbeat;
mod resource;
mod schema;

pub use authkey::{generate_auth_keys, load_auth_keys, parse_auth_keys, MIN_SECRET_LEN};
pub use check::{Check, NodeCheck, Probe};
pub use error::ConfigError;
pub use heartbeat::{
    import_heartbeat, import_heartbeat_on, import_heartbeat_texts, Host, Import, ImportError, UnitFile, Unmapped,
};
pub use resource::Resource;
pub use schema::{load, parse, DEFAULT_ALERT_TIMEOUT, UNIT_SUFFIXES};

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/hbd/hbd.toml";
/// The default location of the auth key file.
pub const DEFAULT_AUTH_KEY: &str = "/etc/hbd/authkey";

/// The shortest deadtime the frontier benchmark found free of false
/// failovers at 20 % heartbeat loss per link with every core busy (the
/// shortest it tries; docs/benchmarks.md). Shorter ones are allowed, and
/// `hactl config check` warns.
pub const STABLE_DEADTIME: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this was read from, for messages.
    pub path: PathBuf,
    pub cluster: Cluster,
    pub nodes: Vec<NodeConf>,
    pub links: Vec<Link>,
    pub ping: Ping,
    pub garp: Garp,
    pub groups: Vec<Group>,
    pub respawn: Vec<Respawn>,
    /// Checks of the node itself (`[[node_check]]`).
    pub node_checks: Vec<NodeCheck>,
    /// `[metrics]`: None unless the table is present (off by default).
    pub metrics: Option<Metrics>,
    /// `[[alert]]`: Pacemaker-compatible alert agents, in file order.
    pub alerts: Vec<Alert>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fencing {
    Off,
    /// Fence an unreachable peer (hbd-fence@NODE.service) before taking its groups.
    Required,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub keepalive: Duration,
    pub warntime: Duration,
    pub deadtime: Duration,
    pub initdead: Duration,
    pub port: u16,
    pub auto_failback: bool,
    pub auth_key: PathBuf,
    pub migration_threshold: u32,
    pub fencing: Fencing,
    /// A group's fail count on a node expires this long after its last
    /// failure (zero: never), as Pacemaker's `failure-timeout`.
    pub failure_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeConf {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub name: String,
    pub kind: LinkKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LinkKind {
    /// UDP to each address in `peers` (own addresses skipped) on `port`.
    Ucast {
        interface: String,
        peers: Vec<IpAddr>,
        port: u16,
    },
    /// UDP broadcast on `interface`.
    Bcast {
        interface: String,
        port: u16,
    },
    Mcast {
        interface: String,
        group: IpAddr,
        port: u16,
        ttl: u32,
    },
    Serial {
        device: PathBuf,
        baud: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Ping {
    pub hosts: Vec<IpAddr>,
    /// How often each host is probed.
    pub interval: Duration,
    /// A host counts as unreachable after this long without an answer.
    pub timeout: Duration,
}

/// Gratuitous ARP / unsolicited NA after taking a VIP.
#[derive(Clone, Debug, PartialEq)]
pub struct Garp {
    /// Packets in each burst.
    pub count: u32,
    /// Gap between packets of a burst.
    pub interval: Duration,
    /// A second burst this long after the first (zero: none).
    pub repeat_after: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub preferred: String,
    /// Started in this order, stopped in reverse.
    pub resources: Vec<Resource>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Respawn {
    pub unit: String,
}

/// The Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    pub listen: Listen,
}

/// Where the metrics endpoint listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(std::net::SocketAddr),
    /// An absolute path; the socket is created there (mode 0666: reading is
    /// open to all, as on the bus).
    Unix(PathBuf),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "{a}"),
            Listen::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The kinds of event an alert agent may be given (`CRM_alert_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    Node,
    Resource,
    Fencing,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [AlertKind::Node, AlertKind::Resource, AlertKind::Fencing];
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Node => "node",
            AlertKind::Resource => "resource",
            AlertKind::Fencing => "fencing",
        }
    }
}

/// An alert agent: an executable run once per event, as Pacemaker runs its
/// alert agents, with `CRM_alert_*` in its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub path: PathBuf,
    /// `CRM_alert_recipient` (a file, an address: the agent's business).
    pub recipient: String,
    /// One run of the agent is killed after this long.
    pub timeout: Duration,
    /// The kinds of event it is given.
    pub select: Vec<AlertKind>,
    /// The agent's own settings, set in its environment as given (what
    /// Pacemaker calls the alert's options or instance attributes, e.g.
    /// `trap_community` of alert_snmp.sh, `email_sender` of alert_smtp.sh).
    pub options: Vec<(String, String)>,
    /// How `CRM_alert_timestamp` is written (Pacemaker's `timestamp-format`).
    pub timestamp_format: String,
}

impl Config {
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }
}

/// The auth key file's keys, in file order: the first signs, all verify.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKeys {
    pub keys: Vec<(u8, Vec<u8>)>,
}

impl std::fmt::Debug for AuthKeys {
    // Never print secrets, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("AuthKeys").field("ids", &ids).finish()
    }
}
