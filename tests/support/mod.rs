pub mod fake_agent;
pub mod fake_avatar;
pub mod fake_ollama;
pub mod fake_openai;
