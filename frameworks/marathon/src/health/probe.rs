//! Performing one probe. HTTP(S) passes on a status of 200–399 within the
//! timeout (certificates are not verified, redirects not followed); TCP
//! passes when a connection opens; COMMAND passes when `sh -c` exits 0.
//! Readiness is ready when the status is one of `httpStatusCodesForReady`.

use std::time::Duration;

use crate::core::instance::ReadinessResult;
use crate::core::scheduler::{ProbeKind, ProbeRequest};
use crate::core::spec::{HealthCheckSpec, HealthProtocol, ReadinessCheckSpec};

/// What a probe found, to hand back to the core.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeReport {
    Health {
        task_id: String,
        index: usize,
        /// `None`: no verdict (an ignored 1xx answer).
        outcome: Option<Result<(), String>>,
    },
    Readiness {
        task_id: String,
        result: ReadinessResult,
    },
}

/// The HTTP client probes share (connection pool, no certificate checks).
#[derive(Clone)]
pub struct ProbeClient {
    http: reqwest::Client,
}

impl Default for ProbeClient {
    fn default() -> Self {
        ProbeClient::new()
    }
}

impl ProbeClient {
    pub fn new() -> ProbeClient {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .build()
            .unwrap_or_default();
        ProbeClient { http }
    }
}

fn url(https: bool, host: &str, port: u32, path: &str) -> String {
    let scheme = if https { "https" } else { "http" };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    format!("{scheme}://{host}:{port}{path}")
}

fn timeout(seconds: u64) -> Duration {
    Duration::from_secs(seconds.max(1))
}

/// An HTTP(S) health check.
pub async fn http_check(
    client: &ProbeClient,
    https: bool,
    host: &str,
    port: u32,
    check: &HealthCheckSpec,
) -> Option<Result<(), String>> {
    let target = url(https, host, port, check.path.as_deref().unwrap_or("/"));
    let sent = client
        .http
        .get(&target)
        .timeout(timeout(check.timeout_seconds))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let code = resp.status().as_u16();
            if (200..400).contains(&code) {
                Some(Ok(()))
            } else if code < 200 && check.ignore_http1xx {
                None
            } else {
                Some(Err(format!("{target} answered HTTP {code}")))
            }
        }
        Err(e) if e.is_timeout() => Some(Err(format!(
            "{target}: no answer within {}s",
            check.timeout_seconds
        ))),
        Err(e) => Some(Err(format!("{target}: {e}"))),
    }
}

/// A TCP health check: can a connection be opened?
pub async fn tcp_check(host: &str, port: u32, timeout_seconds: u64) -> Result<(), String> {
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(
        timeout(timeout_seconds),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no connection within {timeout_seconds}s")),
    }
}

/// A COMMAND check: `sh -c <command>` with the task's basic environment.
pub async fn command_check(
    command: &str,
    env: &[(String, String)],
    timeout_seconds: u64,
) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the check command: {e}"))?;
    match tokio::time::timeout(timeout(timeout_seconds), child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!("command exited with {}", out.status)),
        Ok(Err(e)) => Err(format!("command failed: {e}")),
        Err(_) => Err(format!("command did not finish within {timeout_seconds}s")),
    }
}

/// A readiness check.
pub async fn readiness_check(
    client: &ProbeClient,
    host: &str,
    port: u32,
    check: &ReadinessCheckSpec,
) -> ReadinessResult {
    let target = url(check.https, host, port, &check.path);
    let sent = client
        .http
        .get(&target)
        .timeout(timeout(check.timeout_seconds))
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let ready = check.http_status_codes_for_ready.contains(&code);
            let last_response = if check.preserve_last_response {
                let content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = resp.text().await.unwrap_or_default();
                Some((code, content_type, body))
            } else {
                None
            };
            ReadinessResult {
                name: check.name.clone(),
                ready,
                last_response,
            }
        }
        Err(_) => ReadinessResult {
            name: check.name.clone(),
            ready: false,
            last_response: None,
        },
    }
}

