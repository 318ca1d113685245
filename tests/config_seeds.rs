//! The four Heartbeat set-ups hbd's users come from (tests/seeds/*, each an
//! /etc/ha.d as its guide writes it): `hactl config import-heartbeat DIR
//! --units-dir OUT` imports each one, `hactl config check` accepts the
//! result and `systemd-analyze verify` the units it wrote, with the seed's
//! resource scripts where the units expect them (/etc/ha.d/resource.d, in
//! a private mount namespace). Also: every resource type Heartbeat 3.0.6
//! ships gets a mapping or a "not mapped, because" line.
//!
//! The verify step needs root and systemd-analyze (installed with apt-get
//! when missing); without root it is skipped with a note.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use hbd::config::{self, import_heartbeat_on, Host, Import};
use hbd::core::Resource;

mod common;

const HACTL: &str = env!("CARGO_BIN_EXE_hactl");

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seeds")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The seed as it is on a Heartbeat node: git keeps no 0600, the guides
/// all say `chmod 600 authkeys`.
fn ha_d(seed: &str, tmp: &TempDir) -> PathBuf {
    let dir = tmp.join("ha.d");
    copy_dir(&seeds().join(seed), &dir);
    std::fs::set_permissions(dir.join("authkeys"), std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    println!("$ {cmd:?}\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn have_systemd_analyze() -> bool {
    if Command::new("systemd-analyze").arg("--version").output().is_ok() {
        return true;
    }
    // It comes with Debian's systemd package.
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", "systemd"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    ok && Command::new("systemd-analyze").arg("--version").output().is_ok()
}

/// `systemd-analyze verify` of every unit in `units`, with `ha_d` bound
/// over /etc/ha.d so that the units find the resource scripts where a
/// Heartbeat node has them.
fn verify(units: &Path, ha_d: &Path) {
    if !is_root() {
        eprintln!("skipped systemd-analyze verify: needs root (a private mount namespace for /etc/ha.d)");
        return;
    }
    assert!(have_systemd_analyze(), "systemd-analyze is missing and could not be installed (apt-get install systemd)");
    let files: Vec<PathBuf> = std::fs::read_dir(units).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty());
    // /etc/ha.d is the mount point; a host without Heartbeat gets an empty
    // one for the duration of the test. One test at a time: removing the
    // directory detaches the bind mounts other tests' namespaces hold on
    // it, and their units then name a missing script.
    static MOUNT_POINT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_us = MOUNT_POINT.lock().unwrap_or_else(|e| e.into_inner());
    let etc_ha_d = Path::new("/etc/ha.d");
    let made = !etc_ha_d.exists();
    if made {
        std::fs::create_dir(etc_ha_d).unwrap();
    }
    let out = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/ha.d && exec systemd-analyze verify \"$@\"")
        .arg(ha_d)
        .args(&files));
    if made {
        let _ = std::fs::remove_dir(etc_ha_d);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(!stderr.contains(&*name), "systemd-analyze verify complains about {name}:\n{stderr}");
    }
}

/// Import with hactl, check with hactl, verify the units; returns the
/// parsed configuration, the units written and hactl's stderr.
fn import_and_check(seed: &str) -> (config::Config, Vec<(String, String)>, String) {
    let tmp = TempDir::new("hbd-seeds", seed);
    let dir = ha_d(seed, &tmp);
    let (toml, key, units) = (tmp.join("hbd.toml"), tmp.join("authkey"), tmp.join("units"));
    let out = run(Command::new(HACTL)
        .args(["config", "import-heartbeat"])
        .arg(&dir)
        .arg("-o")
        .arg(&toml)
        .arg("--authkey")
        .arg(&key)
        .arg("--units-dir")
        .arg(&units));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import of {seed} failed:\n{stderr}");
    assert!(stderr.contains("To install, on every node:"), "the import says what to copy where:\n{stderr}");
    let out = run(Command::new(HACTL).args(["config", "check"]).arg(&toml).arg("--auth-key").arg(&key));
    assert!(out.status.success(), "hactl config check of the import of {seed} failed");
    let cfg = config::load(&toml).unwrap();
    let mut written = Vec::new();
    if units.exists() {
        verify(&units, &dir);
        for e in std::fs::read_dir(&units).unwrap() {
            let e = e.unwrap();
            written.push((e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()));
        }
        written.sort();
    }
    (cfg, written, stderr)
}

fn units_of(cfg: &config::Config) -> Vec<String> {
    cfg.groups[0].resources.iter().filter_map(|r| r.unit_name().map(String::from)).collect()
}

