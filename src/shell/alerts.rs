//! Alert agents (`[[alert]]`), Pacemaker-compatible: on each node,
//! resource and fencing event an agent runs with Pacemaker's `CRM_alert_*`
//! environment, so Pacemaker's own agents (`/usr/share/pacemaker/alerts/`)
//! run unmodified.
//!
//! Each run is a transient systemd unit (sandboxed, killed at the agent's
//! timeout, its output in the journal under the unit's name). Unlike
//! Pacemaker and keepalived, which start their scripts concurrently, every
//! agent gets its events one at a time and in order, from a bounded queue
//! of its own: the main loop only ever queues (never waits), a slow agent
//! delays only itself, and a burst beyond the queue is dropped and logged
//! once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use zbus::zvariant::Value;

use super::systemd::Systemd;
use crate::config::alert_time::render_timestamp;
use crate::config::{Alert, AlertKind};

/// Events waiting for one agent; more are dropped (and said so once).
pub const QUEUE: usize = 256;
/// hbd's own bound beyond the agent's timeout, for a systemd that does not
/// answer.
const BUS_MARGIN: Duration = Duration::from_secs(30);

/// Carries out one run of an agent: the transient unit `unit` with
/// `properties`, to the end of its start job (the job's result). The
/// daemon's runner is systemd.
pub trait Runner: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        unit: &'a str,
        properties: &'a [(&'a str, Value<'a>)],
    ) -> BoxFuture<'a, Result<String, String>>;
    /// Stop a run whose end was never reported.
    fn stop<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, ()>;
}

impl Runner for Systemd {
    fn run<'a>(
        &'a self,
        unit: &'a str,
        properties: &'a [(&'a str, Value<'a>)],
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.run_transient(unit, properties).await.map_err(|e| e.to_string()) })
    }
    fn stop<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = Systemd::stop(self, unit).await;
        })
    }
}

/// One event, in Pacemaker's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertEvent {
    pub kind: AlertKind,
    /// `CRM_alert_node`: the node the event is about.
    pub node: String,
    /// Resource events: `CRM_alert_rsc`, `_task`, `_rc`, `_status`.
    pub rsc: String,
    pub task: String,
    pub rc: i32,
    /// Pacemaker's execution status: 0 done, 1 error.
    pub status: i32,
    /// `CRM_alert_desc`: "member"/"lost" for nodes, "ok"/"error"/"not
    /// running" for resources, a sentence for fencing.
    pub desc: String,
    /// hbd's own: the group of a resource event.
    pub group: String,
}

impl AlertEvent {
    pub fn node(node: &str, member: bool) -> AlertEvent {
        AlertEvent {
            kind: AlertKind::Node,
            node: node.to_string(),
            rsc: String::new(),
            task: String::new(),
            rc: 0,
            status: 0,
            desc: if member { "member" } else { "lost" }.to_string(),
            group: String::new(),
        }
    }

    /// A resource operation on `node`: `ok` with rc 0, or an error.
    pub fn resource(node: &str, group: &str, rsc: &str, task: &str, result: Result<(), (i32, &str)>) -> AlertEvent {
        let (rc, status, desc) = match result {
            Ok(()) => (0, 0, "ok".to_string()),
            Err((rc, desc)) => (rc, 1, desc.to_string()),
        };
        AlertEvent {
            kind: AlertKind::Resource,
            node: node.to_string(),
            rsc: rsc.to_string(),
            task: task.to_string(),
            rc,
            status,
            desc,
            group: group.to_string(),
        }
    }

    /// `target` was fenced (or not) by `by`.
    pub fn fencing(target: &str, by: &str, ok: bool) -> AlertEvent {
        AlertEvent {
            kind: AlertKind::Fencing,
            node: target.to_string(),
            rsc: String::new(),
            task: "off".to_string(),
            rc: if ok { 0 } else { 1 },
            status: if ok { 0 } else { 1 },
            desc: format!(
                "Operation off of {target} by {by} for hbd-fence@{target}.service: {}",
                if ok { "OK" } else { "Error" }
            ),
            group: String::new(),
        }
    }
}

