//! `POST /api/v1/scheduler`: the Mesos v1 scheduler API.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use futures::Stream;
use paddock_proto::mesos::{FrameworkId, MasterInfo};
use paddock_proto::scheduler::{Call, Event, Subscribed};
use tokio::sync::mpsc;

use super::errors::ApiError;
use crate::server::{encode_event, Shared};

const STREAM_ID: &str = "Mesos-Stream-Id";

/// Parses a call, naming the offending field on error.
pub fn parse_call(body: &[u8]) -> Result<Call, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            format!("invalid call: {}", e.inner())
        } else {
            format!("invalid call: field '{path}': {}", e.inner())
        }
    })
}

pub async fn call(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(shared, headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn handle(shared: Arc<Shared>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("Expecting 'Content-Type' to be present"))?;
    if !ctype.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type '{ctype}' is not supported; use application/json"),
        ));
    }
    let call = parse_call(&body).map_err(ApiError::bad_request)?;
    if call.kind == "SUBSCRIBE" {
        if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
            let ok = accept.split(',').any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a.starts_with("application/json")
                    || a.starts_with("*/*")
                    || a.starts_with("application/*")
            });
            if !ok {
                return Err(ApiError::new(
                    StatusCode::NOT_ACCEPTABLE,
                    format!("Accept '{accept}' is not supported; use application/json"),
                ));
            }
        }
        if headers.contains_key(STREAM_ID) {
            return Err(ApiError::bad_request(
                "SUBSCRIBE must not carry a 'Mesos-Stream-Id' header",
            ));
        }
        return subscribe(shared, call);
    }
    let fw = call
        .framework_id
        .clone()
        .filter(|f| !f.value.is_empty())
        .ok_or_else(|| ApiError::bad_request("Expecting 'framework_id' to be present"))?;
    let stream_id = headers
        .get(STREAM_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    {
        let hub = shared.lock();
        let framework =
            hub.core.frameworks.get(&fw).ok_or_else(|| {
                ApiError::bad_request(format!("Framework '{fw}' cannot be found"))
            })?;
        if !framework.connected {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("Framework '{fw}' is not subscribed"),
            ));
        }
        if framework.stream_id.as_deref() != Some(stream_id) {
            return Err(ApiError::bad_request(format!(
                "The stream ID '{stream_id}' included in this request didn't match the stream ID currently associated with framework ID '{fw}'"
            )));
        }
    }
    dispatch(&shared, &fw, call)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn missing(what: &str) -> ApiError {
    ApiError::bad_request(format!("Expecting '{what}' to be present"))
}

fn dispatch(shared: &Shared, fw: &FrameworkId, call: Call) -> Result<(), ApiError> {
    match call.kind.as_str() {
        "TEARDOWN" => shared.with_core(true, |m, now| m.remove_framework(fw, now)),
        "ACCEPT" => {
            let accept = call.accept.ok_or_else(|| missing("accept"))?;
            shared.with_core(true, |m, now| m.accept(fw, accept, now));
        }
        "DECLINE" => {
            let decline = call.decline.ok_or_else(|| missing("decline"))?;
            shared.with_core(true, |m, now| {
                m.decline(fw, &decline.offer_ids, decline.filters.as_ref(), now)
            });
        }
        "REVIVE" => shared.with_core(true, |m, _| m.revive(fw)),
        "SUPPRESS" => shared.with_core(false, |m, _| m.suppress(fw)),
        "KILL" => {
            let kill = call.kill.ok_or_else(|| missing("kill"))?;
            shared.with_core(false, |m, _| {
                m.kill(fw, &kill.task_id, kill.kill_policy.as_ref())
            });
        }
        "ACKNOWLEDGE" => {
            let ack = call.acknowledge.ok_or_else(|| missing("acknowledge"))?;
            if base64::engine::general_purpose::STANDARD
                .decode(&ack.uuid)
                .is_err()
            {
                return Err(ApiError::bad_request(
                    "field 'acknowledge.uuid' is not base64",
                ));
            }
            shared.with_core(false, |m, _| {
                m.acknowledge(fw, &ack.agent_id, &ack.task_id, &ack.uuid)
            });
        }
        "RECONCILE" => {
            let rec = call.reconcile.unwrap_or_default();
            shared.with_core(false, |m, now| m.reconcile(fw, &rec.tasks, now));
        }
        "MESSAGE" => {
            let msg = call.message.ok_or_else(|| missing("message"))?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(&msg.data)
                .map_err(|_| ApiError::bad_request("field 'message.data' is not base64"))?;
            shared.with_core(false, |m, _| {
                m.framework_message(fw, &msg.agent_id, &msg.executor_id, data)
            });
        }
        // Accepted and ignored, as the Mesos allocator ignores them.
        "REQUEST"
        | "SHUTDOWN"
        | "ACKNOWLEDGE_OPERATION_STATUS"
        | "RECONCILE_OPERATIONS"
        | "ACCEPT_INVERSE_OFFERS"
        | "DECLINE_INVERSE_OFFERS" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown call type '{other}'"
            )))
        }
    }
    Ok(())
}

