//! The scheduler API on the wire, spoken over a raw socket the way pymesos
//! does it (HTTP/1.1, `Connection: close`), against a real master server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use paddock_master::{MasterConfig, MasterOptions, MasterServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = MasterServer::bind(MasterOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        data_dir: dir.path().to_path_buf(),
        hostname: None,
        config: MasterConfig::default(),
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    (addr, tx, dir)
}

/// Sends a raw request and reads until `want` bytes of head+body arrived
/// or the peer closes.
async fn raw(addr: SocketAddr, body: &str, extra: &str, read_for: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + read_for;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn subscribe_is_chunked_recordio_with_stream_id_even_on_connection_close() {
    let (addr, _stop, _dir) = start().await;
    let body = r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"raw","capabilities":[{"type":"GPU_RESOURCES"}],"failover_timeout":100}}}"#;
    let resp = raw(addr, body, "", Duration::from_millis(800)).await;
    let (head, rest) = resp.split_once("\r\n\r\n").expect("a full head");
    let head_l = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head_l.contains("transfer-encoding: chunked"), "{head}");
    assert!(head_l.contains("mesos-stream-id: "), "{head}");
    assert!(head_l.contains("content-type: application/json"), "{head}");
    // First chunk carries the first RecordIO record: SUBSCRIBED, nested.
    let (_, chunk) = rest.split_once("\r\n").expect("chunk size line");
    let (len, json) = chunk.split_once('\n').expect("recordio length");
    let len: usize = len.trim().parse().expect("decimal record length");
    let record = &json[..len];
    let v: serde_json::Value = serde_json::from_str(record).unwrap();
    assert_eq!(v["type"], "SUBSCRIBED");
    assert!(
        v["subscribed"]["framework_id"]["value"]
            .as_str()
            .unwrap()
            .len()
            > 3
    );
    assert_eq!(v["subscribed"]["heartbeat_interval_seconds"], 15.0);
}

#[tokio::test]
async fn calls_need_the_stream_id_and_unknown_frameworks_are_400() {
    let (addr, _stop, _dir) = start().await;
    let resp = raw(
        addr,
        r#"{"type":"DECLINE","framework_id":{"value":"nope"},"decline":{"offer_ids":[]}}"#,
        "Mesos-Stream-Id: x\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("cannot be found"), "{resp}");
    let resp = raw(
        addr,
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}"#,
        "Mesos-Stream-Id: abc\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 400"),
        "SUBSCRIBE with a stream id: {resp}"
    );
    let resp = raw(
        addr,
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":""}}}"#,
        "",
        Duration::from_millis(500),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("framework_info.name"), "{resp}");
}
