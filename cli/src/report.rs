//! `mlcmp report`: a saved results file rendered again (tables, Markdown or CSV, and the plot), or
//! several files (from several machines) in one table and one overlaid plot.

use crate::args::Format;
use crate::outputs::say;
use anyhow::{bail, Result};
use mlcmp_core::export::{self, Style};
use mlcmp_core::output::{check_target, write_atomic};
use mlcmp_core::results::Results;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn report(files: &[PathBuf], format: Format, plot: Option<&Path>, force: bool) -> Result<ExitCode> {
    match files {
        [file] => one(file, format, plot, force),
        _ => several(files, format, plot, force),
    }
}

fn one(file: &Path, format: Format, plot: Option<&Path>, force: bool) -> Result<ExitCode> {
    let res = Results::load(file)?;
    if let Some(p) = plot {
        check_target(p, force)?;
    }
    match format {
        Format::Table => say!("{}", export::render_any(&res, Style::Text)),
        Format::Markdown => say!("{}", export::render_any(&res, Style::Markdown)),
        Format::Csv => say!("{}", export::csv::csv(&res).trim_end()),
    }
    if let Some(p) = plot {
        export::plot::write_svg(&res, p, force)?;
        eprintln!("plot written to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn several(files: &[PathBuf], format: Format, plot: Option<&Path>, force: bool) -> Result<ExitCode> {
    if matches!(format, Format::Csv) {
        bail!("several files make one table; --format csv takes one file");
    }
    if let Some(p) = plot {
        check_target(p, force)?;
    }
    let all =
        files.iter().map(|p| Ok((p.display().to_string(), Results::load(p)?))).collect::<Result<Vec<_>>>()?;
    // The plot is drawn before anything is printed, so a refusal leaves no half output.
    let drawn = match plot {
        Some(p) => {
            // Lines are labelled by file stem, or by path where two stems are the same.
            let stems: Vec<String> = files
                .iter()
                .map(|f| f.file_stem().map_or(f.display().to_string(), |s| s.to_string_lossy().into()))
                .collect();
            let unique = (1..stems.len()).all(|i| !stems[..i].contains(&stems[i]));
            let labels = if unique { stems } else { all.iter().map(|(n, _)| n.clone()).collect() };
            let labelled: Vec<(String, Results)> =
                labels.into_iter().zip(all.iter().map(|(_, r)| r.clone())).collect();
            Some((p, export::plot::svg_overlay(&labelled)?))
        }
        None => None,
    };
    let style = if matches!(format, Format::Markdown) { Style::Markdown } else { Style::Text };
    say!("{}", export::machines::machines_table(&all, style));
    if let Some((p, svg)) = drawn {
        write_atomic(p, svg.as_bytes(), force)?;
        eprintln!("plot written to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
