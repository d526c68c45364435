//! Shutdown on the signals a terminal or a service manager sends: Ctrl-C
//! (SIGINT) and SIGTERM cancel the run's token, so every exit path restores
//! the terminal and closes the store instead of dying mid-write.

use tokio_util::sync::CancellationToken;

/// Cancels `cancel` on the first SIGINT or SIGTERM (on the current runtime).
pub fn cancel_on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupted() => {
                tracing::info!("signal received; shutting down");
                cancel.cancel();
            }
            _ = cancel.cancelled() => {}
        }
    });
}

#[cfg(unix)]
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default action (exit) stays; nothing to wait for.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
