//! Offer matching: constraints, host ports, resources, and the Mesos
//! `TaskInfo` an instance is launched with.

pub mod constraints;
pub mod matcher;
pub mod ports;
pub mod task_info;
