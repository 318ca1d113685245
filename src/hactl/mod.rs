//! `hactl`: the command-line client of hbd. Cluster commands talk to
//! `org.hbd1` over the system bus (or `$HBD_BUS_ADDRESS`); `config`,
//! `keygen`, `completions` and `man` work without a daemon.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use futures::StreamExt;
use zbus::Connection;

use crate::dbus::client::{self, ClientError, Signal};
use crate::dbus::{Status, ACCESS_DENIED_MESSAGE};

pub mod man;
pub mod output;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command failed (unknown node or group, no quorum, a
/// bad configuration file, a wait that timed out, …).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: wrong usage (unknown option, missing argument).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: hbd is not running on this node.
pub const EXIT_NOT_RUNNING: u8 = 3;
/// Exit status: the caller may not change the cluster.
pub const EXIT_DENIED: u8 = 4;

const NOT_RUNNING: &str = "hbd is not running on this node (start it with: systemctl start hbd)";

/// Control and inspect hbd, the high-availability manager.
#[derive(Debug, Parser)]
#[command(
    name = "hactl",
    version,
    about = "Control and inspect hbd, the high-availability manager",
    long_about = "Control and inspect hbd, the high-availability manager.\n\n\
        Cluster commands talk to hbd on this node over D-Bus (org.hbd1 on the system bus). \
        Reading needs no privileges; commands that change the cluster need root or \
        membership of group haclient.",
    after_help = "Exit status: 0 success, 1 failure, 2 usage error, 3 hbd is not running, 4 permission denied."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show nodes, links and groups as hbd on this node sees them.
    Status {
        /// Print JSON instead ("schema": 1; see STATUS OUTPUT in hactl(8)).
        #[arg(long)]
        json: bool,
        /// Redraw whenever something changes, until interrupted (with --json: one document per line).
        #[arg(long, short)]
        watch: bool,
    },
    /// Put a node (default: this one) in standby: it gives up all groups and takes none.
    Standby {
        /// The node; default: this node.
        node: Option<String>,
        /// Wait until the node runs no group any more (and report where the groups went).
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// End the standby of a node (default: this one).
    Unstandby {
        /// The node; default: this node.
        node: Option<String>,
    },
    /// Let a node (default: this one) claim all groups.
    Takeover {
        /// The node; default: this node.
        node: Option<String>,
    },
    /// Move a group to a node; with --clear, remove that placement again.
    Move {
        /// The group.
        group: String,
        /// The node to run it on (not with --clear).
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        node: Option<String>,
        /// Remove the group's placement (set by move or takeover): it follows
        /// its preferred node and auto_failback again.
        #[arg(long, conflicts_with = "wait")]
        clear: bool,
        /// Wait until the group is started on NODE.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Remove a group's placement (same as move --clear GROUP).
    Unmove {
        /// The group.
        group: String,
    },
    /// Forget a group's failures (fail counts, failed nodes, a blocked stop) so it may run again.
    Cleanup {
        /// The group.
        group: String,
    },
    /// Show every peer's links: state and time since the last heartbeat.
    Links,
    /// Make hbd re-read its configuration file (a bad file keeps the running configuration).
    Reload,
    /// Check or convert configuration files (no daemon needed).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Write a fresh auth key file (mode 0600).
    Keygen {
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, …).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print hactl's version and that of the hbd running on this node.
    Version,
    /// Write the man pages hactl.8, hbd.8 and hbd.toml.5 into DIR.
    #[command(hide = true)]
    Man {
        /// The directory.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a configuration file and the auth key file it names.
    Check {
        /// The configuration file.
        #[arg(default_value = crate::config::DEFAULT_PATH)]
        file: PathBuf,
        /// Check this auth key file instead of the one the configuration names.
        #[arg(long, value_name = "FILE")]
        auth_key: Option<PathBuf>,
    },
    /// Convert a Heartbeat configuration (ha.cf, haresources, authkeys, resource.d) into an hbd.toml and the units its groups need.
    ImportHeartbeat {
        /// The Heartbeat configuration directory.
        #[arg(default_value = "/etc/ha.d")]
        dir: PathBuf,
        /// Write the hbd.toml to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the converted auth key file to FILE (mode 0600).
        #[arg(long, value_name = "FILE")]
        authkey: Option<PathBuf>,
        /// Write the systemd units the groups need (mount units, units running
        /// resource scripts) into DIR, created if missing.
        #[arg(long, value_name = "DIR")]
        units_dir: Option<PathBuf>,
        /// Overwrite output files that exist.
        #[arg(long)]
        force: bool,
    },
}

/// Why a command failed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    Client(ClientError),
    /// Already reported on stderr; just the exit status.
    Reported,
    Message(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Client(e)
    }
}

impl Failure {
    fn report(self) -> u8 {
        match self {
            Failure::Client(ClientError::NotRunning) => {
                eprintln!("hactl: {NOT_RUNNING}");
                EXIT_NOT_RUNNING
            }
            Failure::Client(ClientError::AccessDenied(_)) => {
                eprintln!("hactl: {ACCESS_DENIED_MESSAGE}");
                EXIT_DENIED
            }
            Failure::Client(e) => {
                eprintln!("hactl: {e}");
                EXIT_FAILURE
            }
            Failure::Message(m) => {
                eprintln!("hactl: {m}");
                EXIT_FAILURE
            }
            Failure::Reported => EXIT_FAILURE,
        }
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

/// hactl's main: parse the command line, run, map the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hactl: cannot start: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => ExitCode::from(f.report()),
    }
}

/// Run one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Status { json, watch } => status(json, watch).await,
        Cmd::Standby { node, wait, timeout } => standby(node.unwrap_or_default(), wait, timeout).await,
        Cmd::Unstandby { node } => {
            let node = node.unwrap_or_default();
            let conn = client::connect().await?;
            client::call_manager(&conn, "Unstandby", &(node.as_str(),)).await?;
            println!("{}: standby ended", node_label(&node));
            Ok(())
        }
        Cmd::Takeover { node } => {
            let node = node.unwrap_or_default();
            let conn = client::connect().await?;
            client::call_manager(&conn, "Takeover", &(node.as_str(),)).await?;
            println!("{}: taking over all groups", node_label(&node));
            Ok(())
        }
        Cmd::Move { group, clear: true, .. } | Cmd::Unmove { group } => {
            let conn = client::connect().await?;
            client::call_manager(&conn, "ClearMove", &(group.as_str(),)).await?;
            println!("{group}: placement removed; it follows its preferred node again");
            Ok(())
        }
        Cmd::Move { group, node, wait, timeout, .. } => {
            move_group(group, node.unwrap_or_default(), wait, timeout).await
        }
        Cmd::Cleanup { group } => {
            let conn = client::connect().await?;
            client::call_manager(&conn, "ClearFailures", &(group.as_str(),)).await?;
            println!("{group}: failures cleared");
            Ok(())
        }
        Cmd::Links => {
            let conn = client::connect().await?;
            let st = client::fetch_status(&conn).await?;
            print!("{}", output::links(&st));
            Ok(())
        }
        Cmd::Reload => {
            let conn = client::connect().await?;
            client::call_manager(&conn, "Reload", &()).await?;
            println!("hbd reloaded its configuration");
            Ok(())
        }
        Cmd::Config(ConfigCmd::Check { file, auth_key }) => config_check(&file, auth_key.as_deref()).await,
        Cmd::Config(ConfigCmd::ImportHeartbeat { dir, output, authkey, units_dir, force }) => {
            import_heartbeat(&dir, output.as_deref(), authkey.as_deref(), units_dir.as_deref(), force)
        }
        Cmd::Keygen { output, force } => {
            let keys = crate::config::generate_auth_keys();
            match output {
                Some(path) => {
                    write_file(&path, &keys, 0o600, force)?;
                    eprintln!("wrote {} (mode 0600); copy it to every node", path.display());
                }
                None => print!("{keys}"),
            }
            Ok(())
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hactl", &mut std::io::stdout());
            Ok(())
        }
        Cmd::Version => {
            println!("hactl {}", env!("CARGO_PKG_VERSION"));
            // The daemon's version is a bonus: hactl's own is printed
            // whether hbd runs or not.
            let daemon = match client::connect().await {
                Ok(conn) => client::daemon_version(&conn).await,
                Err(e) => Err(e),
            };
            match daemon {
                Ok(Some(v)) => println!("hbd {v}"),
                Ok(None) => println!("hbd (a version too old to report its version)"),
                Err(ClientError::NotRunning) => println!("hbd is not running on this node"),
                Err(e) => println!("hbd: cannot ask its version: {e}"),
            }
            Ok(())
        }
        Cmd::Man { dir } => man::write_all(&dir).map_err(|e| Failure::Message(format!("{}: {e}", dir.display()))),
    }
}

