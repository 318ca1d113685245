//! The daemon: sets up links, netlink, systemd and the bus, then runs the
//! one loop that owns the driver (and through it the core). What the core
//! asks for is carried out by the driver shared with the simulator, over
//! the real platform, whose tasks report back into this loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::alerts::Alerts;
use super::links::{LinkEvent, Links};
use super::metrics;
use super::platform::{Done, Parts, RealPlatform};
use super::receive::Inbox;
use super::systemd::Systemd;
use super::vip::{AddrEvent, AddrWatcher, Vip};
use super::{generation, notify};
use crate::config;
use crate::core::{Input, Time};
use crate::dbus::{ApiHandle, ApiRequest};
use crate::driver::Driver;
use crate::wire;

#[derive(Clone, Debug)]
pub struct Options {
    pub config: PathBuf,
    pub node: Option<String>,
    pub state_dir: PathBuf,
    /// Serve org.hbd1 on the system bus.
    pub dbus: bool,
}

/// A problem an operator must fix in the files; restarting will not help.
/// hbd exits with EX_CONFIG (78), which hbd.service does not restart.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigProblem(pub String);

fn config_problem(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(ConfigProblem(msg.to_string()))
}

/// The hostname, as Heartbeat used it for the node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The most frames read before a tick is handled.
const DRAIN_MAX: usize = 256;
/// A timer that fires this much after its deadline woke late: the thread
/// was held back, and frames may be waiting in the serial devices too.
const LATE_WAKE: Duration = Duration::from_millis(2);

