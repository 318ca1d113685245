//! The auth key file on disk: modes, ownership, content.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::TempDir;
use hbd::config::{self, ConfigError};

mod common;

/// A fresh file with `mode` in a private temporary directory (removed
/// with the returned guard).
fn key_file(name: &str, content: &str, mode: u32) -> (TempDir, PathBuf) {
    let dir = TempDir::new("hbd-config-authkey", name);
    let path = dir.join("authkey");
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const GOOD: &str = "# test key\n1 0123456789abcdef0123456789abcdef\n2 fedcba9876543210fedcba9876543210\n";

#[test]
fn accepts_0600_and_0400() {
    for (name, mode) in [("m600", 0o600), ("m400", 0o400)] {
        let (_dir, path) = key_file(name, GOOD, mode);
        let keys = config::load_auth_keys(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(keys.keys[0].1, b"0123456789abcdef0123456789abcdef");
    }
}

#[test]
fn refuses_group_or_world_access() {
    for (name, mode) in [("m644", 0o644), ("m640", 0o640), ("m604", 0o604), ("m620", 0o620), ("m602", 0o602)] {
        let (_dir, path) = key_file(name, GOOD, mode);
        let err = config::load_auth_keys(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Mode { .. }), "{err}");
        let p = path.display();
        assert_eq!(
            err.to_string(),
            format!("{p} has mode {mode:04o}; it must be readable by root only: chmod 600 {p}")
        );
    }
}

#[test]
fn refuses_empty_file() {
    let (_dir, path) = key_file("empty", "# nothing here\n\n", 0o600);
    let err = config::load_auth_keys(&path).unwrap_err();
    assert!(matches!(err, ConfigError::NoKeys { .. }), "{err}");
    assert!(err.to_string().contains("hactl keygen"), "{err}");
}

#[test]
fn bad_content_names_file_and_line() {
    let (_dir, path) = key_file("short", "# c\n1 0123456789abcdef0123\n2 short\n", 0o600);
    let err = config::load_auth_keys(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:3:3: key 2 has a 5-byte secret", path.display())), "{msg}");
    let (_dir, path) = key_file("dup", "1 0123456789abcdef0123\n1 0123456789abcdef0124\n", 0o600);
    let msg = config::load_auth_keys(&path).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{}:2:1: key ID 1 appears twice", path.display())), "{msg}");
    let (_dir, path) = key_file("range", "300 0123456789abcdef0123\n", 0o600);
    let msg = config::load_auth_keys(&path).unwrap_err().to_string();
    assert!(msg.starts_with(&format!("{}:1:1: key ID 300 is out of range", path.display())), "{msg}");
}

#[test]
fn missing_file_is_a_read_error() {
    let err = config::load_auth_keys(std::path::Path::new("/nonexistent/authkey")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().starts_with("/nonexistent/authkey: cannot read:"), "{err}");
}

#[test]
fn generated_keys_load_from_a_0600_file() {
    let (_dir, path) = key_file("gen", &config::generate_auth_keys(), 0o600);
    let keys = config::load_auth_keys(&path).unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].1.len(), 64);
}

#[test]
fn ownership_checked_only_as_root() {
    let (_dir, path) = key_file("owner", GOOD, 0o600);
    if !running_as_root() {
        // Not root: a file owned by the current user is accepted.
        config::load_auth_keys(&path).unwrap();
        return;
    }
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    let err = config::load_auth_keys(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Owner { uid: 65534, .. }), "{err}");
    assert!(err.to_string().contains("chown root:root"), "{err}");
}
