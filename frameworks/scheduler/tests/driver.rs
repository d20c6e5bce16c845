//! The driver against a real master and agent: subscribe, launch a command
//! task on an offer, follow its updates, acknowledge, reconcile and kill.

use std::time::Duration;

use paddock_proto::mesos::{
    CommandInfo, FrameworkInfo, Offer, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use paddock_scheduler::{Driver, DriverConfig, DriverEvent};
use paddock_tests::Cluster;
use tokio::sync::mpsc::UnboundedReceiver;

async fn next_matching<T>(
    rx: &mut UnboundedReceiver<DriverEvent>,
    what: &str,
    mut f: impl FnMut(DriverEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = f(e) {
                    return t;
                }
            }
            Ok(None) => panic!("the driver's event channel closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

fn scalar(name: &str, value: f64) -> Resource {
    serde_json::from_value(serde_json::json!({
        "name": name, "type": "SCALAR", "scalar": {"value": value}
    }))
    .unwrap()
}

/// Acknowledges `task`'s updates until one in `state` arrives.
async fn update_for(
    driver: &Driver,
    rx: &mut UnboundedReceiver<DriverEvent>,
    task: &str,
    state: TaskState,
) -> TaskStatus {
    loop {
        let s = next_matching(rx, &format!("{task} {state:?}"), |e| match e {
            DriverEvent::Update(s) if s.task_id.value == task => Some(s),
            _ => None,
        })
        .await;
        driver.acknowledge(&s).await.unwrap();
        if s.state == state {
            return s;
        }
        assert!(
            !s.state.is_terminal(),
            "{task} ended {:?} ({:?}) before {state:?}",
            s.state,
            s.message
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribes_launches_acknowledges_reconciles_and_kills() {
    let cluster = tokio::task::spawn_blocking(|| {
        let mut c = Cluster::master(&[]);
        c.add_agent("cpus:2;mem:512;disk:100;ports:[31000-31004]", &[]);
        c
    })
    .await
    .unwrap();
    let (driver, mut rx) = Driver::start(DriverConfig {
        master: format!("127.0.0.1:{}", cluster.master_port),
        framework: FrameworkInfo {
            user: "root".into(),
            name: "driver-test".into(),
            failover_timeout: Some(60.0),
            ..Default::default()
        },
    });
    let id = next_matching(&mut rx, "SUBSCRIBED", |e| match e {
        DriverEvent::Subscribed { framework_id } => Some(framework_id),
        _ => None,
    })
    .await;
    assert_eq!(driver.framework_id(), Some(id));
    assert!(driver.is_subscribed());

    let offer: Offer = next_matching(&mut rx, "an offer", |e| match e {
        DriverEvent::Offers(mut o) if !o.is_empty() => Some(o.remove(0)),
        _ => None,
    })
    .await;
    let task = TaskInfo {
        name: "sleeper".into(),
        task_id: TaskId::new("sleeper-1"),
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        command: Some(CommandInfo {
            value: Some("exec sleep 60".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    driver
        .launch(vec![offer.id.clone()], vec![task], Some(5.0))
        .await
        .unwrap();
    let running = update_for(&driver, &mut rx, "sleeper-1", TaskState::TaskRunning).await;
    assert!(running.agent_id.is_some());

    // Explicit reconciliation answers with the latest state, without a uuid.
    driver
        .reconcile(vec![(TaskId::new("sleeper-1"), None)])
        .await
        .unwrap();
    let reconciled = next_matching(&mut rx, "a reconciliation update", |e| match e {
        DriverEvent::Update(s) if s.task_id.value == "sleeper-1" && s.uuid.is_none() => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(reconciled.state, TaskState::TaskRunning);

    driver
        .kill(TaskId::new("sleeper-1"), running.agent_id.clone(), None)
        .await
        .unwrap();
    let killed = update_for(&driver, &mut rx, "sleeper-1", TaskState::TaskKilled).await;
    assert_eq!(killed.state, TaskState::TaskKilled);

    // A restarted master: the driver notices, re-subscribes with the same
    // framework id, and calls work again on the new stream.
    let old_stream = driver.framework_id();
    let cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.restart_master();
        cluster
    })
    .await
    .unwrap();
    next_matching(&mut rx, "DISCONNECTED", |e| {
        matches!(e, DriverEvent::Disconnected).then_some(())
    })
    .await;
    let again = next_matching(&mut rx, "SUBSCRIBED again", |e| match e {
        DriverEvent::Subscribed { framework_id } => Some(framework_id),
        _ => None,
    })
    .await;
    assert_eq!(Some(again), old_stream);
    driver.revive().await.unwrap();

    driver.stop();
    assert!(matches!(
        driver.suppress().await,
        Err(paddock_scheduler::DriverError::Stopped)
    ));
    tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        for a in &mut cluster.agents {
            a.proc.kill9();
        }
        drop(cluster);
    })
    .await
    .unwrap();
}
