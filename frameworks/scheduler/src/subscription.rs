//! The subscription loop: SUBSCRIBE, read the RecordIO event stream, hand
//! events on, and re-subscribe with backoff when the stream breaks or goes
//! silent for longer than a few heartbeats.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use paddock_proto::mesos::FrameworkInfo;
use paddock_proto::recordio::Decoder;
use paddock_proto::scheduler::{Call, Event, Subscribe};
use tokio::sync::{mpsc, watch};

use crate::{DriverEvent, Inner, Session, MAX_BACKOFF, MIN_BACKOFF};

/// Why one subscription ended.
enum Ended {
    /// The driver was stopped, or nobody listens to its events any more.
    Stopped,
    /// The stream broke; `subscribed` says whether it had got as far as
    /// SUBSCRIBED (then the backoff starts again from the minimum).
    Broken { subscribed: bool, why: String },
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    framework: FrameworkInfo,
    events: mpsc::UnboundedSender<DriverEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            break;
        }
        let ended = tokio::select! {
            ended = subscribe_once(&inner, &framework, &events) => ended,
            _ = stop.changed() => Ended::Stopped,
        };
        let session = inner.session();
        inner.set_session(Session {
            framework_id: session.framework_id,
            stream_id: None,
        });
        match ended {
            Ended::Stopped => break,
            Ended::Broken { subscribed, why } => {
                tracing::warn!(master = %inner.base, "scheduler subscription ended: {why}");
                if subscribed {
                    backoff = MIN_BACKOFF;
                    if events.send(DriverEvent::Disconnected).is_err() {
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe_once(
    inner: &Inner,
    framework: &FrameworkInfo,
    events: &mpsc::UnboundedSender<DriverEvent>,
) -> Ended {
    let mut info = framework.clone();
    info.id = inner.session().framework_id;
    let call = Call {
        kind: "SUBSCRIBE".into(),
        framework_id: info.id.clone(),
        subscribe: Some(Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
        }),
        ..Default::default()
    };
    let response = match inner
        .http
        .post(&inner.base)
        .header("Accept", "application/json")
        .json(&call)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return broken(false, format!("cannot subscribe: {e}")),
    };
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return broken(false, format!("SUBSCRIBE answered {status}: {body}"));
    }
    let stream_id = response
        .headers()
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.bytes_stream();
    let mut buf = BytesMut::new();
    let mut decoder = Decoder::default();
    let mut subscribed = false;
    // Until SUBSCRIBED names the heartbeat interval, allow a generous gap.
    let mut silence = Duration::from_secs(30);
    loop {
        let chunk = match tokio::time::timeout(silence, body.next()).await {
            Err(_) => return broken(subscribed, format!("no event for {silence:?}")),
            Ok(None) => return broken(subscribed, "the master closed the stream".into()),
            Ok(Some(Err(e))) => return broken(subscribed, format!("stream error: {e}")),
            Ok(Some(Ok(c))) => c,
        };
        buf.extend_from_slice(&chunk);
        loop {
            let record = match decoder.decode_buf(&mut buf) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return broken(subscribed, format!("bad RecordIO: {e}")),
            };
            let event: Event = match serde_json::from_slice(&record) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("skipping an event the driver cannot parse: {e}");
                    continue;
                }
            };
            let out = match event {
                Event::Subscribed { subscribed: s } => {
                    subscribed = true;
                    let beat = Duration::try_from_secs_f64(s.heartbeat_interval_seconds)
                        .unwrap_or(Duration::from_secs(15));
                    silence = (beat * 3).max(Duration::from_secs(2));
                    inner.set_session(Session {
                        framework_id: Some(s.framework_id.clone()),
                        stream_id: stream_id.clone(),
                    });
                    DriverEvent::Subscribed {
                        framework_id: s.framework_id,
                    }
                }
                Event::Offers { offers } => DriverEvent::Offers(offers.offers),
                Event::Rescind { rescind } => DriverEvent::Rescind(rescind.offer_id),
                Event::Update { update } => DriverEvent::Update(update.status),
                Event::Failure { failure } => DriverEvent::Failure {
                    agent_id: failure.agent_id,
                    status: failure.status,
                },
                Event::Error { error } => DriverEvent::Error(error.message),
                Event::Message { .. } | Event::Heartbeat => continue,
            };
            if events.send(out).is_err() {
                return Ended::Stopped;
            }
        }
    }
}

fn broken(subscribed: bool, why: String) -> Ended {
    Ended::Broken { subscribed, why }
}
