//! The floor under any HTTP check that opens a connection per probe: N
//! probes a second made the barest way (one thread, blocking sockets, no
//! runtime, no timer per probe: connect, send the request hbd sends, read
//! the status line, close), spread over the second in ten slots as hbd
//! spreads its checks. What this costs is the kernel's work for N new TCP
//! connections a second — on loopback both ends' share of it, run in the
//! prober's context — and next to nothing else; bench/checks.sh measures
//! it beside hbd's and HAProxy's checks of the same server.
//!
//!     bare_probes ADDR N STATUS_FILE
//!
//! ADDR is `ip:port`; probe i asks `GET /check/NNN` (as the bench's hbd
//! checks do). STATUS_FILE gets, each second, how many of the last
//! second's probes read `HTTP/1.x 200`. Runs until killed; a server that
//! never answers blocks it (it is a measuring tool, not a checker).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SLOTS: u32 = 10;

fn probe(addr: SocketAddr, req: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    if s.write_all(req).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    let mut got = 0;
    while !buf[..got].contains(&b'\n') && got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/1.") && buf[..got].get(8..13) == Some(b" 200 ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, n, status] = &args[..] else {
        eprintln!("usage: bare_probes ADDR N STATUS_FILE");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR is ip:port");
    let n: u32 = n.parse().expect("N is a count");
    let reqs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!("GET /check/{i:03} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: bare-probe\r\nConnection: close\r\n\r\n")
                .into_bytes()
        })
        .collect();
    let step = Duration::from_secs(1) / SLOTS;
    let mut at = Instant::now();
    loop {
        let mut ok = 0;
        for slot in 0..SLOTS {
            at += step;
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            for req in reqs.iter().skip(slot as usize).step_by(SLOTS as usize) {
                ok += u32::from(probe(addr, req));
            }
        }
        let _ = std::fs::write(status, format!("{ok}\n"));
    }
}
