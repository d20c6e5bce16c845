//! Health and readiness probes the framework runs against its tasks: HTTP,
//! HTTPS, TCP and COMMAND checks (and their MESOS_* forms, which the agent
//! does not run), with the check's timeout and Marathon's pass rules. The
//! core decides when to probe and what a result means; this module only
//! performs probes.

pub mod probe;

pub use probe::{run_probe, ProbeClient, ProbeReport};
