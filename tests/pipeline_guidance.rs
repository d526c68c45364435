//! The local `POST /guidance` listener: loopback, bearer token required.

use clank::integrations::agent::listen_guidance;
use clank::secret::Secret;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn guidance_needs_the_token_and_arrives_parsed() {
    let (tx, mut rx) = mpsc::channel(4);
    let cancel = CancellationToken::new();
    let token = "a-long-enough-test-token";
    let addr = listen_guidance("127.0.0.1:0", Secret::new(token), tx, cancel.clone())
        .await
        .expect("listens");
    let url = format!("http://{addr}/guidance");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = r#"{"topics":["dlc"],"persona":"calm","starters":["who tried the DLC?"]}"#;
    let none = http.post(&url).body(body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .post(&url)
        .bearer_auth("nope")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(rx.try_recv().is_err(), "nothing accepted without the token");
    let bad = http
        .post(&url)
        .bearer_auth(token)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let ok = http
        .post(&url)
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let g = rx.recv().await.expect("guidance");
    assert_eq!(g.topics, vec!["dlc".to_string()]);
    assert_eq!(g.persona.as_deref(), Some("calm"));
    assert_eq!(g.starters.len(), 1);
    let other = http
        .post(format!("http://{addr}/other"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_take_more_than_their_share_of_the_listener() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = mpsc::channel(4);
    let cancel = CancellationToken::new();
    let token = "a-long-enough-test-token";
    let addr = listen_guidance("127.0.0.1:0", Secret::new(token), tx, cancel.clone())
        .await
        .expect("listens");
    // 32 clients connect and say nothing: every slot is taken.
    let mut idle = Vec::new();
    for _ in 0..32 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let body = r#"{"topics":["cap"]}"#;
    let mut real = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST /guidance HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    real.write_all(req.as_bytes()).await.expect("write");
    // Waits in the kernel's backlog while the slots are taken.
    let early = tokio::time::timeout(std::time::Duration::from_millis(400), rx.recv()).await;
    assert!(early.is_err(), "served past the connection cap");
    // One idle client leaves: its slot serves the waiting request.
    drop(idle.pop());
    let g = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .expect("served once a slot is free")
        .expect("guidance");
    assert_eq!(g.topics, vec!["cap".to_string()]);
    let mut answer = String::new();
    let _ = real.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    cancel.cancel();
}
