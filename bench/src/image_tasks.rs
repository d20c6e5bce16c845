//! MESOS-container tasks that run from an image, and the warm-up launch
//! that pulls the image into the agent's store before anything is timed.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use serde_json::{json, Value};

/// A command task running `cmd` in a MESOS container from `image`.
pub fn image_task(id: &str, offer: &Value, image: &str, cmd: &str, cpus: f64, mem: f64) -> Value {
    let mut t = command_task(id, offer, cmd, cpus, mem);
    // `sleep` as PID 1 of its namespace ignores SIGTERM: keep kills short.
    t["kill_policy"] = json!({"grace_period": {"nanoseconds": 100_000_000}});
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}
    });
    t
}

/// Launches the task `warm` (`true` from `image`) on the next offer and
/// waits until it has finished: the first launch pulls the image.
pub fn warm_up(s: &mut Scheduler, image: &str, cpus: f64, mem: f64) {
    let offer = s.next_offer(Duration::from_secs(30));
    s.launch(
        &offer,
        vec![image_task("warm", &offer, image, "true", cpus, mem)],
    );
    s.wait_state("warm", "TASK_FINISHED", Duration::from_secs(120));
}
