//! The report for people: a table of findings per view, the side-by-side
//! surface with `--config`, and the exit code. Styles are ANSI escapes; the
//! caller's stream (anstream) drops them when it is not a terminal. Every
//! server-supplied text arrives escaped (`raw_reply::escape`).

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::finding::Severity;
use super::report::{Report, SurfaceItem, View};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn severity_style(s: Severity) -> Style {
    let colour = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match s {
        Severity::High => colour(AnsiColor::Red).bold(),
        Severity::Medium => colour(AnsiColor::Yellow).bold(),
        Severity::Low => colour(AnsiColor::Cyan),
        Severity::Info => DIM,
    }
}

/// The widest a side-by-side column gets; longer lines end in `…`.
const COLUMN: usize = 56;

/// Writes the whole report.
///
/// # Errors
/// Only the writer's.
pub fn table(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let suffix = if report.doorman.is_some() { ", directly" } else { "" };
    view(&report.direct, &format!("doorman audit of {}{suffix}", report.direct.address), out)?;
    if let Some(doorman) = &report.doorman {
        let heading =
            format!("doorman audit of {}, through doorman (in-process on {})", report.target, doorman.address);
        view(doorman, &heading, out)?;
        writeln!(out, "{BOLD}What a client sees{BOLD:#}")?;
        side_by_side(&report.direct.surface, &doorman.surface, out)?;
        writeln!(out)?;
    }
    let deciding = report.doorman.as_ref().unwrap_or(&report.direct);
    let from = if report.doorman.is_some() { " through doorman" } else { "" };
    match (&deciding.error, deciding.worst) {
        (Some(_), _) => writeln!(out, "exit {}: could not audit{from}", report.exit_code),
        (None, worst) => {
            let worst = worst.map_or("none", Severity::as_str);
            writeln!(out, "exit {}: the worst finding{from} is {worst}", report.exit_code)
        }
    }
}

fn view(v: &View, heading: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{BOLD}{heading}{BOLD:#}")?;
    if let Some(e) = &v.error {
        return writeln!(
            out,
            "  {}could not audit{:#}: {e}\n",
            severity_style(Severity::High),
            severity_style(Severity::High)
        );
    }
    let id_width = v.findings.iter().map(|f| f.id.id().len()).max().unwrap_or(5).max(5);
    writeln!(out, "  {DIM}{:<8}  {:<id_width$}  FINDING{DIM:#}", "SEVERITY", "CHECK")?;
    let indent = " ".repeat(2 + 8 + 2 + id_width + 2);
    for f in &v.findings {
        let style = severity_style(f.severity);
        writeln!(out, "  {style}{:<8}{style:#}  {:<id_width$}  {}", f.severity.as_str(), f.id.id(), f.title)?;
        if !f.evidence.is_empty() {
            writeln!(out, "{indent}{DIM}seen:{DIM:#} {}", f.evidence)?;
        }
        if !f.fix.is_empty() {
            writeln!(out, "{indent}{DIM}fix:{DIM:#}  {}", f.fix)?;
        }
    }
    writeln!(out)
}

/// `s` cut to `width` characters, the last one `…` when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(width - 1).collect::<String>())
    }
}

/// Rows matched by item name (`banner`, `EHLO`, `VRFY …`): the same
/// commands went both ways.
fn side_by_side(direct: &[SurfaceItem], doorman: &[SurfaceItem], out: &mut dyn Write) -> io::Result<()> {
    let label = direct.iter().map(|i| i.item.len()).max().unwrap_or(6).min(32);
    let left =
        direct.iter().flat_map(|i| i.lines.iter()).map(|l| l.chars().count()).max().unwrap_or(8).clamp(8, COLUMN);
    writeln!(out, "  {DIM}{:<label$}  {:<left$}  through doorman{DIM:#}", "", "directly")?;
    for item in direct {
        let empty = Vec::new();
        let theirs = doorman.iter().find(|d| d.item == item.item).map_or(&empty, |d| &d.lines);
        let rows = item.lines.len().max(theirs.len());
        for i in 0..rows {
            let name = if i == 0 { clip(&item.item, label) } else { String::new() };
            let l = item.lines.get(i).map_or(String::new(), |s| clip(s, COLUMN));
            let r = theirs.get(i).map_or(String::new(), |s| clip(s, COLUMN));
            let row = format!("  {name:<label$}  {l:<left$}  {r}");
            writeln!(out, "{}", row.trim_end())?;
        }
    }
    Ok(())
}
