//! Configuration: built-in defaults < config file < environment < CLI, parsed
//! into one validated [`Config`]. Unknown keys and out-of-range values are
//! errors that name the key and what is allowed; secrets never print.

use std::path::{Path, PathBuf};

use serde::Deserialize;

// Re-exported so that callers above config (cli, runtime, live) keep one path.
pub use crate::validate::ConfigError;

use crate::adapters::discord::config::DiscordConfig;
use crate::adapters::twitch::config::TwitchConfig;
use crate::adapters::youtube::config::YoutubeConfig;
use crate::engine::attention::AttentionConfig;
use crate::engine::filter::FilterConfig;
use crate::engine::queue::QueueConfig;
use crate::engine::salience::SalienceConfig;
use crate::model::ChannelConfig;
use crate::reply::ReplyConfig;
pub use crate::reply::llm::LlmConfig;
use crate::secret::Secret;
use crate::store::StoreConfig;
use crate::validate::{check_range, check_url};

/// The embedded example configuration; a test proves it parses.
pub const EXAMPLE_CONFIG: &str = include_str!("../config.example.toml");

/// Everything clank can be told, validated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub core: CoreConfig,
    pub store: StoreConfig,
    pub filter: FilterConfig,
    pub salience: SalienceConfig,
    pub queue: QueueConfig,
    pub attention: AttentionConfig,
    pub channel_defaults: ChannelDefaults,
    pub twitch: TwitchConfig,
    pub youtube: YoutubeConfig,
    pub discord: DiscordConfig,
    pub llm: LlmConfig,
    pub reply: ReplyConfig,
    pub auto: crate::reply::policy::AutoConfig,
    pub agent: AgentConfig,
    pub avatar: AvatarConfig,
    pub logging: LoggingConfig,
    pub ui: crate::ui::config::UiConfig,
}

/// Settings of the core pipeline itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreConfig {
    /// Per-message scoring budget in milliseconds; slower scoring is counted
    /// and reported (env `SALIENCE_CALCULATION_TIMEOUT`).
    pub salience_timeout_ms: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            salience_timeout_ms: 50,
        }
    }
}

/// Defaults for channels that have no `channel_config` row yet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelDefaults {
    /// Messages before the bot may speak unprompted (1..=10000).
    pub message_threshold: u32,
    /// Seconds between two bot messages in a channel (0..=86400).
    pub time_delay_s: u64,
    /// Recent messages a draft may see (1..=1000).
    pub context_limit: u32,
    /// Seconds without a viewer message after which the bot may open a
    /// topic in a channel (the agent's starters, else the persona's), still
    /// within `time_delay_s`, the attention state and the auto policy.
    /// 0 = never (the default); else 60..=86400. Applies to every channel.
    pub quiet_after_s: u64,
}

impl Default for ChannelDefaults {
    fn default() -> Self {
        let d = ChannelConfig::default();
        Self {
            message_threshold: d.message_threshold,
            time_delay_s: d.time_delay_s,
            context_limit: d.context_limit,
            quiet_after_s: 0,
        }
    }
}

impl ChannelDefaults {
    pub fn to_channel_config(&self) -> ChannelConfig {
        ChannelConfig {
            message_threshold: self.message_threshold,
            time_delay_s: self.time_delay_s,
            context_limit: self.context_limit,
            model: None,
        }
    }
}

/// The autonomous agent ("Autoliza") webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Where chat context is POSTed (env `AUTOLIZA_WEBHOOK_URL`); absent = off.
    pub webhook_url: Option<String>,
    /// Seconds between context pushes (1..=3600).
    pub interval_s: u64,
    /// Seconds to wait for the webhook's answer (1..=60).
    pub timeout_s: u64,
    /// Address of the `POST /guidance` listener, e.g. "127.0.0.1:8787"; absent = off.
    /// Needs `guidance_token`; a non-loopback address must be set on purpose.
    pub guidance_listen: Option<String>,
    /// Bearer token `POST /guidance` requires (env `CLANK_GUIDANCE_TOKEN`).
    pub guidance_token: Option<Secret>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            interval_s: 30,
            timeout_s: 5,
            guidance_listen: None,
            guidance_token: None,
        }
    }
}

