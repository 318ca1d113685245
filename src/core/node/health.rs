//! Health checks: the core counts the shell's probe results and decides.
//! A resource's check runs while the resource is up here. Its start is
//! over once the check has passed `rise` times in a row: until then
//! failures are those of a service still coming up, and count for nothing
//! but the start's deadline (a Java server or a database in recovery
//! refuses connections for seconds after systemd says it started; counted
//! toward `fall`, they had it restarted and moved until no node would run
//! it). Not risen by the deadline, the start has failed. Once healthy,
//! `fall` failures in a row are a failure of that resource (restarted in
//! place, counted toward `migration_threshold`, then moved). A node check
//! runs always; while it is sick the node is in standby.

use std::time::Duration;

use super::{ConfigAt, GroupIdx, Node, Time};
use crate::config::{Check, Resource};
use crate::core::{Action, CheckTarget, Event};

/// One check's counts, here.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckTrack {
    /// The session of the running check; 0: not running.
    pub session: u64,
    /// The check as started (to notice a reload that changed it).
    pub check: Option<Check>,
    /// `None` until `rise` passes or `fall` failures in a row decide.
    pub healthy: Option<bool>,
    pub passes: u32,
    pub failures: u32,
    pub latency: Option<Duration>,
    pub error: String,
    /// When `healthy` last changed.
    pub since: Time,
    /// A resource's check begun by a start of hbd's: its failures before
    /// the first rise are those of a service coming up.
    pub after_start: bool,
    /// By when such a check must have risen (the resource's start deadline,
    /// from the start's end); `None`: no deadline.
    pub rise_by: Option<Time>,
}

