//! Reply drafting: LLM clients ([`llm`]), prompt assembly ([`context`]) and the
//! output gate every outgoing text passes ([`format`]), one draft end to end
//! ([`pipeline`]), the LLM's turns ([`slots`]) and the auto-send rules ([`policy`]).

pub mod context;
pub mod format;
pub mod llm;
pub mod pipeline;
pub mod policy;
pub mod slots;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::validate::{ConfigError, check_range};

pub use context::{Goal, Guidance, Persona, Prompt, PromptInput, build_prompt};
pub use format::{Blocked, Fallbacks, OutputPolicy, Target, fallback, make_safe};
pub use llm::{ChatRequest, Completion, LlmClient, LlmConfig, LlmError, ModelStatus, Provider};

/// The `[reply]` config section: how drafts are prompted and filtered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplyConfig {
    /// Most estimated prompt tokens (about 4 characters each); the oldest chat
    /// lines are dropped first (256..=131072). Keep it below the model's context
    /// minus `llm.num_predict`.
    pub token_budget: usize,
    /// Most recent chat lines shown to the model with each draft (0..=200).
    /// Small models copy long chat logs into their replies and take seconds
    /// per hundred prompt tokens; raise it for a bigger model.
    pub history_lines: usize,
    /// Persona TOML (name, style, rules, template); absent = the built-in one.
    pub persona_file: Option<PathBuf>,
    /// Fallback replies, one per line; absent = the built-in ones.
    pub fallbacks_file: Option<PathBuf>,
    /// Let links through in replies.
    pub allow_urls: bool,
    /// Start replies with `@asker `.
    pub address_asker: bool,
    /// Seconds a sent reply waits for its platform's verdict (accepted or
    /// refused) before it is reported unconfirmed (1..=900). Longer than an
    /// adapter may hold a send in its own queue (Twitch: up to 120 s under
    /// slow mode or after a rate-limit notice, then 10 s for USERSTATE), so a
    /// send still queued is never called unconfirmed and retried twice.
    pub send_verdict_timeout_s: u64,
}

impl Default for ReplyConfig {
    fn default() -> Self {
        Self {
            token_budget: 1536,
            history_lines: context::DEFAULT_HISTORY_LINES,
            persona_file: None,
            fallbacks_file: None,
            allow_urls: false,
            address_asker: true,
            send_verdict_timeout_s: 150,
        }
    }
}

impl ReplyConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("reply.token_budget", self.token_budget, 256, 131_072)?;
        check_range("reply.history_lines", self.history_lines, 0, 200)?;
        check_range(
            "reply.send_verdict_timeout_s",
            self.send_verdict_timeout_s,
            1,
            900,
        )
    }

    pub fn output_policy(&self) -> OutputPolicy {
        OutputPolicy {
            allow_urls: self.allow_urls,
            address_asker: self.address_asker,
        }
    }

    /// The configured persona, or the built-in one.
    pub fn load_persona(&self) -> Result<Persona, ConfigError> {
        match &self.persona_file {
            None => Ok(Persona::builtin()),
            Some(path) => {
                let text = read(path)?;
                Persona::from_toml(&text).map_err(|e| {
                    ConfigError::invalid("reply.persona_file", format!("{}: {e}", path.display()))
                })
            }
        }
    }

    /// The configured fallback replies, or the built-in ones.
    pub fn load_fallbacks(&self) -> Result<Fallbacks, ConfigError> {
        match &self.fallbacks_file {
            None => Ok(Fallbacks::builtin()),
            Some(path) => Ok(Fallbacks::from_text(&read(path)?)),
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_files_load() {
        let cfg = ReplyConfig::default();
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.load_persona().unwrap(), Persona::builtin());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("persona.toml");
        std::fs::write(
            &p,
            "name=\"Zed\"\nstyle=\"dry\"\nrules=[]\ntemplate=\"You are {name}.\"\n",
        )
        .unwrap();
        let f = dir.path().join("fb.txt");
        std::fs::write(&f, "only one\n").unwrap();
        let cfg = ReplyConfig {
            persona_file: Some(p),
            fallbacks_file: Some(f),
            ..ReplyConfig::default()
        };
        assert_eq!(cfg.load_persona().unwrap().render(), "You are Zed.");
        assert_eq!(cfg.load_fallbacks().unwrap().pick(99), "only one");
        let bad = ReplyConfig {
            persona_file: Some(dir.path().join("missing.toml")),
            ..ReplyConfig::default()
        };
        assert!(
            bad.load_persona()
                .unwrap_err()
                .to_string()
                .contains("missing.toml")
        );
        let err = toml::from_str::<ReplyConfig>("token_budget = 10")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("reply.token_budget"));
    }
}