/// The VTuber avatar's text endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AvatarConfig {
    /// NeuroSync-style `/process_text` URL (env `VTUBER_ENDPOINT_URL`); absent = off.
    pub endpoint_url: Option<String>,
    /// Which sent replies it speaks: "all", or "spoken" (replies to HIGH and
    /// CRITICAL messages and unprompted lines).
    pub speak: crate::integrations::avatar::AvatarSpeak,
    /// Seconds to wait for the avatar's answer (1..=60).
    pub timeout_s: u64,
}

impl Default for AvatarConfig {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            speak: crate::integrations::avatar::AvatarSpeak::All,
            timeout_s: 5,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter).
    pub level: String,
    /// Log file; absent = stderr for commands, the state dir for the console.
    pub file: Option<PathBuf>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            file: None,
        }
    }
}

/// Values from the command line, applied last.
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub config_file: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub topic: Option<String>,
    pub streamers: Vec<String>,
    pub seed: Option<u64>,
    pub log_level: Option<String>,
}

use crate::validate::EnvKind;

/// The environment variables clank honours, and the key each one sets.
const ENV_KEYS: &[(&str, &str, EnvKind)] = &[
    ("DATABASE_URL", "store.path", EnvKind::DatabaseUrl),
    ("MAX_QUEUE_SIZE", "queue.max_size", EnvKind::Int),
    (
        "SALIENCE_CALCULATION_TIMEOUT",
        "core.salience_timeout_ms",
        EnvKind::Int,
    ),
    ("ATTENTION_CYCLE_DURATION", "attention", EnvKind::DwellRange),
    ("CONTENT_FILTER_ENABLED", "filter.enabled", EnvKind::Bool),
    (
        "BLOCKED_WORDS_FILE",
        "filter.blocked_words_file",
        EnvKind::Str,
    ),
    ("OLLAMA_URL", "llm.url", EnvKind::Str),
    ("OLLAMA_MODEL", "llm.model", EnvKind::Str),
    ("OLLAMA_TIMEOUT", "llm.timeout_s", EnvKind::Int),
    ("AUTOLIZA_WEBHOOK_URL", "agent.webhook_url", EnvKind::Str),
    ("VTUBER_ENDPOINT_URL", "avatar.endpoint_url", EnvKind::Str),
    ("CLANK_GUIDANCE_TOKEN", "agent.guidance_token", EnvKind::Str),
];

/// The names of the honoured environment variables, for help texts.
pub fn env_var_names() -> impl Iterator<Item = &'static str> {
    env_keys().map(|(name, _, _)| *name)
}

/// Clank's own variables, then each platform section's.
fn env_keys() -> impl Iterator<Item = &'static (&'static str, &'static str, EnvKind)> {
    ENV_KEYS
        .iter()
        .chain(TwitchConfig::ENV)
        .chain(YoutubeConfig::ENV)
        .chain(DiscordConfig::ENV)
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts = path.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_string(), value);
            return;
        }
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        current = next;
    }
}

fn env_error(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Env {
        var: var.to_string(),
        message: message.into(),
    }
}

