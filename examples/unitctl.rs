//! A small driver over `hbd::shell::{systemd, log, notify}`, for tests on a
//! real systemd (see tests/systemd/run.sh) and for poking at a unit by hand.
//!
//! ```text
//! unitctl start UNIT            start, wait for the job; exit 1 with the error
//! unitctl stop UNIT             stop, wait for the job
//! unitctl state UNIT            print ActiveState
//! unitctl enabled UNIT          print true/false (UnitFileState)
//! unitctl reset-failed UNIT
//! unitctl start-all UNIT...     start them concurrently on one connection
//! unitctl watch UNIT [--start] [--until failed|restarted|state:ACTIVE] [--timeout SECS]
//!                               print one line per event: `state ACTIVE SUB`,
//!                               `failed RESULT`, `restarted N RESULT`; --until
//!                               stops at that event (`state:active` for a state);
//!                               --start starts the unit after the watch is set up
//! unitctl log-test [NODE]       log one entry with HBD_EVENT=test-event
//! unitctl notify-test           be a Type=notify service: STATUS, READY, WATCHDOG
//! ```
//!
//! Exit status: 0 success, 1 unit error, 2 usage, 3 watch timeout.

use std::process::ExitCode;
use std::time::Duration;

use hbd::shell::systemd::{Systemd, UnitEvent};
use hbd::shell::{log, notify};

fn usage() -> ExitCode {
    eprintln!(
        "usage: unitctl start|stop|state|enabled|reset-failed UNIT\n       \
         unitctl watch UNIT [--start] [--until failed|restarted|state:ACTIVE] [--timeout SECS]\n       \
         unitctl log-test [NODE] | notify-test"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().map(String::as_str) else {
        return usage();
    };
    match cmd {
        "log-test" => {
            let node = args.get(1).map(String::as_str).unwrap_or("testnode");
            let backend = log::init(node);
            tracing::info!(
                HBD_EVENT = "test-event",
                HBD_GROUP = "g1",
                HBD_PEER = "n2",
                HBD_LINK = "hb",
                "log test from unitctl"
            );
            println!("{backend:?}");
            hbd::shell::journald::flush(Duration::from_secs(1));
            return ExitCode::SUCCESS;
        }
        "notify-test" => return notify_test().await,
        _ => {}
    }
    let Some(unit) = args.get(1) else {
        return usage();
    };
    let sd = match Systemd::connect().await {
        Ok(sd) => sd,
        Err(e) => {
            eprintln!("unitctl: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cmd {
        "start" => sd.start(unit).await.map(|()| println!("done")),
        "stop" => sd.stop(unit).await.map(|()| println!("done")),
        "state" => sd.active_state(unit).await.map(|s| println!("{s}")),
        "enabled" => sd.is_enabled(unit).await.map(|b| println!("{b}")),
        "reset-failed" => sd.reset_failed(unit).await.map(|()| println!("done")),
        "watch" => return watch(&sd, unit, &args[2..]).await,
        "start-all" => {
            // Concurrent jobs on one connection: each waits for its own JobRemoved.
            let jobs = args[1..].iter().map(|u| sd.start(u));
            let mut code = ExitCode::SUCCESS;
            for (u, r) in args[1..].iter().zip(futures::future::join_all(jobs).await) {
                match r {
                    Ok(()) => println!("{u} done"),
                    Err(e) => {
                        println!("{u} error: {e}");
                        code = ExitCode::from(1);
                    }
                }
            }
            return code;
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unitctl: {e}");
            ExitCode::from(1)
        }
    }
}

async fn watch(sd: &Systemd, unit: &str, opts: &[String]) -> ExitCode {
    let mut start = false;
    let mut until = None;
    let mut timeout = Duration::from_secs(30);
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        match o.as_str() {
            "--start" => start = true,
            "--until" => until = it.next().cloned(),
            "--timeout" => match it.next().and_then(|s| s.parse::<f64>().ok()) {
                Some(s) => timeout = Duration::from_secs_f64(s),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let mut w = match sd.watch(unit).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("unitctl: {e}");
            return ExitCode::from(1);
        }
    };
    if start {
        // The watch is set up first: nothing the unit does after this is missed.
        if let Err(e) = sd.start(unit).await {
            println!("start-error {e}");
        } else {
            println!("started");
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let ev = tokio::select! {
            ev = w.next() => ev,
            _ = tokio::time::sleep_until(deadline) => {
                println!("timeout");
                return ExitCode::from(3);
            }
        };
        let Some(ev) = ev else {
            eprintln!("unitctl: bus connection closed");
            return ExitCode::from(1);
        };
        let (kind, line) = match &ev {
            UnitEvent::State { active_state, sub_state } => {
                (format!("state:{active_state}"), format!("state {active_state} {sub_state}"))
            }
            UnitEvent::Failed { result } => ("failed".to_owned(), format!("failed {result}")),
            UnitEvent::Restarted { n_restarts, result, new_failure } => {
                ("restarted".to_owned(), format!("restarted {n_restarts} {result} new_failure={new_failure}"))
            }
        };
        println!("{line}{}", if ev.is_failure() { " (failure)" } else { "" });
        if until.as_deref() == Some(kind.as_str()) {
            return ExitCode::SUCCESS;
        }
    }
}

async fn notify_test() -> ExitCode {
    log::init("testnode");
    let interval = notify::watchdog_interval();
    println!("watchdog interval {interval:?}");
    notify::status("serving");
    notify::ready();
    let tick = interval.unwrap_or(Duration::from_secs(1));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => notify::watchdog(),
            _ = term.recv() => {
                notify::stopping();
                return ExitCode::SUCCESS;
            }
        }
    }
}
