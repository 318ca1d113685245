//! Runs tests/systemd/run.sh: a throw-away systemd-nspawn machine (the
//! host's OS, systemd 252) in which examples/unitctl drives real units
//! through `hbd::shell::systemd`, and checks journald fields and sd_notify.
//!
//! Needs root and systemd-nspawn; skipped (with a note) otherwise, or when
//! HBD_SKIP_MACHINE_TESTS is set.

use std::path::PathBuf;
use std::process::Command;

fn unitctl_path() -> PathBuf {
    // target/<profile>/deps/systemd_units-HASH → target/<profile>/examples/unitctl
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .join("examples")
        .join("unitctl")
}

#[test]
fn units_on_real_systemd() {
    if std::env::var_os("HBD_SKIP_MACHINE_TESTS").is_some() {
        eprintln!("skipped: HBD_SKIP_MACHINE_TESTS is set");
        return;
    }
    if unsafe { libc::geteuid() } != 0 || Command::new("systemd-nspawn").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and systemd-nspawn (apt-get install -y systemd-container)");
        return;
    }
    let manifest = env!("CARGO_MANIFEST_DIR");
    // Build the driver so the run never uses a stale one (cargo has
    // released its build lock by the time tests run).
    // Without the variables cargo sets for a test run: ring's build script
    // reruns when CARGO_MANIFEST_DIR changes, and with it every crate above
    // ring (a minute and more of rebuilding, here and in the next build).
    let mut cargo = Command::new(env!("CARGO"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && !matches!(k.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR" | "CARGO_TERM_COLOR") {
            cargo.env_remove(k);
        }
    }
    let status = cargo
        .args(["build", "--quiet", "--example", "unitctl"])
        .args(cfg!(not(debug_assertions)).then_some("--release"))
        .current_dir(manifest)
        .env("CARGO_TARGET_DIR", unitctl_path().parent().unwrap().parent().unwrap().parent().unwrap())
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --example unitctl failed");
    let bin = unitctl_path();
    let out =
        Command::new(format!("{manifest}/tests/systemd/run.sh")).arg(&bin).output().expect("run tests/systemd/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "tests/systemd/run.sh failed:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