/// Runs the probe a request names.
pub async fn run_probe(client: &ProbeClient, req: &ProbeRequest) -> ProbeReport {
    match &req.kind {
        ProbeKind::Health { index, check } => {
            let outcome = match (check.protocol, req.port) {
                (HealthProtocol::Command | HealthProtocol::MesosCommand, _) => {
                    let command = check.command.as_deref().unwrap_or("");
                    Some(command_check(command, &req.env, check.timeout_seconds).await)
                }
                (_, None) => Some(Err("the task has no port for this health check".to_string())),
                (HealthProtocol::Http | HealthProtocol::MesosHttp, Some(port)) => {
                    http_check(client, false, &req.host, port, check).await
                }
                (HealthProtocol::Https | HealthProtocol::MesosHttps, Some(port)) => {
                    http_check(client, true, &req.host, port, check).await
                }
                (HealthProtocol::Tcp | HealthProtocol::MesosTcp, Some(port)) => {
                    Some(tcp_check(&req.host, port, check.timeout_seconds).await)
                }
            };
            ProbeReport::Health {
                task_id: req.task_id.clone(),
                index: *index,
                outcome,
            }
        }
        ProbeKind::Readiness(check) => {
            let result = match req.port {
                Some(port) => readiness_check(client, &req.host, port, check).await,
                None => ReadinessResult {
                    name: check.name.clone(),
                    ready: false,
                    last_response: None,
                },
            };
            ProbeReport::Readiness {
                task_id: req.task_id.clone(),
                result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;

    /// Serves `/ok` 200, `/moved` 302, `/bad` 500, `/slow` after 3 s, `/ready` 503 on 127.0.0.1.
    async fn server() -> u32 {
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [("location", "/elsewhere")]) }),
            )
            .route("/bad", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route(
                "/ready",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("content-type", "text/plain")],
                        "warming up",
                    )
                }),
            );
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        u32::from(port)
    }

    /// A port nothing listens on.
    async fn closed_port() -> u32 {
        let l = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        drop(l);
        u32::from(port)
    }

    fn check(path: &str, timeout_seconds: u64) -> HealthCheckSpec {
        HealthCheckSpec {
            path: Some(path.into()),
            timeout_seconds,
            ..HealthCheckSpec::default()
        }
    }

    #[tokio::test]
    async fn http_passes_on_2xx_and_3xx_only() {
        let port = server().await;
        let c = ProbeClient::new();
        assert_eq!(
            http_check(&c, false, "127.0.0.1", port, &check("/ok", 2)).await,
            Some(Ok(()))
        );
        assert_eq!(
            http_check(&c, false, "127.0.0.1", port, &check("/moved", 2)).await,
            Some(Ok(()))
        );
        let bad = http_check(&c, false, "127.0.0.1", port, &check("/bad", 2)).await;
        assert!(matches!(&bad, Some(Err(m)) if m.contains("500")), "{bad:?}");
        let missing = http_check(&c, false, "127.0.0.1", port, &check("/nope", 2)).await;
        assert!(
            matches!(&missing, Some(Err(m)) if m.contains("404")),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn http_times_out() {
        let port = server().await;
        let c = ProbeClient::new();
        let slow = http_check(&c, false, "127.0.0.1", port, &check("/slow", 1)).await;
        assert!(
            matches!(&slow, Some(Err(m)) if m.contains("within 1s")),
            "{slow:?}"
        );
    }

    #[tokio::test]
    async fn refused_connections_fail() {
        let port = closed_port().await;
        let c = ProbeClient::new();
        assert!(matches!(
            http_check(&c, false, "127.0.0.1", port, &check("/", 1)).await,
            Some(Err(_))
        ));
        assert!(matches!(
            http_check(&c, true, "127.0.0.1", port, &check("/", 1)).await,
            Some(Err(_))
        ));
        assert!(tcp_check("127.0.0.1", port, 1).await.is_err());
    }

    #[tokio::test]
    async fn https_against_plain_http_fails() {
        let port = server().await;
        let c = ProbeClient::new();
        assert!(matches!(
            http_check(&c, true, "127.0.0.1", port, &check("/ok", 2)).await,
            Some(Err(_))
        ));
    }

    #[tokio::test]
    async fn tcp_passes_when_something_listens() {
        let port = server().await;
        assert_eq!(tcp_check("127.0.0.1", port, 1).await, Ok(()));
    }

    #[tokio::test]
    async fn command_checks_use_the_exit_code_and_env() {
        let env = vec![("PORT0".to_string(), "4242".to_string())];
        assert_eq!(
            command_check("test \"$PORT0\" = 4242", &env, 2).await,
            Ok(())
        );
        assert!(command_check("exit 3", &env, 2).await.is_err());
        let slow = command_check("sleep 5", &env, 1).await;
        assert!(
            matches!(&slow, Err(m) if m.contains("within 1s")),
            "{slow:?}"
        );
    }

    #[tokio::test]
    async fn readiness_uses_the_ready_codes_and_keeps_the_response() {
        let port = server().await;
        let c = ProbeClient::new();
        let mut spec = ReadinessCheckSpec {
            path: "/ready".into(),
            preserve_last_response: true,
            ..ReadinessCheckSpec::default()
        };
        let r = readiness_check(&c, "127.0.0.1", port, &spec).await;
        assert!(!r.ready);
        assert_eq!(
            r.last_response,
            Some((503, "text/plain".to_string(), "warming up".to_string()))
        );
        spec.http_status_codes_for_ready = vec![200, 503];
        assert!(readiness_check(&c, "127.0.0.1", port, &spec).await.ready);
        spec.path = "/ok".into();
        spec.http_status_codes_for_ready = vec![200];
        spec.preserve_last_response = false;
        let r = readiness_check(&c, "127.0.0.1", port, &spec).await;
        assert!(r.ready);
        assert_eq!(r.last_response, None);
    }

    #[tokio::test]
    async fn run_probe_dispatches_on_the_protocol() {
        let port = server().await;
        let c = ProbeClient::new();
        let mut req = ProbeRequest {
            task_id: "a.1".into(),
            app_id: "/a".into(),
            host: "127.0.0.1".into(),
            port: Some(port),
            kind: ProbeKind::Health {
                index: 2,
                check: HealthCheckSpec {
                    protocol: HealthProtocol::MesosTcp,
                    ..HealthCheckSpec::default()
                },
            },
            env: Vec::new(),
        };
        assert_eq!(
            run_probe(&c, &req).await,
            ProbeReport::Health {
                task_id: "a.1".into(),
                index: 2,
                outcome: Some(Ok(()))
            }
        );
        req.port = None;
        assert!(matches!(
            run_probe(&c, &req).await,
            ProbeReport::Health {
                outcome: Some(Err(_)),
                ..
            }
        ));
    }
}
