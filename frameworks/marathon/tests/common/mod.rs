//! Test harness: the API on 127.0.0.1 with a random port, an in-memory backend and a store in
//! a temporary directory.

#![allow(dead_code)]

pub mod memory;

use paddock_marathon::api::{router, ApiState, ServerInfo};
use paddock_marathon::events::EventBus;
use paddock_marathon::store::Store;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub struct Server {
    pub url: String,
    pub addr: SocketAddr,
    pub state: ApiState,
    pub backend: Arc<memory::MemoryBackend>,
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// Stops serving and waits until the server (and its store) is released.
    pub async fn stop(mut self) {
        self.state.close_streams();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.close_streams();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts a server whose store lives in `dir`.
pub async fn start_in(dir: &Path) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let store = Arc::new(Store::open(dir).expect("open store"));
    let backend = memory::MemoryBackend::new();
    let info = ServerInfo::new("127.0.0.1", addr.port(), "127.0.0.1:5050");
    let state =
        ApiState::new(backend.clone(), store, EventBus::default(), info).expect("api state");
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Server {
        url: format!("http://{addr}"),
        addr,
        state,
        backend,
        task: Some(task),
        stop: Some(stop),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("reqwest client")
}