fn node_label(node: &str) -> &str {
    if node.is_empty() {
        "this node"
    } else {
        node
    }
}

// ------------------------------------------------------------------ status

async fn status(json: bool, watch: bool) -> Result<()> {
    let conn = client::connect().await?;
    let version = if json { client::daemon_version(&conn).await? } else { None };
    let version = version.as_deref();
    if !watch {
        let st = client::fetch_status(&conn).await?;
        print!("{}", render(&st, json, version, false));
        return Ok(());
    }
    let mut signals = client::signals(&conn).await?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let st = client::fetch_status(&conn).await?;
        let mut out = std::io::stdout().lock();
        if tty && !json {
            // Home the cursor and clear the screen.
            let _ = write!(out, "\x1b[H\x1b[2J");
        } else if !json {
            let _ = writeln!(out);
        }
        let _ = write!(out, "{}", render(&st, json, version, true));
        let _ = out.flush();
        drop(out);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            got = next_signal(&mut signals) => if !got { return Err(ClientError::NotRunning.into()) },
        }
        // Let a burst of signals settle into one redraw.
        let pause = tokio::time::sleep(Duration::from_millis(30));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                got = next_signal(&mut signals) => if !got { return Err(ClientError::NotRunning.into()) },
            }
        }
    }
}

/// The status as text or JSON (`compact`: JSON on one line).
fn render(st: &Status, json: bool, version: Option<&str>, compact: bool) -> String {
    if json {
        let v = output::json(st, version);
        let mut s = if compact { v.to_string() } else { serde_json::to_string_pretty(&v).expect("JSON") };
        s.push('\n');
        s
    } else {
        output::human(st)
    }
}

