//! Launch timing, for profiling: with `PADDOCK_LAUNCH_TRACE=1` in the
//! environment, each stage of an image task's launch (agent, executor,
//! init) prints `paddock-trace <unix µs> <pid> <stage>` to stderr (the
//! sandbox's `stderr` for the executor and init). Off, it costs one
//! cached environment lookup.

use std::sync::OnceLock;

/// The variable that turns the trace on; the agent and the executor pass it on.
pub const ENV: &str = "PADDOCK_LAUNCH_TRACE";

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(ENV).is_some_and(|v| v == "1"))
}

/// Prints one trace line for `stage` when the trace is on.
pub fn stage(stage: &str) {
    if enabled() {
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        eprintln!("paddock-trace {us} {} {stage}", std::process::id());
    }
}
