//! What one HTTP probe costs hbd's thread, without the lab's spread: the
//! probe path of the daemon (`shell::check::probe_net`: connect, request,
//! status line, close) run back to back on a runtime like the daemon's (one
//! thread), against a small HTTP/1.0 server on a thread of its own.
//!
//!     cargo run --release --example probe_cost [-- PROBES [HOST]]
//!
//! Prints the median of 5 rounds of PROBES (default 5,000) probes of one
//! check of `http://HOST:port/health` (HOST `127.0.0.1` by default; a name
//! such as `localhost` is resolved as the daemon's checks resolve it): the
//! CPU time of the probing thread per probe (`CLOCK_THREAD_CPUTIME_ID`), that
//! of the whole process (the server's thread and the runtime's blocking pool,
//! where names are resolved, with it), and the wall time per probe. On
//! loopback the receiving end's kernel work runs in the sender's context,
//! so the server's half of each connection's TCP is in the figure, as it
//! is in the daemon's. Probes look at their sockets on a 5 ms grid (see
//! `shell::check`): back to back, each waits for the grid alone and pays a
//! wake-up of its own, which the daemon's probes of one slot share.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use hbd::config::{Check, Probe};
use hbd::shell::check::{probe_net, Names};

fn cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Answers every request with 200 and closes, as the bench's server does.
fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

fn main() {
    let probes: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let host = std::env::args().nth(2).unwrap_or_else(|| "127.0.0.1".into());
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || serve(listener));
    let url = format!("http://{host}:{port}/health");
    let check = Check {
        probe: Probe::Http { url, host, port, path: "/health".into(), expect: 200 },
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        rise: 1,
        fall: 3,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (mut thread, mut process, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    let per_probe = |d: Duration| d.as_nanos() as f64 / f64::from(probes) / 1000.0;
    let mut names = Names::default();
    for _ in 0..5 {
        let (t0, p0, w0) = (cpu(libc::CLOCK_THREAD_CPUTIME_ID), cpu(libc::CLOCK_PROCESS_CPUTIME_ID), Instant::now());
        rt.block_on(async {
            for _ in 0..probes {
                let o = probe_net(&check, &mut names).await;
                assert!(o.ok, "a probe failed: {}", o.detail);
            }
        });
        thread.push(per_probe(cpu(libc::CLOCK_THREAD_CPUTIME_ID) - t0));
        process.push(per_probe(cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - p0));
        wall.push(per_probe(w0.elapsed()));
    }
    println!("probes,url,cpu_us_per_probe,process_cpu_us_per_probe,wall_us_per_probe");
    println!("{probes},{},{:.1},{:.1},{:.1}", check.probe.describe(), median(thread), median(process), median(wall));
}
