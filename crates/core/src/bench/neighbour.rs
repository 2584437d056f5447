//! `mlcmp bench --neighbour busy`: a process spinning on one core beside the worker, as on a shared
//! CI runner. It lives as long as the [`Neighbour`] value.

use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Neighbour(Child);

impl Neighbour {
    /// Start `exe spin` (mlcmp's hidden spinning command).
    pub fn start(exe: &Path) -> std::io::Result<Neighbour> {
        let child = crate::child::die_with_parent(&mut Command::new(exe), crate::child::Orphaned::Kill)
            .arg("spin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Neighbour(child))
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The neighbour's work: pinned to the machine's last core, spin until killed.
pub fn spin() -> ! {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let cores = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cores - 1, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let mut x = 1u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
