//! Child processes (bench workers, the real frameworks' runners): their stdout read line by line as
//! it comes, the last lines of their stderr kept for the error message, and a stop request passed
//! on. A SIGTERM (what `timeout` and CI send) reaches only this process; the child must stop too,
//! keeping its finished epochs.

use crate::interrupt::stop_requested;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// The longest stdout line a child may print (a runner's epoch line carries every batch loss);
/// the rest of a longer one is dropped, so a runaway child cannot fill the memory.
pub const MAX_LINE: usize = 64 << 20;
/// The longest stderr line kept for an error message.
pub const MAX_ERR_LINE: usize = 300;

/// What a child gets when mlcmp dies.
#[derive(Clone, Copy)]
pub enum Orphaned {
    /// SIGKILL: nothing of the child's is worth keeping without its parent.
    Kill,
    /// SIGTERM: the child tidies up (a runner removes its folder) and exits. SIGTERM starts
    /// blocked in the child, so one that comes before the child's handler is installed waits for
    /// it instead of killing the child untidily: the child unblocks SIGTERM once it can handle it.
    Terminate,
}

/// Make `cmd`'s child receive a signal when this process dies, however it dies (SIGKILL
/// included), so no worker, spinner or runner outlives mlcmp. Linux sends it when the *thread*
/// that spawned the child ends: spawn from a thread that waits for the child, as [`follow`]'s
/// callers do.
pub fn die_with_parent(cmd: &mut Command, then: Orphaned) -> &mut Command {
    let signal = match then {
        Orphaned::Kill => libc::SIGKILL,
        Orphaned::Terminate => libc::SIGTERM,
    };
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if matches!(then, Orphaned::Terminate) {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            // The parent may have died before the prctl: then no signal would ever come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    }
}

/// Call `each` with every line of `r` (lossy UTF-8, without the newline), keeping at most `max`
/// bytes of a line and noting how much of it was cut; stops when `each` returns false.
pub fn bounded_lines(r: impl Read, max: usize, mut each: impl FnMut(String) -> bool) {
    let mut r = BufReader::new(r);
    let (mut line, mut cut) = (Vec::new(), 0usize);
    let text = |line: &[u8], cut: usize| {
        let s = String::from_utf8_lossy(line).into_owned();
        if cut == 0 {
            s
        } else {
            format!("{s}... ({cut} more bytes cut)")
        }
    };
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if buf.is_empty() {
            if !line.is_empty() || cut > 0 {
                each(text(&line, cut));
            }
            return;
        }
        let end = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..end.unwrap_or(buf.len())];
        let take = chunk.len().min(max.saturating_sub(line.len()));
        line.extend_from_slice(&chunk[..take]);
        cut += chunk.len() - take;
        let used = end.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if end.is_some() {
            if !each(text(&line, cut)) {
                return;
            }
            line.clear();
            cut = 0;
        }
    }
}

/// Whether process `pid` still exists.
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// At most `max` characters of `s`, with a note of how much was left out.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}... ({} more bytes cut)", &s[..at], s.len() - at),
    }
}

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
    let reader = std::thread::spawn(move || bounded_lines(stdout, MAX_LINE, |line| tx.send(line).is_ok()));
    let stderr = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut tail: Vec<String> = vec![];
            bounded_lines(e, MAX_ERR_LINE, |line| {
                if !line.trim().is_empty() {
                    tail.push(line);
                }
                if tail.len() > 8 {
                    tail.remove(0);
                }
                true
            });
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