/// An event as queued: with its sequence number and time.
#[derive(Debug)]
struct Queued {
    ev: AlertEvent,
    seq: u64,
    at: SystemTime,
}

struct Agent {
    cfg: Alert,
    /// None once hbd is leaving (the worker then ends with its queue).
    tx: Option<mpsc::Sender<Arc<Queued>>>,
    /// Set at the first event dropped, cleared once the agent caught up.
    overflow: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Every configured agent of this node.
pub struct Alerts {
    agents: Vec<Agent>,
    systemd: Arc<dyn Runner>,
    /// `CRM_alert_node_sequence`: one counter for all events of this run,
    /// so every agent sees the same number for the same event.
    seq: u64,
    /// Part of the unit names: runs of an earlier hbd cannot collide.
    generation: u64,
    cfg: Vec<Alert>,
}

impl Alerts {
    pub fn start(cfg: &[Alert], systemd: Arc<dyn Runner>, generation: u64) -> Alerts {
        let mut a = Alerts { agents: Vec::new(), systemd, seq: 0, generation, cfg: Vec::new() };
        a.configure(cfg);
        a
    }

    /// Take a reloaded configuration. Unchanged agents keep their queue; a
    /// changed list starts afresh (events queued for a removed agent are
    /// not run).
    pub fn configure(&mut self, cfg: &[Alert]) {
        if cfg == self.cfg.as_slice() {
            return;
        }
        self.cfg = cfg.to_vec();
        self.agents = cfg
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let overflow = Arc::new(AtomicBool::new(false));
                let dropped = Arc::new(AtomicU64::new(0));
                let w = Worker {
                    index: i,
                    cfg: c.clone(),
                    systemd: self.systemd.clone(),
                    generation: self.generation,
                    overflow: overflow.clone(),
                    dropped: dropped.clone(),
                };
                Agent { cfg: c.clone(), tx: Some(tx), overflow, dropped, task: Some(tokio::spawn(w.run(rx))) }
            })
            .collect();
        for c in cfg {
            info!(
                HBD_EVENT = "alert-agent",
                "alert agent {} (recipient {:?}, events: {})",
                c.path.display(),
                c.recipient,
                c.select.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }

    /// Queue `ev` for every agent that selects its kind; never waits.
    pub fn send(&mut self, ev: AlertEvent) {
        if !self.agents.iter().any(|a| a.cfg.select.contains(&ev.kind)) {
            return;
        }
        self.seq += 1;
        let q = Arc::new(Queued { ev, seq: self.seq, at: SystemTime::now() });
        for a in self.agents.iter().filter(|a| a.cfg.select.contains(&q.ev.kind)) {
            let Some(tx) = &a.tx else { continue };
            if tx.try_send(q.clone()).is_err() {
                a.dropped.fetch_add(1, Ordering::Relaxed);
                if !a.overflow.swap(true, Ordering::Relaxed) {
                    warn!(HBD_EVENT = "alert-overflow",
                        "alert agent {} is {QUEUE} events behind; dropping events from number {} on until it catches up",
                        a.cfg.path.display(), q.seq);
                }
            }
        }
    }
}

impl Alerts {
    /// At exit: let the agents run what is queued (the events of the
    /// leave itself), for at most `within`.
    pub async fn finish(mut self, within: Duration) {
        let mut tasks = Vec::new();
        for a in &mut self.agents {
            a.tx = None;
            tasks.extend(a.task.take());
        }
        if tokio::time::timeout(within, futures::future::join_all(tasks)).await.is_err() {
            warn!(
                HBD_EVENT = "alert-failed",
                "alert agents still had events to run after {}s; hbd exits without them",
                within.as_secs()
            );
        }
    }
}

struct Worker {
    index: usize,
    cfg: Alert,
    systemd: Arc<dyn Runner>,
    generation: u64,
    overflow: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Arc<Queued>>) {
        while let Some(q) = rx.recv().await {
            self.run_one(&q).await;
            if rx.is_empty() && self.overflow.load(Ordering::Relaxed) {
                let n = self.dropped.swap(0, Ordering::Relaxed);
                self.overflow.store(false, Ordering::Relaxed);
                warn!(
                    HBD_EVENT = "alert-overflow",
                    "alert agent {} caught up; {n} events were dropped",
                    self.cfg.path.display()
                );
            }
        }
    }

