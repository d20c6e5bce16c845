//! Marathon's event bus: the event types with their JSON shapes (`eventType`, `timestamp` and
//! the fields of `Events.scala`), and a broadcast [`EventBus`] that serializes each event once
//! for every `/v2/events` subscriber. Deployment events carry the "heavy" plan
//! (`original`/`target` groups), which strict clients (marathon-python 0.13.0) require.

use crate::model::{DeploymentStep, Group, HealthCheck, IpAddress, PathId, Timestamp};
use serde::{Serialize, Serializer};
use std::sync::Arc;
use tokio::sync::broadcast;

/// A deployment plan as events show it: `{id, version, steps, original, target}`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEvent {
    pub id: String,
    pub version: Timestamp,
    pub steps: Vec<DeploymentStep>,
    #[serde(serialize_with = "arc_group")]
    pub original: Arc<Group>,
    #[serde(serialize_with = "arc_group")]
    pub target: Arc<Group>,
}

fn arc_group<S: Serializer>(g: &Arc<Group>, s: S) -> Result<S::Ok, S::Error> {
    g.as_ref().serialize(s)
}

/// Every event Marathon 1.10 publishes (pods and the removed HTTP callbacks excepted).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "eventType")]
pub enum MarathonEvent {
    #[serde(rename = "event_stream_attached", rename_all = "camelCase")]
    EventStreamAttached { remote_address: String },
    #[serde(rename = "event_stream_detached", rename_all = "camelCase")]
    EventStreamDetached { remote_address: String },
    #[serde(rename = "api_post_event", rename_all = "camelCase")]
    ApiPost {
        client_ip: String,
        uri: String,
        app_definition: Box<crate::model::AppDefinition>,
    },
    #[serde(rename = "status_update_event", rename_all = "camelCase")]
    StatusUpdate {
        slave_id: String,
        task_id: String,
        task_status: String,
        message: String,
        app_id: PathId,
        host: String,
        ip_addresses: Vec<IpAddress>,
        ports: Vec<u32>,
        version: Timestamp,
    },
    #[serde(rename = "instance_changed_event", rename_all = "camelCase")]
    InstanceChanged {
        instance_id: String,
        condition: String,
        run_spec_id: PathId,
        agent_id: String,
        host: String,
        run_spec_version: Timestamp,
    },
    #[serde(rename = "unknown_instance_terminated_event", rename_all = "camelCase")]
    UnknownInstanceTerminated {
        instance_id: String,
        run_spec_id: PathId,
        condition: String,
    },
    #[serde(rename = "instance_health_changed_event", rename_all = "camelCase")]
    InstanceHealthChanged {
        instance_id: String,
        run_spec_id: PathId,
        run_spec_version: Timestamp,
        healthy: Option<bool>,
    },
    #[serde(rename = "add_health_check_event", rename_all = "camelCase")]
    AddHealthCheck {
        app_id: PathId,
        version: Timestamp,
        health_check: HealthCheck,
    },
    #[serde(rename = "remove_health_check_event", rename_all = "camelCase")]
    RemoveHealthCheck { app_id: PathId },
    #[serde(rename = "failed_health_check_event", rename_all = "camelCase")]
    FailedHealthCheck {
        app_id: PathId,
        instance_id: String,
        health_check: HealthCheck,
    },
    #[serde(rename = "health_status_changed_event", rename_all = "camelCase")]
    HealthStatusChanged {
        app_id: PathId,
        instance_id: String,
        version: Timestamp,
        alive: bool,
    },
    #[serde(rename = "unhealthy_instance_kill_event", rename_all = "camelCase")]
    UnhealthyInstanceKill {
        app_id: PathId,
        task_id: String,
        instance_id: String,
        version: Timestamp,
        reason: String,
        host: String,
        slave_id: Option<String>,
    },
    #[serde(rename = "group_change_success", rename_all = "camelCase")]
    GroupChangeSuccess {
        group_id: PathId,
        version: Timestamp,
    },
    #[serde(rename = "group_change_failed", rename_all = "camelCase")]
    GroupChangeFailed {
        group_id: PathId,
        version: Timestamp,
        reason: String,
    },
    #[serde(rename = "deployment_info", rename_all = "camelCase")]
    DeploymentInfo {
        plan: PlanEvent,
        current_step: DeploymentStep,
    },
    #[serde(rename = "deployment_success", rename_all = "camelCase")]
    DeploymentSuccess { id: String, plan: PlanEvent },
    #[serde(rename = "deployment_failed", rename_all = "camelCase")]
    DeploymentFailed {
        id: String,
        plan: PlanEvent,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "deployment_step_success", rename_all = "camelCase")]
    DeploymentStepSuccess {
        plan: PlanEvent,
        current_step: DeploymentStep,
    },
    #[serde(rename = "deployment_step_failure", rename_all = "camelCase")]
    DeploymentStepFailure {
        plan: PlanEvent,
        current_step: DeploymentStep,
    },
    #[serde(rename = "app_terminated_event", rename_all = "camelCase")]
    AppTerminated { app_id: PathId },
    #[serde(rename = "framework_message_event", rename_all = "camelCase")]
    FrameworkMessage {
        slave_id: String,
        executor_id: String,
        message: String,
    },
    #[serde(rename = "scheduler_registered_event", rename_all = "camelCase")]
    SchedulerRegistered {
        framework_id: String,
        master: String,
    },
    #[serde(rename = "scheduler_reregistered_event", rename_all = "camelCase")]
    SchedulerReregistered { master: String },
    #[serde(rename = "scheduler_disconnected_event")]
    SchedulerDisconnected {},
}

