//! A real full disk: the store on a 2 MiB tmpfs beside another file that
//! takes half of it, one commit per message as a quiet chat makes them.
//! Each small commit writes the same few index pages into the WAL again, so
//! the WAL, not the data, fills the disk. Then the other file is deleted
//! (space returns). Without a checkpoint the WAL grows into that space and
//! the disk is full again within a few dozen messages; the store must
//! checkpoint the WAL (fold it into the database and truncate it) once a
//! commit works again, so writes go on, and its counts must stay honest.
//!
//! Mounting needs root; where it is refused the test says so and passes
//! without running (the capped-file test in `tests/store.rs` covers the
//! counting everywhere).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use clank::model::{Author, ChatMessage, Platform};
use clank::store::{Store, StoreConfig};

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mounted> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mounted(at.to_path_buf()))
}

fn msg(i: i64) -> ChatMessage {
    ChatMessage {
        platform: Platform::Twitch,
        channel: "c".into(),
        id: format!("m{i}"),
        at: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + i * 1000).unwrap(),
        author: Author {
            id: format!("u{}", i % 50),
            name: format!("viewer{}", i % 50),
            roles: vec![],
            months: None,
            first_message: false,
            returning_chatter: false,
        },
        text: format!("an ordinary chat line, number {i} of the stream"),
        paid: None,
        reply_to: None,
    }
}

#[test]
fn a_wal_that_filled_a_real_tmpfs_is_checkpointed_and_writes_commit_again() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let Some(_mounted) = mount_tmpfs(&mnt, "2m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let ballast = mnt.join("other-program.dat");
    std::fs::write(&ballast, vec![7u8; 1024 * 1024]).unwrap();
    let path = mnt.join("clank.db");
    let store = Store::open(
        &path,
        &StoreConfig {
            batch_size: 64,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    const N: i64 = 2000;
    let mut at_first_error = None;
    for i in 0..N {
        store.insert_message(msg(i).into()).unwrap();
        // One commit per message (a flush commits), as a quiet chat makes.
        let stats = store.flush().unwrap_or_else(|_| store.stats());
        if stats.errors > 0 && at_first_error.is_none() {
            at_first_error = Some((i, stats.inserted));
            // Space returns: the other program's file goes.
            std::fs::remove_file(&ballast).unwrap();
        }
    }
    let stats = store.flush().unwrap_or_else(|_| store.stats());
    let (first_fail, inserted_then) =
        at_first_error.expect("the 2 MiB disk never filled; the test proves nothing");
    println!(
        "tmpfs 2 MiB, one commit per message: the disk filled at message {first_fail} \
         ({inserted_then} stored), then 1 MiB was freed; at the end {} of {N} stored, \
         {} lost, {} errors",
        stats.inserted, stats.lost, stats.errors
    );
    // Honest counts: what the store says it stored is what the file holds.
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: u64 = conn
        .query_row("SELECT COUNT(*) FROM chat_messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, stats.inserted, "{stats:?}");
    assert_eq!(stats.inserted + stats.lost, N as u64, "{stats:?}");
    // Recovered: most of what came after space returned was stored.
    // Without the checkpoint the WAL grows into the freed space and the
    // disk is full again a few dozen commits later.
    let after = stats.inserted - inserted_then;
    let offered = (N - first_fail) as u64;
    assert!(
        after * 10 >= offered * 9,
        "only {after} of the {offered} messages after the disk filled were stored: {stats:?}"
    );
}
