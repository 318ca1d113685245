//! A read-only picture of the node for status displays and the D-Bus API:
//! facts only. The daemon words them (`dbus::status_text`), so that what
//! operators read, and scripts grep, is written in one place.

use super::CheckStatus;
use crate::core::msg::ResourceState;
use crate::core::GroupState;

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub cluster: String,
    pub local: String,
    pub generation: u64,
    pub quorate: bool,
    pub nodes: Vec<NodeStatus>,
    pub groups: Vec<GroupStatus>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    pub state: NodeState,
    pub local: bool,
    pub generation: u64,
    /// (link, up, ms since last frame or -1).
    pub links: Vec<(String, bool, i64)>,
    pub ping: Option<u32>,
    /// The node's own checks (`[[node_check]]`; the local node only).
    pub checks: Vec<CheckStatus>,
    /// In standby (by `hactl standby`, or a failing node check), whatever
    /// its state: a dead node in standby stays in standby when it returns.
    pub standby: bool,
}

/// A node's membership as shown: the peer state, with standby and a
/// leave in progress shown over "up" (and unverified frames over
/// "unknown"), for they are what an operator acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Standby,
    Leaving,
    /// Not heard since we started; initdead has not passed.
    Unknown,
    /// Heard, but its frames do not verify.
    Unverified,
    Dead,
    Left,
}

impl NodeState {
    /// Every state, in the order the metrics list their series.
    pub const ALL: [NodeState; 7] = [
        NodeState::Up,
        NodeState::Dead,
        NodeState::Standby,
        NodeState::Leaving,
        NodeState::Left,
        NodeState::Unknown,
        NodeState::Unverified,
    ];
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    /// "" for none.
    pub owner: String,
    pub state: GroupState,
    pub preferred: String,
    /// (kind, name, state).
    pub resources: Vec<(String, String, ResourceState)>,
    pub failcount: u32,
    /// Why the group is not running where it should, if it is not.
    pub note: Option<GroupNote>,
    /// The health checks of its resources, on the node that runs it.
    pub checks: Vec<CheckStatus>,
    /// The node `hactl move` or `takeover` pinned it to ("": none).
    pub pinned: String,
}

/// Why a group does not run where it should: the first that applies, in
/// this order (the status shows one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupNote {
    /// `peer` sends frames this node cannot verify: it claims nothing.
    Unverified {
        peer: String,
    },
    /// A stop failed on `node`: the group may still run there.
    StopFailed {
        node: String,
    },
    /// `by` tells of a failed stop on a node it cannot reach.
    StopFailedRelayed {
        by: String,
    },
    /// The claim waits for an unreachable peer to be fenced.
    FenceWait,
    NoQuorum,
    /// No ping host and no peer answers.
    Isolated,
    /// Every node is in standby, failed or unreachable.
    NoEligible,
    /// Units of the group went down here within a job of systemd's (a
    /// `systemctl restart` under way): hbd waits for the job's end.
    RestartingOutside {
        units: Vec<String>,
    },
    /// Units of the group came up here outside hbd, where the group does
    /// not run: hbd is stopping them.
    Strays {
        units: Vec<String>,
    },
    /// `hactl move` or `takeover`, accepted by `origin`, pinned it to `node`.
    Pinned {
        node: String,
        origin: String,
    },
}

/// What [`Status`] shows that moves without the status serial (see
/// `Node::status_serial`): the ages of the peers' links, and the checks'
/// passes in a row and last latency. A reader refreshes these in place of
/// its last snapshot about once a keepalive rather than rebuilding a whole
/// status, which costs as much as the groups are many.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volatile {
    /// Per node in status order, its links' ages (ms since the last frame,
    /// -1 for none); the local node has no links.
    pub link_ages: Vec<Vec<i64>>,
    /// This node's own checks, in status order: (passes, latency_ms).
    pub node_checks: Vec<(u32, i64)>,
    /// The groups this node runs that have checks running, by position in
    /// the status: their checks' (passes, latency_ms), in status order.
    pub group_checks: Vec<(usize, Vec<(u32, i64)>)>,
}