impl MarathonEvent {
    /// The `eventType` string.
    pub fn event_type(&self) -> &'static str {
        use MarathonEvent::*;
        match self {
            EventStreamAttached { .. } => "event_stream_attached",
            EventStreamDetached { .. } => "event_stream_detached",
            ApiPost { .. } => "api_post_event",
            StatusUpdate { .. } => "status_update_event",
            InstanceChanged { .. } => "instance_changed_event",
            UnknownInstanceTerminated { .. } => "unknown_instance_terminated_event",
            InstanceHealthChanged { .. } => "instance_health_changed_event",
            AddHealthCheck { .. } => "add_health_check_event",
            RemoveHealthCheck { .. } => "remove_health_check_event",
            FailedHealthCheck { .. } => "failed_health_check_event",
            HealthStatusChanged { .. } => "health_status_changed_event",
            UnhealthyInstanceKill { .. } => "unhealthy_instance_kill_event",
            GroupChangeSuccess { .. } => "group_change_success",
            GroupChangeFailed { .. } => "group_change_failed",
            DeploymentInfo { .. } => "deployment_info",
            DeploymentSuccess { .. } => "deployment_success",
            DeploymentFailed { .. } => "deployment_failed",
            DeploymentStepSuccess { .. } => "deployment_step_success",
            DeploymentStepFailure { .. } => "deployment_step_failure",
            AppTerminated { .. } => "app_terminated_event",
            FrameworkMessage { .. } => "framework_message_event",
            SchedulerRegistered { .. } => "scheduler_registered_event",
            SchedulerReregistered { .. } => "scheduler_reregistered_event",
            SchedulerDisconnected {} => "scheduler_disconnected_event",
        }
    }

    /// Types that marathon-python 0.13.0 does not know: an unknown `eventType` ends its
    /// stream, so these go only to clients that ask for them with `event_type=`.
    pub fn only_when_asked(event_type: &str) -> bool {
        event_type.starts_with("scheduler_")
    }

    /// The JSON payload: the event's fields plus `eventType` and `timestamp`.
    pub fn to_json(&self, timestamp: Timestamp) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(flatten)]
            event: &'a MarathonEvent,
            timestamp: Timestamp,
        }
        serde_json::to_string(&Envelope {
            event: self,
            timestamp,
        })
        .unwrap_or_else(|e| {
            format!(
                "{{\"eventType\":\"{}\",\"error\":{:?}}}",
                self.event_type(),
                e.to_string()
            )
        })
    }
}

