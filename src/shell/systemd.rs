//! Starting, stopping and following systemd units over D-Bus.
//!
//! Hand-written zbus proxies for the few `org.freedesktop.systemd1` members
//! hbd needs, all present in systemd 252 (Debian 12):
//!
//! * `Manager`: `Subscribe`, `StartUnit`, `StopUnit`, `GetUnit`, `LoadUnit`,
//!   `ResetFailedUnit`, `GetUnitFileState`, `StartTransientUnit`,
//!   `GetUnitByPID`, signals `JobRemoved` and `JobNew`;
//! * `Unit`: `Id`, `ActiveState`, `SubState`, `UnitFileState`, `Before`;
//! * `Service`: `NRestarts`, `ExecMainPID`, `Result`;
//! * `Job`: `JobType`.
//!
//! [`Systemd::start`] and [`Systemd::stop`] follow the protocol systemd
//! expects from a job client: `Subscribe` once (systemd only broadcasts
//! `JobRemoved` while some client is subscribed), create the `JobRemoved`
//! stream *before* `StartUnit`/`StopUnit` (so the signal cannot be missed),
//! then wait for the signal whose job path is the one the call returned.
//!
//! [`Systemd::watch`] follows a unit's `PropertiesChanged` signals (no
//! polling) and reports state changes, entries into `failed`, and restarts
//! systemd made on its own per the unit's `Restart=` (counted by `NRestarts`).

use std::collections::VecDeque;
use std::fmt;

use futures::Stream;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::Connection;

use super::unit_signals::{Route, UnitSignals};

pub(crate) const DEST: &str = "org.freedesktop.systemd1";
pub(crate) const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE: &str = "org.freedesktop.systemd1.Service";
/// The longest hbd waits for systemd to answer one method call.
pub const BUS_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);
/// Method calls in flight at once on hbd's connection: dbus-daemon refuses
/// a connection more than 128 pending replies
/// (`max_replies_per_connection`), and a failover of a thousand groups
/// asks about a thousand units at once. The rest wait their turn.
const CALLS_IN_FLIGHT: usize = 64;
/// Start jobs, and stop jobs, that hbd has queued in systemd and not seen
/// end, each. systemd follows the client of every job it is asked for
/// with a match rule on its own bus connection, which dbus-daemon also
/// caps at 512: a failover of a thousand units asked for at once took
/// systemd past it, and its connection to the bus broke. Stops have their
/// own share, so that a release never waits behind starts.
const JOBS_IN_FLIGHT: usize = 96;

/// `org.freedesktop.systemd1.Manager` (the subset hbd uses).
#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    /// Ask systemd to broadcast job and unit signals to this client.
    fn subscribe(&self) -> zbus::Result<()>;
    /// Queue a start job; returns the job's object path.
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    /// Queue a stop job; returns the job's object path.
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    /// Object path of a loaded unit (error `NoSuchUnit` if not loaded).
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    /// Object path of a unit, loading it first if needed.
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    /// Clear a unit's `failed` state and its start-rate counter.
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    /// `enabled`, `enabled-runtime`, `disabled`, `static`, `masked`, …
    fn get_unit_file_state(&self, file: &str) -> zbus::Result<String>;
    /// Create and start a transient unit; returns the start job's path.
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, &[(&str, Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;
    /// The object path of the unit a process belongs to.
    #[zbus(name = "GetUnitByPID")]
    fn get_unit_by_pid(&self, pid: u32) -> zbus::Result<OwnedObjectPath>;
    /// The processes in a unit's cgroup: (cgroup path, pid, command line).
    fn get_unit_processes(&self, name: &str) -> zbus::Result<Vec<(String, u32, String)>>;

    /// A job finished: id, job path, unit name, result
    /// (`done`, `canceled`, `timeout`, `failed`, `dependency`, `skipped`).
    #[zbus(signal)]
    fn job_removed(&self, id: u32, job: zbus::zvariant::ObjectPath<'_>, unit: &str, result: &str) -> zbus::Result<()>;
}

/// `org.freedesktop.systemd1.Unit` (the subset hbd uses).
#[zbus::proxy(interface = "org.freedesktop.systemd1.Unit", default_service = "org.freedesktop.systemd1")]
pub trait Unit {
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn unit_file_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;
    /// The units this one is ordered before (`Before=`, and the reverse of
    /// other units' `After=`).
    #[zbus(property)]
    fn before(&self) -> zbus::Result<Vec<String>>;
}

/// `org.freedesktop.systemd1.Service` (the subset hbd uses).
#[zbus::proxy(interface = "org.freedesktop.systemd1.Service", default_service = "org.freedesktop.systemd1")]
pub trait Service {
    /// How often systemd restarted the service per its `Restart=`.
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
    #[zbus(property, name = "ExecMainPID")]
    fn exec_main_pid(&self) -> zbus::Result<u32>;
    /// Why the service last stopped: `success`, `exit-code`, `timeout`, …
    #[zbus(property)]
    fn result(&self) -> zbus::Result<String>;
}

/// The place of a job among the jobs of one unit: systemd must see them in
/// the order they were asked for, or a stop that overtakes a start still
/// on its way would be replaced by it, and the unit run where hbd thinks it
/// stopped. A job waits until the one before it has been queued (`after`),
/// and says so to the next one once it is queued itself (`queued` is
/// dropped then).
#[derive(Debug, Default)]
pub struct Turn {
    pub after: Option<tokio::sync::oneshot::Receiver<()>>,
    pub queued: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Turn {
    /// A job that waits for none and none waits for.
    pub fn free() -> Turn {
        Turn::default()
    }
}

/// Failure to talk to systemd at all.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error(
        "the system bus is unreachable ({source}); hbd drives units through systemd over D-Bus: \
         check that dbus is running (`systemctl status dbus`) and that \
         /run/dbus/system_bus_socket exists"
    )]
    BusUnreachable {
        #[source]
        source: zbus::Error,
    },
    #[error(
        "systemd did not accept Subscribe() on the system bus ({source}); \
         is systemd PID 1 on this host? (`systemctl is-system-running`)"
    )]
    Subscribe {
        #[source]
        source: zbus::Error,
    },
}

/// The operation a [`UnitError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Query,
    Watch,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Query => "query",
            Op::Watch => "watch",
        })
    }
}

