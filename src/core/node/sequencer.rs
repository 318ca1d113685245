//! The group sequencer: resources started in order and stopped in
//! reverse, their jobs, deadlines, failures and fail counts.

use super::*;

/// Strays of one group said one by one within [`STRAY_WINDOW`]; the next
/// says they keep coming back, and the rest of the window is quiet.
const STRAYS_SAID: u32 = 3;
const STRAY_WINDOW: Duration = Duration::from_secs(60);

/// What `systemctl stop` sends first (Linux's number).
const SIGTERM: i32 = 15;

impl Node {
    pub(super) fn on_adopt(&mut self, group: &str, resource: usize, state: Option<UnitState>) {
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return };
        if resource >= g.adopted.len()
            || !matches!(g.state, GroupState::Stopped | GroupState::Starting | GroupState::Started)
        {
            return;
        }
        g.adopted[resource] = true;
        g.up[resource] = true;
        if state.is_some() {
            g.observed[resource] = state;
        }
        let n = g.adopted.len();
        // Everything up to the last active resource may be active: a stop
        // must cover it even where an earlier one is down (a group left
        // blocked, with some of its units stopped, by an hbd that exited).
        let upto = g.adopted.iter().rposition(|a| *a).map_or(0, |i| i + 1);
        if g.adopted.iter().all(|a| *a) {
            g.state = GroupState::Started;
            g.running = n;
            g.resume_start = false;
        } else {
            // Something runs: report it held at once so no peer claims it,
            // and finish the start (idempotent for what already runs): the
            // gaps below the last active resource first, then the rest.
            g.state = GroupState::Starting;
            g.running = upto;
            g.restart = (0..upto).filter(|&i| !g.adopted[i]).collect();
            g.resume_start = true;
        }
        g.owner_seen = Some(self.cfg.node_at(self.me).name.clone());
        self.send_now = true;
        if let Some(gi) = self.groups.position(|g| g.name == group) {
            self.start_check(gi, resource, false);
        }
    }

    /// A resource whose state could not be read at start: stopped with
    /// everything below it, as a release would, and the group reported
    /// `stopping` meanwhile. A peer that runs the group keeps it (stickiness
    /// counts only starting and started owners), and one that would take it
    /// waits for the stop (a claim conflicts with any holder), so the stop
    /// overlaps no start elsewhere. Resources adopted in the same group are
    /// stopped too: a group partly known is not claimed on a guess.
    pub(super) fn on_leftover(&mut self, group: &str, resource: usize) {
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return };
        if resource >= g.adopted.len()
            || !matches!(g.state, GroupState::Stopped | GroupState::Starting | GroupState::Stopping)
            || g.busy.is_some()
        {
            return;
        }
        g.state = GroupState::Stopping;
        g.running = g.running.max(resource + 1);
        g.resume_start = false;
        g.restart.clear();
        self.send_now = true;
    }

    pub(super) fn on_resource_done(&mut self, group: &str, resource: usize, op: Op, result: Result<(), OpError>) {
        let Some(gi) = self.groups.position(|g| g.name == group) else { return };
        if self.groups[gi].busy != Some((resource, op)) {
            return;
        }
        self.groups[gi].busy = None;
        self.groups[gi].busy_until = None;
        let died = self.groups[gi].died_starting.take().filter(|(r, _)| *r == resource).map(|(_, why)| why);
        let rname = self.cfg.group_at(gi).resources[resource].name();
        match (op, result) {
            (Op::Start, Ok(())) => {
                self.start_check(gi, resource, true);
                let vip = self.cfg.group_at(gi).resources[resource].is_vip();
                let g = &mut self.groups[gi];
                g.up[resource] = true;
                g.vip_added |= vip;
                // (In a started group: a restart of a failed resource.)
                if g.state != GroupState::Started {
                    g.running = g.running.max(resource + 1);
                }
                // The job succeeded, but the unit had died meanwhile.
                if let Some(why) = died {
                    self.on_resource_failed(group, resource, why);
                }
            }
            (Op::Start, Err(e)) => {
                self.groups[gi].up[resource] = false;
                self.fail_start(gi, resource, e.0);
            }
            (Op::Stop, Ok(())) => {
                let g = &mut self.groups[gi];
                g.up[resource] = false;
                // What systemd said before the stop is over: the unit's
                // signals of the stop may come after its job's end, and a
                // state left "active" would read as a stray once the group
                // is stopped.
                if let Some(o) = g.observed.get_mut(resource) {
                    *o = None;
                }
                if g.stray_stop.take() == Some(resource) {
                    // Nothing of the group ran here by hbd's doing.
                    return;
                }
                if g.bouncing.take() == Some(resource) {
                    // Stopped to be started again: the rest keeps running.
                    if matches!(g.state, GroupState::Started | GroupState::Starting) {
                        g.restart.push(resource);
                    } else if resource + 1 == g.running {
                        // Released meanwhile: stopping goes on below it.
                        g.running = resource;
                    }
                    return;
                }
                g.running = resource;
            }
            (Op::Stop, Err(e)) => {
                let g = &mut self.groups[gi];
                g.bouncing = None;
                if g.stray_stop.take() == Some(resource) {
                    // It may run here: the retry after cleanup stops it.
                    g.running = g.running.max(resource + 1);
                }
                g.strays.clear();
                g.vip_added = false;
                g.state = GroupState::Blocked;
                self.out.push(Action::Event(Event::StopFailed {
                    group: group.to_string(),
                    resource: rname,
                    reason: e.0,
                }));
                self.send_now = true;
            }
        }
    }

    pub(super) fn on_resource_failed(&mut self, group: &str, resource: usize, reason: String) {
        self.fail_resource(group, resource, reason, false);
    }

    /// The supervision contract: a unit of a group that goes down while hbd
    /// has it up, and not because hbd stops it, has failed — stopped by
    /// `systemctl stop`, by a dependency, or exited on its own. Unless it
    /// comes back within the same systemd job: a `systemctl restart` (an
    /// operator's, after changing the service's configuration) is not a
    /// failure. systemd reports a unit down with the job still on it both
    /// between the stop and the start of a restart and at the end of a
    /// plain stop; the next reports tell them apart (active again within
    /// the job, or down with the job gone), so a unit down within a job is
    /// judged then, or when the job has had the unit's start timeout.
    pub(super) fn on_unit_state(&mut self, group: &str, resource: usize, state: UnitState, job: bool) {
        let Some(gi) = self.groups.position(|g| g.name == group) else { return };
        let g = &mut self.groups[gi];
        let Some(slot) = g.observed.get_mut(resource) else { return };
        let prev = slot.replace(state.clone());
        self.status_moved = true;
        let outside = g.outside_jobs.iter().position(|j| j.resource == resource).map(|i| g.outside_jobs.remove(i));
        if state.came_up() && matches!(g.state, GroupState::Stopped | GroupState::Claiming) {
            self.found_stray(gi, resource);
            return;
        }
        if !state.is_down() {
            if outside.is_some() && state.active == "active" {
                let resource = self.cfg.group_at(gi).resources[resource].name();
                self.out.push(Action::Event(Event::UnitRestarted { group: group.to_string(), resource }));
            } else if outside.is_some() && state.came_up() {
                // The restart's start is under way: said once it is over,
                // judged if it fails, within the unit's start timeout.
                self.await_outside_job(gi, resource, true);
            }
            return;
        }
        if !(outside.is_some() || prev.is_some_and(|p| p.is_up())) || g.busy == Some((resource, Op::Stop)) {
            return;
        }
        // (A job of hbd's own in flight has its own end and deadline.)
        if job && g.busy.is_none_or(|(r, _)| r != resource) {
            self.await_outside_job(gi, resource, outside.is_some_and(|j| j.restarting));
            return;
        }
        let reason = match (outside, state.exit_status) {
            (Some(j), _) if j.restarting => format!("it was restarted outside hbd, and the restart left it {state}"),
            // Down within a job that ended: a stop's.
            (Some(_), _) if state.active == "failed" => {
                format!("it was stopped outside hbd (by systemctl or a dependency), which left it {state}")
            }
            _ if state.active == "failed" => format!("it {state}"),
            // The main process exited by itself: a clean exit of a service
            // that ended on its own, or that handled a `systemctl stop`
            // (whose job systemd may report ended in the same breath).
            (None, Some(n)) if n >= 0 => format!(
                "it went down outside hbd: its main process exited with status {n} (it ended on its own, or it was stopped by systemctl or a dependency)"
            ),
            (None, Some(n)) if n != -SIGTERM => {
                format!("it went down outside hbd: its main process was killed by {}", crate::core::signal_name(-n))
            }
            // Down within a job that ended (a stop's), or SIGTERM, what a
            // stop sends; or not a service, or not known.
            _ => "it was stopped outside hbd (by systemctl or a dependency)".to_string(),
        };
        // Down while hbd's own start job on it is in flight: systemd says
        // `failed` just before it ends a start job that failed, which is a
        // start failure, said and counted once, by the job's end.
        let g = &mut self.groups[gi];
        if g.busy == Some((resource, Op::Start)) {
            g.died_starting = Some((resource, reason));
            return;
        }
        self.on_resource_failed(group, resource, reason);
    }

    /// Wait for the end of the job of systemd's on a unit that went down
    /// (see `on_unit_state`), at most the unit's start timeout.
    fn await_outside_job(&mut self, gi: GroupIdx, resource: usize, restarting: bool) {
        let deadline = self.op_timeout(gi, resource, Op::Start).map(|d| self.now.saturating_add(d));
        self.groups[gi].outside_jobs.push(OutsideJob { resource, deadline, restarting });
    }

    /// A unit down within a job of systemd's that has not brought it back
    /// in the unit's start timeout: the job waits on something that does
    /// not come (a dependency), and the service is down meanwhile. A
    /// failure.
    pub(super) fn expire_outside_jobs(&mut self) {
        for gi in self.groups.indices() {
            let now = self.now;
            while let Some(i) = self.groups[gi].outside_jobs.iter().position(|j| j.deadline.is_some_and(|t| now >= t)) {
                let r = self.groups[gi].outside_jobs.remove(i).resource;
                let limit = self.op_timeout(gi, r, Op::Start).unwrap_or_default();
                let reason = format!(
                    "it went down outside hbd with a job of systemd's on it (a systemctl restart?) that has not brought it back within {} s; see systemctl list-jobs",
                    limit.as_secs_f64().ceil() as u64
                );
                let group = self.groups[gi].name.clone();
                self.on_resource_failed(&group, r, reason);
            }
        }
    }

    /// A unit of a group that is stopped (or only claimed) here came up
    /// outside hbd: started by hand, pulled in by a dependency, activated by
    /// a socket. The group runs elsewhere or nowhere, so the unit is stopped
    /// here; the stop is queued behind any operation in flight and is not a
    /// failure of the group. A stop that fails blocks the group, as any stop
    /// that fails: it may run here.
    fn found_stray(&mut self, gi: GroupIdx, resource: usize) {
        let g = &mut self.groups[gi];
        if g.busy.is_some_and(|(r, _)| r == resource) || g.stray_stop == Some(resource) || g.strays.contains(&resource)
        {
            return;
        }
        g.strays.push(resource);
        self.say_stray(gi, resource);
    }

    /// Say that a unit of group `gi` came up here outside hbd and is being
    /// stopped. Something that keeps starting it (a socket, a timer, a
    /// Wants= of an enabled unit) is stopped each time, but said a few
    /// times only.
    fn say_stray(&mut self, gi: GroupIdx, resource: usize) {
        let g = &mut self.groups[gi];
        if self.now >= g.strays_since.saturating_add(STRAY_WINDOW) {
            g.strays_seen = 0;
            g.strays_since = self.now;
        }
        g.strays_seen += 1;
        let seen = g.strays_seen;
        if seen > STRAYS_SAID + 1 {
            return;
        }
        let again = if seen > STRAYS_SAID { seen } else { 0 };
        let group = g.name.clone();
        let owner = self.peer_running(gi).map(|n| self.cfg.node_at(n).name.clone());
        let resource = self.cfg.group_at(gi).resources[resource].name();
        self.out.push(Action::Event(Event::UnitStray { group, resource, owner, again }));
    }

    /// A live peer that runs group `gi` (or is starting or stopping it):
    /// what status names the owner when this node does not.
    pub(super) fn peer_running(&self, gi: GroupIdx) -> Option<NodeIdx> {
        self.cfg.node_indices().find(|&n| {
            n != self.me
                && self.peers[n].as_ref().is_some_and(|p| p.is_member())
                && !matches!(self.state_of(n, gi), GroupState::Stopped | GroupState::Claiming)
        })
    }

    /// A group has just become stopped here: a unit of it that came up
    /// outside hbd meanwhile (while hbd was stopping the group) is a stray
    /// now.
    pub(super) fn strays_once_stopped(&mut self, gi: GroupIdx) {
        let up: Vec<usize> = (0..self.groups[gi].observed.len())
            .filter(|&ri| self.groups[gi].observed[ri].as_ref().is_some_and(UnitState::came_up))
            .collect();
        for ri in up {
            self.found_stray(gi, ri);
        }
    }

    /// When the fail counts of `g` expire, if they do.
    pub(super) fn failures_expire_at(&self, g: &LocalGroup) -> Option<Time> {
        let ft = self.cfg.cluster.failure_timeout;
        if ft.is_zero() || !(g.failcount > 0 || g.failed) {
            return None;
        }
        g.last_failure.map(|t| t + ft)
    }

    /// Fail counts expire `failure_timeout` after the last failure, as
    /// Pacemaker's do: a node is not shut out of a group for good by
    /// failures long past. Not mid-transition: a release that is under way
    /// finishes first.
    pub(super) fn expire_failures(&mut self) {
        for gi in self.groups.indices() {
            let g = &self.groups[gi];
            let due = self.failures_expire_at(g).is_some_and(|t| self.now >= t);
            if !due || !matches!(g.state, GroupState::Stopped | GroupState::Started) || g.busy.is_some() {
                continue;
            }
            let g = &mut self.groups[gi];
            g.failcount = 0;
            g.failed = false;
            g.last_failure = None;
            self.out.push(Action::Event(Event::FailuresExpired { group: g.name.clone() }));
            self.send_now = true;
        }
    }

    /// An operation past its deadline has failed: a start that hangs
    /// releases the group, a stop that hangs blocks it. The late answer,
    /// if it ever comes, no longer matches and is dropped.
    pub(super) fn expire_ops(&mut self) {
        for gi in self.groups.indices() {
            let g = &self.groups[gi];
            let (Some((r, op)), Some(t)) = (g.busy, g.busy_until) else { continue };
            if self.now < t {
                continue;
            }
            let what = self.cfg.group_at(gi).resources[r].name();
            let limit = self.op_timeout(gi, r, op).unwrap_or_default();
            let verb = if op == Op::Start { "start" } else { "stop" };
            let reason = format!(
                "the {verb} of {what} did not finish within {} s (set timeout = \"…\" on the resource, or the unit's Timeout{}Sec=)",
                limit.as_secs_f64().ceil() as u64,
                if op == Op::Start { "Start" } else { "Stop" }
            );
            let name = g.name.clone();
            self.on_resource_done(&name, r, op, Err(OpError(reason)));
        }
    }

    /// The deadline of an operation on resource `r` of group `gi`: the
    /// resource's own `timeout`, else the unit's systemd timeout plus a
    /// margin for the bus and the kill that ends it. `None`: the unit's
    /// timeout is `infinity`.
    pub(super) fn op_timeout(&self, gi: GroupIdx, r: usize, op: Op) -> Option<Duration> {
        match &self.cfg.group_at(gi).resources[r] {
            Resource::Vip { .. } => {
                // The kernel makes address changes one at a time: in a
                // mass hand-off each VIP waits for those queued before it.
                let queued = self
                    .groups
                    .enumerated()
                    .filter(|(i, g)| g.busy.is_some_and(|(r, _)| self.cfg.group_at(*i).resources[r].is_vip()))
                    .count();
                Some(VIP_OP_TIMEOUT.saturating_add(VIP_OP_QUEUED.saturating_mul(queued as u32)))
            }
            Resource::Unit { timeout: Some(t), .. } => Some(*t),
            Resource::Unit { .. } => match self.groups[gi].timeouts[r] {
                Some(t) => match op {
                    Op::Start => t.start,
                    Op::Stop => t.stop,
                }
                .map(|d| d.saturating_add(UNIT_OP_MARGIN)),
                None => Some(SYSTEMD_DEFAULT_TIMEOUT + UNIT_OP_MARGIN),
            },
        }
    }

    /// Ask the shell for an operation and note its deadline.
    pub(super) fn begin_op(&mut self, gi: GroupIdx, r: usize, op: Op) {
        // A check probes a resource that is up; it begins again once a
        // start has succeeded.
        self.stop_check(gi, r);
        let deadline = self.op_timeout(gi, r, op).map(|d| self.now.saturating_add(d));
        let g = &mut self.groups[gi];
        // hbd's own job replaces whatever job systemd had on the unit.
        g.outside_jobs.retain(|j| j.resource != r);
        g.died_starting = None;
        g.busy = Some((r, op));
        g.busy_until = deadline;
        let group = g.name.clone();
        let what = self.cfg.group_at(gi).resources[r].clone();
        self.out.push(match op {
            Op::Start => Action::Start { group, resource: r, what },
            Op::Stop => Action::Stop { group, resource: r, what },
        });
    }

    pub(super) fn drive_resources(&mut self) {
        let settled = self.settled();
        for gi in self.groups.indices() {
            let n = self.cfg.group_at(gi).resources.len();
            let g = &mut self.groups[gi];
            // systemd's StopUnit ("replace") cancels a unit's start job: a
            // release need not wait for the start to end, and a start that
            // hangs must not keep a node running past its lease (one without
            // quorum, say). The start's late answer no longer matches.
            if let Some((r, Op::Start)) = g.busy {
                if g.stop_after_op && self.cfg.group_at(gi).resources[r].unit_name().is_some() {
                    g.busy = None;
                    g.busy_until = None;
                    g.running = g.running.max(r + 1);
                }
            }
            if g.busy.is_some() {
                continue;
            }
            if g.stop_after_op && matches!(g.state, GroupState::Starting | GroupState::Started) {
                g.stop_after_op = false;
                g.state = GroupState::Stopping;
            }
            if !g.strays.is_empty() {
                // Claiming starts nothing before its claim is granted: a
                // start then waits for the stray's stop.
                if matches!(g.state, GroupState::Stopped | GroupState::Claiming) {
                    let r = g.strays.remove(0);
                    g.stray_stop = Some(r);
                    self.begin_op(gi, r, Op::Stop);
                    continue;
                }
                // Placed here meanwhile: the start takes the unit as it finds it.
                g.strays.clear();
            }
            let may_resume = !g.resume_start || settled;
            if matches!(g.state, GroupState::Started | GroupState::Starting) && may_resume && !g.bounce.is_empty() {
                let r = g.bounce.remove(0);
                g.bouncing = Some(r);
                self.begin_op(gi, r, Op::Stop);
                continue;
            }
            if matches!(g.state, GroupState::Started | GroupState::Starting) && may_resume && !g.restart.is_empty() {
                let r = g.restart.remove(0);
                self.begin_op(gi, r, Op::Start);
                continue;
            }
            if !matches!(g.state, GroupState::Started | GroupState::Starting) {
                // Stopping stops them anyway.
                g.restart.clear();
                g.bounce.clear();
            }
            match g.state {
                GroupState::Starting => {
                    if !may_resume {
                        continue;
                    }
                    g.resume_start = false;
                    // The next resource starts once those before it are up,
                    // and one with a check is up once its check has risen
                    // (an app after its database, a VIP after its service).
                    if g.running < n && g.checks.iter().take(g.running).any(super::health::CheckTrack::coming_up) {
                        // The wait may be long: a peer cut off meanwhile may
                        // have announced the group's VIP since it was added
                        // here, so it is announced again once started.
                        g.vip_added = false;
                        continue;
                    }
                    if g.running < n {
                        let r = g.running;
                        self.begin_op(gi, r, Op::Start);
                    } else {
                        g.state = GroupState::Started;
                        self.out.push(Action::Event(Event::GroupStarted { group: g.name.clone() }));
                        let vips = self.cfg.group_at(gi).resources.iter().any(Resource::is_vip);
                        if vips && !std::mem::take(&mut g.vip_added) {
                            self.out.push(Action::Announce { group: g.name.clone() });
                        }
                        self.send_now = true;
                    }
                }
                GroupState::Stopping => {
                    // A unit of the group that came up outside hbd above
                    // what hbd has started or not yet stopped (started by
                    // hand during the start, or again after hbd stopped it)
                    // runs here too: it is stopped first, and only then is
                    // the group stopped here and its peers told so.
                    let above = g.observed.iter().rposition(|o| o.as_ref().is_some_and(UnitState::came_up));
                    if let Some(r) = above.filter(|&r| r >= g.running) {
                        g.stray_stop = Some(r);
                        self.begin_op(gi, r, Op::Stop);
                        self.say_stray(gi, r);
                        continue;
                    }
                    if g.running > 0 {
                        let r = g.running - 1;
                        self.begin_op(gi, r, Op::Stop);
                    } else {
                        g.state = GroupState::Stopped;
                        g.vip_added = false;
                        g.adopted.iter_mut().for_each(|a| *a = false);
                        self.out.push(Action::Event(Event::GroupStopped { group: g.name.clone() }));
                        self.send_now = true;
                        self.strays_once_stopped(gi);
                    }
                }
                _ => {}
            }
        }
    }

    /// Resource `r` of group `gi` did not start (its job failed, or its
    /// check did not rise in time): the group is given up here.
    pub(super) fn fail_start(&mut self, gi: GroupIdx, r: usize, reason: String) {
        let now = self.now;
        let g = &mut self.groups[gi];
        g.last_failure = Some(now);
        if g.state == GroupState::Started {
            // The restart of a failed resource failed: give the group up.
            g.failed = true;
            g.release_reason = MoveReason::UnitFailure;
        } else {
            g.running = g.running.max(r + 1);
            g.failcount += 1;
            g.failed = true;
            g.stop_after_op = true;
            g.release_reason = MoveReason::UnitFailure;
        }
        let group = g.name.clone();
        let resource = self.cfg.group_at(gi).resources[r].name();
        self.out.push(Action::Event(Event::StartFailed { group, resource, reason }));
        self.send_now = true;
    }

    /// A failure of a resource of a running group. Below the threshold it is
    /// brought back here: started again, or, if it `still_runs` (a sick
    /// service), stopped and started again.
    pub(super) fn fail_resource(&mut self, group: &str, resource: usize, reason: String, still_runs: bool) {
        let Some(gi) = self.groups.position(|g| g.name == group) else { return };
        let threshold = self.cfg.cluster.migration_threshold;
        let g = &mut self.groups[gi];
        // A resource that dies while its own start job is still in flight
        // counts too: the job's success, when it comes, is already stale.
        let starting_it = g.busy == Some((resource, Op::Start));
        if !matches!(g.state, GroupState::Started | GroupState::Starting) || (resource >= g.running && !starting_it) {
            return;
        }
        g.failcount += 1;
        g.up[resource] = false;
        g.last_failure = Some(self.now);
        let rname = self.cfg.group_at(gi).resources[resource].name();
        self.out.push(Action::Event(Event::ResourceFailed {
            group: group.to_string(),
            resource: rname,
            reason,
            failcount: g.failcount,
            threshold,
        }));
        if g.failcount >= threshold {
            g.failed = true;
            g.release_reason = MoveReason::UnitFailure;
        } else if g.restart.contains(&resource) {
            // A start is already queued.
        } else if still_runs {
            // A plain start would find it running.
            if !g.bounce.contains(&resource) {
                g.bounce.push(resource);
            }
        } else {
            // Below the threshold: bring it back here (a no-op if systemd's
            // own Restart= already did) as soon as nothing else is in flight.
            g.restart.push(resource);
        }
        self.send_now = true;
        self.stop_check(gi, resource);
    }
}
