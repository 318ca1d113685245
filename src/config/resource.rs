//! The resources a group is made of: plain data that the configuration
//! defines and the core sequences.

use std::time::Duration;

use super::Check;

/// One resource of a group, in start order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A floating address `addr/prefix` on `interface`.
    Vip { addr: std::net::IpAddr, prefix: u8, interface: String },
    /// A systemd unit, e.g. "nginx.service". `timeout` is the deadline of
    /// its start and stop jobs; without one, the unit's own
    /// `TimeoutStartSec=`/`TimeoutStopSec=` plus a margin. `check` probes
    /// the service while it runs here.
    Unit { name: String, timeout: Option<Duration>, check: Option<Check> },
}

impl Resource {
    /// A unit resource with the unit's own timeouts.
    pub fn unit(name: impl Into<String>) -> Resource {
        Resource::Unit { name: name.into(), timeout: None, check: None }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Vip { .. } => "vip",
            Resource::Unit { .. } => "unit",
        }
    }
    pub fn name(&self) -> String {
        match self {
            Resource::Vip { addr, prefix, .. } => format!("{addr}/{prefix}"),
            Resource::Unit { name, .. } => name.clone(),
        }
    }
    /// The resource's health check, if it has one.
    pub fn check(&self) -> Option<&Check> {
        match self {
            Resource::Unit { check, .. } => check.as_ref(),
            Resource::Vip { .. } => None,
        }
    }
    pub fn is_vip(&self) -> bool {
        matches!(self, Resource::Vip { .. })
    }
    /// Systemd unit name, if this resource is a unit.
    pub fn unit_name(&self) -> Option<&str> {
        match self {
            Resource::Unit { name, .. } => Some(name),
            Resource::Vip { .. } => None,
        }
    }
}
