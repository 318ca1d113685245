//! The `org.hbd1` objects: a manager, one object per node and one per
//! group. Properties read the latest [`Status`] the main loop published;
//! methods check the caller and forward a command to the loop.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use zbus::fdo::RequestNameFlags;
use zbus::fdo::RequestNameReply;
use zbus::interface;
use zbus::message::Header;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::Connection;

use super::auth::authorize;
use super::error::{ApiError, DbusError, HbdError};
use super::paths::{
    object_path_for, ObjectKind, BUS_NAME, GROUP_INTERFACE, MANAGER_INTERFACE, MANAGER_PATH, NODE_INTERFACE,
};
use super::{ApiEvent, ApiHandle, ApiRequest, CheckStatus, GroupStatus, NodeStatus, Status};
use crate::core::Command;

/// How long a method waits for the main loop's answer before `Busy`.
pub const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A change of link ages alone is signalled at most this often per node
/// (the ages change with every heartbeat); a link going up or down is
/// signalled at once.
pub const LINK_AGE_SIGNAL_INTERVAL: Duration = Duration::from_secs(1);

struct Shared {
    status: watch::Receiver<Status>,
    requests: mpsc::Sender<ApiRequest>,
}

impl Shared {
    fn status(&self) -> watch::Ref<'_, Status> {
        self.status.borrow()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            self.requests.send(make(tx)).await.map_err(|_| ApiError::busy("hbd is shutting down"))?;
            rx.await.map_err(|_| ApiError::busy("hbd is shutting down"))
        };
        match tokio::time::timeout(LOOP_TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ApiError::busy(format!(
                "hbd's main loop did not answer within {} s; try again",
                LOOP_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn command(&self, conn: &Connection, hdr: &Header<'_>, cmd: Command) -> Result<(), ApiError> {
        authorize(conn, hdr).await?;
        tracing::info!("D-Bus request from {}: {cmd:?}", hdr.sender().map_or("?".to_string(), |s| s.to_string()));
        self.ask(|reply| ApiRequest::Command { cmd, reply }).await?.map_err(ApiError::from)
    }
}

fn node_paths(s: &Status) -> Vec<OwnedObjectPath> {
    s.nodes.iter().map(|n| object_path_for(ObjectKind::Node, &n.name)).collect()
}

fn group_paths(s: &Status) -> Vec<OwnedObjectPath> {
    s.groups.iter().map(|g| object_path_for(ObjectKind::Group, &g.name)).collect()
}

/// `/org/hbd1`: the cluster as this node sees it, and the commands.
pub struct Manager {
    shared: Arc<Shared>,
}

/// The cluster as seen from this node. Reading is open to everyone;
/// methods that change the cluster need root or membership of group
/// haclient.
#[interface(name = "org.hbd1.Manager")]
impl Manager {
    /// Put NODE ("" for this node) in standby: it gives up its groups and takes none until Unstandby.
    async fn standby(
        &self,
        node: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::Standby { node }).await
    }

    /// End the standby of NODE ("" for this node).
    async fn unstandby(
        &self,
        node: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::Unstandby { node }).await
    }

    /// NODE ("" for this node) claims all groups.
    async fn takeover(
        &self,
        node: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::Takeover { node }).await
    }

    /// Move GROUP to NODE ("" for this node).
    async fn move_group(
        &self,
        group: String,
        node: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::Move { group, node }).await
    }

    /// Remove the operator's placement of GROUP (MoveGroup, Takeover): it follows its preferred node and auto_failback again.
    async fn clear_move(
        &self,
        group: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::ClearMove { group }).await
    }

    /// Forget the failures of GROUP (fail counts, failed nodes, a blocked stop) so that it may run again.
    async fn clear_failures(
        &self,
        group: String,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        self.shared.command(conn, &hdr, Command::Cleanup { group }).await
    }

    /// Re-read the configuration file; a bad file keeps the running configuration (error InvalidConfig says why).
    async fn reload(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), ApiError> {
        authorize(conn, &hdr).await?;
        tracing::info!("D-Bus request from {}: reload", hdr.sender().map_or("?".to_string(), |s| s.to_string()));
        self.shared
            .ask(|reply| ApiRequest::Reload { reply })
            .await?
            .map_err(|why| ApiError::Hbd(HbdError::InvalidConfig(why)))
    }

    /// GROUP came to run on TO after running on FROM ("" for nowhere); REASON is failover, failback, standby, move, ping, quorum, unit-failure, split-brain, leave or start.
    #[zbus(signal)]
    async fn group_moved(
        emitter: &SignalEmitter<'_>,
        group: &str,
        from: &str,
        to: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    /// The version of the hbd serving this API.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The cluster's name.
    #[zbus(property)]
    fn cluster_name(&self) -> String {
        self.shared.status().cluster.clone()
    }

    /// The name of the node this hbd runs on.
    #[zbus(property)]
    fn local_node(&self) -> String {
        self.shared.status().local.clone()
    }

    /// This node's generation (bumped at every start of hbd).
    #[zbus(property)]
    fn generation(&self) -> u64 {
        self.shared.status().generation
    }

    /// Whether this node's partition may own groups.
    #[zbus(property)]
    fn quorate(&self) -> bool {
        self.shared.status().quorate
    }

    /// One org.hbd1.Node object per configured node.
    #[zbus(property)]
    fn nodes(&self) -> Vec<OwnedObjectPath> {
        node_paths(&self.shared.status())
    }

    /// One org.hbd1.Group object per configured group.
    #[zbus(property)]
    fn groups(&self) -> Vec<OwnedObjectPath> {
        group_paths(&self.shared.status())
    }
}

