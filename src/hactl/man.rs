//! Man pages: hactl(8) from the command-line definition, hbd(8) and
//! hbd.toml(5) written by hand (in `man/`).

use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// hbd(8), written by hand.
pub const HBD_8: &str = include_str!("../../man/hbd.8");
/// hbd.toml(5), written by hand.
pub const HBD_TOML_5: &str = include_str!("../../man/hbd.toml.5");

const EXTRA: &str = r#".SH "STATUS OUTPUT"
.B hactl status
prints a header line (cluster, local node, quorum, generation), one line
per node (state, generation, each link with its state and the time since
its last heartbeat, ping hosts reached) and one line per group (state,
owner, whether that is the preferred node, fail count, resources), then
the group's note when it does not run where it should. A resource's state
is the owner's: a unit as its systemd reports it ("active (running)",
"failed (exit-code 143)"), followed by "on NODE" on the other nodes
("active (running) on n1"), so that no node shows a unit started that
systemd does not run.
.PP
.B hactl status \-\-json
prints one JSON object:
.nf
{"schema": 1, "hbd_version": "0.1.0", "hactl_version": "0.1.0",
 "cluster": "demo", "local": "n1", "quorate": true, "generation": 7,
 "nodes": [{"name": "n2", "state": "up", "local": false, "generation": 3,
            "ping_hosts": 1,
            "links": [{"name": "hb", "state": "up", "age_ms": 120}]}],
 "groups": [{"name": "web", "state": "started", "owner": "n1",
             "preferred": "n1", "failcount": 0,
             "resources": [{"kind": "vip", "name": "10.77.0.60/24",
                            "state": "started"}],
             "note": ""}]}
.fi
.I owner
is null when no node runs the group;
.I age_ms
is null for a link never heard;
.I hbd_version
is null for an hbd too old to report it. The document follows schema 1
(docs/hactl-status.schema.json, described in docs/json-schema.md): fields
may be added; removing one or changing its meaning bumps
.IR schema .
.SH "EXIT STATUS"
.TP
.B 0
Success.
.TP
.B 1
The command failed: unknown node or group, no quorum, hbd busy, a
configuration file that does not validate, a wait that timed out.
.TP
.B 2
Wrong usage.
.TP
.B 3
hbd is not running on this node (nobody owns org.hbd1, or there is no
system bus).
.TP
.B 4
Permission denied: changing the cluster needs root or membership of group
haclient.
.SH ENVIRONMENT
.TP
.B HBD_BUS_ADDRESS
A D\-Bus address to use instead of the system bus (for tests and labs).
.SH FILES
.TP
.I /etc/hbd/hbd.toml
The configuration; see
.BR hbd.toml (5).
.TP
.I /etc/hbd/authkey
The auth key file.
.SH "SEE ALSO"
.BR hbd (8),
.BR hbd.toml (5),
.BR busctl (1)
"#;

/// Escape text for roff.
fn roff(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// One `.TP` entry per command (subcommands of `config` included), with
/// its arguments and options.
fn commands_section() -> String {
    let mut out = String::from(".SH COMMANDS\n");
    let mut cmd = Cli::command();
    cmd.build();
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut String) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let name = format!("{prefix} {}", sub.get_name());
            if sub.has_subcommands() {
                walk(sub, &name, out);
                continue;
            }
            let mut synopsis = format!("\\fB{}\\fR", roff(&name));
            let mut opts = String::new();
            for a in sub.get_arguments().filter(|a| !a.is_hide_set() && a.get_id() != "help") {
                let value = a.get_value_names().and_then(|v| v.first()).map(|v| v.to_string());
                let value = value.unwrap_or_else(|| a.get_id().as_str().to_uppercase());
                let help = a.get_help().map(|h| roff(&h.to_string())).unwrap_or_default();
                let defaults: Vec<String> =
                    a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
                let help = if help.is_empty() || help.ends_with('.') { help } else { format!("{help}.") };
                let default = if defaults.is_empty() || !a.get_action().takes_values() {
                    String::new()
                } else {
                    format!(" Default: {}.", roff(&defaults.join(" ")))
                };
                if a.is_positional() {
                    let v = format!("\\fI{}\\fR", roff(&value));
                    synopsis.push(' ');
                    synopsis.push_str(&if a.is_required_set() { v.clone() } else { format!("[{v}]") });
                    opts.push_str(&format!(".TP\n{v}\n{help}{default}\n"));
                } else {
                    let long = a.get_long().map(|l| format!("\\-\\-{}", roff(l)));
                    let short = a.get_short().map(|s| format!("\\-{s}"));
                    let flag = [short, long].into_iter().flatten().collect::<Vec<_>>().join(", ");
                    let takes = a.get_action().takes_values();
                    let v = if takes { format!(" \\fI{}\\fR", roff(&value)) } else { String::new() };
                    synopsis.push_str(&format!(" [\\fB{}\\fR{v}]", flag.split(", ").last().unwrap_or("")));
                    opts.push_str(&format!(".TP\n\\fB{flag}\\fR{v}\n{help}{default}\n"));
                }
            }
            let about = sub.get_long_about().or(sub.get_about()).map(|h| roff(&h.to_string())).unwrap_or_default();
            out.push_str(&format!(".TP\n{synopsis}\n{about}\n"));
            if !opts.is_empty() {
                out.push_str(&format!(".RS\n{opts}.RE\n"));
            }
        }
    }
    walk(&cmd, "hactl", &mut out);
    out
}

/// hactl(8).
pub fn hactl_8() -> Vec<u8> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd).section("8").manual("hbd");
    let mut out = Vec::new();
    man.render_title(&mut out).expect("write to memory");
    man.render_name_section(&mut out).expect("write to memory");
    man.render_synopsis_section(&mut out).expect("write to memory");
    man.render_description_section(&mut out).expect("write to memory");
    man.render_options_section(&mut out).expect("write to memory");
    out.extend_from_slice(commands_section().as_bytes());
    out.extend_from_slice(EXTRA.as_bytes());
    man.render_version_section(&mut out).expect("write to memory");
    out
}

/// Write hactl.8, hbd.8 and hbd.toml.5 into `dir` (created if needed).
pub fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, content) in
        [("hactl.8", hactl_8()), ("hbd.8", HBD_8.as_bytes().to_vec()), ("hbd.toml.5", HBD_TOML_5.as_bytes().to_vec())]
    {
        let mut f = std::fs::File::create(dir.join(name))?;
        f.write_all(&content)?;
    }
    Ok(())
}
