//! The simulator's platform: it records what the driver asks for, and the
//! world (`world.rs`) carries it out against its model of systemd, the
//! addresses and the network after each step — the driver itself is the
//! daemon's.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{self, AuthKeys, Config};
use crate::core::node::{Status, Volatile};
use crate::core::{CheckTarget, CommandError, Event, Message, Op, OpError};
use crate::dbus::{self, status_text};
use crate::driver::{Platform, Vip};

/// One operation the driver asked for.
#[derive(Debug)]
pub enum SimOp {
    Send {
        serial_links: bool,
        seq: u64,
        msg: Message,
    },
    Watch {
        group: String,
        resource: usize,
    },
    Unwatch {
        group: String,
        resource: usize,
    },
    /// A unit's start job, or a VIP added.
    Start {
        group: String,
        resource: usize,
    },
    Stop {
        group: String,
        resource: usize,
    },
    Readd {
        group: String,
        resource: usize,
    },
    Announce {
        addr: IpAddr,
    },
    Fence {
        node: String,
    },
    StartCheck {
        target: CheckTarget,
        session: u64,
    },
    StopCheck {
        target: CheckTarget,
    },
    SetPing {
        hosts: usize,
    },
    FollowRespawn {
        unit: String,
        delay: Duration,
    },
    StopRespawn {
        unit: String,
        stop_unit: bool,
    },
    Reply {
        id: u64,
        result: Result<(), CommandError>,
    },
    Event(Event),
}

#[derive(Default)]
pub struct SimPlatform {
    pub ops: Vec<SimOp>,
    /// VIPs whose announcements may go out.
    pub held: Vec<IpAddr>,
    /// The last snapshot published, for the status checks.
    pub published: Option<Status>,
    /// What a reader of the bus sees: the last snapshot as the daemon
    /// words it, with its link ages and check counts refreshed since (by
    /// the daemon's own `status_text::refresh`).
    pub shown: Option<dbus::Status>,
    /// A refresh happened since the world last looked.
    pub refreshed: bool,
}

impl Platform for SimPlatform {
    fn send(&mut self, serial_links: bool, seq: u64, msg: &Message) -> Result<(), String> {
        self.ops.push(SimOp::Send { serial_links, seq, msg: msg.clone() });
        Ok(())
    }
    fn watch_unit(&mut self, group: &str, resource: usize, _unit: &str) {
        self.ops.push(SimOp::Watch { group: group.to_string(), resource });
    }
    fn unwatch_unit(&mut self, group: &str, resource: usize) {
        self.ops.push(SimOp::Unwatch { group: group.to_string(), resource });
    }
    fn start_unit(&mut self, group: &str, resource: usize, _unit: &str) {
        self.ops.push(SimOp::Start { group: group.to_string(), resource });
    }
    fn stop_unit(&mut self, group: &str, resource: usize, _unit: &str) {
        self.ops.push(SimOp::Stop { group: group.to_string(), resource });
    }
    fn reset_failed(&mut self, _unit: &str) {}
    fn add_vip(&mut self, group: &str, resource: usize, _vip: &Vip) {
        self.ops.push(SimOp::Start { group: group.to_string(), resource });
    }
    fn remove_vip(&mut self, group: &str, resource: usize, _vip: &Vip) {
        self.ops.push(SimOp::Stop { group: group.to_string(), resource });
    }
    fn readd_vip(&mut self, group: &str, resource: usize, _vip: &Vip) {
        self.ops.push(SimOp::Readd { group: group.to_string(), resource });
    }
    fn hold_vip(&mut self, addr: IpAddr, held: bool) {
        self.held.retain(|a| *a != addr);
        if held {
            self.held.push(addr);
        }
    }
    fn announce(&mut self, vip: &Vip) {
        if self.held.contains(&vip.addr) {
            self.ops.push(SimOp::Announce { addr: vip.addr });
        }
    }
    fn fence(&mut self, node: &str) {
        self.ops.push(SimOp::Fence { node: node.to_string() });
    }
    fn start_check(&mut self, target: &CheckTarget, session: u64, _check: &config::Check) {
        self.ops.push(SimOp::StartCheck { target: target.clone(), session });
    }
    fn stop_check(&mut self, target: &CheckTarget) {
        self.ops.push(SimOp::StopCheck { target: target.clone() });
    }
    fn follow_respawn(&mut self, unit: &str, delay: Duration) {
        self.ops.push(SimOp::FollowRespawn { unit: unit.to_string(), delay });
    }
    fn stop_respawn(&mut self, unit: &str, stop_unit: bool) {
        self.ops.push(SimOp::StopRespawn { unit: unit.to_string(), stop_unit });
    }
    fn set_ping(&mut self, ping: &config::Ping) -> Result<(), String> {
        self.ops.push(SimOp::SetPing { hosts: ping.hosts.len() });
        Ok(())
    }
    fn reply(&mut self, id: u64, result: Result<(), CommandError>) {
        self.ops.push(SimOp::Reply { id, result });
    }
    fn event(&mut self, event: &Event) {
        self.ops.push(SimOp::Event(event.clone()));
    }
    fn op_finished(&mut self, _group: &str, _resource: &str, _op: Op, _result: &Result<(), OpError>) {}
    fn publish(&mut self, status: &Status) {
        self.published = Some(status.clone());
        self.shown = Some(status_text::worded(status));
    }
    fn refresh(&mut self, volatile: &Volatile) {
        if let Some(shown) = &mut self.shown {
            status_text::refresh(shown, volatile);
        }
        self.refreshed = true;
    }
    fn reconfigure(&mut self, _cfg: &Config, _keys: &AuthKeys) {}
}