/// `/org/hbd1/node/<name>`.
pub struct NodeObject {
    name: String,
    shared: Arc<Shared>,
}

impl NodeObject {
    fn with<T: Default>(&self, f: impl FnOnce(&NodeStatus) -> T) -> T {
        self.shared.status().nodes.iter().find(|n| n.name == self.name).map(f).unwrap_or_default()
    }
}

/// A cluster node as this node sees it.
#[interface(name = "org.hbd1.Node")]
impl NodeObject {
    /// The node's name (its hostname, or hbd --node).
    #[zbus(property(emits_changed_signal = "const"))]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// up, dead, standby, left, unknown or leaving.
    #[zbus(property)]
    fn state(&self) -> String {
        self.with(|n| n.state.clone())
    }

    /// Whether this is the node hbd runs on.
    #[zbus(property)]
    fn local(&self) -> bool {
        self.with(|n| n.local)
    }

    /// The node's generation (its count of hbd starts).
    #[zbus(property)]
    fn generation(&self) -> u64 {
        self.with(|n| n.generation)
    }

    /// Per link: name, "up" or "down", milliseconds since the last frame on it (-1: never). Empty for the local node.
    #[zbus(property)]
    fn links(&self) -> Vec<(String, String, i64)> {
        self.with(|n| n.links.clone())
    }

    /// In standby (hactl standby, or a failing node check), whatever State
    /// says: a dead node in standby is still in standby when it returns.
    #[zbus(property)]
    fn standby(&self) -> bool {
        self.with(|n| n.standby)
    }

    /// How many ping hosts the node reaches (0 if it has none).
    #[zbus(property)]
    fn ping_hosts(&self) -> u32 {
        self.with(|n| n.ping.unwrap_or(0))
    }

    /// The node's own health checks (the local node only; while one is sick the node is in standby). Per check: name, what it probes, state (healthy, sick, rising, off), passes and failures in a row, the last probe's milliseconds (-1: none yet), the last failure's reason.
    #[zbus(property)]
    fn checks(&self) -> Vec<CheckTuple> {
        self.with(|n| check_tuples(&n.checks))
    }
}

