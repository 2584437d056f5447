//! Child processes (bench workers, the real frameworks' runners): their stdout read line by line as
//! it comes, the last lines of their stderr kept for the error message, and a stop request passed
//! on. A SIGTERM (what `timeout` and CI send) reaches only this process; the child must stop too,
//! keeping its finished epochs.

use crate::interrupt::stop_requested;
use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// How a child ended: its status and its last stderr lines (when stderr was piped).
pub struct Ended {
    pub status: ExitStatus,
    pub stderr_tail: Vec<String>,
}

/// Feed each stdout line of `child` (spawned with stdout piped, stderr piped or inherited) to
/// `on_line` as it comes, sending SIGTERM to the child once a stop is requested; wait for it.
pub fn follow(mut child: Child, mut on_line: impl FnMut(&str)) -> std::io::Result<Ended> {
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
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => on_line(&line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stop_requested() && !told {
            // SAFETY: kill only sends a signal to our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            told = true;
        }
    }
    let _ = reader.join();
    let status = child.wait()?;
    let stderr_tail = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Ended { status, stderr_tail })
}
