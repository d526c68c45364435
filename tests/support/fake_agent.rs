//! A loopback agent webhook ("Autoliza"): records every `ChatContextUpdate`
//! POSTed to it and answers with scripted guidance JSON (or an error status).
//! Also home of the small HTTP/1 recorder the avatar fake shares.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// Decides the answer to one request: (status, JSON body).
pub type Responder = Box<dyn FnMut(&Hit) -> (u16, String) + Send>;

struct State {
    hits: Vec<Hit>,
    responder: Responder,
}

/// A running recorder; stops when dropped.
pub struct Recorder {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub async fn start(responder: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            hits: Vec::new(),
            responder,
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().path().to_string();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let hit = Hit {
                                method,
                                path,
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            };
                            let (status, body) = {
                                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                                let r = (s.responder)(&hit);
                                s.hits.push(hit);
                                r
                            };
                            Ok::<_, std::convert::Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .expect("response"),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Recorder { addr, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hits
            .clone()
    }
}

/// An agent answering each POST with the next scripted body, then `default`.
pub async fn start(script: Vec<(u16, String)>, default: (u16, String)) -> Recorder {
    let mut script: VecDeque<(u16, String)> = script.into();
    Recorder::start(Box::new(move |_hit| {
        script.pop_front().unwrap_or_else(|| default.clone())
    }))
    .await
}
