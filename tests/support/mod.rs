pub mod fake_agent;
pub mod fake_avatar;
pub mod fake_ollama;
pub mod fake_openai;
pub mod fake_twitch_irc;
pub mod fake_twitch_oauth;
pub mod fake_youtube;
pub mod live;
