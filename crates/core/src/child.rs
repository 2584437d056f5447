//! Child processes (bench workers, the real frameworks' runners): their stdout read line by line as
//! it comes, the last lines of their stderr kept for the error message, and a stop request passed
//! on. A SIGTERM (what `timeout` and CI send) reaches only this process; the child must stop too,
//! keeping its finished epochs.

use crate::interrupt::stop_requested;
use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// How a child ended: its status, its last stderr lines (when stderr was piped), and whether it
/// was stopped for printing nothing for too long.
pub struct Ended {
    pub status: ExitStatus,
    pub stderr_tail: Vec<String>,
    pub silent_too_long: bool,
}

/// Feed each stdout line of `child` (spawned with stdout piped, stderr piped or inherited) to
/// `on_line` as it comes, sending SIGTERM to the child once a stop is requested; wait for it. With
/// `quiet_limit`, a child that prints nothing for that long is killed (a hung child never hangs
/// mlcmp).
pub fn follow(
    mut child: Child,
    quiet_limit: Option<Duration>,
    mut on_line: impl FnMut(&str),
) -> std::io::Result<Ended> {
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut tail: Vec<String> = vec![];
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                tail.push(line);
                if tail.len() > 8 {
                    tail.remove(0);
                }
            }
            tail
        })
    });
    let mut told = false;
    let mut last = std::time::Instant::now();
    let mut silent_too_long = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                last = std::time::Instant::now();
                on_line(&line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if quiet_limit.is_some_and(|q| last.elapsed() > q) && !silent_too_long {
            // The child and, when it leads a process group of its own, everything it started
            // (a DataLoader's worker processes hold the same stdout).
            // SAFETY: kill only sends signals to our child and its group.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.kill();
            silent_too_long = true;
            break;
        }
        if stop_requested() && !told {
            // SAFETY: kill only sends a signal to our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            told = true;
        }
    }
    let status = child.wait()?;
    // A killed child's leftover processes may still hold its pipes: do not wait for them then.
    let stderr_tail = if silent_too_long {
        vec![]
    } else {
        let _ = reader.join();
        stderr.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Ended { status, stderr_tail, silent_too_long })
}