fn subscribe(shared: Arc<Shared>, call: Call) -> Result<Response, ApiError> {
    let sub = call.subscribe.ok_or_else(|| missing("subscribe"))?;
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    let fw = {
        let mut hub = shared.lock();
        let now = std::time::Instant::now();
        let fw = hub
            .core
            .subscribe(
                sub.framework_info,
                call.framework_id,
                &sub.suppressed_roles,
                stream_id.clone(),
                now,
            )
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        // SUBSCRIBED goes first, before any offer the flush may carry.
        hub.flush();
        let subscribed = Event::Subscribed {
            subscribed: Subscribed {
                framework_id: fw.clone(),
                heartbeat_interval_seconds: hub.core.heartbeat_interval().as_secs_f64(),
                master_info: Some(master_info(&shared, &hub.core.id)),
            },
        };
        let _ = tx.send(encode_event(&subscribed));
        hub.framework_streams
            .insert(fw.clone(), (stream_id.clone(), tx));
        fw
    };
    shared.allocate_now.notify_one();
    let stream = EventStream {
        rx,
        guard: Some(DisconnectGuard {
            shared: shared.clone(),
            framework: fw,
            stream_id: stream_id.clone(),
        }),
    };
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&stream_id) {
        h.insert(STREAM_ID, v);
    }
    Ok(resp)
}

pub fn master_info(shared: &Shared, id: &str) -> MasterInfo {
    let ip = match shared.address.ip() {
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    MasterInfo {
        id: id.to_string(),
        ip,
        port: shared.address.port() as u32,
        hostname: Some(shared.hostname.clone()),
        version: Some(paddock_proto::MESOS_COMPAT_VERSION.to_string()),
        address: Some(paddock_proto::mesos::Address {
            hostname: Some(shared.hostname.clone()),
            ip: Some(shared.address.ip().to_string()),
            port: shared.address.port() as u32,
        }),
    }
}

/// The event stream of one subscription. When the client goes away the
/// body is dropped, and the guard tells the core.
struct EventStream {
    rx: mpsc::UnboundedReceiver<Bytes>,
    guard: Option<DisconnectGuard>,
}

impl Stream for EventStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(None) => {
                // The master closed this stream (a newer subscription or a
                // teardown); nothing to report.
                self.guard = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

struct DisconnectGuard {
    shared: Arc<Shared>,
    framework: FrameworkId,
    stream_id: String,
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        let mut hub = self.shared.lock();
        let current = hub
            .framework_streams
            .get(&self.framework)
            .is_some_and(|(s, _)| s == &self.stream_id);
        if current {
            hub.framework_streams.remove(&self.framework);
        }
        hub.core.framework_disconnected(
            &self.framework,
            &self.stream_id,
            std::time::Instant::now(),
        );
        hub.flush();
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::parse_call;

    proptest! {
        /// Untrusted bytes never panic the call parser.
        #[test]
        fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_call(&data);
        }

        /// Nor does JSON of the right shape with wrong values.
        #[test]
        fn json_like(kind in "[A-Z_]{0,12}", field in "[a-z_]{1,10}", v in prop_oneof![
            Just("null".to_string()), Just("[]".to_string()), Just("{}".to_string()),
            any::<i64>().prop_map(|n| n.to_string()), "\"[^\"\\\\]{0,20}\"".prop_map(|s| s),
        ]) {
            let body = format!(r#"{{"type":"{kind}","{field}":{v},"accept":{{"offer_ids":[{v}],"operations":[{{"type":"LAUNCH","launch":{{"task_infos":[{v}]}}}}]}}}}"#);
            let _ = parse_call(body.as_bytes());
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            parse_call(br#"{"type":"ACCEPT","accept":{"offer_ids":[{"value":5}]}}"#).unwrap_err();
        assert!(e.contains("accept.offer_ids[0].value"), "{e}");
    }
}