/// A check as the API carries it (see the `Checks` properties).
pub type CheckTuple = (String, String, String, u32, u32, i64, String);

pub(crate) fn check_tuples(checks: &[CheckStatus]) -> Vec<CheckTuple> {
    checks
        .iter()
        .map(|c| {
            (c.name.clone(), c.probe.clone(), c.state.clone(), c.passes, c.failures, c.latency_ms, c.error.clone())
        })
        .collect()
}

/// `/org/hbd1/group/<name>`.
pub struct GroupObject {
    name: String,
    shared: Arc<Shared>,
}

impl GroupObject {
    fn with<T: Default>(&self, f: impl FnOnce(&GroupStatus) -> T) -> T {
        self.shared.status().groups.iter().find(|g| g.name == self.name).map(f).unwrap_or_default()
    }
}

/// A resource group: started in order on one node, stopped in reverse.
#[interface(name = "org.hbd1.Group")]
impl GroupObject {
    /// The group's name.
    #[zbus(property(emits_changed_signal = "const"))]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The node running the group ("" for none).
    #[zbus(property)]
    fn owner(&self) -> String {
        self.with(|g| g.owner.clone())
    }

    /// stopped, starting, started, stopping, failed or blocked.
    #[zbus(property)]
    fn state(&self) -> String {
        self.with(|g| g.state.clone())
    }

    /// The node the group runs on when it can.
    #[zbus(property)]
    fn preferred(&self) -> String {
        self.with(|g| g.preferred.clone())
    }

    /// Per resource, in start order: kind (vip, unit), name, state: the owner's, a unit's as its systemd reports it (active (running), failed (exit-code 143)), on other nodes with the owner's name added (active (running) on n1).
    #[zbus(property)]
    fn resources(&self) -> Vec<(String, String, String)> {
        self.with(|g| g.resources.clone())
    }

    /// Failures of the group's units on its owner since the last cleanup.
    #[zbus(property)]
    fn fail_count(&self) -> u32 {
        self.with(|g| g.failcount)
    }

    /// The node hactl move or takeover pinned the group to ("" for none;
    /// ClearMove releases it).
    #[zbus(property)]
    fn pinned(&self) -> String {
        self.with(|g| g.pinned.clone())
    }

    /// Why the group does not run where it should ("" when it does).
    #[zbus(property)]
    fn note(&self) -> String {
        self.with(|g| g.note.clone())
    }

    /// The health checks of the group's resources, as the node that runs it sees them (empty elsewhere). Per check: the resource, what it probes, state (healthy, sick, rising, off), passes and failures in a row, the last probe's milliseconds (-1: none yet), the last failure's reason.
    #[zbus(property)]
    fn checks(&self) -> Vec<CheckTuple> {
        self.with(|g| check_tuples(&g.checks))
    }
}

/// Register every object, own `org.hbd1`, and spawn the tasks that keep
/// properties and objects in step with `api.status` and turn
/// `api.events` into signals. Call it once, within a tokio runtime, on a
/// connection to the system bus. The tasks end when the loop drops the
/// status and event senders.
pub async fn serve(conn: &Connection, api: ApiHandle) -> Result<(), DbusError> {
    let ApiHandle { mut status, requests, events } = api;
    let initial = status.borrow_and_update().clone();
    let shared = Arc::new(Shared { status: status.clone(), requests });
    let server = conn.object_server();

    let register = |path: &str, e| DbusError::Register { path: path.to_string(), source: e };
    server.at(MANAGER_PATH, Manager { shared: shared.clone() }).await.map_err(|e| register(MANAGER_PATH, e))?;
    for n in &initial.nodes {
        add_node(conn, &shared, &n.name).await?;
    }
    for g in &initial.groups {
        add_group(conn, &shared, &g.name).await?;
    }

    // Subscribe before the name is ours, so no event after serve() is lost.
    let event_rx = events.subscribe();
    drop(events);

    match conn.request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into()).await {
        Ok(RequestNameReply::PrimaryOwner) | Ok(RequestNameReply::AlreadyOwner) => {}
        Ok(_) => return Err(DbusError::NameTaken),
        Err(zbus::Error::NameTaken) => return Err(DbusError::NameTaken),
        Err(e) => return Err(DbusError::RequestName(e)),
    }

    tokio::spawn(follow_status(conn.clone(), shared, status, initial));
    tokio::spawn(forward_events(conn.clone(), event_rx));
    Ok(())
}