#[test]
fn resource_script() {
    let (cfg, units, stderr) = import_and_check("test-script");
    assert_eq!(cfg.groups.len(), 1);
    let g = &cfg.groups[0];
    assert_eq!((g.name.as_str(), g.preferred.as_str()), ("test", "primary.mydomain.com"));
    assert_eq!(units_of(&cfg), ["test.service"]);
    assert_eq!(units.len(), 1);
    let (name, text) = &units[0];
    assert_eq!(name, "test.service");
    // Run unchanged, as Heartbeat ran it, and stays up after returning.
    assert!(text.contains("ExecStart=\"/etc/ha.d/resource.d/test\" \"start\"\n"), "{text}");
    assert!(text.contains("ExecStop=\"/etc/ha.d/resource.d/test\" \"stop\"\n"), "{text}");
    assert!(text.contains("RemainAfterExit=yes"), "{text}");
    assert!(text.contains("haresources:1 (test)"), "it says where it came from: {text}");
    assert!(stderr.contains("/etc/ha.d/resource.d/test: the resource script, unchanged"), "{stderr}");
}

#[test]
fn nginx_behind_a_vip_with_a_ping_node() {
    let (cfg, units, stderr) = import_and_check("nginx-ping");
    let g = &cfg.groups[0];
    assert_eq!((g.name.as_str(), g.preferred.as_str()), ("nginx", "master"));
    assert_eq!(
        g.resources,
        [
            Resource::Vip { addr: "192.168.1.106".parse().unwrap(), prefix: 24, interface: "eth0".into() },
            Resource::unit("nginx.service"),
        ]
    );
    assert!(cfg.cluster.auto_failback);
    assert_eq!(cfg.ping.hosts, ["192.168.2.1".parse::<std::net::IpAddr>().unwrap()]);
    assert!(cfg.respawn.is_empty(), "ipfail is hbd's own ping handling");
    assert!(units.is_empty(), "Debian's nginx package has its unit: {units:?}");
    assert!(stderr.contains("ipfail\": not needed: hbd does ipfail itself"), "{stderr}");
}

#[test]
fn drbd_filesystem_httpd() {
    let (cfg, units, stderr) = import_and_check("drbd-httpd");
    let g = &cfg.groups[0];
    assert_eq!(g.name, "httpd");
    assert_eq!(units_of(&cfg), ["drbd-promote@example.service", "var-www-html.mount", "httpd.service"]);
    // Only the mount unit is written: drbd-promote@.service is drbd-utils'.
    assert_eq!(units.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(), ["var-www-html.mount"]);
    let mount = &units[0].1;
    for l in ["What=/dev/drbd1\n", "Where=/var/www/html\n", "Type=ext4\n"] {
        assert!(mount.contains(l), "{l:?} in {mount}");
    }
    assert!(stderr.contains("drbd-promote@example.service: drbd-utils' own unit"), "{stderr}");
    assert!(stderr.contains("var-www-html.mount -> /etc/systemd/system/"), "{stderr}");
}

#[test]
fn lvs_director_pair() {
    let (cfg, units, stderr) = import_and_check("lvs-director");
    assert_eq!(units_of(&cfg), ["httpd.service", "ldirectord.service"]);
    assert!(units.is_empty(), "{units:?}");
    assert!(stderr.contains("ldirectord.service: from Debian's ldirectord package"), "{stderr}");
    assert!(stderr.contains("docs/recipes/lvs-director.md"), "{stderr}");
}

/// On a Debian machine with the packages installed, the import uses their
/// units (nginx.service, Apache as apache2.service for the guides' httpd).
#[test]
fn debian_packages_are_used() {
    let tmp = TempDir::new("hbd-seeds", "debian");
    let lib = tmp.join("lib-systemd-system");
    std::fs::create_dir_all(&lib).unwrap();
    for u in ["nginx.service", "apache2.service", "drbd-promote@.service", "ldirectord.service"] {
        std::fs::write(lib.join(u), "[Service]\nExecStart=/bin/true\n").unwrap();
    }
    let host = Host { init_d: None, unit_dirs: vec![lib] };
    let import = |seed: &str| -> Import {
        let t = TempDir::new("hbd-seeds", &format!("debian-{seed}"));
        import_heartbeat_on(&ha_d(seed, &t), &host).unwrap_or_else(|e| panic!("{e}"))
    };
    let imp = import("drbd-httpd");
    let cfg = config::parse(&imp.toml, Path::new("x")).unwrap();
    assert_eq!(units_of(&cfg), ["drbd-promote@example.service", "var-www-html.mount", "apache2.service"]);
    assert!(imp.unmapped.iter().any(|u| u.why.contains("Debian's Apache is apache2.service")), "{:?}", imp.unmapped);
    let imp = import("nginx-ping");
    assert!(imp.unmapped.iter().all(|u| !u.why.contains("nginx")), "{:?}", imp.unmapped);
    assert!(imp.needs.iter().any(|n| n.starts_with("nginx.service: installed on this machine")), "{:?}", imp.needs);
}

