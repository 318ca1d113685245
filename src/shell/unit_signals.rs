//! What systemd broadcasts about units and jobs, received once per bus
//! connection and routed to whoever follows that unit or waits for that
//! job.
//!
//! A match rule per followed unit does not scale: dbus-daemon lets one
//! connection add 512 match rules (`max_match_rules_per_connection`), and a
//! node that runs a thousand group units must follow every one of them.
//! And a `JobRemoved` stream per job in flight hands every job's signal to
//! every waiter. Here one rule (systemd's signals) covers all units and all
//! jobs, whatever the size of the configuration, and keeps their order:
//! `JobNew` is looked at for one job only, a stop of hbd's own unit (see
//! [`follow_own_stop`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use zbus::message::Type;
use zbus::zvariant::OwnedObjectPath;
use zbus::{Connection, MatchRule, Message, MessageStream};

use super::platform::Done;
use super::systemd::{JobRemoved, DEST, MANAGER_PATH};

/// Where systemd puts its unit objects.
const UNIT_PATHS: &str = "/org/freedesktop/systemd1/unit/";
const JOB_IFACE: &str = "org.freedesktop.systemd1.Job";

/// Signals queued in zbus for the router before the connection's reader
/// waits for it; the router only hands them on, so a burst (a thousand
/// units starting) is what this must hold.
const QUEUE: usize = 4096;

/// The longest the router waits to learn a new job's type: the units'
/// signals wait meanwhile.
const JOB_TYPE_WAIT: Duration = Duration::from_secs(2);

/// hbd's own unit, and where to say that systemd queued its stop: set once
/// by the daemon, read by the router of every connection (reconnections
/// included).
static OWN_STOP: OnceLock<(String, mpsc::Sender<Done>)> = OnceLock::new();

/// From now on, a stop job of `unit` (hbd's own) sends [`Done::StopQueued`]
/// on `tx`, once per connection, ahead of any unit signal that follows it.
///
/// At a shutdown systemd queues a stop for every unit at once, hbd's and
/// the groups' alike, and runs those it may in parallel, or a group's unit
/// first if it is ordered after hbd: hbd then saw the unit go down
/// "outside hbd", tried to start it again (refused, "transaction is
/// destructive") and released the group as failed. Told of its own stop
/// first, hbd leaves as it does on SIGTERM, and a unit that the shutdown
/// stops is part of that leave. (Ordering the units `Before=hbd.service`
/// instead, so that hbd stops first, hangs the shutdown: hbd's stop of a
/// unit joins the unit's queued stop, which waits for hbd's.)
pub(crate) fn follow_own_stop(unit: String, tx: mpsc::Sender<Done>) {
    let _ = OWN_STOP.set((unit, tx));
}

/// Whether `msg` (a `JobNew`) is a stop of hbd's own unit; if so, says so
/// to the daemon before the router goes on. The job's type is asked for:
/// `JobNew` does not carry it, and a start, reload or restart of hbd's unit
/// is not a leave (a restart's SIGTERM is).
async fn own_stop_queued(conn: &Connection, msg: &Message) -> bool {
    let Some((unit, tx)) = OWN_STOP.get() else { return false };
    let Ok((_, job, name)) = msg.body().deserialize::<(u32, OwnedObjectPath, String)>() else { return false };
    if name != *unit {
        return false;
    }
    let ask = async {
        let props = zbus::fdo::PropertiesProxy::builder(conn).destination(DEST)?.path(job)?.build().await?;
        let v = props.get(JOB_IFACE.try_into().expect("a valid interface name"), "JobType").await?;
        Ok::<_, zbus::Error>(String::try_from(v).unwrap_or_default())
    };
    match tokio::time::timeout(JOB_TYPE_WAIT, ask).await {
        Ok(Ok(t)) if t == "stop" => tx.send(Done::StopQueued).await.is_ok(),
        _ => false,
    }
}

/// One connection's signals, by unit object path (`PropertiesChanged`) and
/// by unit name (`JobRemoved`). Closed, with every route ended, when the
/// connection closes.
#[derive(Clone, Debug)]
pub(crate) struct UnitSignals {
    routes: Arc<Mutex<Routes>>,
}

#[derive(Debug, Default)]
struct Routes {
    closed: bool,
    next: u64,
    /// Unit object path → its followers.
    units: HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>,
    /// Unit name → those waiting for one of its jobs.
    jobs: HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unit,
    Job,
}

impl Routes {
    fn table(&mut self, kind: Kind) -> &mut HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>> {
        match kind {
            Kind::Unit => &mut self.units,
            Kind::Job => &mut self.jobs,
        }
    }
}

/// The signals of one unit (or of one unit's jobs), in the order the bus
/// delivered them; `None` once the connection has closed. Dropping it ends
/// the route.
#[derive(Debug)]
pub(crate) struct Route {
    rx: mpsc::UnboundedReceiver<Message>,
    kind: Kind,
    key: String,
    id: u64,
    routes: Weak<Mutex<Routes>>,
}

