//! Object paths of the `org.hbd1` service.

use zbus::zvariant::OwnedObjectPath;

/// The well-known bus name.
pub const BUS_NAME: &str = "org.hbd1";
/// The manager object.
pub const MANAGER_PATH: &str = "/org/hbd1";
pub const MANAGER_INTERFACE: &str = "org.hbd1.Manager";
pub const NODE_INTERFACE: &str = "org.hbd1.Node";
pub const GROUP_INTERFACE: &str = "org.hbd1.Group";

/// The kinds of per-name objects below `/org/hbd1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// `/org/hbd1/node/<escaped name>`, interface `org.hbd1.Node`.
    Node,
    /// `/org/hbd1/group/<escaped name>`, interface `org.hbd1.Group`.
    Group,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Node => "node",
            ObjectKind::Group => "group",
        }
    }
}

/// Escape `name` into one object path element the way systemd does
/// (`bus_label_escape`): ASCII letters stay, digits stay except in front,
/// every other byte becomes `_` and two lower-case hex digits; an empty
/// name becomes `_`. "web-1" → "web_2d1", "1a" → "_31a".
pub fn escape_path_element(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    let mut out = String::with_capacity(name.len() * 3);
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            out.push(b as char);
        } else {
            out.push('_');
            out.push(char::from_digit((b >> 4) as u32, 16).expect("hex digit"));
            out.push(char::from_digit((b & 0xf) as u32, 16).expect("hex digit"));
        }
    }
    out
}

/// The inverse of [`escape_path_element`]; None if `element` is not one it produces.
pub fn unescape_path_element(element: &str) -> Option<String> {
    if element == "_" {
        return Some(String::new());
    }
    let bytes = element.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = element.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The object path of the node or group `name`.
pub fn object_path_for(kind: ObjectKind, name: &str) -> OwnedObjectPath {
    let path = format!("{MANAGER_PATH}/{}/{}", kind.as_str(), escape_path_element(name));
    OwnedObjectPath::try_from(path).expect("escaped names make valid object paths")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape_path_element("n1"), "n1");
        assert_eq!(escape_path_element("web-1"), "web_2d1");
        assert_eq!(escape_path_element("1a"), "_31a");
        assert_eq!(escape_path_element("a.b_c"), "a_2eb_5fc");
        assert_eq!(escape_path_element(""), "_");
        assert_eq!(escape_path_element("é"), "_c3_a9");
        for n in ["n1", "web-1", "1a", "a.b_c", "", "é", "x_y"] {
            assert_eq!(unescape_path_element(&escape_path_element(n)).as_deref(), Some(n));
        }
        assert_eq!(object_path_for(ObjectKind::Node, "node-2").as_str(), "/org/hbd1/node/node_2d2");
        assert_eq!(object_path_for(ObjectKind::Group, "web").as_str(), "/org/hbd1/group/web");
    }
}
