//! What the real platform finds on the machine before the core starts (and
//! at a reload): each group resource's state now and the group units' own
//! job timeouts. The driver decides what is adopted.

use futures::StreamExt;
use tracing::warn;

use super::platform::RealPlatform;
use crate::config::{Config, Resource};
use crate::core::{UnitState, UnitTimeouts};
use crate::driver::{Found, Present};

/// Questions to systemd in flight at once (the system bus allows one
/// connection 128 pending replies).
const BUS_IN_FLIGHT: usize = 32;

impl RealPlatform {
    /// What the platform finds before the core starts: the group units' own
    /// job timeouts and each resource's state now (the driver decides what is
    /// adopted).
    pub async fn found(&self, cfg: &Config) -> Found {
        let p = self;
        let own = p.own_service.as_deref();
        let resources: Vec<(&str, usize, &Resource)> = cfg
            .groups
            .iter()
            .flat_map(|g| g.resources.iter().enumerate().map(|(ri, r)| (g.name.as_str(), ri, r)))
            .collect();
        // A few questions in flight at once: a thousand groups are a thousand
        // round trips, but the bus allows a connection only so many pending.
        let probes = futures::stream::iter(resources).map(|(group, ri, r)| async move {
            let present = match r {
                Resource::Vip { addr, interface, .. } => match p.netlink.present(*addr, interface).await {
                    Ok(on) => Present::Vip(on),
                    Err(e) => {
                        warn!(HBD_GROUP = %group, "cannot tell whether {addr} is on {interface} ({e}); not adopting it, stopping its group here: check ip addr show {interface}");
                        Present::Unknown
                    }
                },
                Resource::Unit { name, .. } => match p.systemd.active_state(name).await {
                    Ok(active) => {
                        let sub = p.systemd.sub_state(name).await.unwrap_or_default();
                        let state = UnitState { active, sub, ..UnitState::default() };
                        if let Some(own) = own {
                            p.warn_ordered_before(group, name, own).await;
                        }
                        Present::Unit { state, enabled: p.systemd.is_enabled(name).await.unwrap_or(false) }
                    }
                    Err(e) => {
                        warn!(HBD_GROUP = %group, HBD_UNIT = %name, "cannot read the state of {name} ({e}); not adopting it, stopping its group here: check systemctl status {name}");
                        Present::Unknown
                    }
                },
            };
            (group.to_string(), ri, present)
        });
        let resources = probes.buffered(BUS_IN_FLIGHT).collect().await;
        Found { timeouts: self.unit_timeouts(cfg).await, resources }
    }

    /// A group unit ordered before hbd's own unit (Pacemaker orders its
    /// resources so) hangs a shutdown: the unit's stop waits for hbd's,
    /// and hbd, leaving, stops the unit first; its stop joins the queued
    /// one, and both wait until hbd's `TimeoutStopSec`.
    async fn warn_ordered_before(&self, group: &str, unit: &str, own: &str) {
        if self.systemd.ordered_before(unit).await.is_ok_and(|b| b.iter().any(|u| u == own)) {
            warn!(HBD_EVENT = "unit-order", HBD_GROUP = %group, HBD_UNIT = %unit, "{}", ordered_before(group, unit, own));
        }
    }

    /// What systemd says each group unit's job timeouts are (where the
    /// resource sets none).
    pub async fn unit_timeouts(&self, cfg: &Config) -> Vec<(String, usize, UnitTimeouts)> {
        let systemd = &self.systemd;
        let units: Vec<(&str, usize, &str)> = cfg
            .groups
            .iter()
            .flat_map(|g| {
                g.resources.iter().enumerate().filter_map(|(ri, r)| match r {
                    Resource::Unit { name, timeout: None, .. } => Some((g.name.as_str(), ri, name.as_str())),
                    _ => None,
                })
            })
            .collect();
        let read = futures::stream::iter(units)
            .map(|(group, ri, name)| async move { (group, ri, name, systemd.timeouts(name).await) })
            .buffered(BUS_IN_FLIGHT);
        let mut out = Vec::new();
        for (group, ri, name, r) in read.collect::<Vec<_>>().await {
            match r {
                Ok(Some(t)) => out.push((group.to_string(), ri, t)),
                Ok(None) => {}
                Err(e) => warn!(HBD_UNIT = %name, HBD_GROUP = %group, "cannot read the timeouts of {name}: {e}"),
            }
        }
        out
    }
}

/// What is wrong with a group unit ordered before hbd's own unit, and what
/// to remove: said by hbd at start and by `hactl config check`.
pub fn ordered_before(group: &str, unit: &str, own: &str) -> String {
    format!(
        "{unit} of group {group} is ordered before {own}: at a shutdown its stop would wait for hbd's, and hbd's \
         own stop of it for that one, until {own} times out; remove the ordering (Before={own} in the unit, or \
         After={unit} in {own}; see systemctl cat {unit} {own})"
    )
}
