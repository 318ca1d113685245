//! What the driver needs from the machine it runs on. Two implementations:
//! the real one (`shell::platform`: systemd over D-Bus, rtnetlink, packet
//! sockets) and the simulator's (`sim::platform`: a modelled systemd and
//! network). Everything here only carries out; what to do and when is the
//! driver's and the core's.
//!
//! Operations answer later, as inputs to the driver: a unit or VIP job with
//! [`Driver::op_done`](super::Driver::op_done), a unit's state changes with
//! `Input::UnitState`, a fence with `Input::FenceDone`, a probe with
//! `Input::CheckResult`, a respawn unit that went down with
//! [`Driver::respawn_down`](super::Driver::respawn_down).

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{self, AuthKeys, Config};
use crate::core::node::{Status, Volatile};
use crate::core::{CheckTarget, CommandError, Event, Message, Op, OpError};

/// A VIP as the platform adds, removes and announces it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
    pub interface: String,
}

pub trait Platform {
    /// Seal one message and send it on every link of one kind (serial links
    /// or the others). An error means the message could not be sealed
    /// (too large for a frame).
    fn send(&mut self, serial_links: bool, seq: u64, msg: &Message) -> Result<(), String>;

    /// Follow a group unit from now on: every state change is reported as
    /// `Input::UnitState` (the first report is its state when the watch
    /// began). Following a unit already followed changes nothing.
    fn watch_unit(&mut self, group: &str, resource: usize, unit: &str);
    fn unwatch_unit(&mut self, group: &str, resource: usize);
    /// Queue a start / stop job, after every job of the same unit asked for
    /// before it and, for a start, once the watch is in place.
    fn start_unit(&mut self, group: &str, resource: usize, unit: &str);
    fn stop_unit(&mut self, group: &str, resource: usize, unit: &str);
    /// Clear systemd's failed state and start limit of a unit.
    fn reset_failed(&mut self, unit: &str);

    /// Add a VIP (and announce it once added) / remove it.
    fn add_vip(&mut self, group: &str, resource: usize, vip: &Vip);
    fn remove_vip(&mut self, group: &str, resource: usize, vip: &Vip);
    /// Add again a VIP something else removed; a failure is reported as
    /// `Input::ResourceFailed`, a success is announced.
    fn readd_vip(&mut self, group: &str, resource: usize, vip: &Vip);
    /// Whether announcements of this address may go out: they stop the
    /// moment a VIP is released, or a late one would pull the LAN back.
    fn hold_vip(&mut self, addr: IpAddr, held: bool);
    /// Gratuitous ARP / unsolicited NA for a VIP this node holds.
    fn announce(&mut self, vip: &Vip);

    /// Start the fence unit of a peer (`Input::FenceDone`).
    fn fence(&mut self, node: &str);
    /// Probe a check every interval until stopped (`Input::CheckResult`).
    fn start_check(&mut self, target: &CheckTarget, session: u64, check: &config::Check);
    fn stop_check(&mut self, target: &CheckTarget);
    /// After `delay`, start a respawn unit and follow it until it goes down
    /// (reported to `Driver::respawn_down`) or `stop_respawn`.
    fn follow_respawn(&mut self, unit: &str, delay: Duration);
    /// Stop following a respawn unit; `stop_unit`: stop the unit too (a
    /// process that exits waits for such stops first).
    fn stop_respawn(&mut self, unit: &str, stop_unit: bool);
    /// Measure the reachability of these ping hosts (none: stop measuring),
    /// reporting changes as `Input::Ping`.
    fn set_ping(&mut self, ping: &config::Ping) -> Result<(), String>;

    /// Answer an operator's command.
    fn reply(&mut self, id: u64, result: Result<(), CommandError>);
    /// Something the core reports (the journal, alerts, metrics, signals).
    fn event(&mut self, event: &Event);
    /// A group unit or VIP job finished (alerts).
    fn op_finished(&mut self, group: &str, resource: &str, op: Op, result: &Result<(), OpError>);
    /// A new snapshot for the API and the status line.
    fn publish(&mut self, status: &Status);
    /// Bring the last snapshot's link ages and check counts up to date
    /// (about once a keepalive, between publishes).
    fn refresh(&mut self, volatile: &Volatile);
    /// A reload was accepted: the platform's own settings follow the file,
    /// and frames are signed with its keys.
    fn reconfigure(&mut self, cfg: &Config, keys: &AuthKeys);
}
