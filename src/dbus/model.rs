//! The status as the org.hbd1 API carries it: what the daemon serves,
//! what `hactl` reads back and prints. Every state and note is the text
//! the bus shows, so both ends of the bus share one type; the core's own
//! [`crate::core::node::Status`] holds facts and is worded into this by
//! [`super::status_text`].

/// The cluster as one node sees it (the `org.hbd1.Manager` properties and
/// the node and group objects under it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    pub cluster: String,
    pub local: String,
    pub generation: u64,
    pub quorate: bool,
    pub nodes: Vec<NodeStatus>,
    pub groups: Vec<GroupStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    /// "up", "dead", "standby", "left", "unknown", "unverified", "leaving".
    pub state: String,
    pub local: bool,
    pub generation: u64,
    /// (link, "up"/"down", ms since last frame or -1).
    pub links: Vec<(String, String, i64)>,
    /// `hactl` reads 0 ("none") from the bus as `Some(0)`.
    pub ping: Option<u32>,
    /// The node's own checks (`[[node_check]]`; the local node only).
    pub checks: Vec<CheckStatus>,
    /// In standby, whatever `state` says.
    pub standby: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    /// "" for none.
    pub owner: String,
    pub state: String,
    pub preferred: String,
    /// (kind, name, state).
    pub resources: Vec<(String, String, String)>,
    pub failcount: u32,
    /// Why the group is not running where it should ("" when it does).
    pub note: String,
    pub checks: Vec<CheckStatus>,
    /// "" for none.
    pub pinned: String,
}

/// A health check, as one tuple of the `Checks` properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckStatus {
    pub name: String,
    pub probe: String,
    /// "healthy", "sick", "rising", "off".
    pub state: String,
    pub passes: u32,
    pub failures: u32,
    /// -1 before the first probe.
    pub latency_ms: i64,
    pub error: String,
}
