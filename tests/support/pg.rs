//! A throwaway PostgreSQL server for the tests: `initdb` in a temp dir, the
//! real `postgres` binary on a free loopback port, one fresh database per
//! test. PostgreSQL refuses to run as root, so as root the server runs as
//! `nobody` (through `setpriv`), with its data dir owned by that user.
//!
//! The server is started once per test binary, from a thread that lives as
//! long as the process; `setpriv --pdeathsig KILL` ends it when the test
//! binary exits, and the next start removes data dirs whose owner is gone.
//!
//! Without the PostgreSQL server binaries the tests that need it fail and
//! say what to install: a store test that silently passes without running
//! against PostgreSQL would prove nothing. `CLANK_TEST_PG_BIN` names the
//! directory holding `initdb` and `postgres` when they are elsewhere.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running server: connect as the superuser `clank`, no password.
pub struct PgServer {
    pub port: u16,
    pub bin_dir: PathBuf,
    pub data_dir: PathBuf,
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// What to do when the binaries are missing.
const INSTALL_HINT: &str = "the store's PostgreSQL tests need the PostgreSQL server binaries \
     (initdb, postgres; version 13 or newer): install them (Debian/Ubuntu: \
     `apt-get install -y postgresql`, which puts them in /usr/lib/postgresql/NN/bin) or set \
     CLANK_TEST_PG_BIN to the directory that holds them";

/// The shared server, started on first use. Panics with what to install
/// when PostgreSQL is missing or will not start.
pub fn server() -> &'static PgServer {
    match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// A new, empty database on the shared server; its URL.
pub fn fresh_database_url() -> String {
    let s = server();
    let name = format!(
        "clank_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    admin_sql(s.port, &format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    s.url(&name)
}

impl PgServer {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://clank@127.0.0.1:{}/{db}", self.port)
    }
}

/// Runs SQL statements on the server's `postgres` database (from its own
/// thread and runtime, so callers may be sync or async).
pub fn admin_sql(port: u16, sql: &str) -> Result<(), String> {
    run_sql(&format!("postgres://clank@127.0.0.1:{port}/postgres"), sql)
}

/// Runs SQL statements against `url`.
pub fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
            let task = tokio::spawn(conn);
            let r = client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("{e}: {:?}", e.as_db_error().map(|d| d.message())));
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .map_err(|_| "SQL thread panicked".to_string())?
}

/// One integer from a query (a count), against `url`.
pub fn query_i64(url: &str, sql: &str) -> i64 {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let row = client.query_one(&sql, &[]).await.unwrap();
            let n: i64 = row.get(0);
            drop(client);
            let _ = task.await;
            n
        })
    })
    .join()
    .unwrap()
}

fn find_bin_dir() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Ok(d) = std::env::var("CLANK_TEST_PG_BIN") {
        let d = PathBuf::from(d);
        return has(&d).then_some(d);
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    candidates.push("/usr/local/bin".into());
    candidates.push("/usr/local/pgsql/bin".into());
    // Debian keeps each major version apart; the newest wins.
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    candidates.into_iter().find(|d| has(d))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `cmd` run as the server's user: `nobody` when we are root.
fn as_server_user(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--pdeathsig=KILL",
        ])
        .arg(program);
        c
    } else if Path::new("/usr/bin/setpriv").exists() {
        let mut c = Command::new("/usr/bin/setpriv");
        c.arg("--pdeathsig=KILL").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Data dirs of earlier test runs whose process is gone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("clank-pg-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A throwaway server: durability buys nothing, unless a benchmark asks
/// for it with `CLANK_PG_DURABLE=1`.
fn durability() -> Vec<&'static str> {
    if std::env::var_os("CLANK_PG_DURABLE").is_some() {
        Vec::new()
    } else {
        vec!["-c", "fsync=off", "-c", "full_page_writes=off"]
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn start() -> Result<PgServer, String> {
    let bin_dir = find_bin_dir().ok_or_else(|| INSTALL_HINT.to_string())?;
    remove_stale_dirs();
    let root = is_root();
    let base = std::env::temp_dir().join(format!("clank-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let data_dir = base.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    if root {
        let ok = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(&base)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("cannot chown {} to nobody", base.display()));
        }
    }
    let out = as_server_user(root, &bin_dir.join("initdb"))
        .arg("-D")
        .arg(&data_dir)
        .args(["-U", "clank", "-A", "trust", "-E", "UTF8", "--no-locale"])
        .arg("--no-sync")
        .current_dir(&base)
        .output()
        .map_err(|e| format!("cannot run initdb from {}: {e}", bin_dir.display()))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    let log = base.join("server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = as_server_user(root, &bin_dir.join("postgres"));
    cmd.arg("-D")
        .arg(&data_dir)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_directories="])
        .args(["-c", "synchronous_commit=off", "-c", "max_connections=300"])
        .current_dir(&base)
        .args(durability())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let (tx, rx) = std::sync::mpsc::channel();
    // This thread lives as long as the process: the server's parent-death
    // signal is tied to the thread that started it.
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let status = child.wait();
                eprintln!("test PostgreSQL server exited: {status:?}");
            }
            Err(e) => drop(tx.send(Err(e.to_string()))),
        })
        .map_err(|e| e.to_string())?;
    rx.recv()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match admin_sql(port, "SELECT 1") {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("PostgreSQL did not start: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Ok(PgServer {
        port,
        bin_dir,
        data_dir,
    })
}

/// One text value from a query, against `url`.
pub fn query_text(url: &str, sql: &str) -> Option<String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let row = client.query_opt(&sql, &[]).await.unwrap();
            let v: Option<String> = row.map(|r| r.get(0));
            drop(client);
            let _ = task.await;
            v
        })
    })
    .join()
    .unwrap()
}