/// A unit operation that did not succeed. Every variant names the unit and
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error(
        "unit {unit} not found ({detail}); check the unit name in /etc/hbd/hbd.toml \
         and that the unit file is installed (`systemctl cat {unit}`)"
    )]
    NotFound { unit: String, detail: String },
    #[error(
        "{op} of {unit} ended with result '{result}'; see `journalctl -u {unit}` \
         and `systemctl status {unit}`"
    )]
    JobFailed { unit: String, op: Op, result: String },
    #[error(
        "stop of {unit} failed: {detail}; see `journalctl -u {unit}` and `systemctl status {unit}`, \
         end what is left, then `systemctl reset-failed {unit}`"
    )]
    StopFailed { unit: String, detail: String },
    #[error("systemd refused to {op} {unit}: {message} ({name}); see `systemctl status {unit}`")]
    Refused { unit: String, op: Op, name: String, message: String },
    #[error(
        "the system bus refused the {op} of {unit}: {message}; hbd keeps within dbus-daemon's default \
         limits, so check for lower ones in /etc/dbus-1/system.conf and /etc/dbus-1/system-local.conf"
    )]
    BusLimit { unit: String, op: Op, message: String },
    #[error(
        "D-Bus error during {op} of {unit}: {source}; check that systemd is responsive \
         (`systemctl is-system-running`)"
    )]
    Bus {
        unit: String,
        op: Op,
        #[source]
        source: zbus::Error,
    },
    #[error(
        "lost the system bus while waiting for the {op} job of {unit}; the job may still run: \
         check `systemctl status {unit}`"
    )]
    Disconnected { unit: String, op: Op },
    #[error(
        "cannot {op} {unit}: the system bus has been away for {secs} s; check dbus \
         (`systemctl status dbus`, `journalctl -u dbus`)",
        secs = BUS_CALL_TIMEOUT.as_secs()
    )]
    NoBus { unit: String, op: Op },
    #[error(
        "{unit} is a Type={kind} unit; a fence unit must be Type=oneshot so that its result says \
         whether the node was fenced: set Type=oneshot in `systemctl edit --full {unit}`"
    )]
    NotOneshot { unit: String, kind: String },
}

impl UnitError {
    /// The unit the error is about.
    pub fn unit(&self) -> &str {
        match self {
            UnitError::NotFound { unit, .. }
            | UnitError::JobFailed { unit, .. }
            | UnitError::StopFailed { unit, .. }
            | UnitError::Refused { unit, .. }
            | UnitError::BusLimit { unit, .. }
            | UnitError::Bus { unit, .. }
            | UnitError::Disconnected { unit, .. }
            | UnitError::NoBus { unit, .. }
            | UnitError::NotOneshot { unit, .. } => unit,
        }
    }

    fn from_zbus(unit: &str, op: Op, e: zbus::Error) -> Self {
        match e {
            zbus::Error::MethodError(name, msg, _) => {
                let message = msg.unwrap_or_default();
                if name.as_str() == NO_SUCH_UNIT || name.as_str() == "org.freedesktop.DBus.Error.FileNotFound" {
                    UnitError::NotFound { unit: unit.to_owned(), detail: message }
                } else if name.as_str() == "org.freedesktop.DBus.Error.LimitsExceeded" {
                    UnitError::BusLimit { unit: unit.to_owned(), op, message }
                } else {
                    UnitError::Refused { unit: unit.to_owned(), op, name: name.to_string(), message }
                }
            }
            source => UnitError::Bus { unit: unit.to_owned(), op, source },
        }
    }
}

fn is_no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if name.as_str() == NO_SUCH_UNIT)
}

/// The interface that carries `Result`/`NRestarts` for a unit type
/// (`foo.service` → `org.freedesktop.systemd1.Service`).
fn type_interface(unit: &str) -> Option<&'static str> {
    Some(match unit.rsplit_once('.')?.1 {
        "service" => "org.freedesktop.systemd1.Service",
        "socket" => "org.freedesktop.systemd1.Socket",
        "mount" => "org.freedesktop.systemd1.Mount",
        "swap" => "org.freedesktop.systemd1.Swap",
        "timer" => "org.freedesktop.systemd1.Timer",
        "path" => "org.freedesktop.systemd1.Path",
        "automount" => "org.freedesktop.systemd1.Automount",
        _ => return None,
    })
}

/// A connection to systemd on the system bus, subscribed to its signals,
/// that outlives the bus: when dbus restarts, a keeper task connects again
/// and subscribes again, and calls made meanwhile wait for it (up to
/// [`BUS_CALL_TIMEOUT`]). Units keep running and heartbeats go on while
/// the bus is away; [`BusEpochs`] tells the owner of unit watches when to
/// re-read states it may have missed. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Systemd {
    link: tokio::sync::watch::Receiver<Option<Link>>,
    /// Shared by the clones: see [`CALLS_IN_FLIGHT`] and [`JOBS_IN_FLIGHT`].
    in_flight: std::sync::Arc<InFlight>,
}

/// Slots for what hbd has in flight on the bus: see [`Systemd::bounded`]
/// and [`Systemd::job_on`].
struct InFlight {
    calls: tokio::sync::Semaphore,
    starts: tokio::sync::Semaphore,
    stops: tokio::sync::Semaphore,
}

/// One connection to the bus and the systemd manager on it.
#[derive(Clone)]
struct Link {
    conn: Connection,
    manager: ManagerProxy<'static>,
    /// Units' and jobs' signals on this connection, routed.
    signals: UnitSignals,
    /// 0 for the first connection, +1 for each reconnection.
    epoch: u64,
}

impl fmt::Debug for Systemd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epoch = self.link.borrow().as_ref().map(|l| l.epoch);
        f.debug_struct("Systemd").field("epoch", &epoch).finish_non_exhaustive()
    }
}

/// Follows the reconnections of a [`Systemd`].
pub struct BusEpochs {
    link: tokio::sync::watch::Receiver<Option<Link>>,
    seen: u64,
}

impl BusEpochs {
    /// Wait until the bus is back after a loss; returns the new epoch.
    pub async fn next_back(&mut self) -> u64 {
        loop {
            if self.link.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            let epoch = self.link.borrow_and_update().as_ref().map(|l| l.epoch);
            if let Some(e) = epoch.filter(|e| *e > self.seen) {
                self.seen = e;
                return e;
            }
        }
    }
}

/// Connect, then `Subscribe` (systemd broadcasts job and unit signals only
/// to subscribed clients). Every method call on the connection has a
/// deadline: a systemd that does not answer must not hold a job forever.
async fn open(epoch: u64) -> Result<Link, SystemdError> {
    let conn = zbus::connection::Builder::system()
        .map_err(|source| SystemdError::BusUnreachable { source })?
        .method_timeout(BUS_CALL_TIMEOUT)
        .build()
        .await
        .map_err(|source| SystemdError::BusUnreachable { source })?;
    subscribe(conn, epoch).await
}

async fn subscribe(conn: Connection, epoch: u64) -> Result<Link, SystemdError> {
    let manager = ManagerProxy::new(&conn).await.map_err(|source| SystemdError::BusUnreachable { source })?;
    let signals = UnitSignals::start(&conn).await.map_err(|source| SystemdError::BusUnreachable { source })?;
    manager.subscribe().await.map_err(|source| SystemdError::Subscribe { source })?;
    Ok(Link { conn, manager, signals, epoch })
}

