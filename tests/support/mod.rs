pub mod fake_ollama;
pub mod fake_openai;