/// An init script found in /etc/init.d without a unit of its own is run
/// by a written unit, with its arguments.
#[test]
fn init_scripts_and_arguments() {
    let tmp = TempDir::new("hbd-seeds", "initd");
    let init_d = tmp.join("init.d");
    std::fs::create_dir_all(&init_d).unwrap();
    std::fs::write(init_d.join("legacyd"), "#!/bin/sh\nexit 0\n").unwrap();
    let dir = tmp.join("ha.d");
    std::fs::create_dir_all(dir.join("resource.d")).unwrap();
    std::fs::write(dir.join("ha.cf"), "node a\nnode b\nbcast eth0\n").unwrap();
    std::fs::write(dir.join("haresources"), "a legacyd myapp::/srv/my app::50% Delay::3::1\n").unwrap();
    let script = dir.join("resource.d/myapp");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = Host { init_d: Some(init_d), unit_dirs: Vec::new() };
    let imp = import_heartbeat_on(&dir, &host).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = imp.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["legacyd.service", "myapp--srv-my.service", "heartbeat-delay-3-1.service"],
        "{:?}",
        imp.unmapped
    );
    // haresources splits on white space: "myapp::/srv/my" and "app::50%"
    // are two words; the second names no script and is listed.
    assert!(imp.unmapped.iter().any(|u| u.why.starts_with("app::50%: not mapped, because there is no script")));
    assert!(imp.units[0].content.contains("ExecStart=\"/etc/init.d/legacyd\" \"start\""));
    assert!(imp.units[1].content.contains("ExecStart=\"/etc/ha.d/resource.d/myapp\" \"/srv/my\" \"start\""));
    assert!(imp.units[2].content.contains("ExecStart=/bin/sleep 3\nExecStop=/bin/sleep 1\n"));
}

/// Every resource type in Heartbeat 3.0.6's resource.d (and the two that
/// drbd-utils and ldirectord added there) is mapped, or listed with why not.
#[test]
fn every_heartbeat_resource_type_is_mapped_or_explained() {
    let words = [
        "IPaddr::10.0.0.60/24/eth0",
        "IPaddr2::10.0.0.61/24/eth0",
        "IPv6addr::fd00::60/64/eth0",
        "IPsrcaddr::10.0.0.60",
        "Filesystem::/dev/sdb1::/data::xfs",
        "drbddisk::r0",
        "ldirectord",
        "apache",
        "MailTo::root@example.com",
        "SendArp::10.0.0.60/eth0",
        "Delay::5",
        "AudibleAlarm",
        "portblock::tcp::80::block",
        "Xinetd::tftp",
        "ServeRAID::1::1",
        "ICP::c0h1::/dev/sdb1",
        "LVM::vg0",
        "LinuxSCSI::0:0:2:0",
        "Raid1::/etc/raidtab::/dev/md0",
        "WAS::/opt/was/config.xml",
        "db2::db2inst1",
        "ids",
        "hto-mapfuncs",
        "WinPopup::/etc/ha.d/hosts",
        "OCF::Dummy::d1",
    ];
    for word in words {
        let tmp = TempDir::new("hbd-seeds", "types");
        let dir = tmp.join("ha.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ha.cf"), "node a\nnode b\nbcast eth0\n").unwrap();
        std::fs::write(dir.join("haresources"), format!("a {word}\n")).unwrap();
        let imp = import_heartbeat_on(&dir, &Host::empty()).unwrap_or_else(|e| panic!("{word}: {e}"));
        let cfg = config::parse(&imp.toml, Path::new("x")).unwrap();
        let mapped = !cfg.groups.is_empty();
        let explained = imp.unmapped.iter().any(|u| u.why.starts_with(&format!("{word}: not mapped, because ")));
        assert!(mapped != explained, "{word}: mapped {mapped}, explained {explained}: {:#?}", imp.unmapped);
        println!(
            "{word}: {}",
            if mapped { format!("{:?}", cfg.groups[0].resources) } else { imp.unmapped[0].why.clone() }
        );
    }
}
