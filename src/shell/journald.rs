//! A journald layer that never blocks the thread that logs.
//!
//! hbd logs from its one event loop, the same thread that sends the
//! heartbeats. A blocking send to a stalled journald would stop the
//! heartbeats, and the peer would take over while this node still runs the
//! group. So entries are encoded on the spot (journald's native protocol)
//! and handed to a writer thread through a bounded queue; when the queue is
//! full the entry is dropped and counted, and the writer reports the count
//! in the journal once it can.

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// Entries waiting for the writer thread at most.
pub const QUEUE_LEN: usize = 1024;

/// Entries queued and not yet sent, for [`flush`].
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// Wait (at most `limit`) until every queued entry has been sent: before
/// the process exits, or its last words are lost.
pub fn flush(limit: std::time::Duration) {
    let end = std::time::Instant::now() + limit;
    while IN_FLIGHT.load(Ordering::Acquire) > 0 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The layer; see the module documentation.
pub struct Layer {
    queue: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// Fields added to every entry (`HBD_NODE=…`), encoded.
    common: Vec<u8>,
}

impl Layer {
    /// A layer whose writer thread sends to journald's socket at `path`.
    pub fn new(path: &str, node: &str) -> std::io::Result<Layer> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        let (layer, rx) = Layer::with_queue(node, QUEUE_LEN);
        let dropped = layer.dropped.clone();
        std::thread::Builder::new().name("hbd-journal".into()).spawn(move || writer(sock, rx, dropped))?;
        Ok(layer)
    }

    /// A layer and the receiving end of its queue (the writer's side).
    pub fn with_queue(node: &str, len: usize) -> (Layer, Receiver<Vec<u8>>) {
        let (queue, rx) = sync_channel(len);
        let mut common = Vec::new();
        put_field(&mut common, "HBD_NODE", node.as_bytes());
        put_field(&mut common, "SYSLOG_IDENTIFIER", b"hbd");
        (Layer { queue, dropped: Arc::new(AtomicU64::new(0)), common }, rx)
    }

    /// Entries dropped so far because the queue was full.
    pub fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }
}

fn writer(sock: UnixDatagram, rx: Receiver<Vec<u8>>, dropped: Arc<AtomicU64>) {
    let mut reported = 0;
    while let Ok(entry) = rx.recv() {
        let _ = sock.send(&entry);
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        let now = dropped.load(Ordering::Relaxed);
        if now > reported {
            let mut e = Vec::new();
            put_field(&mut e, "PRIORITY", b"4");
            put_field(&mut e, "HBD_EVENT", b"log-dropped");
            let msg = format!(
                "{} log entries were dropped because journald did not keep up (hbd never waits for the journal)",
                now - reported
            );
            put_field(&mut e, "MESSAGE", msg.as_bytes());
            let _ = sock.send(&e);
            reported = now;
        }
    }
}

/// One field in journald's native format; values with a newline use the
/// length-prefixed binary form.
fn put_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A tracing field name as a journal field name: upper case, `[A-Z0-9_]`,
/// not starting with `_` or a digit.
fn journal_name(name: &str) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    while s.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
        s.remove(0);
    }
    if s.is_empty() {
        s.push_str("FIELD");
    }
    s
}

struct Fields<'a> {
    out: &'a mut Vec<u8>,
    message: String,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            put_field(self.out, &journal_name(field.name()), value.as_bytes());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            put_field(self.out, &journal_name(field.name()), format!("{value:?}").as_bytes());
        }
    }
}

/// syslog priorities as Heartbeat used them.
fn priority(level: &Level) -> &'static [u8] {
    match *level {
        Level::ERROR => b"3",
        Level::WARN => b"4",
        Level::INFO => b"6",
        _ => b"7",
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut out = self.common.clone();
        put_field(&mut out, "PRIORITY", priority(meta.level()));
        put_field(&mut out, "TARGET", meta.target().as_bytes());
        if let Some(f) = meta.file() {
            put_field(&mut out, "CODE_FILE", f.as_bytes());
        }
        if let Some(l) = meta.line() {
            put_field(&mut out, "CODE_LINE", l.to_string().as_bytes());
        }
        let mut fields = Fields { out: &mut out, message: String::new() };
        event.record(&mut fields);
        let message = std::mem::take(&mut fields.message);
        put_field(&mut out, "MESSAGE", message.as_bytes());
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(out) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn entries_in_native_format() {
        let (layer, rx) = Layer::with_queue("n1", 8);
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(HBD_EVENT = "link-down", HBD_PEER = "n2", "link n2:hb down\nsecond line");
        });
        let e = rx.try_recv().expect("one entry");
        let text = String::from_utf8_lossy(&e);
        assert!(text.contains("HBD_NODE=n1\n"), "{text}");
        assert!(text.contains("PRIORITY=4\n"), "{text}");
        assert!(text.contains("HBD_EVENT=link-down\n"), "{text}");
        assert!(text.contains("HBD_PEER=n2\n"), "{text}");
        // A message with a newline goes in the binary form.
        let msg = b"link n2:hb down\nsecond line";
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        want.extend_from_slice(msg);
        assert!(e.windows(want.len()).any(|w| w == want.as_slice()), "{text}");
    }

    /// A journal that takes nothing: logging goes on at full speed, the
    /// entries beyond the queue are counted, none waits.
    #[test]
    fn a_stalled_journal_never_blocks_the_logger() {
        let (layer, _rx) = Layer::with_queue("n1", 16);
        let dropped = layer.dropped();
        let sub = tracing_subscriber::registry().with(layer);
        let t0 = std::time::Instant::now();
        tracing::subscriber::with_default(sub, || {
            for i in 0..10_000 {
                tracing::info!(HBD_EVENT = "test", "entry {i}");
            }
        });
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "logging took {:?}", t0.elapsed());
        assert_eq!(dropped.load(Ordering::Relaxed), 10_000 - 16);
    }

    #[test]
    fn field_names() {
        assert_eq!(journal_name("HBD_EVENT"), "HBD_EVENT");
        assert_eq!(journal_name("unit"), "UNIT");
        assert_eq!(journal_name("_x.y"), "X_Y");
        assert_eq!(journal_name("9"), "FIELD");
    }
}