    async fn run_one(&self, q: &Queued) {
        let unit = format!("hbd-alert-{}-g{}-{}.service", self.index + 1, self.generation, q.seq);
        let path = self.cfg.path.to_string_lossy().into_owned();
        let env = environment(&q.ev, q.seq, q.at, &self.cfg);
        let props = properties(&path, &unit, env, self.cfg.timeout);
        let run = self.systemd.run(&unit, &props);
        let t0 = std::time::Instant::now();
        match tokio::time::timeout(self.cfg.timeout + BUS_MARGIN, run).await {
            Ok(Ok(r)) if r == "done" => {}
            Ok(Ok(r)) => {
                // The unit is collected as it ends, its Result with it:
                // a run as long as the timeout is one systemd killed.
                let why = if r == "timeout" || t0.elapsed() >= self.cfg.timeout {
                    format!("did not finish within {}s and was killed", self.cfg.timeout.as_secs_f64())
                } else {
                    format!("failed (job result '{r}')")
                };
                warn!(HBD_EVENT = "alert-failed", HBD_UNIT = %unit,
                    "alert agent {path} for event {} ({} {}) {why}; see journalctl -u {unit}", q.seq, q.ev.kind.as_str(), q.ev.desc);
            }
            Ok(Err(e)) => {
                warn!(HBD_EVENT = "alert-failed", HBD_UNIT = %unit, "alert agent {path} for event {}: {e}", q.seq)
            }
            Err(_) => {
                warn!(HBD_EVENT = "alert-failed", HBD_UNIT = %unit,
                    "alert agent {path} for event {}: systemd did not report its end in time; going on with the next event", q.seq);
                self.systemd.stop(&unit).await;
            }
        }
    }
}

/// The `CRM_alert_*` environment of one event, as Pacemaker 2.1 sets it,
/// and the agent's own options.
pub fn environment(ev: &AlertEvent, seq: u64, at: SystemTime, agent: &Alert) -> Vec<String> {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (epoch, usec) = (d.as_secs(), d.subsec_micros());
    let ts = render_timestamp(&agent.timestamp_format, at);
    let mut env = vec![
        format!("CRM_alert_version={}", env!("CARGO_PKG_VERSION")),
        format!("CRM_alert_recipient={}", agent.recipient),
        format!("CRM_alert_node_sequence={seq}"),
        format!("CRM_alert_timestamp={ts}"),
        format!("CRM_alert_timestamp_epoch={epoch}"),
        format!("CRM_alert_timestamp_usec={usec}"),
        format!("CRM_alert_kind={}", ev.kind.as_str()),
        format!("CRM_alert_node={}", ev.node),
        format!("CRM_alert_desc={}", ev.desc),
    ];
    match ev.kind {
        AlertKind::Node => {}
        AlertKind::Resource => env.extend([
            format!("CRM_alert_rsc={}", ev.rsc),
            format!("CRM_alert_task={}", ev.task),
            format!("CRM_alert_rc={}", ev.rc),
            format!("CRM_alert_status={}", ev.status),
            "CRM_alert_target_rc=0".to_string(),
            "CRM_alert_interval=0".to_string(),
            format!("HBD_alert_group={}", ev.group),
        ]),
        AlertKind::Fencing => env.extend([format!("CRM_alert_task={}", ev.task), format!("CRM_alert_rc={}", ev.rc)]),
    }
    // Pacemaker's agents expect a plain environment.
    env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string());
    // An option may set PATH; systemd refuses a variable set twice.
    for (k, v) in &agent.options {
        env.retain(|e| e.split_once('=').is_none_or(|(name, _)| name != k));
        env.push(format!("{k}={v}"));
    }
    env
}

