//! What nodes exchange: a small [`Beat`] every keepalive (liveness,
//! acknowledgements, the version of the sender's state) and the sender's
//! [`State`] in bounded [`Chunk`]s when it changes or a peer lacks it.
//! State, not commands, travels, so a lost or reordered frame costs nothing
//! that the next one does not repair.

use serde::{Deserialize, Serialize};

use super::UnitState;

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
    /// Every state, in the order the metrics list their series.
    pub const ALL: [GroupState; 6] = [
        GroupState::Stopped,
        GroupState::Claiming,
        GroupState::Starting,
        GroupState::Started,
        GroupState::Stopping,
        GroupState::Blocked,
    ];

    /// Whether the group may be running (or about to) on this node.
    pub fn holds(self) -> bool {
        !matches!(self, GroupState::Stopped)
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
    /// Where the group runs on the sender (claiming, starting, started,
    /// stopping or blocked): each resource's state there, in the group's
    /// order, units as the sender's systemd reports them. Empty elsewhere,
    /// and from nodes of an older release. Peers show these, so that no node
    /// shows a unit started that its owner's systemd says is not.
    pub resources: Vec<ResourceState>,
}

/// A resource as a node knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceState {
    /// What systemd says, where hbd follows the unit.
    Unit(UnitState),
    /// By hbd's own bookkeeping (a VIP, or a unit not yet followed).
    Starting,
    Stopping,
    Started,
    Stopped,
    /// On a peer that does not say (a node of an older release).
    Unknown,
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

/// A peer's acknowledgement that it has applied our state up to a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub node: String,
    pub generation: u64,
    /// The newest version of that node's state (see [`Beat::state_version`])
    /// applied here, complete.
    pub version: u64,
}

/// The small message every node sends every keepalive on every link: it
/// carries liveness and acknowledgements, never the groups, so its size
/// depends on the number of nodes only (see `wire::body` for the bound).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beat {
    /// Hash of the sender's configuration, to warn when nodes disagree.
    pub config_hash: u64,
    pub standby: bool,
    /// The sender is shutting down and gives its groups away.
    pub leaving: bool,
    /// The sender holds no group in any form (with `leaving`: it has left).
    pub idle: bool,
    /// The sender has heard every peer or given up on it: only then do its
    /// acknowledgements count for a claim.
    pub settled: bool,
    /// Ping hosts the sender reaches (None: no ping hosts configured).
    pub ping: Option<u32>,
    /// Version of the sender's [`State`] at the time of this beat, counted
    /// from 1 within the sender's generation; it grows whenever the state
    /// changes. The state itself travels in [`Chunk`]s.
    pub state_version: u64,
    /// For each peer the sender has heard: the newest version of that
    /// peer's state it has applied.
    pub acks: Vec<Ack>,
    /// Peers the sender hears now. A claim waits while a peer hears a node
    /// the claimer does not: that node may still run the group.
    pub up: Vec<String>,
    /// False for the liveness-only form sent on serial links: `acks` and
    /// `up` were left out and say nothing.
    pub full: bool,
}

impl Beat {
    /// The form sent on serial links: liveness only, size independent of the
    /// cluster's size.
    pub fn liveness_only(&self) -> Beat {
        Beat { acks: Vec::new(), up: Vec::new(), full: false, ..self.clone() }
    }
}

/// A node's replicated state: what it does with each group, and the
/// operator intents it knows. Sent in chunks, applied only when complete.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    pub groups: Vec<GroupReport>,
    pub intents: Vec<Intent>,
}

/// One piece of the encoded [`State`] of version `version`: `data` is bytes
/// `index * CHUNK_DATA ..` of the encoding (`wire::encode_state`), which is
/// `count` chunks long and has digest `digest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub version: u64,
    pub index: u32,
    pub count: u32,
    pub digest: u64,
    pub data: Vec<u8>,
}

/// What travels between nodes; each is one frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Beat(Beat),
    Chunk(Chunk),
}

/// Whether, and in what form, a message also goes on serial links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Serial {
    /// UDP links only.
    No,
    /// A beat, in its liveness-only form.
    Liveness,
    /// As it is (a small cluster whose state fits one frame and whose
    /// serial lines can carry it: like hbd 0.1, a serial link alone then
    /// runs the cluster).
    Whole,
}

impl Message {
    /// What goes out on a link: everything on UDP links; on serial links
    /// what `serial` says. The shell and the simulator both use this.
    pub fn for_link(&self, serial_link: bool, serial: Serial) -> Option<Message> {
        match (self, serial) {
            _ if !serial_link => Some(self.clone()),
            (_, Serial::Whole) => Some(self.clone()),
            (Message::Beat(b), Serial::Liveness) => Some(Message::Beat(b.liveness_only())),
            _ => None,
        }
    }
}
