//! The configuration layer's error: every variant names the file, and where
//! it can the line, column and key, and says what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A problem at a place in the file. `message` is the whole sentence
    /// (it starts with the key when there is one); `key` is the dotted key
    /// alone (`group[0].preferred`), empty for a plain syntax error.
    #[error("{}:{line}:{column}: {message}", path.display())]
    At { path: PathBuf, line: usize, column: usize, key: String, message: String },
    /// A secret file that others may read or write.
    #[error(
        "{} has mode {mode:04o}; it must be readable by root only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
    /// A secret file not owned by root (checked only when running as root).
    #[error(
        "{} is owned by uid {uid}; it must be owned by root: chown root:root {}",
        path.display(),
        path.display()
    )]
    Owner { path: PathBuf, uid: u32 },
    /// An auth key file without a single key.
    #[error(
        "{}: no keys; add a line \"1 SECRET\" (at least 16 bytes) or run `hactl keygen`",
        path.display()
    )]
    NoKeys { path: PathBuf },
}

impl ConfigError {
    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::At { key, .. } if !key.is_empty() => Some(key),
            _ => None,
        }
    }

    /// `(line, column)`, 1-based, if the error points into the file.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::At { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::At { path, .. }
            | ConfigError::Mode { path, .. }
            | ConfigError::Owner { path, .. }
            | ConfigError::NoKeys { path } => path,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 3)); // after the two-byte é
        assert_eq!(line_col(t, 1000), (3, 1));
    }

    #[test]
    fn mode_message() {
        let e = ConfigError::Mode { path: "/etc/hbd/authkey".into(), mode: 0o644 };
        assert_eq!(
            e.to_string(),
            "/etc/hbd/authkey has mode 0644; it must be readable by root only: chmod 600 /etc/hbd/authkey"
        );
    }
}