fn apply_env(
    table: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for &(var, key, kind) in env_keys() {
        let Some(raw) = env(var) else { continue };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match kind {
            EnvKind::Int => {
                let n: i64 = raw.parse().map_err(|_| {
                    env_error(var, format!("{raw:?} is not a whole number (sets {key})"))
                })?;
                set_path(table, key, toml::Value::Integer(n));
            }
            EnvKind::Bool => {
                let b = match raw.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => {
                        return Err(env_error(
                            var,
                            format!(
                                "{raw:?} is not a boolean (allowed: true/false, 1/0, yes/no, on/off)"
                            ),
                        ));
                    }
                };
                set_path(table, key, toml::Value::Boolean(b));
            }
            EnvKind::Str => set_path(table, key, toml::Value::String(raw.to_string())),
            EnvKind::List => {
                let items = raw
                    .split(',')
                    .map(|s| s.trim().trim_start_matches('#').to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .map(toml::Value::String)
                    .collect();
                set_path(table, key, toml::Value::Array(items));
            }
            EnvKind::DatabaseUrl if crate::store::is_postgres_url(raw) => {
                set_path(table, "store.url", toml::Value::String(raw.to_string()));
            }
            EnvKind::DatabaseUrl => {
                let path = crate::store::parse_database_url(raw);
                set_path(
                    table,
                    key,
                    toml::Value::String(path.to_string_lossy().into_owned()),
                );
            }
            EnvKind::DwellRange => {
                // "300" sets the longest stay in a state; "120-600" sets both bounds.
                let parse = |s: &str| {
                    s.trim().parse::<i64>().map_err(|_| {
                        env_error(
                            var,
                            format!("{raw:?} must be seconds N or a range MIN-MAX, e.g. 120-600"),
                        )
                    })
                };
                let (min, max) = match raw.split_once('-') {
                    Some((a, b)) => (Some(parse(a)?), parse(b)?),
                    None => (None, parse(raw)?),
                };
                if let Some(min) = min {
                    set_path(table, "attention.min_dwell_s", toml::Value::Integer(min));
                }
                set_path(table, "attention.max_dwell_s", toml::Value::Integer(max));
            }
        }
    }
    Ok(())
}

/// Where clank keeps its files by default.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Dirs {
    /// The platform's standard locations (XDG on Linux); `None` if there is no home.
    pub fn standard() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("dev", "clank", "clank")?;
        Some(Self {
            config_file: dirs.config_dir().join("config.toml"),
            data_dir: dirs.data_dir().to_path_buf(),
            state_dir: dirs
                .state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_path_buf(),
        })
    }

    /// Fallback when the platform has no home directory: the working directory.
    pub fn current() -> Self {
        Self {
            config_file: PathBuf::from("clank.toml"),
            data_dir: PathBuf::from("."),
            state_dir: PathBuf::from("."),
        }
    }
}