/// Reconnect whenever the connection closes, for as long as a [`Systemd`]
/// is left. One line when the bus goes, one when it is back, one a minute
/// in between: a dbus that stays down must not flood the journal.
async fn keep(tx: tokio::sync::watch::Sender<Option<Link>>, mut link: Link) {
    loop {
        tokio::select! {
            _ = link.conn.closed() => {}
            _ = tx.closed() => return,
        }
        tx.send_replace(None);
        let lost = std::time::Instant::now();
        tracing::warn!(
            HBD_EVENT = "bus-lost",
            "lost the system bus (dbus restarted or stopped?); units keep running and heartbeats go on; reconnecting"
        );
        let mut delay = std::time::Duration::from_millis(50);
        let mut next_note = lost + std::time::Duration::from_secs(60);
        link = loop {
            match open(link.epoch + 1).await {
                Ok(l) => break l,
                Err(e) => {
                    if std::time::Instant::now() >= next_note {
                        tracing::warn!(
                            HBD_EVENT = "bus-lost",
                            "still no system bus after {} s: {e}",
                            lost.elapsed().as_secs()
                        );
                        next_note += std::time::Duration::from_secs(60);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = tx.closed() => return,
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(1));
        };
        tracing::info!(
            HBD_EVENT = "bus-back",
            "the system bus is back after {} ms; following the units again",
            lost.elapsed().as_millis()
        );
        tx.send_replace(Some(link.clone()));
    }
}

impl Systemd {
    /// Connect to the system bus and `Subscribe` to systemd's signals, and
    /// keep doing so whenever the bus goes away.
    pub async fn connect() -> Result<Systemd, SystemdError> {
        Ok(Self::kept(open(0).await?))
    }

    /// [`Systemd::connect`], trying again for up to `wait` while the bus
    /// or systemd on it is not there yet (dbus still starting at boot, or
    /// restarting): hbd must not fail for good for a bus that is late.
    pub async fn connect_within(wait: std::time::Duration) -> Result<Systemd, SystemdError> {
        let until = std::time::Instant::now() + wait;
        let mut noted = false;
        loop {
            match open(0).await {
                Ok(l) => return Ok(Self::kept(l)),
                Err(e) if std::time::Instant::now() >= until => return Err(e),
                Err(e) => {
                    if !noted {
                        tracing::warn!(HBD_EVENT = "bus-wait", "waiting for the system bus: {e}");
                        noted = true;
                    }
                }
            }
            super::notify::watchdog();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    fn kept(link: Link) -> Systemd {
        let (tx, rx) = tokio::sync::watch::channel(Some(link.clone()));
        tokio::spawn(keep(tx, link));
        Systemd { link: rx, in_flight: Self::in_flight() }
    }

    /// Use an existing bus connection (to the bus systemd is on); not
    /// reconnected when it closes.
    pub async fn with_connection(conn: Connection) -> Result<Systemd, SystemdError> {
        let link = subscribe(conn, 0).await?;
        let (tx, rx) = tokio::sync::watch::channel(Some(link));
        // Kept open for as long as the receivers live; never sent again.
        tokio::spawn(async move { tx.closed().await });
        Ok(Systemd { link: rx, in_flight: Self::in_flight() })
    }

    fn in_flight() -> std::sync::Arc<InFlight> {
        std::sync::Arc::new(InFlight {
            calls: tokio::sync::Semaphore::new(CALLS_IN_FLIGHT),
            starts: tokio::sync::Semaphore::new(JOBS_IN_FLIGHT),
            stops: tokio::sync::Semaphore::new(JOBS_IN_FLIGHT),
        })
    }

    /// `call`, once fewer than [`CALLS_IN_FLIGHT`] are in flight. Only
    /// around one call: never held while waiting for anything else, so
    /// calls cannot wait on each other.
    async fn bounded<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        // The semaphore is never closed.
        let _slot = self.in_flight.calls.acquire().await.ok();
        call.await
    }

    /// Follow the reconnections from now on.
    pub fn epochs(&self) -> BusEpochs {
        let seen = self.link.borrow().as_ref().map_or(0, |l| l.epoch);
        BusEpochs { link: self.link.clone(), seen }
    }

    /// Whether the bus is there right now.
    pub fn bus_up(&self) -> bool {
        self.link.borrow().as_ref().is_some_and(|l| !l.conn.is_closed())
    }

    /// Wait until the bus is there (after a loss); `false` after
    /// [`BUS_CALL_TIMEOUT`].
    pub async fn bus_back(&self) -> bool {
        let mut rx = self.link.clone();
        let ok =
            tokio::time::timeout(BUS_CALL_TIMEOUT, rx.wait_for(|l| l.as_ref().is_some_and(|l| !l.conn.is_closed())))
                .await;
        matches!(ok, Ok(Ok(_)))
    }

    /// The current connection, waiting for the keeper while there is none.
    async fn link(&self, unit: &str, op: Op) -> Result<Link, UnitError> {
        if let Some(l) = self.link.borrow().as_ref().filter(|l| !l.conn.is_closed()) {
            return Ok(l.clone());
        }
        if self.bus_back().await {
            if let Some(l) = self.link.borrow().clone() {
                return Ok(l);
            }
        }
        Err(UnitError::NoBus { unit: unit.to_owned(), op })
    }

    /// The current bus connection, if there is one.
    pub fn connection(&self) -> Option<Connection> {
        self.link.borrow().as_ref().map(|l| l.conn.clone())
    }

    /// Start `unit` (job mode "replace") and wait for the job to finish.
    /// `done` → `Ok`; any other job result is [`UnitError::JobFailed`].
    ///
    /// As systemd defines it, a start job of a `Type=simple` service is
    /// `done` as soon as the process is forked; a later exit is reported by
    /// [`Systemd::watch`].
    pub async fn start(&self, unit: &str) -> Result<(), UnitError> {
        self.start_in_turn(unit, Turn::free()).await
    }

    /// [`Systemd::start`], queuing the job only in its [`Turn`].
    pub async fn start_in_turn(&self, unit: &str, turn: Turn) -> Result<(), UnitError> {
        let result = self.run_job(unit, Op::Start, turn).await?;
        if result == "done" {
            Ok(())
        } else {
            Err(UnitError::JobFailed { unit: unit.to_owned(), op: Op::Start, result })
        }
    }

    /// Stop `unit` (job mode "replace") and wait for the job to finish.
    ///
    /// A stop has failed only when the unit still has processes once its
    /// stop job is over. A unit that exited non-zero on SIGTERM (status 143,
    /// as a JVM does), or that systemd SIGKILLed at `TimeoutStopSec=`, ends
    /// `failed` but has stopped: that is `Ok`. A unit that is not loaded is
    /// `Ok`.
    pub async fn stop(&self, unit: &str) -> Result<(), UnitError> {
        self.stop_in_turn(unit, Turn::free()).await
    }

    /// [`Systemd::stop`], queuing the job only in its [`Turn`].
    pub async fn stop_in_turn(&self, unit: &str, turn: Turn) -> Result<(), UnitError> {
        let result = match self.run_job(unit, Op::Stop, turn).await {
            Err(UnitError::NotFound { .. }) => return Ok(()),
            r => r?,
        };
        let left = self.processes(unit).await?;
        let state = self.active_state(unit).await?;
        if left == 0 && (state == "inactive" || state == "failed") {
            if result != "done" || state == "failed" {
                let why = self.unit_result(unit).await.unwrap_or_else(|_| "unknown".to_owned());
                tracing::info!(HBD_UNIT = unit, "{unit} stopped (job {result}, unit result '{why}', no process left)");
            }
            return Ok(());
        }
        if result != "done" && left == 0 {
            return Err(UnitError::JobFailed { unit: unit.to_owned(), op: Op::Stop, result });
        }
        let why = self.unit_result(unit).await.unwrap_or_else(|_| "unknown".to_owned());
        Err(UnitError::StopFailed {
            unit: unit.to_owned(),
            detail: format!(
                "{left} process(es) still in its cgroup after the stop job (job {result}, unit {state}, result '{why}')"
            ),
        })
    }

    /// How many processes `unit`'s cgroup holds (0 for a unit not loaded).
    pub async fn processes(&self, unit: &str) -> Result<usize, UnitError> {
        let link = self.link(unit, Op::Query).await?;
        match self.bounded(link.manager.get_unit_processes(unit)).await {
            Ok(p) => Ok(p.len()),
            Err(e) if is_no_such_unit(&e) => Ok(0),
            Err(e) => Err(UnitError::from_zbus(unit, Op::Query, e)),
        }
    }

    /// Run a fence unit and say whether it fenced: only a `Type=oneshot`
    /// unit whose start finished with `Result=success` has. For any other
    /// type a finished start job only means a process was started.
    pub async fn fence(&self, unit: &str) -> Result<(), UnitError> {
        let kind = self.service_type(unit).await?;
        if kind != "oneshot" {
            return Err(UnitError::NotOneshot { unit: unit.to_owned(), kind });
        }
        // A fence unit left failed by an earlier try would refuse to run
        // once its start limit is hit.
        self.reset_failed(unit).await?;
        self.start(unit).await?;
        let result = self.unit_result(unit).await?;
        if result != "success" {
            return Err(UnitError::JobFailed { unit: unit.to_owned(), op: Op::Start, result });
        }
        Ok(())
    }

    /// The unit's `LoadState` (`loaded`, `not-found`, `masked`, …).
    pub async fn load_state(&self, unit: &str) -> Result<String, UnitError> {
        let proxy = self.unit_proxy(unit, Op::Query).await?;
        self.bounded(proxy.load_state()).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// A service's `Type=` (`simple`, `oneshot`, `notify`, …); "" for other
    /// unit types.
    pub async fn service_type(&self, unit: &str) -> Result<String, UnitError> {
        if type_interface(unit) != Some(SERVICE_IFACE) {
            return Ok(String::new());
        }
        self.service_str(unit, "Type").await
    }

    /// A service's `RemainAfterExit=`; false for other unit types.
    pub async fn remain_after_exit(&self, unit: &str) -> Result<bool, UnitError> {
        Ok(self.service_property(unit, "RemainAfterExit").await?.and_then(|v| bool::try_from(v).ok()).unwrap_or(false))
    }

    async fn service_str(&self, unit: &str, name: &str) -> Result<String, UnitError> {
        Ok(self.service_property(unit, name).await?.and_then(|v| String::try_from(v).ok()).unwrap_or_default())
    }

    /// A property of the `Service` interface; `None` for other unit types.
    async fn service_property(&self, unit: &str, name: &str) -> Result<Option<zbus::zvariant::OwnedValue>, UnitError> {
        if type_interface(unit) != Some(SERVICE_IFACE) {
            return Ok(None);
        }
        let props = self.unit_properties(unit, Op::Query).await?;
        self.bounded(props.get(zbus::names::InterfaceName::from_static_str_unchecked(SERVICE_IFACE), name))
            .await
            .map(Some)
            .map_err(|e| UnitError::from_zbus(unit, Op::Query, e.into()))
    }

    /// The unit's own job timeouts (`TimeoutStartUSec`, `TimeoutStopUSec`;
    /// `TimeoutUSec` for mounts, swaps and sockets); `None` for infinity.
    pub async fn timeouts(&self, unit: &str) -> Result<Option<crate::core::UnitTimeouts>, UnitError> {
        let Some(iface) = type_interface(unit) else {
            return Ok(None);
        };
        let props = self.unit_properties(unit, Op::Query).await?;
        let iface = zbus::names::InterfaceName::from_static_str_unchecked(iface);
        let get = |name: &'static str| {
            let props = props.clone();
            let iface = iface.clone();
            async move { self.bounded(props.get(iface, name)).await.ok().and_then(|v| u64::try_from(v).ok()) }
        };
        let usec = |v: Option<u64>| match v {
            Some(u64::MAX) | None => None,
            Some(us) => Some(std::time::Duration::from_micros(us)),
        };
        let (start, stop) = if iface.as_str() == SERVICE_IFACE {
            (get("TimeoutStartUSec").await, get("TimeoutStopUSec").await)
        } else {
            let t = get("TimeoutUSec").await;
            (t, t)
        };
        Ok(Some(crate::core::UnitTimeouts { start: usec(start), stop: usec(stop) }))
    }

    /// Issue a job and wait for its `JobRemoved`; returns the job result.
    /// A job whose connection closes under it (dbus restarted) is asked for
    /// again once the bus is back: systemd kept it, and a second StartUnit
    /// or StopUnit of the same kind joins it or finds it done.
    async fn run_job(&self, unit: &str, op: Op, turn: Turn) -> Result<String, UnitError> {
        if let Some(before) = turn.after {
            let _ = tokio::time::timeout(BUS_CALL_TIMEOUT, before).await;
        }
        let mut queued = turn.queued;
        let mut tries = 0;
        loop {
            tries += 1;
            let link = self.link(unit, op).await?;
            match self.job_on(&link, unit, op, &mut queued).await {
                Err(e) if link.conn.is_closed() && tries < 3 => {
                    tracing::info!(unit, "{op} of {unit} lost the bus ({e}); asking again once it is back");
                }
                r => return r,
            }
        }
    }

    async fn job_on(
        &self,
        link: &Link,
        unit: &str,
        op: Op,
        queued: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<String, UnitError> {
        // A place among the jobs in flight, for as long as this one runs.
        let slots = if op == Op::Stop { &self.in_flight.stops } else { &self.in_flight.starts };
        let _slot = slots.acquire().await.ok();
        // The route must exist before the job does, or a fast job's
        // JobRemoved is gone before we listen.
        let mut removed =
            link.signals.jobs(unit).ok_or_else(|| UnitError::Disconnected { unit: unit.to_owned(), op })?;
        let job = self
            .bounded(async {
                match op {
                    Op::Stop => link.manager.stop_unit(unit, "replace").await,
                    _ => link.manager.start_unit(unit, "replace").await,
                }
            })
            .await
            .map_err(|e| UnitError::from_zbus(unit, op, e))?;
        // Queued: the next job of this unit may be asked for now (and
        // replaces this one if it is still waiting).
        drop(queued.take());
        tracing::debug!(unit, job = %job.as_str(), "{op} job queued");
        let result = job_result(&mut removed, &job)
            .await
            .ok_or_else(|| UnitError::Disconnected { unit: unit.to_owned(), op })?;
        tracing::debug!(unit, result, "{op} job finished");
        Ok(result)
    }

    /// Create the transient unit `name` with `properties`, start it (mode
    /// "fail": it is new) and wait for its start job; returns the job
    /// result. For `Type=oneshot` that is the end of its process: `done`,
    /// `failed` (non-zero exit) or `timeout`.
    pub async fn run_transient(&self, name: &str, properties: &[(&str, Value<'_>)]) -> Result<String, UnitError> {
        let op = Op::Start;
        let _slot = self.in_flight.starts.acquire().await.ok();
        let link = self.link(name, op).await?;
        let mut removed =
            link.signals.jobs(name).ok_or_else(|| UnitError::Disconnected { unit: name.to_owned(), op })?;
        let job = self
            .bounded(link.manager.start_transient_unit(name, "fail", properties, &[]))
            .await
            .map_err(|e| UnitError::from_zbus(name, op, e))?;
        job_result(&mut removed, &job).await.ok_or_else(|| UnitError::Disconnected { unit: name.to_owned(), op })
    }

    /// `ResetFailedUnit`: clear the unit's `failed` state and start limit.
    pub async fn reset_failed(&self, unit: &str) -> Result<(), UnitError> {
        let link = self.link(unit, Op::Query).await?;
        match self.bounded(link.manager.reset_failed_unit(unit)).await {
            Err(e) if is_no_such_unit(&e) => Ok(()),
            r => r.map_err(|e| UnitError::from_zbus(unit, Op::Query, e)),
        }
    }

    async fn unit_proxy(&self, unit: &str, op: Op) -> Result<UnitProxy<'static>, UnitError> {
        let path = self.load_unit(unit, op).await?;
        self.unit_proxy_at(unit, op, path).await
    }

    /// The object path of `unit`, loading it first if needed.
    async fn load_unit(&self, unit: &str, op: Op) -> Result<OwnedObjectPath, UnitError> {
        let link = self.link(unit, op).await?;
        self.bounded(link.manager.load_unit(unit)).await.map_err(|e| UnitError::from_zbus(unit, op, e))
    }

    /// A proxy for `unit`'s object at `path`, without a property cache.
    async fn unit_proxy_at(&self, unit: &str, op: Op, path: OwnedObjectPath) -> Result<UnitProxy<'static>, UnitError> {
        UnitProxy::builder(&self.link(unit, op).await?.conn)
            .path(path)
            .map_err(|e| UnitError::from_zbus(unit, op, e))?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| UnitError::from_zbus(unit, op, e))
    }

    /// The unit's `ActiveState` (`active`, `inactive`, `failed`,
    /// `activating`, `deactivating`, `reloading`). A unit systemd has not
    /// loaded is `inactive`.
    pub async fn active_state(&self, unit: &str) -> Result<String, UnitError> {
        let link = self.link(unit, Op::Query).await?;
        let path = match self.bounded(link.manager.get_unit(unit)).await {
            Ok(p) => p,
            Err(e) if is_no_such_unit(&e) => return Ok("inactive".to_owned()),
            Err(e) => return Err(UnitError::from_zbus(unit, Op::Query, e)),
        };
        let proxy = self.unit_proxy_at(unit, Op::Query, path).await?;
        self.bounded(proxy.active_state()).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// The units `unit` is ordered before.
    pub async fn ordered_before(&self, unit: &str) -> Result<Vec<String>, UnitError> {
        let proxy = self.unit_proxy(unit, Op::Query).await?;
        self.bounded(proxy.before()).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// The unit's `SubState` (`running`, `dead`, `auto-restart`, …).
    pub async fn sub_state(&self, unit: &str) -> Result<String, UnitError> {
        let proxy = self.unit_proxy(unit, Op::Query).await?;
        self.bounded(proxy.sub_state()).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// The service hbd runs as (`hbd.service`), or `None` when it does not
    /// run as a service of this systemd (started by hand, in a test).
    pub async fn own_service(&self) -> Option<String> {
        let link = self.link("hbd", Op::Query).await.ok()?;
        let path = self.bounded(link.manager.get_unit_by_pid(std::process::id())).await.ok()?;
        let unit = self.unit_proxy_at("hbd", Op::Query, path).await.ok()?;
        let id = self.bounded(unit.id()).await.ok()?;
        id.ends_with(".service").then_some(id)
    }

    /// The unit file state as `GetUnitFileState` reports it (`enabled`,
    /// `enabled-runtime`, `disabled`, `static`, `masked`, …).
    pub async fn unit_file_state(&self, unit: &str) -> Result<String, UnitError> {
        let link = self.link(unit, Op::Query).await?;
        self.bounded(link.manager.get_unit_file_state(unit)).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// Whether systemd itself will start the unit at boot (`enabled` or
    /// `enabled-runtime`). Group units should not be: hbd owns them.
    pub async fn is_enabled(&self, unit: &str) -> Result<bool, UnitError> {
        let state = self.unit_file_state(unit).await?;
        Ok(matches!(state.as_str(), "enabled" | "enabled-runtime"))
    }

    /// The service's main PID (0 when not running).
    pub async fn main_pid(&self, unit: &str) -> Result<u32, UnitError> {
        let path = self.load_unit(unit, Op::Query).await?;
        let svc = ServiceProxy::builder(&self.link(unit, Op::Query).await?.conn)
            .path(path)
            .map_err(|e| UnitError::from_zbus(unit, Op::Query, e))?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| UnitError::from_zbus(unit, Op::Query, e))?;
        self.bounded(svc.exec_main_pid()).await.map_err(|e| UnitError::from_zbus(unit, Op::Query, e))
    }

    /// The unit's `Result` (why it last stopped: `success`, `exit-code`,
    /// `timeout`, …), from its type's interface.
    pub async fn unit_result(&self, unit: &str) -> Result<String, UnitError> {
        let Some(iface) = type_interface(unit) else {
            return Ok("unknown".to_owned());
        };
        let props = self.unit_properties(unit, Op::Query).await?;
        let v = self
            .bounded(props.get(iface.try_into().expect("valid interface name"), "Result"))
            .await
            .map_err(|e| UnitError::from_zbus(unit, Op::Query, e.into()))?;
        Ok(String::try_from(v).unwrap_or_else(|_| "unknown".to_owned()))
    }

    /// A service's last main process exit status (`ExecMainStatus`);
    /// `None` for other unit types.
    pub async fn exit_status(&self, unit: &str) -> Result<Option<i32>, UnitError> {
        Ok(self.service_property(unit, "ExecMainStatus").await?.and_then(|v| i32::try_from(v).ok()))
    }

    /// The properties of `unit`, loading it first if needed.
    async fn unit_properties(&self, unit: &str, op: Op) -> Result<zbus::fdo::PropertiesProxy<'static>, UnitError> {
        let path = self.load_unit(unit, op).await?;
        self.properties(unit, path, op).await
    }

    /// A property the watch can do without: `None` if it cannot be read
    /// or is not a `T`.
    async fn optional<T: TryFrom<zbus::zvariant::OwnedValue>>(
        &self,
        props: &zbus::fdo::PropertiesProxy<'static>,
        iface: &zbus::names::InterfaceName<'static>,
        name: &str,
    ) -> Option<T> {
        let v = self.bounded(props.get(iface.clone(), name)).await.ok()?;
        T::try_from(v).ok()
    }

    async fn properties(
        &self,
        unit: &str,
        path: OwnedObjectPath,
        op: Op,
    ) -> Result<zbus::fdo::PropertiesProxy<'static>, UnitError> {
        zbus::fdo::PropertiesProxy::builder(&self.link(unit, op).await?.conn)
            .destination(DEST)
            .and_then(|b| b.path(path))
            .map_err(|e| UnitError::from_zbus(unit, op, e))?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| UnitError::from_zbus(unit, op, e))
    }

    /// Follow `unit` by its `PropertiesChanged` signals (no polling).
    ///
    /// The first event is the current state ([`UnitEvent::State`]); then
    /// one `State` per `ActiveState` change, plus [`UnitEvent::Failed`] when
    /// the unit enters `failed` and [`UnitEvent::Restarted`] when systemd
    /// restarted it per its `Restart=` after a failure (`NRestarts` rose).
    /// A `Restarted` is a failure the unit recovered from on its own: hbd
    /// counts it toward `migration_threshold`.
    pub async fn watch(&self, unit: &str) -> Result<UnitWatch, UnitError> {
        let link = self.link(unit, Op::Watch).await?;
        let path = self.load_unit(unit, Op::Watch).await?;
        // Listen first, then read the current values: a change in between
        // shows up as a signal, never lost.
        let signals = link
            .signals
            .unit(path.as_str())
            .ok_or_else(|| UnitError::Disconnected { unit: unit.to_owned(), op: Op::Watch })?;
        let props = self.properties(unit, path, Op::Watch).await?;
        let unit_iface = zbus::names::InterfaceName::from_static_str_unchecked(UNIT_IFACE);
        let get_str = |name: &'static str| {
            let props = props.clone();
            let iface = unit_iface.clone();
            async move {
                self.bounded(props.get(iface, name))
                    .await
                    .map_err(zbus::Error::from)
                    .and_then(|v| String::try_from(v).map_err(zbus::Error::from))
            }
        };
        let active_state = get_str("ActiveState").await.map_err(|e| UnitError::from_zbus(unit, Op::Watch, e))?;
        let sub_state = get_str("SubState").await.map_err(|e| UnitError::from_zbus(unit, Op::Watch, e))?;
        let type_iface = type_interface(unit);
        let mut n_restarts = None;
        let mut result = None;
        let mut exit_status = None;
        let mut exit_code = None;
        if let Some(iface) = type_iface {
            let ti = zbus::names::InterfaceName::from_static_str_unchecked(iface);
            result = self.optional(&props, &ti, "Result").await;
            if iface == SERVICE_IFACE {
                n_restarts = self.optional(&props, &ti, "NRestarts").await;
                exit_status = self.optional(&props, &ti, "ExecMainStatus").await;
                exit_code = self.optional(&props, &ti, "ExecMainCode").await;
            }
        }
        let mut pending = VecDeque::new();
        pending.push_back(UnitEvent::State { active_state: active_state.clone(), sub_state: sub_state.clone() });
        Ok(UnitWatch {
            signals,
            t: Tracker {
                unit: unit.to_owned(),
                type_iface,
                active_state,
                sub_state,
                n_restarts,
                result,
                exit_status,
                exit_code,
                failed_reported: false,
                job: false,
                pending,
            },
        })
    }
}

/// The result of `job` from the `JobRemoved` signals of its unit; `None`
/// if the connection closed first.
async fn job_result(removed: &mut Route, job: &OwnedObjectPath) -> Option<String> {
    while let Some(msg) = removed.next().await {
        let Some(args) = JobRemoved::from_message(msg)
            .and_then(|s| s.args().ok().map(|a| (a.job.to_string(), a.result.to_string())))
        else {
            tracing::warn!("undecodable JobRemoved signal");
            continue;
        };
        if args.0 == job.as_str() {
            return Some(args.1);
        }
    }
    None
}

/// What [`UnitWatch`] reports.
///
/// Count failures with [`UnitEvent::is_failure`]: systemd 252 passes a
/// crashing `Restart=` unit through `failed` before `auto-restart`, so one
/// crash yields `Failed` then `Restarted { new_failure: false }`; where no
/// `failed` state was seen (coalesced signals, other systemd versions) the
/// `Restarted` carries `new_failure: true`. Either way: one crash, one
/// failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitEvent {
    /// `ActiveState` changed to `active_state` (the first event is the
    /// state when the watch began), or a unit that is down lost or gained
    /// a job: systemd reports a stopped unit down with its stop job still
    /// on it, then again once the job has ended.
    State { active_state: String, sub_state: String },
    /// The unit entered `failed`; `result` is why (`exit-code`,
    /// `signal`, `timeout`, `core-dump`, …).
    Failed { result: String },
    /// systemd restarted the unit per its `Restart=` (`NRestarts` rose to
    /// `n_restarts`) after it failed with `result`. `new_failure` is false
    /// when that failure was already reported as [`UnitEvent::Failed`].
    Restarted { n_restarts: u32, result: String, new_failure: bool },
}

impl UnitEvent {
    /// Whether this event is a failure of the unit not reported before:
    /// `Failed`, or a `Restarted` whose failure was not seen as `Failed`.
    pub fn is_failure(&self) -> bool {
        match self {
            UnitEvent::State { .. } => false,
            UnitEvent::Failed { .. } => true,
            UnitEvent::Restarted { new_failure, .. } => *new_failure,
        }
    }
}

/// A unit followed by its `PropertiesChanged` signals; see [`Systemd::watch`].
pub struct UnitWatch {
    signals: Route,
    t: Tracker,
}

/// The transition logic of a [`UnitWatch`], apart from the bus.
#[derive(Debug)]
struct Tracker {
    unit: String,
    type_iface: Option<&'static str>,
    active_state: String,
    sub_state: String,
    n_restarts: Option<u32>,
    result: Option<String>,
    /// The main process' last exit status (services): `ExecMainStatus`,
    /// an exit status or a signal's number as `ExecMainCode` says.
    exit_status: Option<i32>,
    /// `ExecMainCode`: `CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED` (or 0).
    exit_code: Option<i32>,
    /// A `Failed` was reported and no restart or fresh start since.
    failed_reported: bool,
    /// The unit's `Job` is set: a job of systemd's is queued or running
    /// for it (unknown at the start of the watch: taken as none).
    job: bool,
    pending: VecDeque<UnitEvent>,
}

impl fmt::Debug for UnitWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnitWatch").field("state", &self.t).finish_non_exhaustive()
    }
}