/// Wait for the next signal of interest; false when the stream ended.
async fn next_signal(stream: &mut zbus::MessageStream) -> bool {
    loop {
        match stream.next().await {
            None => return false,
            Some(Ok(msg)) if client::decode_signal(&msg).is_some() => return true,
            Some(_) => {}
        }
    }
}

// ------------------------------------------------------------------- waits

enum Check {
    Done,
    Pending,
    Failed(String),
}

/// Re-read the status whenever hbd signals a change, until `check` says
/// done or failed, or `deadline` passes (then `Ok(None)`). GroupMoved
/// signals are printed as they come.
async fn wait_until(
    conn: &Connection,
    signals: &mut zbus::MessageStream,
    deadline: tokio::time::Instant,
    mut check: impl FnMut(&Status) -> Check,
) -> Result<Option<Status>> {
    loop {
        let st = client::fetch_status(conn).await?;
        match check(&st) {
            Check::Done => return Ok(Some(st)),
            Check::Failed(m) => return Err(Failure::Message(m)),
            Check::Pending => {}
        }
        loop {
            let msg = match tokio::time::timeout_at(deadline, signals.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(ClientError::NotRunning.into()),
                Ok(Some(Err(e))) => return Err(ClientError::from(e).into()),
                Ok(Some(Ok(msg))) => msg,
            };
            match client::decode_signal(&msg) {
                Some(Signal::GroupMoved { group, from, to, reason }) => {
                    println!("{}", output::moved(&group, &from, &to, &reason));
                    break;
                }
                Some(Signal::Changed) => break,
                None => {}
            }
        }
    }
}