impl Route {
    pub(crate) async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        let Some(routes) = self.routes.upgrade() else { return };
        let Ok(mut r) = routes.lock() else { return };
        let table = r.table(self.kind);
        if let Some(v) = table.get_mut(&self.key) {
            v.retain(|(id, _)| *id != self.id);
            if v.is_empty() {
                table.remove(&self.key);
            }
        }
    }
}

impl UnitSignals {
    /// Subscribe on `conn` (one match rule) and route from now on. Every
    /// signal sent after this returns reaches the routes open at the time.
    pub(crate) async fn start(conn: &Connection) -> zbus::Result<UnitSignals> {
        // One rule, one stream: the router sees the signals in the order
        // systemd sent them (a stop of hbd's own unit before the units'
        // changes that follow it), which two streams would not keep. What
        // the rule lets through beyond units' changes and jobs is dropped
        // here.
        let rule = MatchRule::builder().msg_type(Type::Signal).sender(DEST)?.build();
        let mut signals = MessageStream::for_match_rule(rule, conn, Some(QUEUE)).await?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        let s = UnitSignals { routes: routes.clone() };
        let conn = conn.clone();
        tokio::spawn(async move {
            let mut told = false;
            while let Some(msg) = signals.next().await {
                let Ok(msg) = msg else { continue };
                let (kind, key) = {
                    let h = msg.header();
                    let (Some(path), Some(iface), Some(member)) = (h.path(), h.interface(), h.member()) else {
                        continue;
                    };
                    match (iface.as_str(), member.as_str()) {
                        ("org.freedesktop.DBus.Properties", "PropertiesChanged")
                            if path.as_str().starts_with(UNIT_PATHS) =>
                        {
                            (Kind::Unit, path.to_string())
                        }
                        ("org.freedesktop.systemd1.Manager", "JobRemoved") if path.as_str() == MANAGER_PATH => {
                            let Some(unit) = JobRemoved::from_message(msg.clone())
                                .and_then(|j| j.args().ok().map(|a| a.unit().to_string()))
                            else {
                                continue;
                            };
                            (Kind::Job, unit)
                        }
                        ("org.freedesktop.systemd1.Manager", "JobNew") if path.as_str() == MANAGER_PATH => {
                            if !told {
                                told = own_stop_queued(&conn, &msg).await;
                            }
                            continue;
                        }
                        _ => continue,
                    }
                };
                let Ok(mut r) = routes.lock() else { return };
                if let Some(v) = r.table(kind).get(&key) {
                    for (_, tx) in v {
                        let _ = tx.send(msg.clone());
                    }
                }
            }
            // The connection closed: every route ends (its sender dropped).
            if let Ok(mut r) = routes.lock() {
                r.closed = true;
                r.units.clear();
                r.jobs.clear();
            }
        });
        Ok(s)
    }

    /// The `PropertiesChanged` signals of the unit at `path`; `None` if the
    /// connection has closed already.
    pub(crate) fn unit(&self, path: &str) -> Option<Route> {
        self.open(Kind::Unit, path)
    }

    /// The `JobRemoved` signals of `unit`'s jobs; `None` if the connection
    /// has closed already.
    pub(crate) fn jobs(&self, unit: &str) -> Option<Route> {
        self.open(Kind::Job, unit)
    }

    fn open(&self, kind: Kind, key: &str) -> Option<Route> {
        let mut r = self.routes.lock().ok()?;
        if r.closed {
            return None;
        }
        r.next += 1;
        let id = r.next;
        let (tx, rx) = mpsc::unbounded_channel();
        r.table(kind).entry(key.to_string()).or_default().push((id, tx));
        Some(Route { rx, kind, key: key.to_string(), id, routes: Arc::downgrade(&self.routes) })
    }

    /// Routes open now (units followed, units with a job awaited).
    #[cfg(test)]
    fn open_routes(&self) -> (usize, usize) {
        let r = self.routes.lock().expect("not poisoned");
        (r.units.values().map(Vec::len).sum(), r.jobs.values().map(Vec::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_route_is_gone_and_a_closed_hub_opens_none() {
        let s = UnitSignals { routes: Arc::new(Mutex::new(Routes::default())) };
        let a = s.unit("/org/freedesktop/systemd1/unit/a_2eservice").expect("open");
        let b = s.unit("/org/freedesktop/systemd1/unit/a_2eservice").expect("open");
        let j = s.jobs("a.service").expect("open");
        assert_eq!(s.open_routes(), (2, 1));
        drop(a);
        assert_eq!(s.open_routes(), (1, 1));
        drop((b, j));
        assert_eq!(s.open_routes(), (0, 0));
        assert!(s.routes.lock().unwrap().units.is_empty(), "no key left behind");
        s.routes.lock().unwrap().closed = true;
        assert!(s.unit("/x").is_none());
    }
}