/// The core's exit status: a signal that killed the main process
/// (`ExecMainCode` `CLD_KILLED` or `CLD_DUMPED`) as its negative number, so
/// that "killed by SIGTERM" (a `systemctl stop`) is not read as "exited 15".
fn main_exit(code: Option<i32>, status: Option<i32>) -> Option<i32> {
    match (code, status) {
        (Some(libc::CLD_KILLED | libc::CLD_DUMPED), Some(sig)) if sig > 0 => Some(-sig),
        (_, status) => status,
    }
}

fn value_str(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

fn value_u32(v: &Value<'_>) -> Option<u32> {
    match v {
        Value::U32(n) => Some(*n),
        _ => None,
    }
}

/// The unit's `Job` property, `(id, path)`: whether a job is on it (id 0:
/// none).
fn value_job(v: &Value<'_>) -> Option<bool> {
    match v {
        Value::Structure(s) => match s.fields().first() {
            Some(Value::U32(id)) => Some(*id != 0),
            _ => None,
        },
        _ => None,
    }
}

fn value_i32(v: &Value<'_>) -> Option<i32> {
    match v {
        Value::I32(n) => Some(*n),
        _ => None,
    }
}

impl UnitWatch {
    /// The unit being watched.
    pub fn unit(&self) -> &str {
        &self.t.unit
    }

    /// The last `ActiveState` seen.
    pub fn active_state(&self) -> &str {
        &self.t.active_state
    }

    /// Whether a job of systemd's was on the unit when last seen.
    pub fn has_job(&self) -> bool {
        self.t.job
    }

    /// The last `NRestarts` seen (services only).
    pub fn n_restarts(&self) -> Option<u32> {
        self.t.n_restarts
    }

    /// The unit's state as last seen, for the core.
    pub fn unit_state(&self) -> crate::core::UnitState {
        crate::core::UnitState {
            active: self.t.active_state.clone(),
            sub: self.t.sub_state.clone(),
            result: self.t.result.clone().unwrap_or_default(),
            exit_status: main_exit(self.t.exit_code, self.t.exit_status),
        }
    }

    /// The next event; `None` when the bus connection is gone.
    ///
    /// Cancel-safe: it can be used in `tokio::select!` without losing
    /// events.
    pub async fn next(&mut self) -> Option<UnitEvent> {
        loop {
            if let Some(ev) = self.t.pending.pop_front() {
                return Some(ev);
            }
            let msg = self.signals.next().await?;
            let Some(sig) = zbus::fdo::PropertiesChanged::from_message(msg) else { continue };
            match sig.args() {
                Ok(args) => {
                    let iface = args.interface_name().as_str().to_owned();
                    let changed = args.changed_properties();
                    self.t.apply(&iface, |name| changed.get(name));
                }
                Err(e) => tracing::warn!(unit = %self.t.unit, "undecodable PropertiesChanged: {e}"),
            }
        }
    }

    /// Turn the watch into a `Stream` of events.
    pub fn into_stream(self) -> impl Stream<Item = UnitEvent> + Send {
        futures::stream::unfold(self, |mut w| async move { w.next().await.map(|e| (e, w)) })
    }
}

impl Tracker {
    fn apply<'v>(&mut self, iface: &str, get: impl Fn(&str) -> Option<&'v Value<'v>>) {
        if Some(iface) == self.type_iface {
            // systemd sends the type-specific interface's change before the
            // Unit interface's, so Result is known when ActiveState arrives.
            if let Some(r) = get("Result").and_then(value_str) {
                self.result = Some(r);
            }
            if let Some(n) = get("ExecMainStatus").and_then(value_i32) {
                self.exit_status = Some(n);
            }
            if let Some(n) = get("ExecMainCode").and_then(value_i32) {
                self.exit_code = Some(n);
            }
            if let Some(n) = get("NRestarts").and_then(value_u32) {
                let before = self.n_restarts.replace(n);
                if before.is_some_and(|b| n > b) {
                    self.pending.push_back(UnitEvent::Restarted {
                        n_restarts: n,
                        result: self.result.clone().unwrap_or_else(|| "unknown".into()),
                        new_failure: !self.failed_reported,
                    });
                    self.failed_reported = false;
                }
            }
        } else if iface == UNIT_IFACE {
            if let Some(s) = get("SubState").and_then(value_str) {
                self.sub_state = s;
            }
            let job_before = self.job;
            if let Some(j) = get("Job").and_then(value_job) {
                self.job = j;
            }
            if let Some(a) = get("ActiveState").and_then(value_str) {
                let changed = a != self.active_state;
                // Or down with a job, then down without: the end of a stop,
                // which the core waits for (see `UnitEvent::State`).
                let down_job_changed = self.job != job_before && matches!(a.as_str(), "inactive" | "failed");
                if changed || down_job_changed {
                    self.pending
                        .push_back(UnitEvent::State { active_state: a.clone(), sub_state: self.sub_state.clone() });
                }
                if changed {
                    self.active_state = a.clone();
                    if a == "failed" {
                        self.failed_reported = true;
                        self.pending.push_back(UnitEvent::Failed {
                            result: self.result.clone().unwrap_or_else(|| "unknown".into()),
                        });
                    } else if a == "active" {
                        self.failed_reported = false;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tracker(active: &str, n: Option<u32>) -> Tracker {
        Tracker {
            unit: "web.service".into(),
            type_iface: type_interface("web.service"),
            active_state: active.into(),
            sub_state: "running".into(),
            n_restarts: n,
            result: Some("success".into()),
            exit_status: None,
            exit_code: None,
            failed_reported: false,
            job: false,
            pending: VecDeque::new(),
        }
    }

    fn feed(t: &mut Tracker, iface: &str, props: &[(&str, Value<'static>)]) -> Vec<UnitEvent> {
        let map: HashMap<&str, Value<'static>> = props.iter().cloned().collect();
        t.apply(iface, |name| map.get(name));
        t.pending.drain(..).collect()
    }

    #[test]
    fn a_main_process_killed_by_a_signal_is_told_from_one_that_exited() {
        // As systemd 252 sent it for `systemctl stop` of a plain service,
        // and of one that exits 0 on SIGTERM (lab, busctl monitor).
        let mut t = tracker("active", Some(0));
        feed(&mut t, SERVICE_IFACE, &[("ExecMainCode", Value::I32(2)), ("ExecMainStatus", Value::I32(15))]);
        assert_eq!(main_exit(t.exit_code, t.exit_status), Some(-15));
        feed(&mut t, SERVICE_IFACE, &[("ExecMainCode", Value::I32(1)), ("ExecMainStatus", Value::I32(0))]);
        assert_eq!(main_exit(t.exit_code, t.exit_status), Some(0));
        assert_eq!(main_exit(Some(3), Some(6)), Some(-6), "dumped core");
        assert_eq!(main_exit(None, Some(143)), Some(143));
        assert_eq!(main_exit(Some(2), None), None);
    }

    const SVC: &str = "org.freedesktop.systemd1.Service";

    fn job(id: u32) -> Value<'static> {
        let path = zbus::zvariant::ObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{id}")).unwrap();
        Value::from((id, path))
    }

    fn unit_props(active: &str, sub: &str, job_id: u32) -> Vec<(&'static str, Value<'static>)> {
        vec![
            ("ActiveState", Value::from(active.to_string())),
            ("SubState", Value::from(sub.to_string())),
            ("Job", job(job_id)),
        ]
    }

    #[test]
    fn a_stop_job_ending_is_reported_a_restart_is_not_cut_short() {
        // As systemd 252 sent them (lab, busctl monitor): every Unit batch
        // carries Job; the stop's job is still on the unit when it is
        // first reported inactive.
        let mut t = tracker("active", Some(0));
        let state = |a: &str, s: &str| UnitEvent::State { active_state: a.into(), sub_state: s.into() };
        assert!(feed(&mut t, UNIT_IFACE, &unit_props("active", "running", 268)).is_empty());
        assert_eq!(
            feed(&mut t, UNIT_IFACE, &unit_props("deactivating", "stop-sigterm", 268)),
            vec![state("deactivating", "stop-sigterm")]
        );
        assert_eq!(feed(&mut t, UNIT_IFACE, &unit_props("inactive", "dead", 268)), vec![state("inactive", "dead")]);
        assert!(t.job);
        // The job ended: the unit is reported again, without it.
        assert_eq!(feed(&mut t, UNIT_IFACE, &unit_props("inactive", "dead", 0)), vec![state("inactive", "dead")]);
        assert!(!t.job);
        assert!(feed(&mut t, UNIT_IFACE, &unit_props("inactive", "dead", 0)).is_empty(), "nothing new");
        // A restart: the same job from the stop through the start.
        let mut t = tracker("active", Some(0));
        feed(&mut t, UNIT_IFACE, &unit_props("deactivating", "stop-sigterm", 221));
        assert_eq!(feed(&mut t, UNIT_IFACE, &unit_props("inactive", "dead", 221)), vec![state("inactive", "dead")]);
        assert!(feed(&mut t, UNIT_IFACE, &unit_props("inactive", "dead", 221)).is_empty());
        assert_eq!(
            feed(&mut t, UNIT_IFACE, &unit_props("activating", "start-pre", 221)),
            vec![state("activating", "start-pre")]
        );
        assert!(t.job);
        // A job coming or going on a unit that is up is no news.
        assert!(feed(&mut t, UNIT_IFACE, &unit_props("activating", "start-pre", 0)).is_empty());
    }

    #[test]
    fn crash_then_auto_restart_is_reported() {
        let mut t = tracker("active", Some(0));
        // Main process exits with a failure; Restart=on-failure applies.
        let ev = feed(&mut t, SVC, &[("Result", Value::from("exit-code"))]);
        assert!(ev.is_empty());
        let ev = feed(
            &mut t,
            UNIT_IFACE,
            &[("ActiveState", Value::from("activating")), ("SubState", Value::from("auto-restart"))],
        );
        assert_eq!(ev, vec![UnitEvent::State { active_state: "activating".into(), sub_state: "auto-restart".into() }]);
        let ev = feed(&mut t, SVC, &[("NRestarts", Value::from(1u32))]);
        let want = UnitEvent::Restarted { n_restarts: 1, result: "exit-code".into(), new_failure: true };
        assert!(want.is_failure());
        assert_eq!(ev, vec![want]);
        // Same count again (another property batch): no second report.
        assert!(feed(&mut t, SVC, &[("NRestarts", Value::from(1u32))]).is_empty());
    }

    #[test]
    fn entering_failed_reports_result() {
        let mut t = tracker("active", Some(0));
        feed(&mut t, SVC, &[("Result", Value::from("signal"))]);
        let ev =
            feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("failed")), ("SubState", Value::from("failed"))]);
        assert_eq!(
            ev,
            vec![
                UnitEvent::State { active_state: "failed".into(), sub_state: "failed".into() },
                UnitEvent::Failed { result: "signal".into() }
            ]
        );
        // Unchanged ActiveState: nothing.
        assert!(feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("failed"))]).is_empty());
    }

    /// systemd 252: active → failed → activating (auto-restart) → NRestarts+1
    /// → active. One crash must count once.
    #[test]
    fn crash_via_failed_counts_once() {
        let mut t = tracker("active", Some(0));
        let mut all = Vec::new();
        all.extend(feed(&mut t, SVC, &[("Result", Value::from("exit-code"))]));
        all.extend(feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("failed"))]));
        all.extend(feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("activating"))]));
        all.extend(feed(&mut t, SVC, &[("NRestarts", Value::from(1u32))]));
        all.extend(feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("active"))]));
        assert_eq!(all.iter().filter(|e| e.is_failure()).count(), 1, "{all:?}");
        assert!(all.contains(&UnitEvent::Restarted { n_restarts: 1, result: "exit-code".into(), new_failure: false }));
        // The next crash, again through failed: counted again, once.
        let mut all = Vec::new();
        all.extend(feed(&mut t, UNIT_IFACE, &[("ActiveState", Value::from("failed"))]));
        all.extend(feed(&mut t, SVC, &[("NRestarts", Value::from(2u32))]));
        assert_eq!(all.iter().filter(|e| e.is_failure()).count(), 1, "{all:?}");
    }

    #[test]
    fn other_interfaces_ignored() {
        let mut t = tracker("active", Some(0));
        let ev = feed(&mut t, "org.freedesktop.systemd1.Socket", &[("NRestarts", Value::from(5u32))]);
        assert!(ev.is_empty());
        assert_eq!(t.n_restarts, Some(0));
    }

    #[test]
    fn type_interfaces() {
        assert_eq!(type_interface("nginx.service"), Some(SVC));
        assert_eq!(type_interface("srv-data.mount"), Some("org.freedesktop.systemd1.Mount"));
        assert_eq!(type_interface("multi-user.target"), None);
        assert_eq!(type_interface("noext"), None);
    }

    #[test]
    fn errors_name_unit_and_hint() {
        let e = UnitError::JobFailed { unit: "web.service".into(), op: Op::Start, result: "failed".into() };
        let s = e.to_string();
        assert!(s.contains("start of web.service"), "{s}");
        assert!(s.contains("'failed'"), "{s}");
        assert!(s.contains("journalctl -u web.service"), "{s}");
        assert_eq!(e.unit(), "web.service");
        let e = UnitError::StopFailed { unit: "db.service".into(), detail: "2 process(es) still in its cgroup".into() };
        assert!(e.to_string().contains("2 process(es) still"));
        assert!(e.to_string().contains("reset-failed db.service"));
    }
}
