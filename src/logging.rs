//! Logging setup: `tracing` to stderr (commands) or to a file (console), so
//! that stdout stays clean JSON and the screen stays the console's.

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Keeps the file writer alive; logs flush when it drops.
pub struct LogGuard {
    _worker: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Starts logging at `level` to `file` (appended) or to stderr.
pub fn init(level: &str, file: Option<&Path>) -> std::io::Result<LogGuard> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    match file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let (writer, guard) = tracing_appender::non_blocking(file);
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(writer)
                .try_init();
            Ok(LogGuard {
                _worker: Some(guard),
            })
        }
        None => {
            // Colour only for a person at a terminal, not in a file or a pipe.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .try_init();
            Ok(LogGuard { _worker: None })
        }
    }
}
