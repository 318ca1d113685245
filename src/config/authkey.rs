//! The auth key file: `ID SECRET` per line (ID 1–255); the first key signs,
//! all keys verify, so a new key can be rolled out before the old one goes.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

use super::error::ConfigError;
use super::AuthKeys;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Read the auth key file, refusing one that group or others may read or
/// write (and, when running as root, one not owned by root).
pub fn load_auth_keys(path: &Path) -> Result<AuthKeys, ConfigError> {
    let read_err = |source| ConfigError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Mode { path: path.to_path_buf(), mode });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 && meta.uid() != 0 {
        return Err(ConfigError::Owner { path: path.to_path_buf(), uid: meta.uid() });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    parse_auth_keys(&text, path)
}

/// Parse the content of an auth key file; `path` is for messages.
pub fn parse_auth_keys(text: &str, path: &Path) -> Result<AuthKeys, ConfigError> {
    let mut keys: Vec<(u8, Vec<u8>)> = Vec::new();
    for (n, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let indent = raw_line.len() - raw_line.trim_start().len();
        let at = |column: usize, key: String, message: String| ConfigError::At {
            path: path.to_path_buf(),
            line: n + 1,
            column: indent + column,
            key,
            message,
        };
        let (id_text, secret) = match line.split_once(char::is_whitespace) {
            Some((id, rest)) => (id, rest.trim()),
            None => (line, ""),
        };
        let id: u8 = match id_text.parse::<u32>() {
            Ok(id @ 1..=255) => id as u8,
            Ok(_) => {
                return Err(at(1, String::new(), format!("key ID {id_text} is out of range; use an ID from 1 to 255")))
            }
            Err(_) => {
                // Never echo the line: it may be a secret without an ID.
                return Err(at(
                    1,
                    String::new(),
                    "a line must be \"ID SECRET\" with ID 1–255, e.g. \"1 <64 hex characters>\"; `hactl keygen` writes one"
                        .to_string(),
                ));
            }
        };
        let secret_col = line.len() - line[id_text.len()..].trim_start().len() + 1;
        if secret.is_empty() {
            return Err(at(
                1,
                format!("key {id}"),
                format!("key {id} has no secret; write \"{id} SECRET\" (at least {MIN_SECRET_LEN} bytes) or run `hactl keygen`"),
            ));
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(at(
                secret_col,
                format!("key {id}"),
                format!(
                    "key {id} has a {}-byte secret; use at least {MIN_SECRET_LEN} bytes (`hactl keygen` writes 64 random hex characters)",
                    secret.len()
                ),
            ));
        }
        if keys.iter().any(|(k, _)| *k == id) {
            return Err(at(1, format!("key {id}"), format!("key ID {id} appears twice; give each key its own ID")));
        }
        keys.push((id, secret.as_bytes().to_vec()));
    }
    if keys.is_empty() {
        return Err(ConfigError::NoKeys { path: path.to_path_buf() });
    }
    Ok(AuthKeys { keys })
}

/// Content for a fresh auth key file: a comment and key 1 with 32 random
/// bytes as 64 hex characters. Install it as mode 0600 on every node.
pub fn generate_auth_keys() -> String {
    let mut secret = [0u8; 32];
    SystemRandom::new().fill(&mut secret).expect("the system random number generator failed");
    let mut out = String::from(
        "# hbd auth key: copy this file to every node as /etc/hbd/authkey, mode 0600, owned by root.\n\
         # One key per line, \"ID SECRET\"; the first line signs, every line verifies.\n1 ",
    );
    for b in secret {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/hbd/authkey")
    }

    #[test]
    fn parses_keys_in_order_with_comments() {
        let k =
            parse_auth_keys("# comment\n\n2 0123456789abcdef0123\n  1   a secret with spaces inside \n", p()).unwrap();
        assert_eq!(k.keys.len(), 2);
        assert_eq!(k.keys[0], (2, b"0123456789abcdef0123".to_vec()));
        assert_eq!(k.keys[1], (1, b"a secret with spaces inside".to_vec()));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let k = parse_auth_keys("7 supersecretsupersecret\n", p()).unwrap();
        let d = format!("{k:?}");
        assert!(!d.contains("supersecret"), "{d}");
        assert!(d.contains('7'));
    }

    #[test]
    fn rejects_empty() {
        let e = parse_auth_keys("# only a comment\n\n", p()).unwrap_err();
        assert!(matches!(e, ConfigError::NoKeys { .. }));
        assert!(e.to_string().starts_with("/etc/hbd/authkey: no keys;"), "{e}");
    }

    #[test]
    fn rejects_duplicate_id() {
        let e = parse_auth_keys("1 0123456789abcdef\n1 fedcba9876543210\n", p()).unwrap_err();
        assert_eq!(e.position(), Some((2, 1)));
        assert!(e.to_string().starts_with("/etc/hbd/authkey:2:1: key ID 1 appears twice"), "{e}");
    }

    #[test]
    fn rejects_id_out_of_range() {
        for id in ["0", "256", "1000"] {
            let e = parse_auth_keys(&format!("{id} 0123456789abcdef\n"), p()).unwrap_err();
            assert!(e.to_string().contains(&format!("1:1: key ID {id} is out of range")), "{e}");
        }
        let e = parse_auth_keys("abc 0123456789abcdef\n", p()).unwrap_err();
        assert!(e.to_string().contains("1:1: a line must be \"ID SECRET\""), "{e}");
    }

    #[test]
    fn rejects_short_secret_without_printing_it() {
        let e = parse_auth_keys("1 shortsecret\n", p()).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("/etc/hbd/authkey:1:3: key 1 has a 11-byte secret"), "{s}");
        assert!(!s.contains("shortsecret"));
        let e = parse_auth_keys("3\n", p()).unwrap_err();
        assert!(e.to_string().contains("key 3 has no secret"), "{e}");
    }

    #[test]
    fn generated_file_parses() {
        let text = generate_auth_keys();
        let keys = parse_auth_keys(&text, p()).unwrap();
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].0, 1);
        assert_eq!(keys.keys[0].1.len(), 64);
        assert!(keys.keys[0].1.iter().all(u8::is_ascii_hexdigit));
        assert!(text.starts_with('#'));
        assert_ne!(text, generate_auth_keys());
    }
}