impl CheckTrack {
    pub fn running(&self) -> bool {
        self.session != 0
    }
    /// Begun by hbd's start of its resource and not yet risen: that start
    /// is not over.
    pub fn coming_up(&self) -> bool {
        self.running() && self.after_start && self.healthy.is_none()
    }
    pub fn state(&self) -> CheckState {
        match (self.running(), self.healthy) {
            (false, _) => CheckState::Off,
            (true, None) => CheckState::Rising,
            (true, Some(true)) => CheckState::Healthy,
            (true, Some(false)) => CheckState::Sick,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckState {
    /// Not running here.
    Off,
    /// Started, not yet `rise` passes or `fall` failures in a row.
    Rising,
    Healthy,
    Sick,
}

impl CheckState {
    /// Every state, in the order the metrics list their series.
    pub const ALL: [CheckState; 4] = [CheckState::Healthy, CheckState::Sick, CheckState::Rising, CheckState::Off];
}

/// A check as `status()` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckStatus {
    /// The resource it probes (a unit), or the node check's name.
    pub name: String,
    /// What it probes: a URL, `tcp HOST:PORT`, a unit.
    pub probe: String,
    pub state: CheckState,
    /// Passes and failures in a row.
    pub passes: u32,
    pub failures: u32,
    /// The last probe's duration; -1 before the first.
    pub latency_ms: i64,
    /// Why the last probe that failed failed.
    pub error: String,
}

impl CheckStatus {
    fn of(name: String, probe: String, t: &CheckTrack) -> CheckStatus {
        CheckStatus {
            name,
            probe,
            state: t.state(),
            passes: t.passes,
            failures: t.failures,
            latency_ms: t.latency.map_or(-1, |l| l.as_millis() as i64),
            error: t.error.clone(),
        }
    }
}

impl Node {
    fn next_session(&mut self) -> u64 {
        self.check_session += 1;
        self.check_session
    }

    /// Begin probing resource `r` of group `gi`, if it has a check:
    /// `started` after hbd's own start of it, else for a unit found running
    /// (hbd's restart, a reload that changed the check), whose failures
    /// count toward `fall` from the first probe.
    pub(super) fn start_check(&mut self, gi: GroupIdx, r: usize, started: bool) {
        let Some(check) = self.cfg.group_at(gi).resources[r].check().cloned() else { return };
        if self.groups[gi].checks[r].running() {
            return;
        }
        let session = self.next_session();
        let now = self.now;
        let rise_by =
            if started { self.op_timeout(gi, r, crate::core::Op::Start).map(|d| now.saturating_add(d)) } else { None };
        self.groups[gi].checks[r] = CheckTrack {
            session,
            check: Some(check.clone()),
            since: now,
            after_start: started,
            rise_by,
            ..CheckTrack::default()
        };
        let target = CheckTarget::Resource { group: self.groups[gi].name.clone(), resource: r };
        self.out.push(Action::StartCheck { target, session, check });
        self.status_moved = true;
    }

    /// Stop probing resource `r` of group `gi` (it stops or failed).
    pub(super) fn stop_check(&mut self, gi: GroupIdx, r: usize) {
        let Some(t) = self.groups[gi].checks.get_mut(r) else { return };
        if !t.running() {
            return;
        }
        *t = CheckTrack::default();
        let target = CheckTarget::Resource { group: self.groups[gi].name.clone(), resource: r };
        self.out.push(Action::StopCheck { target });
        self.status_moved = true;
    }

    /// After a reload: checks whose definition changed begin again, checks
    /// removed stop, checks added to a resource that is up begin; node
    /// checks follow the file.
    pub(super) fn refresh_checks(&mut self) {
        for gi in self.groups.indices() {
            let n = self.cfg.group_at(gi).resources.len();
            self.groups[gi].checks.resize_with(n, CheckTrack::default);
            for r in 0..n {
                let want = self.cfg.group_at(gi).resources[r].check().cloned();
                let t = &self.groups[gi].checks[r];
                if t.running() && t.check != want {
                    self.stop_check(gi, r);
                }
                let g = &self.groups[gi];
                if want.is_some() && g.up[r] && g.state.holds() && g.busy != Some((r, crate::core::Op::Stop)) {
                    self.start_check(gi, r, false);
                }
            }
        }
        self.align_node_checks();
        self.start_node_checks();
    }

    /// `node_checks` in the file's order, one per `[[node_check]]`: a check
    /// removed or changed by a reload stops, one kept keeps its counts.
    fn align_node_checks(&mut self) {
        let mut tracks = std::mem::take(&mut self.node_checks);
        for (name, t) in &tracks {
            let kept = self.cfg.node_checks.iter().find(|c| &c.name == name);
            if t.running() && kept.is_none_or(|c| Some(&c.check) != t.check.as_ref()) {
                self.out.push(Action::StopCheck { target: CheckTarget::Node { name: name.clone() } });
            }
        }
        self.node_checks = self
            .cfg
            .node_checks
            .iter()
            .map(|c| {
                let kept = tracks.iter_mut().find(|(n, t)| n == &c.name && Some(&c.check) == t.check.as_ref());
                (c.name.clone(), kept.map(|(_, t)| std::mem::take(t)).unwrap_or_default())
            })
            .collect();
    }

    /// Node checks run from the first step on. Called on every step: with
    /// the tracks in the file's order it looks at a flag per check (it
    /// searched by name and cloned each check's definition, per step, which
    /// with 100 node checks was a fifth of hbd's CPU).
    pub(super) fn start_node_checks(&mut self) {
        if self.node_checks.len() != self.cfg.node_checks.len() {
            self.align_node_checks();
        }
        for i in 0..self.node_checks.len() {
            if self.node_checks[i].1.running() {
                continue;
            }
            let nc = self.cfg.node_checks[i].clone();
            let session = self.next_session();
            let now = self.now;
            self.node_checks[i].1 =
                CheckTrack { session, check: Some(nc.check.clone()), since: now, ..Default::default() };
            self.out.push(Action::StartCheck { target: CheckTarget::Node { name: nc.name }, session, check: nc.check });
        }
    }

    /// A failing node check puts this node in standby.
    pub(super) fn sick(&self) -> bool {
        self.node_checks.iter().any(|(_, t)| t.healthy == Some(false))
    }

    /// Counts one probe's result; returns whether it moved anything but
    /// counts and a latency (a pass after passes does not, and needs no
    /// step: with 100 checks those are most of the inputs).
    pub(super) fn on_check_result(
        &mut self,
        target: CheckTarget,
        session: u64,
        ok: bool,
        detail: String,
        latency: Duration,
    ) -> bool {
        let now = self.now;
        let track = match &target {
            CheckTarget::Resource { group, resource } => {
                self.names.groups.get(group).and_then(|&gi| self.groups[gi].checks.get_mut(*resource))
            }
            CheckTarget::Node { name } => self.node_checks.iter_mut().find(|(n, _)| n == name).map(|(_, t)| t),
        };
        let Some(track) = track else { return false };
        if session == 0 || track.session != session {
            return false;
        }
        // A resource still coming up is not sick yet: its start's deadline
        // decides (`expire_rising`).
        let coming_up = track.coming_up();
        let Some((rise, fall)) = track.check.as_ref().map(|c| (c.rise, c.fall)) else { return false };
        track.latency = Some(latency);
        let mut verdict = None;
        if ok {
            track.passes = track.passes.saturating_add(1);
            // A pass after failures changes what status shows; passes
            // after passes only move counts refreshed at their own pace.
            let moved = track.failures > 0;
            track.failures = 0;
            self.status_moved |= moved;
            if track.healthy != Some(true) && track.passes >= rise {
                verdict = Some(true);
            }
            if verdict.is_none() && !moved {
                return false;
            }
        } else {
            track.failures = track.failures.saturating_add(1);
            track.passes = 0;
            track.error = detail.clone();
            if track.healthy != Some(false) && track.failures >= fall && !coming_up {
                verdict = Some(false);
            }
        }
        let Some(healthy) = verdict else { return true };
        let was = track.healthy.replace(healthy);
        track.since = now;
        let probe = track.check.as_ref().map(|c| c.probe.describe()).unwrap_or_default();
        self.status_moved = true;
        let (what, group) = match &target {
            CheckTarget::Resource { group, resource } => {
                let gi = self.names.groups[group];
                (format!("the check of {}", self.cfg.group_at(gi).resources[*resource].name()), group.clone())
            }
            CheckTarget::Node { name } => (format!("node check {name}"), String::new()),
        };
        if healthy {
            if was == Some(false) {
                self.out.push(Action::Event(Event::CheckRecovered { check: format!("{what} ({probe})"), group }));
                if matches!(target, CheckTarget::Node { .. }) {
                    self.send_now = true;
                }
            }
            return true;
        }
        self.out.push(Action::Event(Event::CheckFailed {
            check: format!("{what} ({probe})"),
            group: group.clone(),
            reason: detail.clone(),
            fall,
        }));
        match target {
            CheckTarget::Resource { resource, .. } => {
                let reason = format!("its check failed {fall} times in a row ({detail})");
                // A sick service still runs: restarted in place means
                // stopped and started again.
                self.fail_resource(&group, resource, reason, true);
            }
            // Peers learn from the next beat that this node is in standby.
            CheckTarget::Node { .. } => self.send_now = true,
        }
        true
    }

    /// A resource whose check has not passed `rise` times in a row by its
    /// start's deadline did not start: the group is given up here, as after
    /// a start job that failed.
    pub(super) fn expire_rising(&mut self) {
        for gi in self.groups.indices() {
            for r in 0..self.groups[gi].checks.len() {
                let t = &self.groups[gi].checks[r];
                if !t.coming_up() || t.rise_by.is_none_or(|d| self.now < d) {
                    continue;
                }
                let rise = t.check.as_ref().map_or(1, |c| c.rise);
                let last = if t.error.is_empty() { String::new() } else { format!("; last failure: {}", t.error) };
                let limit = self.op_timeout(gi, r, crate::core::Op::Start).unwrap_or_default();
                let reason = format!(
                    "its check did not pass {rise} time{} in a row within {} s of its start{last} (a service slow \
                     to become healthy needs a longer timeout = \"…\" on the resource, or the unit's TimeoutStartSec=)",
                    if rise == 1 { "" } else { "s" },
                    limit.as_secs_f64().ceil() as u64,
                );
                self.stop_check(gi, r);
                // A failure of its own (`fail_start` counts only in a group
                // still starting: a failed start job of a started group's
                // restart was counted by the failure that restarted it).
                if self.groups[gi].state == crate::core::GroupState::Started {
                    self.groups[gi].failcount += 1;
                }
                self.fail_start(gi, r, reason);
            }
        }
    }

    /// When the next check must have risen, for `Node::deadline`.
    pub(super) fn rise_deadlines(&self) -> impl Iterator<Item = Time> + '_ {
        self.groups.iter().flat_map(|g| g.checks.iter()).filter(|t| t.coming_up()).filter_map(|t| t.rise_by)
    }

    /// The checks of group `gi` that status shows: those of resources that
    /// have one, while they run here.
    pub(super) fn shown_checks(&self, gi: GroupIdx) -> impl Iterator<Item = (&Resource, &Check, &CheckTrack)> {
        self.cfg
            .group_at(gi)
            .resources
            .iter()
            .zip(&self.groups[gi].checks)
            .filter_map(|(r, t)| Some((r, r.check()?, t)).filter(|_| t.running()))
    }

    /// The checks of group `gi` for status, where they run.
    pub(super) fn check_statuses(&self, gi: GroupIdx) -> Vec<CheckStatus> {
        self.shown_checks(gi).map(|(r, c, t)| CheckStatus::of(r.name(), c.probe.describe(), t)).collect()
    }

    /// This node's own checks, for status.
    pub(super) fn node_check_statuses(&self) -> Vec<CheckStatus> {
        // (the tracks are in the file's order: see `align_node_checks`)
        self.cfg
            .node_checks
            .iter()
            .zip(&self.node_checks)
            .map(|(c, (_, t))| CheckStatus::of(c.name.clone(), c.check.probe.describe(), t))
            .collect()
    }

    /// Whether every check of group `gi` that runs here has passed.
    pub(super) fn checks_healthy(&self, gi: GroupIdx) -> bool {
        self.groups[gi].checks.iter().all(|t| !t.running() || t.healthy == Some(true))
    }
}
