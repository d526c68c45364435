//! A console in a real terminal: a detached tmux server on its own socket
//! running a script, driven with `send-keys` and read with `capture-pane`
//! (moved here from console_tmux.rs so the team tests drive consoles too).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// A tmux server on its own socket, so parallel tests never share one; the
/// server (and clank inside it) is killed when this drops, even on panic.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn start(socket: String, script: &Path) -> Tmux {
        let tmux = Tmux { socket };
        // `-f /dev/null`: the developer's ~/.tmux.conf must not change keys or size.
        let out = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "clank",
            "-x",
            "160",
            "-y",
            "48",
            "sh",
            script.to_str().expect("utf-8 path"),
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// Named keys (`Tab`, `Enter`, `Home`, `C-k`) or single characters.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "clank"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?} failed");
    }

    /// Text typed literally, character by character.
    pub fn type_text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "clank", "-l", text]);
        assert!(out.status.success(), "send-keys -l failed");
    }

    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "clank"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
