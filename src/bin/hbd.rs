//! hbd: the high-availability daemon. Run by systemd as hbd.service.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "hbd", version, about = "High-availability daemon: heartbeats, a floating IP and systemd units")]
struct Args {
    /// Cluster configuration file.
    #[arg(short, long, default_value = "/etc/hbd/hbd.toml")]
    config: PathBuf,
    /// This node's name in the configuration (default: the hostname).
    #[arg(short, long)]
    node: Option<String>,
    /// Where the generation counter is kept (systemd's StateDirectory).
    #[arg(long, env = "STATE_DIRECTORY", default_value = "/var/lib/hbd")]
    state_dir: PathBuf,
    /// Do not serve the org.hbd1 D-Bus API.
    #[arg(long)]
    no_dbus: bool,
}

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hbd: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let opts = hbd::shell::daemon::Options {
        config: args.config,
        node: args.node,
        // systemd may pass several colon-separated directories.
        state_dir: args.state_dir.to_string_lossy().split(':').next().map(PathBuf::from).unwrap_or_default(),
        dbus: !args.no_dbus,
    };
    let result = rt.block_on(hbd::shell::daemon::run(opts));
    // The journal writer's queue: the last lines say why hbd stopped.
    hbd::shell::journald::flush(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        eprintln!("hbd: {e:#}");
        let config = e.downcast_ref::<hbd::shell::daemon::ConfigProblem>().is_some();
        std::process::exit(if config { 78 } else { 1 });
    }
}
