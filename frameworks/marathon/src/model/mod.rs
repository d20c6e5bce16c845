//! Marathon's data model: app definitions with every field and default, path ids, the group
//! tree, timestamps/versions, constraints, health and readiness checks, containers, and the
//! JSON views (AppInfo, tasks, deployments, queue) the API answers with.

mod app;
mod checks;
mod constraint;
mod container;
mod group;
mod path_id;
mod time;
mod update;
mod views;

pub use app::{
    AppDefinition, EnvValue, FetchUri, KillSelection, PortDefinition, UnreachableStrategy,
    UpgradeStrategy, VersionInfo, SERVICE_PORT_MAX, SERVICE_PORT_MIN,
};
pub use checks::{
    CommandCheck, HealthCheck, HealthResult, Labels, ReadinessCheck, ReadinessCheckResult,
    ReadinessResponse, HEALTH_PROTOCOLS,
};
pub use constraint::{
    messages as constraint_messages, Constraint, ConstraintOperator, ParsedConstraint,
};
pub use container::{Container, DockerContainer, DockerParameter, Network, PortMapping, Volume};
pub use group::{Group, GroupView, PortsExhausted};
pub use path_id::{segment_is_valid, PathId, RESERVED_SEGMENTS, SEGMENT_PATTERN};
pub use time::{BadTimestamp, Timestamp};
pub use update::{is_version_rollback, merge_app_update};
pub use views::{
    AppEmbed, AppInfo, AppStatus, CurrentAction, DeploymentAction, DeploymentRef, DeploymentResult,
    DeploymentStep, DeploymentView, IpAddress, KillOutcome, ProcessedOffersSummary, QueueDelay,
    QueueItem, RejectSummary, TaskFailure, TaskView, UnusedOffer,
};

#[cfg(test)]
mod tests;