/// How long hbd waits at start for the system bus and systemd on it.
const BUS_WAIT: Duration = Duration::from_secs(30);

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let cfg = config::load(&opts.config).map_err(config_problem)?;
    let name = match &opts.node {
        Some(n) => n.clone(),
        None => hostname(),
    };
    if cfg.node_index(&name).is_none() {
        let nodes: Vec<&str> = cfg.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(config_problem(format!(
            "this node is called {name:?}, which is not a [[node]] in {} (nodes: {}); set the hostname or start hbd with --node NAME",
            opts.config.display(),
            nodes.join(", ")
        )));
    }
    super::log::init(&name);
    // Before anything else runs on this thread: the heartbeats' timing must
    // not depend on how busy the machine is.
    let rt = super::realtime::enter();
    match (&rt.priority, &rt.locked) {
        (Ok(p), Ok(())) => info!(HBD_EVENT = "realtime", "heartbeats run at realtime priority {p} (SCHED_RR), memory locked"),
        _ => warn!(
            HBD_EVENT = "realtime",
            "heartbeats may be delayed while the machine is busy: {}{}; hbd.service grants CAP_SYS_NICE and CAP_IPC_LOCK for these",
            rt.priority.as_ref().map_or_else(|e| format!("no realtime priority ({e})"), |p| format!("realtime priority {p}")),
            rt.locked.as_ref().map_or_else(|e| format!(", memory not locked ({e})"), |_| ", memory locked".to_string()),
        ),
    }
    let keys = config::load_auth_keys(&cfg.cluster.auth_key).map_err(config_problem)?;
    // A state directory that is read-only, full or holds a bad counter is
    // for the operator to fix: exit 78 like a config problem, so systemd
    // does not restart hbd in a loop.
    let gen = generation::bump(&opts.state_dir).map_err(config_problem)?;
    info!(HBD_EVENT = "starting", "hbd {} starting as {name}, generation {gen}", env!("CARGO_PKG_VERSION"));

    let own: Vec<std::net::IpAddr> = super::netif::local_addrs();
    let (links, incoming) = Links::start(&cfg.links, &own).await.map_err(|e| anyhow!("{e}"))?;
    for (i, l) in cfg.links.iter().enumerate() {
        if !links.is_up(i) {
            warn!(HBD_EVENT = "link-local-down", HBD_LINK = %l.name, "link {} is not usable yet: {}", l.name,
                links.last_error(i).unwrap_or_default());
        }
    }
    let netlink = Vip::new().map_err(|e| anyhow!("{e}"))?;
    // dbus may still be starting (or restarting): wait for it a while
    // rather than fail and burn systemd's start limit in a second.
    let systemd = Arc::new(Systemd::connect_within(BUS_WAIT).await.map_err(|e| anyhow!("{e}"))?);
    let alerts = Alerts::start(&cfg.alerts, systemd.clone(), gen);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(256);
    let own_service = systemd.own_service().await;
    if let Some(unit) = &own_service {
        super::unit_signals::follow_own_stop(unit.clone(), done_tx.clone());
    }
    let (ping_tx, mut ping_rx) = mpsc::channel::<u32>(8);
    let parts = Parts {
        me: name.clone(),
        generation: gen,
        codec: wire::Codec::new(&cfg.cluster.name, &keys),
        links,
        netlink,
        systemd: systemd.clone(),
        alerts,
        done_tx,
        ping_tx,
        own_service,
    };
    let platform = RealPlatform::new(parts, &cfg);

    // Adopt what already runs (hbd restarted under a healthy group) before
    // the core says anything, so peers never see us drop it.
    let t0 = Instant::now();
    let found = platform.found(&cfg).await;
    let driver = Driver::new(platform, cfg.clone(), &name, gen, t0.elapsed(), found).map_err(|e| anyhow!(e))?;
    let mut d =
        Daemon { inbox: Inbox::new(&cfg), driver, opts: opts.clone(), t0, next_cmd: 1, leaving: false, exited: false };

    // Addresses that vanish under us.
    let (addr_tx, mut addr_rx) = mpsc::channel::<std::net::IpAddr>(32);
    match AddrWatcher::new().await {
        Ok(mut w) => {
            tokio::spawn(async move {
                while let Some(ev) = w.next().await {
                    if let AddrEvent::Removed { addr, .. } = ev {
                        if addr_tx.send(addr).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
        Err(e) => warn!("cannot watch addresses, a VIP removed by something else will not be re-added: {e}"),
    }

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let wd = notify::watchdog_interval().unwrap_or(Duration::from_secs(3600));
    let mut watchdog = tokio::time::interval(wd);
    let mut incoming = incoming;

    // Ping hosts, respawn units, the first tick.
    let now = d.now();
    d.exited = d.driver.start(now).map_err(|e| anyhow!("{e}"))?;

    // The API, once there is a snapshot to serve.
    let status_rx = d.driver.platform.status().context("no status snapshot after the first tick")?;
    // Off by default; a port that cannot be had costs the metrics, not the cluster.
    let _metrics = match &cfg.metrics {
        Some(m) => {
            let src = metrics::Source {
                status: status_rx.clone(),
                links: d.driver.platform.links.counters(),
                link_names: cfg.links.iter().map(|l| l.name.clone()).collect(),
                counters: d.driver.platform.counters.clone(),
            };
            match metrics::serve(&m.listen, src).await {
                Ok(task) => Some(AbortOnDrop(task)),
                Err(e) => {
                    error!(HBD_EVENT = "metrics-failed", "{e}; serving no metrics");
                    None
                }
            }
        }
        None => None,
    };
    let (api_tx, mut api_rx) = mpsc::channel::<ApiRequest>(64);
    if opts.dbus {
        let api =
            ApiHandle { status: status_rx, requests: api_tx.clone(), events: d.driver.platform.events_tx.clone() };
        let conn = super::api::start(api.clone()).await.context("cannot serve org.hbd1 on the system bus")?;
        tokio::spawn(super::api::keep(conn, api));
    }
    notify::ready();
    let mut stopping_announced = false;

    while !d.exited {
        let deadline = d.t0 + d.driver.next_deadline();
        tokio::select! {
            ev = incoming.recv() => match ev {
                Some(ev) => d.link_event(ev),
                None => bail!("all heartbeat link tasks ended"),
            },
            Some(done) = done_rx.recv() => d.done(done),
            Some(n) = ping_rx.recv() => {
                let now = d.now();
                d.exited |= d.driver.ping(now, n);
            }
            Some(addr) = addr_rx.recv() => d.driver.addr_removed(addr),
            Some(req) = api_rx.recv() => d.api(req).await,
            _ = hup.recv() => {
                if let Err(e) = d.reload().await {
                    warn!(HBD_EVENT = "reload-failed", "{e}");
                }
            }
            _ = term.recv(), if !d.leaving => d.leave(),
            _ = int.recv(), if !d.leaving => d.leave(),
            _ = watchdog.tick() => notify::watchdog(),
            _ = tokio::time::sleep_until(deadline.into()) => {
                // Frames that came in before the deadline are read before
                // it is judged, even those the runtime has not seen arrive
                // yet (a wake-up for the timer and a frame at the same
                // moment, or late because this thread was held back):
                // otherwise a peer whose beat was in the socket was declared
                // dead, and came back a moment later, after this node had
                // taken its groups over and pulled the LAN's ARP caches to
                // itself. A read that finds nothing per link and tick is the
                // price. Bounded, so a flood cannot hold the tick back; the
                // rest is read after it. (After a late wake-up the serial
                // links' tasks run first, for what their devices hold.)
                if Instant::now() > deadline + LATE_WAKE {
                    tokio::task::yield_now().await;
                }
                for _ in 0..DRAIN_MAX {
                    let Some(ev) = incoming.try_recv() else { break };
                    d.link_event(ev);
                }
                d.handle(Input::Tick)
            }
        }
        if d.leaving && !stopping_announced {
            stopping_announced = true;
            notify::stopping();
            info!(HBD_EVENT = "stopping", "stopping: handing groups over to peers");
        }
    }
    // The respawn units' stops (the driver asked for them as the leave
    // completed) and the alerts of the leave still go out; the watchdog is
    // fed meanwhile, as the loop no longer does.
    let finish = d.driver.platform.finish(Duration::from_secs(10));
    tokio::pin!(finish);
    let mut feed = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut finish => break,
            _ = feed.tick() => notify::watchdog(),
        }
    }
    info!(HBD_EVENT = "exit", "hbd stopped");
    Ok(())
}

struct Daemon {
    opts: Options,
    driver: Driver<RealPlatform>,
    t0: Instant,
    inbox: Inbox,
    next_cmd: u64,
    /// The graceful leave has begun (SIGTERM, SIGINT, or a stop of hbd's
    /// unit queued in systemd).
    leaving: bool,
    /// The graceful leave is complete.
    exited: bool,
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Daemon {
    fn now(&self) -> Time {
        self.t0.elapsed()
    }

    fn handle(&mut self, input: Input) {
        let now = self.now();
        self.exited |= self.driver.handle(now, input);
    }

    fn link_event(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Frame(r) => {
                if let Some(input) = self.inbox.frame(&self.driver.platform, self.driver.config(), r.link, &r.frame) {
                    self.handle(input);
                }
            }
            LinkEvent::Status(s) => {
                let link = &self.driver.config().links[s.link].name;
                if s.up {
                    info!(HBD_EVENT = "link-local-up", HBD_LINK = %link, "{}", s.reason);
                } else {
                    warn!(HBD_EVENT = "link-local-down", HBD_LINK = %link, "{}", s.reason);
                }
            }
        }
    }

    /// Begin the graceful leave: the groups are handed over, then the loop
    /// ends.
    fn leave(&mut self) {
        self.leaving = true;
        self.handle(Input::Shutdown);
    }

    /// A task of the platform finished.
    fn done(&mut self, done: Done) {
        let now = self.now();
        let input = match done {
            Done::Op { group, resource, op, result } => {
                self.exited |= self.driver.op_done(now, group, resource, op, result);
                return;
            }
            Done::Respawn { unit, died } => {
                self.driver.respawn_down(&unit, died);
                return;
            }
            Done::StopQueued => {
                if !self.leaving {
                    info!(
                        HBD_EVENT = "stop-queued",
                        "systemd queued the stop of hbd (a shutdown, or systemctl stop): leaving now, \
                         before systemd stops the groups' units itself"
                    );
                    self.leave();
                }
                return;
            }
            Done::Failed { group, resource, reason } => Input::ResourceFailed { group, resource, reason },
            Done::Unit { group, resource, state, job } => Input::UnitState { group, resource, state, job },
            Done::Fence { node, ok } => Input::FenceDone { node, ok },
            Done::Check { target, session, outcome } => {
                Input::CheckResult { target, session, ok: outcome.ok, detail: outcome.detail, latency: outcome.latency }
            }
        };
        self.handle(input);
    }

    async fn api(&mut self, req: ApiRequest) {
        match req {
            ApiRequest::Command { cmd, reply } => {
                let id = self.next_cmd;
                self.next_cmd += 1;
                self.driver.platform.replies.insert(id, reply);
                self.handle(Input::Command { id, cmd });
            }
            ApiRequest::Reload { reply } => {
                let r = self.reload().await;
                if let Err(e) = &r {
                    warn!(HBD_EVENT = "reload-failed", "{e}");
                }
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
        }
    }

    /// Load and validate the file again and hand it to the driver, which
    /// applies it whole or refuses it whole.
    async fn reload(&mut self) -> anyhow::Result<()> {
        let refused = "reload refused, keeping the running configuration";
        let new = config::load(&self.opts.config).map_err(|e| anyhow!("{refused}: {e}"))?;
        let keys = config::load_auth_keys(&new.cluster.auth_key).map_err(|e| anyhow!("{refused}: {e}"))?;
        let timeouts = self
            .driver
            .platform
            .unit_timeouts(&new)
            .await
            .into_iter()
            .map(|(group, resource, timeouts)| Input::UnitTimeouts { group, resource, timeouts })
            .collect();
        let now = self.now();
        self.exited |= self.driver.reload(now, new, keys, timeouts).map_err(|e| anyhow!(e))?;
        info!(
            HBD_EVENT = "reload",
            "configuration reloaded from {}; signing with key {}",
            self.opts.config.display(),
            self.driver.platform.codec.sign_key_id()
        );
        Ok(())
    }
}