/// The transient unit: a oneshot whose start job ends with the agent, in a
/// sandbox that still lets it write a log file under /var (as Pacemaker's
/// alert_file.sh does) and reach the network (SNMP, SMTP agents).
fn properties<'a>(path: &str, unit: &str, env: Vec<String>, timeout: Duration) -> Vec<(&'a str, Value<'a>)> {
    vec![
        ("Description", Value::from(format!("hbd alert agent {path} ({unit})"))),
        ("Type", Value::from("oneshot")),
        ("ExecStart", Value::from(vec![(path.to_string(), vec![path.to_string()], false)])),
        ("Environment", Value::from(env)),
        ("TimeoutStartUSec", Value::from(timeout.as_micros() as u64)),
        // Gone once it ended, failed or not: its log stays in the journal.
        ("CollectMode", Value::from("inactive-or-failed")),
        ("NoNewPrivileges", Value::from(true)),
        ("PrivateTmp", Value::from(true)),
        ("PrivateDevices", Value::from(true)),
        ("ProtectSystem", Value::from("full")),
        ("ProtectHome", Value::from("read-only")),
        ("ProtectKernelTunables", Value::from(true)),
        ("ProtectKernelModules", Value::from(true)),
        ("ProtectControlGroups", Value::from(true)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Runs nothing: records each run's sequence number and how many ran
    /// at once, and lets runs finish only as permits are added.
    struct Recorder {
        gate: tokio::sync::Semaphore,
        seen: Mutex<Vec<u64>>,
        running: AtomicU64,
        most_at_once: AtomicU64,
    }

    impl Runner for Recorder {
        fn run<'a>(
            &'a self,
            unit: &'a str,
            props: &'a [(&'a str, Value<'a>)],
        ) -> BoxFuture<'a, Result<String, String>> {
            Box::pin(async move {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_at_once.fetch_max(now, Ordering::SeqCst);
                let env = props.iter().find(|(k, _)| *k == "Environment").map(|(_, v)| format!("{v:?}")).unwrap();
                assert!(env.contains("CRM_alert_node_sequence="), "{env}");
                let seq: u64 = unit.rsplit('-').next().unwrap().trim_end_matches(".service").parse().unwrap();
                self.gate.acquire().await.unwrap().forget();
                self.seen.lock().unwrap().push(seq);
                self.running.fetch_sub(1, Ordering::SeqCst);
                Ok("done".to_string())
            })
        }
        fn stop<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn one_at_a_time_in_order_and_a_burst_bounded() {
        let rec = Arc::new(Recorder {
            gate: tokio::sync::Semaphore::new(0),
            seen: Mutex::default(),
            running: AtomicU64::new(0),
            most_at_once: AtomicU64::new(0),
        });
        let cfg = Alert { select: vec![AlertKind::Node], ..agent("") };
        let mut alerts = Alerts::start(std::slice::from_ref(&cfg), rec.clone(), 1);
        // Not selected: no run, no sequence number.
        alerts.send(AlertEvent::fencing("n1", "n2", true));
        // A burst while the agent is busy: the queue takes QUEUE, the rest is dropped.
        let burst = QUEUE as u64 + 44;
        for i in 0..burst {
            alerts.send(AlertEvent::node("n1", i % 2 == 0));
        }
        assert_eq!(alerts.agents[0].dropped.load(Ordering::SeqCst), 44);
        assert!(alerts.agents[0].overflow.load(Ordering::SeqCst));
        rec.gate.add_permits(10_000);
        for _ in 0..1000 {
            if rec.seen.lock().unwrap().len() == QUEUE && !alerts.agents[0].overflow.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seen = rec.seen.lock().unwrap().clone();
        assert_eq!(seen, (1..=QUEUE as u64).collect::<Vec<_>>(), "in order, the queued ones only");
        assert_eq!(rec.most_at_once.load(Ordering::SeqCst), 1, "one at a time");
        assert!(!alerts.agents[0].overflow.load(Ordering::SeqCst), "caught up");
        assert_eq!(alerts.agents[0].dropped.load(Ordering::SeqCst), 0, "the count was reported and reset");
        // The next event's number shows the gap.
        alerts.send(AlertEvent::node("n1", false));
        alerts.finish(Duration::from_secs(5)).await;
        assert_eq!(rec.seen.lock().unwrap().last(), Some(&(burst + 1)));
    }

    fn agent(recipient: &str) -> Alert {
        Alert {
            path: "/bin/true".into(),
            recipient: recipient.into(),
            timeout: Duration::from_secs(30),
            select: AlertKind::ALL.to_vec(),
            options: Vec::new(),
            timestamp_format: crate::config::alert_time::DEFAULT_TIMESTAMP_FORMAT.into(),
        }
    }

    #[test]
    fn environment_of_a_resource_event() {
        let ev = AlertEvent::resource("n2", "web", "web.service", "start", Ok(()));
        let env = environment(&ev, 7, UNIX_EPOCH + Duration::from_micros(1_500_000), &agent("/var/log/a.log"));
        for want in [
            "CRM_alert_kind=resource",
            "CRM_alert_node=n2",
            "CRM_alert_rsc=web.service",
            "CRM_alert_task=start",
            "CRM_alert_rc=0",
            "CRM_alert_status=0",
            "CRM_alert_desc=ok",
            "CRM_alert_target_rc=0",
            "CRM_alert_interval=0",
            "CRM_alert_node_sequence=7",
            "CRM_alert_recipient=/var/log/a.log",
            "CRM_alert_timestamp_epoch=1",
            "CRM_alert_timestamp_usec=500000",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} missing from {env:?}");
        }
        let ts = env.iter().find_map(|e| e.strip_prefix("CRM_alert_timestamp=")).unwrap();
        assert!(ts.len() == 15 && ts.ends_with(".500000"), "{ts}");
    }

    #[test]
    fn the_agents_options_and_timestamp_format() {
        let a = Alert {
            options: vec![("trap_community".into(), "private".into()), ("PATH".into(), "/opt/snmp/bin".into())],
            timestamp_format: "%Y-%m-%d,%H:%M:%S.%01N".into(),
            ..agent("192.0.2.1")
        };
        let env = environment(&AlertEvent::node("n1", true), 3, UNIX_EPOCH + Duration::from_micros(1_250_000), &a);
        assert!(env.contains(&"trap_community=private".to_string()), "{env:?}");
        // systemd refuses an environment that sets a variable twice.
        let paths: Vec<_> = env.iter().filter(|e| e.starts_with("PATH=")).collect();
        assert_eq!(paths, ["PATH=/opt/snmp/bin"], "the option's PATH, once");
        let mut names: Vec<_> = env.iter().map(|e| e.split_once('=').unwrap().0).collect();
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]), "{env:?}");
        let ts = env.iter().find_map(|e| e.strip_prefix("CRM_alert_timestamp=")).unwrap();
        assert!(ts.starts_with("1970-01-0") && ts.ends_with(".2") && ts.len() == 21, "{ts}");
    }

    #[test]
    fn node_and_fencing_events() {
        let env = environment(&AlertEvent::node("n1", false), 1, SystemTime::now(), &agent(""));
        assert!(env.contains(&"CRM_alert_desc=lost".to_string()));
        assert!(!env.iter().any(|e| e.starts_with("CRM_alert_rsc=")));
        let f = AlertEvent::fencing("n1", "n2", true);
        assert_eq!(f.desc, "Operation off of n1 by n2 for hbd-fence@n1.service: OK");
    }
}
