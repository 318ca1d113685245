//! Who may change the cluster: uid 0, or a member of group `haclient`.
//!
//! The caller is identified by the bus (the message's sender, resolved with
//! `GetConnectionUnixUser` and `GetConnectionCredentials`), never by
//! anything the caller says about itself. Membership counts if either the
//! bus saw the group among the caller process's groups, or the user
//! database lists the user in it (primary or supplementary).

use std::ffi::{CStr, CString};

use zbus::message::Header;
use zbus::Connection;

use super::error::ApiError;

/// The group whose members may change the cluster (Heartbeat's group).
pub const ADMIN_GROUP: &str = "haclient";

/// Check that the sender of the message with header `hdr` may change the cluster.
pub async fn authorize(conn: &Connection, hdr: &Header<'_>) -> Result<(), ApiError> {
    let Some(sender) = hdr.sender() else {
        // A peer-to-peer connection has no bus to vouch for the caller.
        return Err(ApiError::access_denied());
    };
    let dbus = zbus::fdo::DBusProxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(ApiError::from)?;
    let name = zbus::names::BusName::from(sender.to_owned());
    let (uid, creds) =
        futures::join!(dbus.get_connection_unix_user(name.clone()), dbus.get_connection_credentials(name));
    let uid = match uid {
        Ok(uid) => uid,
        Err(e) => {
            tracing::warn!("cannot get the uid of D-Bus caller {sender}: {e}");
            return Err(ApiError::access_denied());
        }
    };
    if uid == 0 {
        return Ok(());
    }
    let bus_groups = creds.ok().and_then(|c| c.into_unix_group_ids());
    let allowed =
        tokio::task::spawn_blocking(move || may_administer(uid, bus_groups.as_deref())).await.unwrap_or(false);
    if allowed {
        Ok(())
    } else {
        tracing::info!("refused a change requested by uid {uid} ({sender}): not root and not in group {ADMIN_GROUP}");
        Err(ApiError::access_denied())
    }
}

/// Whether `uid` (with the process groups `bus_groups` the bus reported,
/// if any) may change the cluster. Blocking: consults NSS.
pub fn may_administer(uid: u32, bus_groups: Option<&[u32]>) -> bool {
    if uid == 0 {
        return true;
    }
    let Some(gid) = group_gid(ADMIN_GROUP) else {
        return false;
    };
    if bus_groups.is_some_and(|g| g.contains(&gid)) {
        return true;
    }
    user_groups(uid).is_some_and(|g| g.contains(&gid))
}

/// The gid of group `name`, via getgrnam_r.
pub fn group_gid(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero `group` is a valid value to be overwritten.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the given sizes; the result
        // borrows from `buf`, which outlives its use here.
        let rc = unsafe { libc::getgrnam_r(cname.as_ptr(), &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(grp.gr_gid);
    }
}

/// The user name and primary gid of `uid`, via getpwuid_r.
fn user_name_gid(uid: u32) -> Option<(CString, u32)> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero `passwd` is a valid value to be overwritten.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: as in group_gid.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pw.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points to a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pw.pw_name) }.to_owned();
        return Some((name, pw.pw_gid));
    }
}

/// Every group of user `uid` in the user database (primary and supplementary).
pub fn user_groups(uid: u32) -> Option<Vec<u32>> {
    let (name, gid) = user_name_gid(uid)?;
    let mut n: libc::c_int = 32;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; n as usize];
        let asked = n;
        // SAFETY: `groups` has room for `n` entries; getgrouplist sets `n`
        // to the number found (or needed, when it returns -1).
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            return Some(groups);
        }
        if n <= asked {
            n = asked * 2;
        }
        if n > 1 << 16 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_may_everything() {
        assert!(may_administer(0, None));
        assert_eq!(group_gid("root"), Some(0));
        assert!(user_groups(0).is_some_and(|g| g.contains(&0)));
        assert_eq!(group_gid("no-such-group-hbd"), None);
    }
}
