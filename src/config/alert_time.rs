//! Pacemaker's `timestamp-format` for alert agents: `strftime(3)` in local
//! time, plus `%N` for the fraction of the second (`%06N` six digits, `%03N`
//! milliseconds, `%01N` tenths; `%N` alone six). Agents parse
//! `CRM_alert_timestamp` with the format they were configured with, so an
//! agent set up for Pacemaker needs the same one here.

use std::time::{SystemTime, UNIX_EPOCH};

/// Pacemaker's default (`%H:%M:%S.%06N`).
pub const DEFAULT_TIMESTAMP_FORMAT: &str = "%H:%M:%S.%06N";

/// The longest format taken, and the longest timestamp made.
pub const MAX_TIMESTAMP_FORMAT: usize = 256;
const MAX_TIMESTAMP: usize = 512;

/// `at` in `format`; empty if `strftime` makes nothing of it.
pub fn render_timestamp(format: &str, at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let usec = format!("{:06}", d.subsec_micros());
    // %N first: strftime does not know it. "%%" stays for strftime.
    let mut pattern = String::with_capacity(format.len() + 8);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            pattern.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if chars.peek() == Some(&'N') {
            chars.next();
            let width = digits.parse::<usize>().unwrap_or(6).clamp(1, 6);
            pattern.push_str(&usec[..width]);
            continue;
        }
        pattern.push('%');
        pattern.push_str(&digits);
        if let Some(next) = chars.next() {
            pattern.push(next);
        }
    }
    strftime_local(&pattern, d.as_secs())
}

fn strftime_local(pattern: &str, secs: u64) -> String {
    let Ok(c_pattern) = std::ffi::CString::new(pattern) else { return String::new() };
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return String::new();
    }
    let mut buf = vec![0u8; MAX_TIMESTAMP];
    // SAFETY: buf has buf.len() bytes; the pattern is NUL-terminated; tm is
    // initialised above. strftime writes at most buf.len() bytes.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c_pattern.as_ptr(), &tm) };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, usec: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(usec)
    }

    #[test]
    fn fractions_of_a_second() {
        let t = at(1, 987_654);
        assert!(render_timestamp("%S.%06N", t).ends_with(".987654"));
        assert!(render_timestamp("%S.%03N", t).ends_with(".987"));
        assert!(render_timestamp("%S.%01N", t).ends_with(".9"));
        assert!(render_timestamp("%S.%N", t).ends_with(".987654"));
        assert!(render_timestamp("%S.%9N", t).ends_with(".987654"), "at most microseconds");
    }

    #[test]
    fn strftime_and_literal_percent() {
        // Local time moves the hour, not the seconds.
        let t = at(86_400 * 365 + 7, 0);
        assert_eq!(render_timestamp("%S", t), "07");
        assert_eq!(render_timestamp("100%% at %S", t), "100% at 07");
        assert_eq!(render_timestamp("%%N", t), "%N", "an escaped percent is not %N");
        let snmp = render_timestamp("%Y-%m-%d,%H:%M:%S.%01N", at(1_700_000_000, 250_000));
        assert!(snmp.len() == 21 && snmp.ends_with(".2") && snmp.contains(','), "{snmp}");
    }

    #[test]
    fn the_default_is_pacemakers() {
        let ts = render_timestamp(DEFAULT_TIMESTAMP_FORMAT, at(1, 500_000));
        assert!(ts.len() == 15 && ts.ends_with(".500000"), "{ts}");
    }

    #[test]
    fn nothing_to_make() {
        assert_eq!(render_timestamp("", at(1, 0)), "");
        assert_eq!(render_timestamp("a\0b", at(1, 0)), "");
    }
}
