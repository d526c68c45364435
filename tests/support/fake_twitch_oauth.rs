//! A loopback fake of Twitch's OAuth endpoints (`/oauth2/device`,
//! `/oauth2/token` for the device grant and refresh, `/oauth2/validate`),
//! speaking real HTTP/1.1 and Twitch's JSON shapes. Hand-rolled on tokio so
//! tests need no server framework. Refresh tokens rotate and are single use,
//! as on Twitch.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the device grant answers.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceOutcome {
    /// `authorization_pending` this many times, then a token.
    ApproveAfter(u32),
    /// `authorization_pending` this many times, then `access_denied`.
    DenyAfter(u32),
    /// `authorization_pending` forever (the client's deadline must end it).
    NeverAnswer,
    /// `invalid device code` (Twitch's answer once the code expired).
    ExpiredAfter(u32),
    /// `slow_down` once, then a token.
    SlowDownThenApprove,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
    pub at: Instant,
}

#[derive(Debug)]
pub struct OAuthState {
    pub device: DeviceOutcome,
    pub interval: u64,
    pub expires_in: u64,
    /// Seconds the issued access tokens live.
    pub token_ttl: i64,
    pub login: String,
    pub valid_access: HashSet<String>,
    pub valid_refresh: HashSet<String>,
    pub issued: u32,
    pub polls: u32,
    pub requests: Vec<Request>,
}

pub struct FakeTwitchOAuth {
    addr: SocketAddr,
    pub state: Arc<Mutex<OAuthState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwitchOAuth {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTwitchOAuth {
    pub async fn start(device: DeviceOutcome) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(OAuthState {
            device,
            interval: 5,
            expires_in: 1800,
            token_ttl: 14_400,
            login: "clankbot".into(),
            valid_access: HashSet::new(),
            valid_refresh: HashSet::new(),
            issued: 0,
            polls: 0,
            requests: Vec::new(),
        }));
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(handle(s.clone(), sock));
            }
        });
        Self { addr, state, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Issues a token pair directly (as if a login happened earlier).
    pub fn issue(&self) -> (String, String) {
        issue(&mut self.state.lock().unwrap())
    }

    /// Revokes every token (the user disconnected the app).
    pub fn revoke_all(&self) {
        let mut s = self.state.lock().unwrap();
        s.valid_access.clear();
        s.valid_refresh.clear();
    }

    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

fn issue(s: &mut OAuthState) -> (String, String) {
    s.issued += 1;
    let access = format!("acc3ss-{:04}-zq9x7w", s.issued);
    let refresh = format!("refr3sh-{:04}-kv2m8p", s.issued);
    s.valid_access.insert(access.clone());
    s.valid_refresh.insert(refresh.clone());
    (access, refresh)
}

fn token_json(s: &mut OAuthState) -> String {
    let (access, refresh) = issue(s);
    format!(
        r#"{{"access_token":"{access}","expires_in":{},"refresh_token":"{refresh}","scope":["chat:edit","chat:read"],"token_type":"bearer"}}"#,
        s.token_ttl
    )
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(status: u16, message: &str) -> (u16, String) {
    (
        status,
        format!(r#"{{"status":{status},"message":"{message}"}}"#),
    )
}

fn route(s: &mut OAuthState, req: &Request) -> (u16, String) {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/oauth2/device") => {
            if req.form.get("client_id").is_none_or(|c| c.is_empty()) {
                return error(400, "missing client_id");
            }
            s.polls = 0;
            (
                200,
                format!(
                    r#"{{"device_code":"dev-c0de-77","expires_in":{},"interval":{},"user_code":"WDJB-MJHT","verification_uri":"https://www.twitch.tv/activate?public=true&device-code=WDJBMJHT"}}"#,
                    s.expires_in, s.interval
                ),
            )
        }
        ("POST", "/oauth2/token") => match req.form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:device_code") => {
                if req.form.get("device_code").map(String::as_str) != Some("dev-c0de-77") {
                    return error(400, "invalid device code");
                }
                s.polls += 1;
                let n = s.polls;
                match s.device.clone() {
                    DeviceOutcome::ApproveAfter(k) if n > k => (200, token_json(s)),
                    DeviceOutcome::DenyAfter(k) if n > k => error(400, "access_denied"),
                    DeviceOutcome::ExpiredAfter(k) if n > k => error(400, "invalid device code"),
                    DeviceOutcome::SlowDownThenApprove if n == 1 => error(400, "slow_down"),
                    DeviceOutcome::SlowDownThenApprove => (200, token_json(s)),
                    _ => error(400, "authorization_pending"),
                }
            }
            Some("refresh_token") => {
                let old = req.form.get("refresh_token").cloned().unwrap_or_default();
                if s.valid_refresh.remove(&old) {
                    (200, token_json(s))
                } else {
                    error(400, "Invalid refresh token")
                }
            }
            _ => error(400, "unsupported grant_type"),
        },
        ("GET", "/oauth2/validate") => {
            let token = req
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("OAuth "))
                .unwrap_or("");
            if s.valid_access.contains(token) {
                (
                    200,
                    format!(
                        r#"{{"client_id":"test-client","login":"{}","scopes":["chat:edit","chat:read"],"user_id":"4242","expires_in":{}}}"#,
                        s.login, s.token_ttl
                    ),
                )
            } else {
                error(401, "invalid access token")
            }
        }
        _ => error(404, "not found"),
    }
}

async fn handle(state: Arc<Mutex<OAuthState>>, sock: TcpStream) {
    let (read, mut write) = sock.into_split();
    let mut reader = BufReader::new(read);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut len = 0usize;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let req = Request {
        method,
        path,
        form: parse_form(&String::from_utf8_lossy(&body)),
        authorization,
        at: Instant::now(),
    };
    let (status, json) = {
        let mut s = state.lock().unwrap();
        let out = route(&mut s, &req);
        s.requests.push(req);
        out
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = write.write_all(resp.as_bytes()).await;
    let _ = write.shutdown().await;
}
