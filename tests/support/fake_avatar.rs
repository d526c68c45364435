//! A loopback NeuroSync-style avatar (`POST /process_text`): 200
//! `{"status":"processing",...}` for a text, 400 `{"error":...}` without one,
//! 403 while it is idle (set per call index). Records every body.
#![allow(dead_code)]

use std::collections::HashSet;

use serde_json::json;

use super::fake_agent::Recorder;

/// Starts an avatar that answers 403 (idle) to the calls whose 0-based index
/// is in `idle_calls`.
pub async fn start(idle_calls: &[usize]) -> Recorder {
    let idle: HashSet<usize> = idle_calls.iter().copied().collect();
    let mut n = 0usize;
    Recorder::start(Box::new(move |hit| {
        let i = n;
        n += 1;
        if hit.path != "/process_text" || hit.method != "POST" {
            return (404, json!({"error": "not found"}).to_string());
        }
        if idle.contains(&i) {
            return (403, json!({"error": "avatar is idle"}).to_string());
        }
        match hit.body.get("text").and_then(|t| t.as_str()) {
            Some(t) if !t.trim().is_empty() => (
                200,
                json!({"status": "processing", "text_length": t.chars().count()}).to_string(),
            ),
            _ => (400, json!({"error": "missing 'text'"}).to_string()),
        }
    }))
    .await
}
