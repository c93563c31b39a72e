//! The `routec` command line: parses arguments, reads files, calls the
//! library, prints, and maps outcomes to exit codes (0 ok, 1 errors or stale
//! output, 2 usage or I/O problems). All logic lives in the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "routec",
    version,
    about = "Compile routes.dsl into Traefik, compose, Prometheus, PgBouncer configs and routes.bin"
)]
struct Cli {
    /// Colour diagnostics: auto, always or never.
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a routes file; print every finding.
    Check {
        /// The routes file.
        #[arg(default_value = "routes.dsl")]
        file: PathBuf,
    },
    /// Compile a routes file into the output directory.
    Build {
        #[arg(default_value = "routes.dsl")]
        file: PathBuf,
        /// Output directory.
        #[arg(short = 'o', long = "out", default_value = "generated")]
        out: PathBuf,
        /// Write nothing; exit 1 with a diff if any output is stale.
        #[arg(long)]
        check: bool,
    },
    /// Print the file in canonical layout (or rewrite it in place).
    Fmt {
        #[arg(default_value = "routes.dsl")]
        file: PathBuf,
        /// Write nothing; exit 1 with a diff if the file is not formatted.
        #[arg(long)]
        check: bool,
        /// Print to standard output instead of rewriting the file.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
    },
    /// Explain which routes and middlewares a request goes through.
    Explain {
        /// Host header (default: the platform's domain).
        #[arg(long)]
        host: Option<String>,
        /// The routes file.
        #[arg(long, default_value = "routes.dsl")]
        file: PathBuf,
        /// HTTP method, e.g. GET.
        method: String,
        /// Request path, e.g. /api/v1/profiles/42.
        path: String,
    },
    /// Print a compiled routes.bin human-readably.
    Inspect {
        #[arg(default_value = "generated/routes.bin")]
        table: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match run(cli.command, color) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Compile, printing diagnostics to stderr; `None` when there were errors.
fn compile_reporting(file: &Path, color: bool) -> anyhow::Result<Option<routec::Compiled>> {
    let source = read(file)?;
    match routec::compile(&source, &display_name(file)) {
        Ok(compiled) => {
            if !compiled.diagnostics.items.is_empty() {
                eprint!("{}", compiled.diagnostics.render(color));
            }
            Ok(Some(compiled))
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(color));
            eprintln!("{}: {}", display_name(file), diagnostics.summary());
            Ok(None)
        }
    }
}

fn run(command: Command, color: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { file } => {
            let Some(compiled) = compile_reporting(&file, color)? else {
                return Ok(ExitCode::from(1));
            };
            eprintln!(
                "{}: ok ({})",
                display_name(&file),
                compiled.diagnostics.summary()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { file, out, check } => {
            let Some(compiled) = compile_reporting(&file, color)? else {
                return Ok(ExitCode::from(1));
            };
            let previous = |path: &str| std::fs::read(out.join(path)).ok();
            let outputs = routec::emit::emit_all_with_previous(&compiled.model, &previous)
                .context("emitting outputs")?;
            if check {
                let stale = routec::output::stale(&out, &outputs);
                for s in &stale {
                    print!("{}", s.diff);
                }
                if stale.is_empty() {
                    eprintln!("{}: up to date ({} files)", out.display(), outputs.len());
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "{}: {} stale file(s): {}; run `routec build` and commit the result",
                    out.display(),
                    stale.len(),
                    stale
                        .iter()
                        .map(|s| s.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(ExitCode::from(1));
            }
            let changed = routec::output::write_all(&out, &outputs)?;
            eprintln!(
                "{}: wrote {} of {} files",
                out.display(),
                changed.len(),
                outputs.len()
            );
            for path in changed {
                eprintln!("  {}", out.join(path).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fmt {
            file,
            check,
            stdout,
        } => {
            let source = read(&file)?;
            let formatted = match routec::fmt::format(&source) {
                Ok(f) => f,
                Err(d) => {
                    let mut diagnostics =
                        routec::diagnostic::Diagnostics::new(display_name(&file), source.as_str());
                    diagnostics.items.push(*d);
                    eprint!("{}", diagnostics.render(color));
                    return Ok(ExitCode::from(1));
                }
            };
            if stdout {
                print!("{formatted}");
            } else if check {
                if formatted != source {
                    print!(
                        "{}",
                        routec::output::unified_diff(&source, &formatted, &display_name(&file))
                    );
                    eprintln!("{}: not formatted; run `routec fmt`", display_name(&file));
                    return Ok(ExitCode::from(1));
                }
            } else {
                routec::output::write_atomic(&file, formatted.as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            host,
            file,
            method,
            path,
        } => {
            let Some(compiled) = compile_reporting(&file, color)? else {
                return Ok(ExitCode::from(1));
            };
            print!(
                "{}",
                routec::explain::explain(&compiled.model, host.as_deref(), &method, &path)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { table } => {
            let bytes = std::fs::read(&table)
                .with_context(|| format!("cannot read {}", table.display()))?;
            match routec::inspect::render(&bytes) {
                Ok(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", table.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
