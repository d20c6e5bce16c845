//! `GET /v2/events`: server-sent events, `event: <type>\ndata: <json>\n\n`, filtered by
//! `event_type=` (repeatable). The first frame is `event_stream_attached`. Types that
//! marathon-python 0.13.0 does not know (`scheduler_*`) go only to clients that ask for them.

use super::deploy::client_ip;
use super::error::ApiError;
use super::query::Query;
use super::ApiState;
use crate::events::{Frame, MarathonEvent};
use crate::model::Timestamp;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Publishes `event_stream_detached` and updates the gauge when a stream ends.
struct Attached {
    state: ApiState,
    remote: String,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.state.0.metrics.stream_closed();
        self.state.events().publish(
            &MarathonEvent::EventStreamDetached {
                remote_address: self.remote.clone(),
            },
            Timestamp::now(),
        );
    }
}

struct StreamState {
    rx: broadcast::Receiver<Arc<Frame>>,
    close: watch::Receiver<bool>,
    first: Option<Frame>,
    filter: Vec<String>,
    _attached: Attached,
}

fn wanted(filter: &[String], event_type: &str) -> bool {
    if filter.is_empty() {
        !MarathonEvent::only_when_asked(event_type)
    } else {
        filter.iter().any(|f| f == event_type)
    }
}

fn frames(st: StreamState) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(st, |mut st| async move {
        if let Some(f) = st.first.take() {
            return Some((Ok(Event::default().event(f.event_type).data(f.data)), st));
        }
        loop {
            if *st.close.borrow() {
                return None;
            }
            tokio::select! {
                changed = st.close.changed() => {
                    if changed.is_err() || *st.close.borrow() {
                        return None;
                    }
                }
                msg = st.rx.recv() => match msg {
                    Ok(f) if wanted(&st.filter, f.event_type) => {
                        let ev = Event::default().event(f.event_type).data(f.data.clone());
                        return Some((Ok(ev), st));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "an event stream client fell behind; events were dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}

pub(crate) async fn events(State(state): State<ApiState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.to_ascii_lowercase().contains("text/event-stream") {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Accept: text/event-stream is required",
        )
        .into_response();
    }
    let q = Query::parse(parts.uri.query());
    let filter: Vec<String> = q
        .all("event_type")
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let remote = client_ip(&parts.headers, &parts.extensions);
    let rx = state.events().subscribe();
    let close = state.0.close_streams.subscribe();
    let attached = MarathonEvent::EventStreamAttached {
        remote_address: remote.clone(),
    };
    let first = wanted(&filter, attached.event_type()).then(|| Frame {
        event_type: attached.event_type(),
        data: attached.to_json(Timestamp::now()),
    });
    state.0.metrics.stream_opened();
    let st = StreamState {
        rx,
        close,
        first,
        filter,
        _attached: Attached {
            state: state.clone(),
            remote,
        },
    };
    Sse::new(frames(st))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfiltered_clients_get_only_types_strict_clients_know() {
        assert!(wanted(&[], "status_update_event"));
        assert!(wanted(&[], "event_stream_attached"));
        assert!(!wanted(&[], "scheduler_registered_event"));
        assert!(!wanted(&[], "scheduler_disconnected_event"));
        let f = vec!["scheduler_registered_event".to_string()];
        assert!(wanted(&f, "scheduler_registered_event"));
        assert!(!wanted(&f, "status_update_event"));
    }
}