async fn standby(node: String, wait: bool, timeout: u64) -> Result<()> {
    let conn = client::connect().await?;
    let mut signals = if wait { Some(client::signals(&conn).await?) } else { None };
    let before = if wait { Some(client::fetch_status(&conn).await?) } else { None };
    client::call_manager(&conn, "Standby", &(node.as_str(),)).await?;
    let (Some(signals), Some(before)) = (signals.as_mut(), before) else {
        println!("{}: standby", node_label(&node));
        return Ok(());
    };
    let target = if node.is_empty() { before.local.clone() } else { node };
    let former: Vec<String> = before.groups.iter().filter(|g| g.owner == target).map(|g| g.name.clone()).collect();
    println!("{target}: standby; waiting for it to give up {}", list_or(&former, "no groups"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let released = wait_until(&conn, signals, deadline, |s| {
        if s.groups.iter().any(|g| g.owner == target) {
            Check::Pending
        } else {
            Check::Done
        }
    })
    .await?;
    let Some(_) = released else {
        let st = client::fetch_status(&conn).await?;
        let held: Vec<String> =
            st.groups.iter().filter(|g| g.owner == target).map(|g| format!("{} ({})", g.name, g.state)).collect();
        return Err(Failure::Message(format!(
            "timed out after {timeout} s: {target} still runs {}",
            list_or(&held, "groups")
        )));
    };
    // Give the groups it released a moment to start elsewhere.
    let settle = deadline.min(tokio::time::Instant::now() + Duration::from_secs(10));
    let done = |s: &Status| {
        former.iter().all(|name| {
            s.groups
                .iter()
                .find(|g| &g.name == name)
                .is_none_or(|g| (g.state == "started" && g.owner != target) || !g.note.is_empty())
        })
    };
    let st = match wait_until(&conn, signals, settle, |s| if done(s) { Check::Done } else { Check::Pending }).await? {
        Some(st) => st,
        None => client::fetch_status(&conn).await?,
    };
    for name in &former {
        if let Some(g) = st.groups.iter().find(|g| &g.name == name) {
            println!("{}", output::placement(g));
        }
    }
    println!("{target} is in standby and runs no groups");
    Ok(())
}

async fn move_group(group: String, node: String, wait: bool, timeout: u64) -> Result<()> {
    let conn = client::connect().await?;
    let mut signals = if wait { Some(client::signals(&conn).await?) } else { None };
    client::call_manager(&conn, "MoveGroup", &(group.as_str(), node.as_str())).await?;
    let Some(signals) = signals.as_mut() else {
        println!("{group}: moving to {}", node_label(&node));
        return Ok(());
    };
    let target = if node.is_empty() { client::fetch_status(&conn).await?.local } else { node };
    println!("{group}: moving to {target}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let result = wait_until(&conn, signals, deadline, |s| match s.groups.iter().find(|g| g.name == group) {
        None => Check::Failed(format!("group {group} is gone from the configuration")),
        Some(g) if g.owner == target && g.state == "started" => Check::Done,
        Some(g) if g.state == "blocked" || g.state == "failed" => Check::Failed(output::placement(g)),
        Some(_) => Check::Pending,
    })
    .await?;
    match result {
        Some(st) => {
            if let Some(g) = st.groups.iter().find(|g| g.name == group) {
                println!("{}", output::placement(g));
            }
            Ok(())
        }
        None => {
            let st = client::fetch_status(&conn).await?;
            let now = st.groups.iter().find(|g| g.name == group).map(output::placement).unwrap_or_default();
            Err(Failure::Message(format!(
                "timed out after {timeout} s waiting for {group} to start on {target}: {now}"
            )))
        }
    }
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

// ------------------------------------------------------------------ config

async fn config_check(file: &Path, auth_key: Option<&Path>) -> Result<()> {
    let mut ok = true;
    let key_path = match crate::config::load(file) {
        Ok(cfg) => {
            println!("{}: ok ({})", file.display(), output::config_summary(&cfg));
            if cfg.cluster.deadtime < crate::config::STABLE_DEADTIME {
                eprintln!(
                    "hactl: warning: deadtime = {} is below {}, the shortest that showed no false failover in hbd's \
                     benchmark (20 % heartbeat loss, every core busy); expect false failovers on a loaded machine",
                    humantime::format_duration(cfg.cluster.deadtime),
                    humantime::format_duration(crate::config::STABLE_DEADTIME)
                );
            }
            if cfg.cluster.fencing == crate::config::Fencing::Required {
                check_fence_unit(&cfg).await;
            }
            check_check_units(&cfg).await;
            check_group_units(&cfg).await;
            Some(auth_key.map_or(cfg.cluster.auth_key.clone(), Path::to_path_buf))
        }
        Err(e) => {
            eprintln!("hactl: {e}");
            ok = false;
            auth_key.map(Path::to_path_buf)
        }
    };
    if let Some(path) = key_path {
        match crate::config::load_auth_keys(&path) {
            Ok(keys) => {
                let n = keys.keys.len();
                let signer = keys.keys.first().map_or(0, |k| k.0);
                println!("{}: ok ({n} key{}; key {signer} signs)", path.display(), if n == 1 { "" } else { "s" });
            }
            Err(e) => {
                eprintln!("hactl: {e}");
                ok = false;
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Failure::Reported)
    }
}

/// With fencing = "required", a node counts as fenced only when its fence
/// unit is a oneshot that finished with Result=success: warn (on a machine
/// with systemd) when the installed fence unit cannot say so.
async fn check_fence_unit(cfg: &crate::config::Config) {
    let Some(node) = cfg.nodes.first() else { return };
    let unit = format!("hbd-fence@{}.service", node.name);
    let Ok(sd) = tokio::time::timeout(Duration::from_secs(5), crate::shell::systemd::Systemd::connect()).await else {
        return;
    };
    let Ok(sd) = sd else { return };
    match sd.load_state(&unit).await.as_deref() {
        Ok("loaded") => {}
        Ok(_) => {
            eprintln!(
                "hactl: warning: fencing = \"required\" but hbd-fence@.service is not installed on this machine; \
                 no unreachable node can be fenced, so its groups stay down (see hbd.toml(5), fencing)"
            );
            return;
        }
        Err(_) => return,
    }
    match sd.service_type(&unit).await {
        Ok(kind) if kind != "oneshot" => eprintln!(
            "hactl: warning: hbd-fence@.service is Type={kind}; a fence unit must be Type=oneshot, \
             so that its result says whether the node was fenced: hbd refuses to count it as fenced"
        ),
        _ => {}
    }
}

/// What makes a group unit misbehave under hbd, as this machine's systemd
/// has it: not installed, a oneshot that ends as soon as it has started
/// (hbd would take its end for a failure), enabled (it starts at boot on
/// every node, and hbd stops it where the group does not run), ordered
/// before hbd's unit (a shutdown hangs; hbd warns of it at start too).
async fn check_group_units(cfg: &crate::config::Config) {
    use futures::StreamExt;
    let units: Vec<(&str, &str)> = cfg
        .groups
        .iter()
        .flat_map(|g| g.resources.iter().filter_map(|r| r.unit_name().map(|u| (g.name.as_str(), u))))
        .collect();
    let Some(sd) = local_systemd(units.is_empty()).await else { return };
    let sd = &sd;
    let found = futures::stream::iter(units)
        .map(|(group, unit)| async move {
            let load = sd.load_state(unit).await.ok();
            let kind = sd.service_type(unit).await.unwrap_or_default();
            let remains = sd.remain_after_exit(unit).await.unwrap_or(true);
            let enabled = sd.is_enabled(unit).await.unwrap_or(false);
            let before_hbd = sd.ordered_before(unit).await.is_ok_and(|b| b.iter().any(|u| u == HBD_UNIT));
            (group, unit, load, kind, remains, enabled, before_hbd)
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    for (group, unit, load, kind, remains, enabled, before_hbd) in found {
        match load.as_deref() {
            Some("loaded") => {}
            Some(state) => {
                eprintln!(
                    "hactl: warning: unit {unit} of group {group} is {state} on this machine; install it on every node \
                     that may run {group}, or starting it there fails"
                );
                continue;
            }
            None => continue,
        }
        if kind == "oneshot" && !remains {
            eprintln!(
                "hactl: warning: unit {unit} of group {group} is Type=oneshot without RemainAfterExit=yes: it ends as \
                 soon as it has started, which hbd takes for a failure of the group; set RemainAfterExit=yes"
            );
        }
        if enabled {
            eprintln!(
                "hactl: warning: unit {unit} of group {group} is enabled in systemd, so it starts at boot on every node \
                 (and hbd stops it where {group} does not run); run: systemctl disable {unit}"
            );
        }
        if before_hbd {
            eprintln!("hactl: warning: unit {}", crate::shell::found::ordered_before(group, unit, HBD_UNIT));
        }
    }
}

/// The unit hbd is installed as (units/hbd.service).
const HBD_UNIT: &str = "hbd.service";

/// This machine's systemd, for warnings only: `None` when there is nothing
/// to ask it (`skip`) or it does not answer within 5 s.
async fn local_systemd(skip: bool) -> Option<crate::shell::systemd::Systemd> {
    if skip {
        return None;
    }
    tokio::time::timeout(Duration::from_secs(5), crate::shell::systemd::Systemd::connect()).await.ok()?.ok()
}

/// A unit check says healthy or sick by how its unit ends: only a oneshot
/// does end. Warn (on a machine with systemd) about one that is missing or
/// of another type.
async fn check_check_units(cfg: &crate::config::Config) {
    let units: Vec<&str> = cfg
        .groups
        .iter()
        .flat_map(|g| g.resources.iter().filter_map(|r| r.check()))
        .chain(cfg.node_checks.iter().map(|c| &c.check))
        .filter_map(|c| match &c.probe {
            crate::config::Probe::Unit { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let Some(sd) = local_systemd(units.is_empty()).await else { return };
    for unit in units {
        match sd.load_state(unit).await.as_deref() {
            Ok("loaded") => {}
            Ok(state) => {
                eprintln!(
                    "hactl: warning: check unit {unit} is {state} on this machine; install it, or every probe fails"
                );
                continue;
            }
            Err(_) => continue,
        }
        match sd.service_type(unit).await {
            Ok(kind) if kind != "oneshot" && !kind.is_empty() => eprintln!(
                "hactl: warning: check unit {unit} is Type={kind}; a check unit must be Type=oneshot, so that \
                 it ends and its result says healthy (exit 0) or sick: set Type=oneshot"
            ),
            _ => {}
        }
    }
}

fn import_heartbeat(
    dir: &Path,
    output: Option<&Path>,
    authkey: Option<&Path>,
    units_dir: Option<&Path>,
    force: bool,
) -> Result<()> {
    use crate::config::ImportError;
    let (imp, failed) = match crate::config::import_heartbeat(dir) {
        Ok(imp) => (imp, None),
        Err(ImportError::Generated { error, toml }) => {
            // Still hand out the file, for editing by hand.
            let imp = crate::config::Import {
                toml,
                authkey: None,
                unmapped: Vec::new(),
                units: Vec::new(),
                needs: Vec::new(),
            };
            (imp, Some(error.to_string()))
        }
        Err(e) => return Err(Failure::Message(e.to_string())),
    };
    for u in &imp.unmapped {
        eprintln!("{u}");
    }
    match output {
        Some(path) => {
            write_file(path, &imp.toml, 0o644, force)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{}", imp.toml),
    }
    match (&imp.authkey, authkey) {
        (Some(keys), Some(path)) => {
            write_file(path, keys, 0o600, force)?;
            eprintln!("wrote {} (mode 0600); install it as /etc/hbd/authkey on every node", path.display());
        }
        (Some(_), None) => {
            eprintln!("note: authkeys was converted but not written; add --authkey FILE to write it (mode 0600)")
        }
        (None, Some(path)) if failed.is_none() => {
            eprintln!(
                "note: no auth key to write to {}; create one with `hactl keygen -o {}`",
                path.display(),
                path.display()
            )
        }
        (None, _) => {}
    }
    if !imp.units.is_empty() {
        match units_dir {
            Some(out) => {
                std::fs::create_dir_all(out).map_err(|e| {
                    Failure::Message(format!(
                        "--units-dir {}: cannot create it as a directory ({e}); name a directory, e.g. --units-dir ./units",
                        out.display()
                    ))
                })?;
                for u in &imp.units {
                    write_file(&out.join(&u.name), &u.content, 0o644, force)?;
                    eprintln!("wrote {} ({})", out.join(&u.name).display(), u.from);
                }
            }
            None => {
                let names: Vec<&str> = imp.units.iter().map(|u| u.name.as_str()).collect();
                eprintln!(
                    "note: the groups need units that were not written ({}); add --units-dir DIR to write them",
                    names.join(", ")
                );
            }
        }
    }
    if failed.is_none() {
        eprintln!("\nTo install, on every node:");
        let toml = output.map_or("the printed configuration".to_string(), |p| p.display().to_string());
        eprintln!("  {toml} -> /etc/hbd/hbd.toml (the same file on every node)");
        if let Some(path) = authkey.filter(|_| imp.authkey.is_some()) {
            eprintln!("  {} -> /etc/hbd/authkey (mode 0600, owned by root)", path.display());
        }
        if let (Some(out), false) = (units_dir, imp.units.is_empty()) {
            let names: Vec<String> = imp.units.iter().map(|u| out.join(&u.name).display().to_string()).collect();
            eprintln!("  {} -> /etc/systemd/system/, then: systemctl daemon-reload", names.join(" "));
            eprintln!("    (do not enable them: hbd starts them with their group)");
        }
        for n in &imp.needs {
            eprintln!("  {n}");
        }
        eprintln!("  then stop and disable heartbeat, and: hactl config check; systemctl enable --now hbd");
        // Heartbeat R1 resources had no monitor operation: nothing is
        // imported as a health check, and nothing should be guessed.
        eprintln!(
            "note: haresources has no monitors, so no health check was imported; to have hbd probe a service, \
             add e.g. check = {{ http = \"http://127.0.0.1/\" }} to its unit (see hbd.toml(5))"
        );
    }
    match failed {
        None => Ok(()),
        Some(e) => Err(Failure::Message(e)),
    }
}

/// Write `content` to `path` with `mode` (also when the file existed);
/// refuse to replace an existing file unless `force`.
fn write_file(path: &Path, content: &str, mode: u32, force: bool) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| Failure::Message(format!("{}: {e}", path.display()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::Message(format!("{} exists; remove it or add --force to replace it", path.display()))
        } else {
            err(e)
        }
    })?;
    f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(err)?;
    f.write_all(content.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}