/// One serialized event, shared by every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub event_type: &'static str,
    pub data: String,
}

/// Fan-out of events to `/v2/events` subscribers. A subscriber that falls more than
/// `capacity` events behind skips the oldest ones (SSE is cache invalidation, per Marathon's
/// docs) instead of slowing everyone down.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Frame>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }

    /// Publishes an event stamped `now`. Serialized only if someone listens.
    pub fn publish(&self, event: &MarathonEvent, now: Timestamp) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let frame = Frame {
            event_type: event.event_type(),
            data: event.to_json(now),
        };
        let _ = self.tx.send(Arc::new(frame));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn plan() -> PlanEvent {
        let t = Timestamp::from_millis(1);
        PlanEvent {
            id: "d1".into(),
            version: t,
            steps: vec![],
            original: Arc::new(Group::empty_root(t)),
            target: Arc::new(Group::empty_root(t)),
        }
    }

    #[test]
    fn payloads_have_event_type_timestamp_and_camel_case_fields() {
        let e = MarathonEvent::StatusUpdate {
            slave_id: "s1".into(),
            task_id: "t1".into(),
            task_status: "TASK_RUNNING".into(),
            message: String::new(),
            app_id: PathId::parse("/a"),
            host: "h".into(),
            ip_addresses: vec![IpAddress {
                ip_address: "10.0.0.1".into(),
                protocol: "IPv4".into(),
            }],
            ports: vec![31000],
            version: Timestamp::from_millis(5),
        };
        let v: Value = serde_json::from_str(&e.to_json(Timestamp::from_millis(7))).unwrap();
        assert_eq!(v["eventType"], "status_update_event");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.007Z");
        assert_eq!(v["taskStatus"], "TASK_RUNNING");
        assert_eq!(v["appId"], "/a");
        assert_eq!(v["ipAddresses"][0]["ipAddress"], "10.0.0.1");
        assert_eq!(e.event_type(), "status_update_event");
    }

    #[test]
    fn deployment_events_carry_heavy_plans() {
        let e = MarathonEvent::DeploymentSuccess {
            id: "d1".into(),
            plan: plan(),
        };
        let v: Value = serde_json::from_str(&e.to_json(Timestamp::from_millis(1))).unwrap();
        assert_eq!(v["eventType"], "deployment_success");
        assert_eq!(v["plan"]["original"]["id"], "/");
        assert_eq!(v["plan"]["target"]["apps"], serde_json::json!([]));
        let e = MarathonEvent::DeploymentInfo {
            plan: plan(),
            current_step: DeploymentStep::default(),
        };
        let v: Value = serde_json::from_str(&e.to_json(Timestamp::from_millis(1))).unwrap();
        assert_eq!(v["currentStep"]["actions"], serde_json::json!([]));
        let v: Value =
            serde_json::from_str(&MarathonEvent::SchedulerDisconnected {}.to_json(Timestamp::ZERO))
                .unwrap();
        assert_eq!(v["eventType"], "scheduler_disconnected_event");
    }

    #[tokio::test]
    async fn bus_delivers_to_every_subscriber() {
        let bus = EventBus::new(8);
        bus.publish(
            &MarathonEvent::AppTerminated {
                app_id: PathId::parse("/x"),
            },
            Timestamp::ZERO,
        );
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(
            &MarathonEvent::AppTerminated {
                app_id: PathId::parse("/y"),
            },
            Timestamp::ZERO,
        );
        for rx in [&mut a, &mut b] {
            let f = rx.recv().await.unwrap();
            assert_eq!(f.event_type, "app_terminated_event");
            assert!(f.data.contains("\"/y\""));
        }
        assert_eq!(bus.subscriber_count(), 2);
    }
}
