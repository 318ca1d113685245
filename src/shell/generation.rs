//! The node's generation counter, persisted in the state directory
//! (`/var/lib/hbd/generation`) and bumped on every start.
//!
//! Frames carry (generation, sequence); a peer that sees a lower generation
//! drops the frame. The write is crash-safe: temp file, fsync, rename over
//! the old file, fsync of the directory — after a power cut the file holds
//! either the old or the new number, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the counter file inside the state directory.
pub const FILE_NAME: &str = "generation";

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error(
        "cannot read the generation counter {path}: {source}; check the file's \
         permissions, or remove it if the state directory was copied from another node"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the generation counter {path} holds {content:?}, not a number; hbd will not guess \
         (a too-low generation makes peers drop this node's frames): write a number larger \
         than any generation this node used, e.g. `echo 1000 > {path}`"
    )]
    Corrupt { path: PathBuf, content: String },
    #[error("cannot write the generation counter in {dir}: {source}; {hint}")]
    Write {
        dir: PathBuf,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the generation counter in {path} is at its maximum; reset it by hand on all nodes")]
    Overflow { path: PathBuf },
}

fn write_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EROFS) => "the file system is read-only: hbd needs a writable StateDirectory= (/var/lib/hbd)",
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "the file system is full: free space there, then start hbd again",
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "permission denied: the state directory must be writable by hbd (StateDirectory=hbd)"
        }
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            "the state directory does not exist or is not a directory: create it \
             (systemd does so for StateDirectory=hbd) or fix --state-dir"
        }
        _ => "check that the state directory exists, is a writable directory, and has space",
    }
}

/// Read the current generation (a missing file is 0), add one, store it
/// durably, and return the new value.
pub fn bump(state_dir: &Path) -> Result<u64, GenerationError> {
    let path = state_dir.join(FILE_NAME);
    let current = read(state_dir)?;
    let next = current.checked_add(1).ok_or_else(|| GenerationError::Overflow { path: path.clone() })?;
    write(state_dir, next)?;
    Ok(next)
}

/// The stored generation; 0 when there is no file yet.
pub fn read(state_dir: &Path) -> Result<u64, GenerationError> {
    let path = state_dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(GenerationError::Read { path, source }),
    };
    let trimmed = text.trim();
    trimmed.parse::<u64>().map_err(|_| GenerationError::Corrupt { path, content: trimmed.chars().take(40).collect() })
}

fn write(state_dir: &Path, value: u64) -> Result<(), GenerationError> {
    let err =
        |source: io::Error| GenerationError::Write { dir: state_dir.to_owned(), hint: write_hint(&source), source };
    let tmp = state_dir.join(format!(".{FILE_NAME}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        writeln!(f, "{value}")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, state_dir.join(FILE_NAME))?;
        File::open(state_dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "hbd-gen-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn missing_file_starts_at_one_and_counts_up() {
        let d = TempDir::new();
        assert_eq!(read(&d.0).unwrap(), 0);
        assert_eq!(bump(&d.0).unwrap(), 1);
        assert_eq!(bump(&d.0).unwrap(), 2);
        assert_eq!(bump(&d.0).unwrap(), 3);
        assert_eq!(fs::read_to_string(d.0.join(FILE_NAME)).unwrap(), "3\n");
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(&d.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn existing_value_with_whitespace() {
        let d = TempDir::new();
        fs::write(d.0.join(FILE_NAME), " 41 \n").unwrap();
        assert_eq!(bump(&d.0).unwrap(), 42);
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let d = TempDir::new();
        fs::write(d.0.join(FILE_NAME), "garbage").unwrap();
        let e = bump(&d.0).unwrap_err();
        assert!(matches!(e, GenerationError::Corrupt { .. }), "{e}");
        let s = e.to_string();
        assert!(s.contains("garbage") && s.contains(FILE_NAME), "{s}");
        // Untouched.
        assert_eq!(fs::read_to_string(d.0.join(FILE_NAME)).unwrap(), "garbage");
    }

    #[test]
    fn overflow_is_an_error() {
        let d = TempDir::new();
        fs::write(d.0.join(FILE_NAME), u64::MAX.to_string()).unwrap();
        assert!(matches!(bump(&d.0).unwrap_err(), GenerationError::Overflow { .. }));
    }

    #[test]
    fn state_dir_that_is_a_file() {
        // chmod does not stop root; a file where the directory should be does.
        let d = TempDir::new();
        let not_dir = d.0.join("state");
        fs::write(&not_dir, "").unwrap();
        let e = bump(&not_dir).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, GenerationError::Read { .. } | GenerationError::Write { .. }), "{s}");
        assert!(s.contains(not_dir.to_str().unwrap()), "{s}");
    }

    #[test]
    fn missing_state_dir() {
        let d = TempDir::new();
        let missing = d.0.join("nope");
        let e = bump(&missing).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, GenerationError::Write { .. }), "{s}");
        assert!(s.contains("does not exist"), "{s}");
        assert!(s.contains(missing.to_str().unwrap()), "{s}");
    }

    #[test]
    fn read_only_mount() {
        // A read-only tmpfs needs root and mount(2); skip quietly otherwise.
        let d = TempDir::new();
        let mnt = d.0.join("ro");
        fs::create_dir(&mnt).unwrap();
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(mnt.to_str().unwrap());
        let rc = unsafe {
            libc::mount(c("tmpfs").as_ptr(), target.as_ptr(), c("tmpfs").as_ptr(), libc::MS_RDONLY, std::ptr::null())
        };
        if rc != 0 {
            eprintln!("skipping read-only mount test: {}", io::Error::last_os_error());
            return;
        }
        let e = bump(&mnt);
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let e = e.unwrap_err();
        let s = e.to_string();
        assert!(s.contains("read-only"), "{s}");
        assert!(s.contains(mnt.to_str().unwrap()), "{s}");
    }
}
