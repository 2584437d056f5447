//! Per-epoch lines in the article's format, with an indicatif bar while an epoch runs
//! (only when stdout is a terminal).

use crate::outputs::say;
use indicatif::{ProgressBar, ProgressStyle};
use mlcmp_core::backend::Event;
use mlcmp_core::export::compare::epoch_line;
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
    tty: bool,
    prefix_backend: bool,
}

impl Progress {
    pub fn new(prefix_backend: bool) -> Progress {
        Progress { bar: None, tty: std::io::stdout().is_terminal(), prefix_backend }
    }

    pub fn event(&mut self, backend: &str, e: Event) {
        match e {
            Event::EpochStart { epoch, batches } if self.tty => {
                let bar = ProgressBar::new(batches as u64);
                bar.set_style(
                    ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} batches {msg}")
                        .expect("valid template"),
                );
                bar.set_prefix(format!("{backend} epoch {epoch}"));
                self.bar = Some(bar);
            }
            Event::Batch { batch, loss, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(batch as u64 + 1);
                    if batch % 20 == 0 {
                        b.set_message(format!("loss {loss:.4}"));
                    }
                }
            }
            Event::EpochEnd(r) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                let who = if self.prefix_backend { format!("[{backend}] ") } else { String::new() };
                say!(
                    "{who}{}, train acc {:.2}%, test acc {:.2}%",
                    epoch_line(r),
                    100.0 * r.train_acc,
                    100.0 * r.test_acc
                );
            }
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
