//! The one message nodes exchange: a heartbeat that carries the sender's
//! whole state. State, not commands, travels, so a lost or reordered frame
//! costs nothing that the next heartbeat does not repair.

use serde::{Deserialize, Serialize};

/// What a node is doing with one resource group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupState {
    /// Nothing of the group runs here.
    Stopped,
    /// Asked peers to let it start the group; nothing runs yet.
    Claiming,
    /// Starting resources in order.
    Starting,
    /// All resources started.
    Started,
    /// Stopping resources in reverse order.
    Stopping,
    /// A stop failed: the group may still run here and must not start
    /// anywhere until it is cleaned up or this node is fenced.
    Blocked,
}

impl GroupState {
    /// Whether the group may be running (or about to) on this node.
    pub fn holds(self) -> bool {
        !matches!(self, GroupState::Stopped)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Stopped => "stopped",
            GroupState::Claiming => "claiming",
            GroupState::Starting => "starting",
            GroupState::Started => "started",
            GroupState::Stopping => "stopping",
            GroupState::Blocked => "blocked",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            GroupState::Stopped => 0,
            GroupState::Claiming => 1,
            GroupState::Starting => 2,
            GroupState::Started => 3,
            GroupState::Stopping => 4,
            GroupState::Blocked => 5,
        }
    }
    pub fn from_code(c: u8) -> Option<GroupState> {
        Some(match c {
            0 => GroupState::Stopped,
            1 => GroupState::Claiming,
            2 => GroupState::Starting,
            3 => GroupState::Started,
            4 => GroupState::Stopping,
            5 => GroupState::Blocked,
            _ => return None,
        })
    }
}

/// The sender's view of one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    pub name: String,
    pub state: GroupState,
    /// The sender will not take this group (start failure or too many unit failures).
    pub failed: bool,
    pub failcount: u32,
    /// The sender knows that a stop of this group failed on a node it cannot
    /// hear now (that node's last word was "blocked"): nobody may start it
    /// until it is fenced or cleaned up. Relayed so that a node which never
    /// heard the blocked one (it booted later) keeps the group down too.
    pub held_down: bool,
}

/// An operator's wish, replicated to every node; the highest serial wins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntentKind {
    /// Node `node` gives up all groups (`on`) or may take them again.
    Standby { node: String, on: bool },
    /// Group `group` is pinned to `node` (None: no pin).
    Location { group: String, node: Option<String> },
    /// Nodes forget their failures of `group` and retry a blocked stop.
    Cleanup { group: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Intent {
    /// Lamport serial: one more than the highest the origin had seen.
    pub serial: u64,
    /// Node that accepted the command; breaks ties between equal serials.
    pub origin: String,
    pub kind: IntentKind,
}

/// A peer's acknowledgement that it has seen our frames up to a point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub node: String,
    pub generation: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Hash of the sender's configuration, to warn when nodes disagree.
    pub config_hash: u64,
    pub standby: bool,
    /// The sender is shutting down and gives its groups away.
    pub leaving: bool,
    /// Ping hosts the sender reaches (None: no ping hosts configured).
    pub ping: Option<u32>,
    pub groups: Vec<GroupReport>,
    pub intents: Vec<Intent>,
    /// The newest (generation, sequence) the sender has accepted from each peer.
    pub acks: Vec<Ack>,
    /// Peers the sender hears now. A claim waits while a peer hears a node
    /// the claimer does not: that node may still run the group.
    pub up: Vec<String>,
}