async fn add_node(conn: &Connection, shared: &Arc<Shared>, name: &str) -> Result<(), DbusError> {
    let path = object_path_for(ObjectKind::Node, name);
    conn.object_server()
        .at(&path, NodeObject { name: name.to_string(), shared: shared.clone() })
        .await
        .map(drop)
        .map_err(|e| DbusError::Register { path: path.to_string(), source: e })
}

async fn add_group(conn: &Connection, shared: &Arc<Shared>, name: &str) -> Result<(), DbusError> {
    let path = object_path_for(ObjectKind::Group, name);
    conn.object_server()
        .at(&path, GroupObject { name: name.to_string(), shared: shared.clone() })
        .await
        .map(drop)
        .map_err(|e| DbusError::Register { path: path.to_string(), source: e })
}

/// Forward `GroupMoved` events as signals.
async fn forward_events(conn: Connection, mut events: broadcast::Receiver<ApiEvent>) {
    let emitter = SignalEmitter::new(&conn, MANAGER_PATH).expect("valid path");
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = conn.closed() => return,
        };
        match ev {
            Ok(ApiEvent::GroupMoved { group, from, to, reason }) => {
                if let Err(e) = Manager::group_moved(&emitter, &group, &from, &to, &reason).await {
                    tracing::warn!("cannot emit the D-Bus signal GroupMoved for group {group}: {e}");
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("the D-Bus API fell behind and dropped {n} GroupMoved signal(s)");
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// Follow the published status: emit PropertiesChanged for every changed
/// property, add and remove node and group objects as names come and go.
async fn follow_status(conn: Connection, shared: Arc<Shared>, mut rx: watch::Receiver<Status>, mut prev: Status) {
    let mut links_sent: HashMap<String, Instant> = HashMap::new();
    // Ends with its connection: a new one (dbus restarted) has its own.
    loop {
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = conn.closed() => return,
        }
        let cur = rx.borrow_and_update().clone();
        if cur == prev {
            continue;
        }
        prev = publish_changes(&conn, &shared, &prev, cur, &mut links_sent).await;
    }
}

type Changes = HashMap<&'static str, Value<'static>>;

fn set<T: PartialEq + Clone + Into<Value<'static>>>(ch: &mut Changes, name: &'static str, old: &T, new: &T) {
    if old != new {
        ch.insert(name, new.clone().into());
    }
}

async fn emit(conn: &Connection, path: &str, interface: &'static str, changes: Changes) {
    if changes.is_empty() {
        return;
    }
    let result = async {
        let emitter = SignalEmitter::new(conn, path.to_string())?;
        let changed: HashMap<&str, Value<'_>> = changes.into_iter().collect();
        zbus::fdo::Properties::properties_changed(
            &emitter,
            InterfaceName::from_static_str_unchecked(interface),
            changed,
            Cow::Borrowed(&[]),
        )
        .await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!("cannot emit PropertiesChanged for {path}: {e}");
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> BTreeSet<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

/// Signal the differences between `prev` and `cur`; returns the status as
/// now signalled (which keeps link ages not yet signalled at their old value).
async fn publish_changes(
    conn: &Connection,
    shared: &Arc<Shared>,
    prev: &Status,
    mut cur: Status,
    links_sent: &mut HashMap<String, Instant>,
) -> Status {
    let server = conn.object_server();
    let (old_nodes, new_nodes) = (names(&prev.nodes, |n| &n.name), names(&cur.nodes, |n| &n.name));
    let (old_groups, new_groups) = (names(&prev.groups, |g| &g.name), names(&cur.groups, |g| &g.name));

    for n in new_nodes.difference(&old_nodes) {
        if let Err(e) = add_node(conn, shared, n).await {
            tracing::warn!("{e}");
        }
    }
    for g in new_groups.difference(&old_groups) {
        if let Err(e) = add_group(conn, shared, g).await {
            tracing::warn!("{e}");
        }
    }

    let mut ch = Changes::new();
    set(&mut ch, "ClusterName", &prev.cluster, &cur.cluster);
    set(&mut ch, "LocalNode", &prev.local, &cur.local);
    set(&mut ch, "Generation", &prev.generation, &cur.generation);
    set(&mut ch, "Quorate", &prev.quorate, &cur.quorate);
    set(&mut ch, "Nodes", &node_paths(prev), &node_paths(&cur));
    set(&mut ch, "Groups", &group_paths(prev), &group_paths(&cur));
    emit(conn, MANAGER_PATH, MANAGER_INTERFACE, ch).await;

    let now = Instant::now();
    for n in cur.nodes.iter_mut() {
        let Some(old) = prev.nodes.iter().find(|o| o.name == n.name) else { continue };
        let mut ch = Changes::new();
        set(&mut ch, "State", &old.state, &n.state);
        set(&mut ch, "Local", &old.local, &n.local);
        set(&mut ch, "Generation", &old.generation, &n.generation);
        set(&mut ch, "PingHosts", &old.ping.unwrap_or(0), &n.ping.unwrap_or(0));
        set(&mut ch, "Standby", &old.standby, &n.standby);
        set(&mut ch, "Checks", &check_tuples(&old.checks), &check_tuples(&n.checks));
        if old.links != n.links {
            let same_states = old.links.len() == n.links.len()
                && old.links.iter().zip(&n.links).all(|(a, b)| a.0 == b.0 && a.1 == b.1);
            let recently = links_sent.get(&n.name).is_some_and(|t| now.duration_since(*t) < LINK_AGE_SIGNAL_INTERVAL);
            if same_states && recently {
                // Only ages moved, and they were signalled a moment ago.
                n.links = old.links.clone();
            } else {
                ch.insert("Links", Value::from(n.links.clone()));
                links_sent.insert(n.name.clone(), now);
            }
        }
        emit(conn, object_path_for(ObjectKind::Node, &n.name).as_str(), NODE_INTERFACE, ch).await;
    }

    for g in &cur.groups {
        let Some(old) = prev.groups.iter().find(|o| o.name == g.name) else { continue };
        let mut ch = Changes::new();
        set(&mut ch, "Owner", &old.owner, &g.owner);
        set(&mut ch, "State", &old.state, &g.state);
        set(&mut ch, "Preferred", &old.preferred, &g.preferred);
        set(&mut ch, "Resources", &old.resources, &g.resources);
        set(&mut ch, "FailCount", &old.failcount, &g.failcount);
        set(&mut ch, "Note", &old.note, &g.note);
        set(&mut ch, "Pinned", &old.pinned, &g.pinned);
        set(&mut ch, "Checks", &check_tuples(&old.checks), &check_tuples(&g.checks));
        emit(conn, object_path_for(ObjectKind::Group, &g.name).as_str(), GROUP_INTERFACE, ch).await;
    }

    for n in old_nodes.difference(&new_nodes) {
        links_sent.remove(n);
        if let Err(e) = server.remove::<NodeObject, _>(object_path_for(ObjectKind::Node, n)).await {
            tracing::warn!("cannot remove the D-Bus object of node {n}: {e}");
        }
    }
    for g in old_groups.difference(&new_groups) {
        if let Err(e) = server.remove::<GroupObject, _>(object_path_for(ObjectKind::Group, g)).await {
            tracing::warn!("cannot remove the D-Bus object of group {g}: {e}");
        }
    }
    cur
}
