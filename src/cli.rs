//! The command line: `clank [OPTIONS] [COMMAND]`, parsed with clap, and the
//! dispatch of each command to the library.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::config::{CliOverrides, Config, Dirs};
use crate::model::Platform;
use crate::replay::{self, ReplayOptions, Speed};
use crate::store::{RetentionPolicy, Store};

#[derive(Debug, Parser)]
#[command(
    name = "clank",
    version,
    about = "Operator console for live streamers: merged chat, salience, attention, LLM drafts"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Run headless: no console; drafts that pass the auto policy are sent,
    /// one JSON line per event on stdout.
    #[arg(long)]
    pub auto: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Config file (default: the platform config dir's clank/config.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database file (overrides DATABASE_URL and store.path).
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log file (default: stderr for commands).
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score each message of a chat log; one JSON line per message.
    Score {
        /// Chat log (JSON Lines, see README).
        file: PathBuf,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// What the input filter blocks or holds in a chat log: one JSON line
    /// per hit with its rule and text, then a summary (the profanity
    /// model's false positives are read from it).
    Filter {
        /// Chat log (JSON Lines, see README) or raw Twitch IRC capture.
        file: PathBuf,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Measure salience against a labelled chat log: pairwise ordering,
    /// top-k recall per tier, low-tier suppression, paid messages lost.
    Eval {
        /// Chat log (JSON Lines, see README); not with --from-db.
        #[arg(required_unless_present = "from_db", conflicts_with = "from_db")]
        file: Option<PathBuf>,
        /// Labels: one `id tier` a line, tier answer_now, normal or never_surface.
        #[arg(long, value_name = "FILE", required_unless_present = "from_db")]
        labels: Option<PathBuf>,
        /// Instead: the operator's own choices stored by the console, per
        /// channel and over time, and weights fitted to them.
        #[arg(long)]
        from_db: bool,
        /// With --from-db: hours per stretch of time.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8760))]
        bucket_hours: u32,
        /// k of the top-k measures.
        #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        top: u32,
        /// Also one line per labelled message, best score first.
        #[arg(long)]
        details: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Run the whole core on a chat log with a virtual clock.
    Replay {
        /// Chat log (JSON Lines, see README).
        file: PathBuf,
        /// `max`, or a factor of real time (1 = as it happened).
        #[arg(long, default_value = "max", value_parser = parse_speed)]
        speed: Speed,
        /// Play the log this many times, shifting ids and timestamps.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        repeat: u32,
        /// One JSON line per decision on stdout (else only the summary).
        #[arg(long)]
        json: bool,
        /// Seed for the attention machine (default: attention.seed, else 42 for replay).
        #[arg(long)]
        seed: Option<u64>,
        /// Run the reply pipeline too: drafts with the configured LLM, the auto
        /// policy, sends to a recording sink, agent and avatar calls.
        #[arg(long)]
        auto: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Write a channel's stored chat as a chat log.
    Export {
        /// Channel name (Twitch login, YouTube live chat id, Discord channel).
        #[arg(long)]
        channel: String,
        /// Only this platform.
        #[arg(long, value_parser = parse_platform)]
        platform: Option<Platform>,
        /// Only messages at or after this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Output file (default: stdout).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// The console on the bundled demo chat log, replayed at real speed and
    /// looping, with a throwaway database; no accounts needed.
    Demo {
        /// Chat log to replay (default: the bundled demo).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Speed factor (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// Show the effective configuration (secrets hidden).
    Config,
    /// Log in to a platform (Twitch, YouTube: OAuth device code flow); the
    /// token is stored encrypted beside the database.
    Login {
        /// `twitch` or `youtube`.
        #[arg(value_parser = parse_platform)]
        platform: Platform,
    },
    /// Forget a platform login.
    Logout {
        #[arg(value_parser = parse_platform)]
        platform: Platform,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Delete messages older than store.retention_days and beyond
    /// store.max_messages_per_channel.
    Prune,
    /// Copy the SQLite store (store.path, or --db) into an empty PostgreSQL
    /// database: chat, replies, settings, saved logins (still sealed).
    /// Show the team on the PostgreSQL store (DATABASE_URL or store.url):
    /// every connected console and the channels it reads.
    Team,
    Migrate {
        /// The PostgreSQL database, postgres://user[:password]@host[:port]/db
        /// (default: DATABASE_URL or store.url).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct Tuning {
    /// Current topic (overrides salience.topic).
    #[arg(long)]
    pub topic: Option<String>,
    /// Streamer name or alias; repeat for several (overrides salience.streamer_names).
    #[arg(long = "streamer", value_name = "NAME")]
    pub streamers: Vec<String>,
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    s.parse()
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    s.parse()
        .map_err(|e: crate::model::UnknownPlatform| e.to_string())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-11-21T20:00:00Z: {e}"))
}

impl Cli {
    fn overrides(&self) -> CliOverrides {
        let mut o = CliOverrides {
            config_file: self.global.config.clone(),
            db: self.global.db.clone(),
            log_level: self.global.log_level.clone(),
            ..Default::default()
        };
        match &self.command {
            Some(Command::Score { tuning, .. })
            | Some(Command::Replay { tuning, .. })
            | Some(Command::Filter { tuning, .. })
            | Some(Command::Eval { tuning, .. }) => {
                o.topic = tuning.topic.clone();
                o.streamers = tuning.streamers.clone();
            }
            _ => {}
        }
        if let Some(Command::Replay { seed, .. }) = &self.command {
            o.seed = *seed;
        }
        o
    }
}

/// Loads the layered configuration for this command line.
pub fn load_config(cli: &Cli) -> Result<Config> {
    let dirs = Dirs::standard().unwrap_or_else(Dirs::current);
    Ok(Config::load(&cli.overrides(), &dirs, &|k| {
        std::env::var(k).ok()
    })?)
}

fn stdout_writer() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Runs one parsed command line to completion.
pub fn run(cli: Cli, config: Config) -> Result<()> {
    match cli.command {
        Some(Command::Score { file, .. }) => {
            let mut out = stdout_writer();
            let (scored, filtered, bad) = replay::score(&config, &file, &mut out)?;
            tracing::info!(scored, filtered, bad_lines = bad, "score finished");
            Ok(())
        }
        Some(Command::Eval {
            from_db: true,
            bucket_hours,
            ..
        }) => {
            let store = Store::open(config.db_path(), &config.store)?;
            let mut out = stdout_writer();
            let bucket = chrono::TimeDelta::hours(i64::from(bucket_hours));
            let r = crate::eval::operator::run(&store, &config.salience.weights, bucket, &mut out)?;
            store.close()?;
            tracing::info!(labels = r.labels, "eval --from-db finished");
            Ok(())
        }
        Some(Command::Eval {
            file: Some(file),
            labels: Some(labels),
            top,
            details,
            ..
        }) => {
            let mut out = stdout_writer();
            crate::eval::labels::run(&config, &file, &labels, top as usize, details, &mut out)?;
            Ok(())
        }
        Some(Command::Eval { .. }) => bail!("clank eval needs FILE and --labels, or --from-db"),
        Some(Command::Filter { file, .. }) => {
            let mut out = stdout_writer();
            let sum = crate::eval::filter::filter_report(&config, &file, &mut out)?;
            tracing::info!(
                messages = sum.messages,
                model_hits = sum.model_hits,
                held = sum.held,
                "filter report finished"
            );
            Ok(())
        }
        Some(Command::Replay {
            file,
            speed,
            repeat,
            json,
            auto: true,
            ..
        }) => {
            let temp;
            let db = match &cli.global.db {
                Some(p) => p.clone(),
                None => {
                    temp = tempfile::tempdir().context("creating a temporary directory")?;
                    temp.path().join("replay.db")
                }
            };
            // A replay never writes into a team's server (DATABASE_URL).
            let store = Store::open(&db, &file_store(&config))?;
            let opts = crate::headless::ReplayAuto {
                speed,
                repeat,
                json,
                seed: config.attention.seed.unwrap_or(42),
                llm: None,
                sink: None,
            };
            let mut out = stdout_writer();
            let summary =
                crate::headless::replay_auto(&config, &file, store.clone(), opts, &mut out)?;
            store.close()?;
            tracing::info!(
                sent = summary.sent,
                drafts = summary.drafts,
                "replay --auto finished"
            );
            Ok(())
        }
        Some(Command::Replay {
            file,
            speed,
            repeat,
            json,
            ..
        }) => {
            // Replay writes to a throwaway store unless --db names one, so that
            // tuning runs never mix into the streamer's real history.
            let temp;
            let db = match &cli.global.db {
                Some(p) => p.clone(),
                None => {
                    temp = tempfile::tempdir().context("creating a temporary directory")?;
                    temp.path().join("replay.db")
                }
            };
            // A replay never writes into a team's server (DATABASE_URL).
            let store = Store::open(&db, &file_store(&config))?;
            let options = ReplayOptions {
                speed,
                repeat,
                json,
                seed: config.attention.seed.unwrap_or(42),
            };
            let mut out = stdout_writer();
            let summary = replay::replay(&config, &file, store.clone(), &options, &mut out)?;
            store.close()?;
            tracing::info!(
                messages = summary.counts.messages,
                msgs_per_sec = summary.msgs_per_sec,
                "replay finished"
            );
            Ok(())
        }
        Some(Command::Export {
            channel,
            platform,
            since,
            out,
        }) => {
            let store = Store::open(config.db_path(), &config.store)?;
            let count = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    replay::export(&store, platform, &channel, since, &mut BufWriter::new(file))?
                }
                None => replay::export(&store, platform, &channel, since, &mut stdout_writer())?,
            };
            store.close()?;
            tracing::info!(count, channel, "export finished");
            Ok(())
        }
        Some(Command::Db {
            action: DbAction::Prune,
        }) => {
            let store = Store::open(config.db_path(), &config.store)?;
            let policy = RetentionPolicy {
                max_age_days: config.store.retention_days,
                max_messages_per_channel: config.store.max_messages_per_channel,
            };
            let report = store.prune(&policy, Utc::now())?;
            store.close()?;
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "pruned {} messages older than {} days and {} beyond {} per channel",
                report.by_age,
                policy.max_age_days,
                report.by_count,
                policy.max_messages_per_channel
            )?;
            Ok(())
        }
        Some(Command::Db {
            action: DbAction::Team,
        }) => {
            let Some(url) = &config.store.url else {
                bail!(
                    "no team: the store is the SQLite file {}; set DATABASE_URL=postgres://... or [store] url",
                    config.db_path().display()
                );
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let members = rt.block_on(crate::store::team::roster(url.expose()))?;
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{} console(s) on {}",
                members.len(),
                crate::store::redact_url(url.expose())
            )?;
            for m in members {
                let reads = if m.reads.is_empty() {
                    "watching".to_string()
                } else {
                    format!("reads {}", m.reads.join(", "))
                };
                writeln!(out, "  {}: {reads}", m.member)?;
            }
            Ok(())
        }
        Some(Command::Db {
            action: DbAction::Migrate { to },
        }) => {
            let url = match (&to, &config.store.url) {
                (Some(u), _) => u.clone(),
                (None, Some(u)) => u.expose().to_owned(),
                (None, None) => bail!(
                    "name the PostgreSQL database: clank db migrate --to postgres://user@host/db"
                ),
            };
            if !crate::store::is_postgres_url(&url) {
                bail!(
                    "--to must be a postgres:// or postgresql:// URL, not {}",
                    crate::store::redact_url(&url)
                );
            }
            let report = crate::store::migrate_sqlite(config.db_path(), &url, &config.store)?;
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "copied {} into {}:",
                config.db_path().display(),
                crate::store::redact_url(&url)
            )?;
            for (table, rows) in report.tables {
                writeln!(out, "  {table}: {rows} rows")?;
            }
            Ok(())
        }
        Some(Command::Config) => {
            let mut out = io::stdout().lock();
            writeln!(out, "{config:#?}")?;
            Ok(())
        }
        Some(Command::Login { platform }) => login(&config, platform),
        Some(Command::Logout { platform }) => {
            let store = Store::open(config.db_path(), &config.store)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(store.delete_auth_token_async(platform))?;
            store.close()?;
            println!("logged out of {platform}");
            Ok(())
        }
        Some(Command::Demo { file, speed }) => {
            if !(speed.is_finite() && speed > 0.0 && speed <= 1000.0) {
                bail!("--speed {speed} is out of range (allowed: above 0 up to 1000)");
            }
            let file = file.unwrap_or_else(demo_log_path);
            if !file.exists() {
                bail!("demo chat log {} not found (pass --file)", file.display());
            }
            let sources = crate::live::Sources::Demo { file, speed };
            if cli.auto {
                // Headless demo: the same core, one JSON line per event.
                let temp = tempfile::tempdir().context("creating a temporary directory")?;
                let db = cli
                    .global
                    .db
                    .clone()
                    .unwrap_or_else(|| temp.path().join("demo.db"));
                let store = Store::open(&db, &config.store)?;
                let mut out = stdout_writer();
                crate::headless::live_auto(&config, store.clone(), sources, &mut out)?;
                store.close()?;
                return Ok(());
            }
            console(&cli.global, &config, sources, false)
        }
        None if cli.auto => {
            let store = Store::open(config.db_path(), &config.store)?;
            let mut out = stdout_writer();
            crate::headless::live_auto(
                &config,
                store.clone(),
                crate::live::Sources::Platforms,
                &mut out,
            )?;
            store.close()?;
            Ok(())
        }
        None => console(&cli.global, &config, crate::live::Sources::Platforms, false),
    }
}

/// `clank login twitch|youtube`: device code flow, then the token sealed
/// into the store.
fn login(config: &Config, platform: Platform) -> Result<()> {
    if platform == Platform::Youtube {
        return login_youtube(config);
    }
    if platform != Platform::Twitch {
        bail!("login to {platform} is not supported (supported: twitch, youtube)");
    }
    let Some(client_id) = config.twitch.client_id.clone() else {
        bail!(
            "twitch.client_id is not set: register an application at dev.twitch.tv and set TWITCH_CLIENT_ID or [twitch] client_id"
        );
    };
    let key_path = crate::auth::key_path(
        config
            .db_path()
            .parent()
            .unwrap_or_else(|| std::path::Path::new(".")),
    );
    let vault = crate::auth::TokenVault::open_or_create(&key_path)?;
    let store = Store::open(config.db_path(), &config.store)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let oauth_url = config.twitch.oauth_url.clone();
    let token = runtime.block_on(async {
        let token =
            crate::auth::device_login(&oauth_url, &client_id, crate::auth::TWITCH_SCOPES, |code| {
                println!(
                    "Open {} and enter the code {} (it expires in {} s).",
                    code.verification_uri, code.user_code, code.expires_in
                );
            })
            .await?;
        crate::auth::save_token(&vault, &store, Platform::Twitch, &token).await?;
        anyhow::Ok(token)
    })?;
    store.close()?;
    println!(
        "logged in to twitch as {}",
        token.login.as_deref().unwrap_or("(unknown)")
    );
    Ok(())
}

/// `clank login youtube`: Google's device flow, then the channel's name
/// (`channels.list?mine`, 1 unit) so the saved login says whose it is.
fn login_youtube(config: &Config) -> Result<()> {
    let yt = &config.youtube;
    let Some(client_id) = yt.client_id.clone() else {
        bail!(
            "youtube.client_id is not set: create an OAuth client of type \"TVs and Limited Input devices\" in the Google Cloud console and set YOUTUBE_CLIENT_ID and YOUTUBE_CLIENT_SECRET (see the README's YouTube section)"
        );
    };
    let client = crate::auth::OAuthClient::for_provider(
        crate::auth::Provider::Google,
        &yt.oauth_url,
        &client_id,
        yt.client_secret.clone(),
    )?;
    let vault = crate::auth::open_vault(config.db_path())?;
    let store = Store::open(config.db_path(), &config.store)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let api = crate::adapters::youtube::api::Api::new(
        &yt.api_url,
        None,
        std::time::Duration::from_secs(30),
    )?;
    let channel = runtime.block_on(async {
        let mut token =
            crate::auth::device_login_with(&client, crate::auth::YOUTUBE_SCOPES, |code| {
                println!(
                    "Open {} and enter the code {} (it expires in {} s).",
                    code.verification_uri, code.user_code, code.expires_in
                );
            })
            .await?;
        let channel = api.my_channel(&token.access).await?;
        if let Some((_, title)) = &channel {
            token.login = Some(title.clone());
        }
        // That call cost the project a unit: the adapter's governor counts it.
        let day = crate::adapters::youtube::quota::pacific_day(chrono::Utc::now());
        let key = crate::adapters::youtube::quota_key(&day);
        let used: u32 = store
            .adapter_state_async(Platform::Youtube, &key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        store
            .set_adapter_state_async(
                Platform::Youtube,
                &key,
                &used.saturating_add(yt.videos_list_cost).to_string(),
            )
            .await?;
        crate::auth::save_token(&vault, &store, Platform::Youtube, &token).await?;
        anyhow::Ok(channel)
    })?;
    store.close()?;
    match channel {
        Some((id, title)) => println!("logged in to youtube as {title} (channel {id})"),
        None => println!(
            "logged in to youtube (this Google account has no YouTube channel yet: sends will be refused)"
        ),
    }
    Ok(())
}

/// The bundled demo log: beside the binary's source tree when run with cargo,
/// else `assets/demo/chat.jsonl` under the working directory.
fn demo_log_path() -> PathBuf {
    let built_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/chat.jsonl");
    if built_in.exists() {
        built_in
    } else {
        PathBuf::from("assets/demo/chat.jsonl")
    }
}

/// Runs the console until the operator quits; the terminal is restored on
/// every exit path by `ui::run`.
fn console(
    global: &GlobalArgs,
    config: &Config,
    sources: crate::live::Sources,
    auto_send: bool,
) -> Result<()> {
    let demo = matches!(sources, crate::live::Sources::Demo { .. });
    // The demo keeps its chat in a throwaway database unless --db names one.
    let temp;
    let db = match (&global.db, demo) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().join("demo.db")
        }
        (None, false) => config.db_path().to_path_buf(),
    };
    let store = Store::open(&db, &config.store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let live = crate::live::start(
            config,
            store.clone(),
            sources,
            crate::live::Front::Console,
            auto_send,
            cancel.clone(),
        )
        .await?;
        crate::signals::cancel_on_signals(cancel.clone());
        let ui = crate::ui::run(
            config,
            live.updates,
            live.runtime.requests.clone(),
            cancel.clone(),
        )
        .await;
        cancel.cancel();
        let joined = live.runtime.join.await;
        live.hub.join().await;
        ui?;
        match joined {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(anyhow::Error::from(e)),
            Err(e) => Err(anyhow::anyhow!("the runtime task failed: {e}")),
        }
    });
    store.close()?;
    result
}

/// The store settings with the file backend forced, for replays.
fn file_store(config: &Config) -> crate::store::StoreConfig {
    crate::store::StoreConfig {
        url: None,
        ..config.store.clone()
    }
}