impl Config {
    /// Defaults < file < environment < CLI, then validation.
    ///
    /// The file is `overrides.config_file` if given (it must exist), else the
    /// platform config file if it exists. `env` is injected so tests need not
    /// touch the process environment.
    pub fn load(
        overrides: &CliOverrides,
        dirs: &Dirs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        let mut source = PathBuf::from("<defaults>");
        let file = match &overrides.config_file {
            Some(p) => Some(p.clone()),
            None => dirs.config_file.exists().then(|| dirs.config_file.clone()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            // Deserializing the file alone first gives errors with line numbers.
            toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                path: path.clone(),
                message: e.to_string().trim_end().to_string(),
            })?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            source = path;
        }
        apply_env(&mut table, env)?;
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: source.clone(),
                    message: format!("after applying environment variables: {e}"),
                })?;
        config.apply_cli(overrides);
        if config.store.path.is_none() {
            config.store.path = Some(dirs.data_dir.join("clank.db"));
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text alone (defaults < text), validated.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn apply_cli(&mut self, o: &CliOverrides) {
        if let Some(db) = &o.db {
            // An explicit file beats a server named in the environment.
            self.store.url = None;
            self.store.path = Some(db.clone());
        }
        if let Some(topic) = &o.topic {
            self.salience.topic = topic.clone();
        }
        if !o.streamers.is_empty() {
            self.salience.streamer_names = o.streamers.clone();
        }
        if let Some(seed) = o.seed {
            self.attention.seed = Some(seed);
        }
        if let Some(level) = &o.log_level {
            self.logging.level = level.clone();
        }
    }

    /// Checks every section; the first problem names its key and the allowed values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "core.salience_timeout_ms",
            self.core.salience_timeout_ms,
            1,
            60_000,
        )?;
        self.store.validate()?;
        self.filter.validate()?;
        self.salience.validate()?;
        self.queue.validate()?;
        self.attention.validate()?;
        let cd = &self.channel_defaults;
        check_range(
            "channel_defaults.message_threshold",
            cd.message_threshold,
            1,
            10_000,
        )?;
        check_range("channel_defaults.time_delay_s", cd.time_delay_s, 0, 86_400)?;
        check_range("channel_defaults.context_limit", cd.context_limit, 1, 1_000)?;
        if cd.quiet_after_s != 0 {
            check_range(
                "channel_defaults.quiet_after_s",
                cd.quiet_after_s,
                60,
                86_400,
            )?;
        }
        self.twitch.validate()?;
        self.youtube.validate()?;
        self.discord.validate()?;
        self.llm.validate()?;
        self.reply.validate()?;
        self.ui.validate()?;
        check_url("agent.webhook_url", self.agent.webhook_url.as_deref())?;
        check_range("agent.interval_s", self.agent.interval_s, 1, 3_600)?;
        check_range("agent.timeout_s", self.agent.timeout_s, 1, 60)?;
        if let Some(addr) = &self.agent.guidance_listen {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::invalid(
                    "agent.guidance_listen",
                    format!("{addr:?} is not an address like 127.0.0.1:8787"),
                ));
            }
            if self
                .agent
                .guidance_token
                .as_ref()
                .is_none_or(|t| t.expose().trim().len() < 16)
            {
                return Err(ConfigError::invalid(
                    "agent.guidance_token",
                    "agent.guidance_listen needs a token of at least 16 characters (env CLANK_GUIDANCE_TOKEN)",
                ));
            }
        }
        check_url("avatar.endpoint_url", self.avatar.endpoint_url.as_deref())?;
        check_range("avatar.timeout_s", self.avatar.timeout_s, 1, 60)?;
        self.auto.validate()?;
        const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
        let level = self.logging.level.to_ascii_lowercase();
        if !LEVELS.contains(&level.as_str()) && !level.contains('=') {
            return Err(ConfigError::invalid(
                "logging.level",
                format!(
                    "{:?} is not a level (allowed: error, warn, info, debug, trace, or a filter like clank=debug)",
                    self.logging.level
                ),
            ));
        }
        Ok(())
    }

    /// The database file (always set after [`Config::load`]).
    pub fn db_path(&self) -> &Path {
        self.store
            .path
            .as_deref()
            .unwrap_or_else(|| Path::new("clank.db"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn dirs_in(dir: &Path) -> Dirs {
        Dirs {
            config_file: dir.join("absent.toml"),
            data_dir: dir.to_path_buf(),
            state_dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn the_example_config_parses_and_equals_the_defaults() {
        let parsed = Config::from_toml(EXAMPLE_CONFIG).expect("example config parses");
        let defaults = Config::default();
        assert_eq!(parsed.salience, defaults.salience);
        assert_eq!(parsed.attention, defaults.attention);
        assert_eq!(parsed.queue, defaults.queue);
        assert_eq!(parsed.llm, defaults.llm);
        assert_eq!(parsed.youtube, defaults.youtube);
    }

    #[test]
    fn youtube_video_id_comes_from_the_environment_and_the_key_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load(
            &CliOverrides::default(),
            &dirs_in(dir.path()),
            &|k| match k {
                "YOUTUBE_VIDEO_ID" => Some("abcDEF_-123".into()),
                "YOUTUBE_API_KEY" => Some("AIza-very-secret".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(cfg.youtube.video_id.as_deref(), Some("abcDEF_-123"));
        assert!(!format!("{cfg:?}").contains("very-secret"));
        let err = Config::from_toml("[youtube]\napi_url = \"http://example.com\"\n").unwrap_err();
        assert!(err.to_string().contains("youtube.api_url"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("[queue]\nmax_sise = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("max_sise"), "{text}");
        let err = Config::from_toml("[nonsense]\n").unwrap_err();
        assert!(err.to_string().contains("nonsense"));
    }

    #[test]
    fn out_of_range_values_name_key_and_range() {
        let err = Config::from_toml("[llm]\ntimeout_s = 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config key llm.timeout_s: 0 is out of range (allowed: 1 to 600)"
        );
    }

    #[test]
    fn layering_defaults_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[queue]\nmax_size = 50\n[llm]\nmodel = \"from-file\"\ntimeout_s = 9\n",
        )
        .unwrap();
        let env: HashMap<&str, &str> = [
            ("OLLAMA_MODEL", "from-env"),
            ("TWITCH_CHANNELS", "#Mikavt, other_one"),
            ("CONTENT_FILTER_ENABLED", "false"),
            ("ATTENTION_CYCLE_DURATION", "100-400"),
            ("DATABASE_URL", "sqlite:///tmp/x/clank.db"),
            ("DISCORD_BOT_TOKEN", "super-secret-token"),
        ]
        .into_iter()
        .collect();
        let overrides = CliOverrides {
            config_file: Some(file),
            topic: Some("parry timing".into()),
            db: None,
            ..Default::default()
        };
        let cfg = Config::load(&overrides, &dirs_in(dir.path()), &|k| {
            env.get(k).map(|v| v.to_string())
        })
        .unwrap();
        assert_eq!(cfg.queue.max_size, 50, "file beats default");
        assert_eq!(cfg.llm.model, "from-env", "env beats file");
        assert_eq!(cfg.llm.timeout_s, 9, "file value kept when env is silent");
        assert_eq!(cfg.twitch.channels, vec!["mikavt", "other_one"]);
        assert!(!cfg.filter.enabled);
        assert_eq!(
            (cfg.attention.min_dwell_s, cfg.attention.max_dwell_s),
            (100, 400)
        );
        assert_eq!(cfg.db_path(), Path::new("/tmp/x/clank.db"));
        assert_eq!(cfg.salience.topic, "parry timing", "CLI beats all");
        assert!(!format!("{cfg:?}").contains("super-secret-token"));
    }

    #[test]
    fn a_postgres_database_url_selects_the_server_and_hides_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let url = "postgres://team:hunter2@db.local:5432/clank";
        let env = |k: &str| (k == "DATABASE_URL").then(|| url.to_string());
        let cfg = Config::load(&CliOverrides::default(), &dirs_in(dir.path()), &env).unwrap();
        assert_eq!(cfg.store.url.as_ref().map(|u| u.expose()), Some(url));
        assert_eq!(
            cfg.db_path(),
            dir.path().join("clank.db"),
            "the file default stays"
        );
        assert!(!format!("{cfg:?}").contains("hunter2"));
        // An explicit --db file beats a server named in the environment.
        let overrides = CliOverrides {
            db: Some(dir.path().join("mine.db")),
            ..Default::default()
        };
        let cfg = Config::load(&overrides, &dirs_in(dir.path()), &env).unwrap();
        assert_eq!(cfg.store.url, None);
        let err = Config::from_toml("[store]\nurl = \"mysql://x/y\"\n").unwrap_err();
        assert!(err.to_string().contains("store.url"), "{err}");
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&CliOverrides::default(), &dirs_in(dir.path()), &|k| {
            (k == "MAX_QUEUE_SIZE").then(|| "lots".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("MAX_QUEUE_SIZE"), "{err}");
        let err = Config::load(&CliOverrides::default(), &dirs_in(dir.path()), &|k| {
            (k == "MAX_QUEUE_SIZE").then(|| "0".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("queue.max_size"), "{err}");
    }

    #[test]
    fn missing_config_file_is_named_and_absent_default_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = CliOverrides {
            config_file: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        let err = Config::load(&overrides, &dirs_in(dir.path()), &no_env).unwrap_err();
        assert!(err.to_string().contains("nope.toml"));
        let cfg = Config::load(&CliOverrides::default(), &dirs_in(dir.path()), &no_env).unwrap();
        assert_eq!(cfg.db_path(), dir.path().join("clank.db"));
    }
}
