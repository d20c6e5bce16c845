use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::validate::{validate, Endpoint};

fn ms(s: &str) -> Millis {
    to_millis(s.parse().unwrap())
}

const T0: &str = "2026-01-15T12:00:00Z";

/// What survived on disk: the store's contents, as a map.
#[derive(Default, Clone)]
struct Disk {
    jobs: BTreeMap<String, JobRecord>,
    runs: BTreeMap<RunKey, Run>,
}

impl Disk {
    fn apply(&mut self, c: Changes) {
        for n in c.delete_jobs {
            self.jobs.remove(&n);
        }
        for k in c.delete_runs {
            self.runs.remove(&k);
        }
        for j in c.put_jobs {
            self.jobs.insert(j.job.name.clone(), j);
        }
        for r in c.put_runs {
            self.runs.insert(r.key(), r);
        }
    }
    fn restore(&self) -> Core {
        Core::restore(
            self.jobs.values().cloned().collect(),
            self.runs.values().cloned().collect(),
        )
    }
}

fn put(core: &mut Core, body: &str, now: Millis) {
    let input = Job::parse(body.as_bytes()).unwrap();
    let mut job = input.job;
    let endpoint = if job.parents.is_some() {
        Endpoint::Dependency
    } else {
        Endpoint::Iso8601
    };
    validate(&mut job, endpoint, &core.job_map(), from_millis(now)).unwrap();
    core.put_job(job, &input.counters_given, now);
}

fn launch_all(core: &mut Core, now: Millis) -> Vec<(RunKey, String)> {
    let mut out = Vec::new();
    for k in core.launchable(now) {
        let tid = core.next_task_id(&k).unwrap();
        assert!(core.mark_launched(&k, &tid, "agent-1", Sandbox::default(), now));
        out.push((k, tid));
    }
    out
}

fn update(core: &mut Core, tid: &str, state: &str, now: Millis) -> bool {
    core.task_update(
        &TaskUpdate {
            task_id: tid.to_string(),
            state: state.to_string(),
            message: None,
            reason: None,
            agent_id: None,
            executor_id: None,
            container_id: None,
            timestamp: None,
        },
        now,
    )
}

fn states(core: &Core, job: &str) -> Vec<RunState> {
    core.runs_of(job).iter().map(|r| r.state).collect()
}

#[test]
fn hourly_job_runs_each_slot_once() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"h","command":"true","schedule":"R/2026-01-15T13:00:00Z/PT1H"}"#,
        t0,
    );
    assert!(core.runs_of("h").is_empty());
    assert_eq!(core.next_wake(t0), Some(ms("2026-01-15T13:00:00Z")));
    let t1 = ms("2026-01-15T13:00:00Z");
    core.tick(t1);
    let launched = launch_all(&mut core, t1);
    assert_eq!(launched.len(), 1);
    assert_eq!(launched[0].1, format!("ct:{t1}:0:h"));
    assert!(update(&mut core, &launched[0].1, "TASK_RUNNING", t1 + 10));
    assert!(update(&mut core, &launched[0].1, "TASK_FINISHED", t1 + 500));
    core.tick(t1 + 1000);
    assert!(launch_all(&mut core, t1 + 1000).is_empty());
    let job = core.job("h").unwrap();
    assert_eq!(job.success_count, 1);
    assert_eq!(job.last_success, "2026-01-15T13:00:00.500Z");
    assert_eq!(states(&core, "h"), vec![RunState::Succeeded]);
    assert_eq!(core.next_wake(t1 + 1000), Some(ms("2026-01-15T14:00:00Z")));
    let r = &core.runs_of("h")[0];
    assert_eq!(r.running, Some(t1 + 10));
    assert_eq!(r.duration_secs(), Some(0.49));
}

#[test]
fn rn_counts_down_and_r0_never_runs() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"r","schedule":"R2/2026-01-15T13:00:00Z/PT1H"}"#,
        t0,
    );
    put(
        &mut core,
        r#"{"name":"z","schedule":"R0/2014-01-01T00:00:00Z/PT60M"}"#,
        t0,
    );
    for h in ["13", "14", "15", "16"] {
        let t = ms(&format!("2026-01-15T{h}:00:00Z"));
        core.tick(t);
        for (_, tid) in launch_all(&mut core, t) {
            update(&mut core, &tid, "TASK_FINISHED", t + 1);
        }
    }
    assert_eq!(core.runs_of("r").len(), 2);
    assert_eq!(
        core.job("r").unwrap().schedule.as_deref(),
        Some("R0/2026-01-15T13:00:00.000Z/PT1H")
    );
    assert_eq!(core.next_slot("r"), None);
    assert!(core.runs_of("z").is_empty());
    assert_eq!(core.next_slot("z"), None);
}

#[test]
fn empty_start_runs_now_and_past_start_runs_once_then_keeps_grid() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(&mut core, r#"{"name":"now","schedule":"R//PT1H"}"#, t0);
    assert_eq!(core.launchable(t0).len(), 1);
    // Started in 2014, hourly: one run at once (the 12:00 slot), then 13:00.
    put(
        &mut core,
        r#"{"name":"past","schedule":"R/2014-01-01T00:30:00Z/PT1H"}"#,
        t0,
    );
    let runs = core.runs_of("past");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].scheduled, ms("2026-01-15T11:30:00Z"));
    // It is not skipped for being old: it was queued just now.
    core.tick(t0 + 30_000);
    assert_eq!(states(&core, "past"), vec![RunState::Pending]);
    assert_eq!(core.next_slot("past"), Some(ms("2026-01-15T12:30:00Z")));
    // A cron job waits for its next match.
    put(
        &mut core,
        r#"{"name":"cron","schedule":"0 * * * *"}"#,
        t0 + 1,
    );
    assert!(core.runs_of("cron").is_empty());
    assert_eq!(core.next_slot("cron"), Some(ms("2026-01-15T13:00:00Z")));
}

#[test]
fn missed_runs_within_epsilon_run_others_are_skipped() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"m","schedule":"R/2026-01-15T12:01:00Z/PT1M"}"#,
        t0,
    );
    // Down from 12:00 to 12:05:30: slots 12:01..12:05 missed; 12:05 is 30 s
    // late, within the 60 s epsilon.
    let t = ms("2026-01-15T12:05:30Z");
    core.tick(t);
    let runs = core.runs_of("m");
    assert_eq!(runs.len(), 5);
    assert!(runs[..4]
        .iter()
        .all(|r| r.state == RunState::Skipped && r.message.as_deref().unwrap().contains("missed")));
    assert_eq!(runs[4].state, RunState::Pending);
    assert_eq!(runs[4].scheduled, ms("2026-01-15T12:05:00Z"));
    // Beyond the deadline: skipped with the reason.
    let mut core = Core::new();
    put(
        &mut core,
        r#"{"name":"m","schedule":"R/2026-01-15T12:01:00Z/PT10M","startingDeadlineSeconds":5}"#,
        t0,
    );
    core.tick(ms("2026-01-15T12:01:30Z"));
    let runs = core.runs_of("m");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, RunState::Skipped);
    assert!(
        runs[0]
            .message
            .as_deref()
            .unwrap()
            .contains("starting deadline"),
        "{:?}",
        runs[0].message
    );
    assert!(core.launchable(ms("2026-01-15T12:01:30Z")).is_empty());
}

#[test]
fn long_downtime_records_a_bounded_number_of_skips() {
    let mut core = Core::new();
    put(
        &mut core,
        r#"{"name":"s","schedule":"R/2026-01-15T12:00:01Z/PT1S"}"#,
        ms(T0),
    );
    core.tick(ms("2026-01-16T12:00:00Z"));
    let runs = core.runs_of("s");
    assert!(runs.len() <= MISSED_RECORD_CAP + 1);
    assert!(runs[0]
        .message
        .as_deref()
        .unwrap()
        .contains("older missed slots"));
    assert_eq!(runs.last().unwrap().state, RunState::Pending);
}

#[test]
fn forbid_waits_then_skips_allow_overlaps_replace_kills() {
    let t0 = ms("2026-01-15T12:01:00Z");
    for (policy, expect) in [("FORBID", 1), ("ALLOW", 2), ("REPLACE", 2)] {
        let mut core = Core::new();
        put(
            &mut core,
            &format!(
                r#"{{"name":"p","schedule":"R/2026-01-15T12:01:00Z/PT1M","concurrencyPolicy":"{policy}"}}"#
            ),
            t0 - 1000,
        );
        core.tick(t0);
        let first = launch_all(&mut core, t0);
        update(&mut core, &first[0].1, "TASK_RUNNING", t0 + 5);
        core.tick(t0 + 60_000);
        let second = launch_all(&mut core, t0 + 60_000);
        assert_eq!(first.len() + second.len(), expect, "{policy}");
        let effects = core.take_effects();
        if policy == "REPLACE" {
            assert_eq!(
                effects,
                vec![Effect::Kill {
                    task_id: first[0].1.clone(),
                    agent_id: Some("agent-1".into())
                }]
            );
            update(&mut core, &first[0].1, "TASK_KILLED", t0 + 60_100);
            // Killed on request: not retried.
            assert_eq!(core.runs_of("p")[0].state, RunState::Killed);
            assert!(core.launchable(t0 + 200_000).is_empty() || core.runs_of("p").len() > 2);
        } else {
            assert!(effects.is_empty());
        }
        if policy == "FORBID" {
            // Waiting past its 60 s deadline: skipped.
            core.tick(t0 + 60_000 + 61_000);
            assert_eq!(core.runs_of("p")[1].state, RunState::Skipped);
        }
    }
}

#[test]
fn retries_back_off_exponentially_then_fail() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"f","schedule":"R1//PT1H","retries":2}"#,
        t0,
    );
    let l = launch_all(&mut core, t0);
    update(&mut core, &l[0].1, "TASK_FAILED", t0 + 100);
    let r = core.runs_of("f")[0].clone();
    assert_eq!(
        (r.state, r.attempt, r.not_before),
        (RunState::Pending, 1, Some(t0 + 100 + 10_000))
    );
    assert!(core.launchable(t0 + 5_000).is_empty());
    assert_eq!(core.next_wake(t0 + 200), Some(t0 + 10_100));
    let l = launch_all(&mut core, t0 + 10_100);
    assert_eq!(l[0].1, format!("ct:{t0}:1:f"));
    update(&mut core, &l[0].1, "TASK_LOST", t0 + 10_200);
    assert_eq!(core.runs_of("f")[0].not_before, Some(t0 + 10_200 + 20_000));
    let l = launch_all(&mut core, t0 + 30_200);
    update(&mut core, &l[0].1, "TASK_FAILED", t0 + 30_300);
    let r = &core.runs_of("f")[0];
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(r.attempts.len(), 2);
    let job = core.job("f").unwrap();
    assert_eq!((job.error_count, job.errors_since_last_success), (1, 1));
    assert!(!job.last_error.is_empty());
}

#[test]
fn a_job_disabled_while_it_runs_is_not_retried() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"f","schedule":"R1//PT1H","retries":2}"#,
        t0,
    );
    let l = launch_all(&mut core, t0);
    put(
        &mut core,
        r#"{"name":"f","schedule":"R1//PT1H","retries":2,"disabled":true}"#,
        t0 + 50,
    );
    update(&mut core, &l[0].1, "TASK_LOST", t0 + 100);
    let r = &core.runs_of("f")[0];
    assert_eq!((r.state, r.attempt), (RunState::Failed, 0));
    assert!(core.live_runs().next().is_none(), "nothing left waiting");
}

#[test]
fn dependent_runs_after_all_parents_and_counters_survive_restart() {
    let mut core = Core::new();
    let mut disk = Disk::default();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"a","schedule":"R/2026-01-15T13:00:00Z/PT1H"}"#,
        t0,
    );
    put(
        &mut core,
        r#"{"name":"b","schedule":"R/2026-01-15T13:00:00Z/PT1H","softError":true,"retries":0}"#,
        t0,
    );
    put(&mut core, r#"{"name":"c","parents":["a","b"]}"#, t0);
    let t1 = ms("2026-01-15T13:00:00Z");
    core.tick(t1);
    let l: HashMap<String, String> = launch_all(&mut core, t1)
        .into_iter()
        .map(|(k, t)| (k.job, t))
        .collect();
    update(&mut core, &l["a"], "TASK_FINISHED", t1 + 10);
    assert!(core.runs_of("c").is_empty());
    assert_eq!(
        core.job_state("c").unwrap().parent_successes.get("a"),
        Some(&1)
    );
    disk.apply(core.take_changes());
    let mut core = disk.restore();
    // b fails, but softError counts it as done.
    update(&mut core, &l["b"], "TASK_FAILED", t1 + 20);
    let c = core.runs_of("c");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, RunKind::Dependency);
    assert!(core.job_state("c").unwrap().parent_successes.is_empty());
    // Mark-success of a single parent does not fire c alone.
    core.mark_success("a", t1 + 30).unwrap();
    assert_eq!(core.runs_of("c").len(), 1);
    core.mark_success("b", t1 + 40).unwrap();
    assert_eq!(core.runs_of("c").len(), 2);
}

#[test]
fn deleting_parents_rewires_children() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"a","schedule":"R/2026-01-15T13:00:00Z/PT1H","scheduleTimeZone":"Europe/Berlin"}"#,
        t0,
    );
    put(&mut core, r#"{"name":"b","parents":["a"]}"#, t0);
    put(&mut core, r#"{"name":"c","parents":["b"]}"#, t0);
    // Deleting dependent b: c inherits b's parents.
    core.delete_job("b", t0).unwrap();
    assert_eq!(core.job("c").unwrap().parents, Some(vec!["a".to_string()]));
    // Deleting scheduled a: c becomes scheduled with a's schedule.
    core.delete_job("a", t0).unwrap();
    let c = core.job("c").unwrap();
    assert_eq!(c.parents, None);
    assert_eq!(c.schedule.as_deref(), Some("R/2026-01-15T13:00:00Z/PT1H"));
    assert_eq!(c.schedule_time_zone, "Europe/Berlin");
    assert!(core.next_slot("c").is_some());
    assert_eq!(
        core.delete_job("a", t0),
        Err(CoreError::UnknownJob("a".into()))
    );
    let ch = core.take_changes();
    assert!(ch.delete_jobs.contains(&"a".to_string()) && ch.delete_jobs.contains(&"b".to_string()));
}

#[test]
fn run_now_dedupes_and_respects_disabled() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"x","schedule":"R/2026-02-01T00:00:00Z/P1D"}"#,
        t0,
    );
    assert_eq!(core.run_now("x", vec!["--fast".into()], t0), Ok(true));
    assert_eq!(core.run_now("x", vec![], t0), Ok(false));
    let l = launch_all(&mut core, t0);
    assert_eq!(l[0].1, format!("ct:{t0}:0:x:--fast"));
    assert_eq!(core.run_now("x", vec![], t0), Ok(true));
    assert_eq!(core.runs_of("x").len(), 2);
    assert_ne!(
        core.runs_of("x")[0].scheduled,
        core.runs_of("x")[1].scheduled
    );
    put(
        &mut core,
        r#"{"name":"d","schedule":"@daily","disabled":true}"#,
        t0,
    );
    core.run_now("d", vec![], t0).unwrap();
    assert_eq!(states(&core, "d"), vec![RunState::Skipped]);
    assert_eq!(
        core.run_now("nope", vec![], t0),
        Err(CoreError::UnknownJob("nope".into()))
    );
}

#[test]
fn disabling_a_job_drops_its_waiting_runs() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"d","schedule":"R/2026-01-15T12:00:00Z/PT1H"}"#,
        t0,
    );
    assert_eq!(states(&core, "d"), vec![RunState::Pending]);
    put(
        &mut core,
        r#"{"name":"d","schedule":"R/2026-01-15T12:00:00Z/PT1H","disabled":true}"#,
        t0 + 1,
    );
    assert_eq!(states(&core, "d"), vec![RunState::Skipped]);
    assert!(core.launchable(t0 + 2).is_empty());
    assert_eq!(core.next_slot("d"), None);
    // Switched back on hours later: the slots it was off are not "missed".
    let later = ms("2026-01-15T15:30:00Z");
    put(
        &mut core,
        r#"{"name":"d","schedule":"R/2026-01-15T12:00:00Z/PT1H"}"#,
        later,
    );
    core.tick(later);
    assert_eq!(core.runs_of("d").len(), 1);
    assert_eq!(core.next_slot("d"), Some(ms("2026-01-15T16:00:00Z")));
}

#[test]
fn max_completion_time_kills_and_retries() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"slow","schedule":"R1//PT1H","maxCompletionTime":30,"retries":1}"#,
        t0,
    );
    let l = launch_all(&mut core, t0);
    update(&mut core, &l[0].1, "TASK_RUNNING", t0 + 10);
    assert_eq!(core.next_wake(t0 + 20), Some(t0 + 30_000));
    core.tick(t0 + 30_000);
    assert_eq!(core.take_effects().len(), 1);
    update(&mut core, &l[0].1, "TASK_KILLED", t0 + 30_100);
    let r = &core.runs_of("slow")[0];
    assert_eq!((r.state, r.attempt), (RunState::Pending, 1));
}

#[test]
fn a_task_stuck_in_staging_is_killed_then_counted_as_lost() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"s","schedule":"R1//PT1H","retries":1,"retryBackoffSeconds":1}"#,
        t0,
    );
    let l = launch_all(&mut core, t0);
    assert_eq!(core.next_wake(t0 + 1), Some(t0 + DEFAULT_STAGING_TIMEOUT));
    core.tick(t0 + DEFAULT_STAGING_TIMEOUT);
    assert_eq!(
        core.take_effects(),
        vec![Effect::Kill {
            task_id: l[0].1.clone(),
            agent_id: Some("agent-1".into())
        }]
    );
    // The kill gets no answer either: the attempt is lost and retried.
    core.tick(t0 + 2 * DEFAULT_STAGING_TIMEOUT);
    let r = &core.runs_of("s")[0];
    assert_eq!((r.state, r.attempt), (RunState::Pending, 1));
    assert!(core.active_runs().is_empty());
    // A late update for the old attempt changes nothing.
    assert!(!update(
        &mut core,
        &l[0].1,
        "TASK_FINISHED",
        t0 + 2 * DEFAULT_STAGING_TIMEOUT + 5
    ));
    assert_eq!(core.job("s").unwrap().success_count, 0);
}

#[test]
fn task_kill_cancels_and_kills() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"k","schedule":"R1//PT1H","concurrent":true,"retries":5}"#,
        t0,
    );
    let l = launch_all(&mut core, t0);
    core.run_now("k", vec![], t0 + 1).unwrap();
    assert_eq!(core.kill_tasks("k", t0 + 2), Ok(2));
    assert_eq!(core.take_effects().len(), 1);
    update(&mut core, &l[0].1, "TASK_KILLED", t0 + 3);
    assert_eq!(states(&core, "k"), vec![RunState::Killed, RunState::Killed]);
}

#[test]
fn history_is_bounded() {
    let mut core = Core::new();
    core.set_history_limit(3);
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"h","schedule":"R/2026-01-15T12:00:00Z/PT1M","concurrent":true}"#,
        t0,
    );
    let mut disk = Disk::default();
    for i in 0..6 {
        let t = t0 + i * 60_000;
        core.tick(t);
        for (_, tid) in launch_all(&mut core, t) {
            update(&mut core, &tid, "TASK_FINISHED", t + 1);
        }
        disk.apply(core.take_changes());
    }
    assert_eq!(disk.runs.len(), 3);
    assert_eq!(disk.runs.keys().next().unwrap().scheduled, t0 + 3 * 60_000);
    // Memory keeps only the newest finished runs.
    assert_eq!(core.runs_of("h").len(), DEFAULT_MEMORY_HISTORY);
    assert_eq!(core.runs_of("h").last().unwrap().scheduled, t0 + 5 * 60_000);
}

#[test]
fn memory_keeps_the_newest_finished_runs_the_store_the_history() {
    let mut core = Core::new();
    core.set_history_limit(4);
    core.set_memory_history(2);
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"m","schedule":"R/2026-01-15T12:00:00Z/PT1M","concurrent":true}"#,
        t0,
    );
    let mut disk = Disk::default();
    for i in 0..7 {
        let t = t0 + i * 60_000;
        core.tick(t);
        for (_, tid) in launch_all(&mut core, t) {
            update(&mut core, &tid, "TASK_FINISHED", t + 1);
        }
        disk.apply(core.take_changes());
    }
    assert_eq!(core.runs_of("m").len(), 2);
    assert_eq!(disk.runs.len(), 4);
    assert_eq!(disk.runs.keys().next().unwrap().scheduled, t0 + 3 * 60_000);
    // A restart keeps the split; deleting the job clears the store.
    let mut core = disk.restore();
    core.set_memory_history(2);
    assert!(core.runs_of("m").len() <= DEFAULT_MEMORY_HISTORY);
    core.delete_job("m", t0).unwrap();
    disk.apply(core.take_changes());
    assert!(disk.runs.is_empty());
}

#[test]
fn updating_a_job_keeps_counters_unless_given_and_does_not_rerun() {
    let mut core = Core::new();
    let t0 = ms(T0);
    let body = r#"{"name":"u","schedule":"R/2026-01-15T12:00:00Z/PT1H"}"#;
    put(&mut core, body, t0);
    let l = launch_all(&mut core, t0);
    update(&mut core, &l[0].1, "TASK_FINISHED", t0 + 5);
    put(&mut core, body, t0 + 10);
    assert_eq!(core.job("u").unwrap().success_count, 1);
    assert_eq!(core.runs_of("u").len(), 1);
    put(
        &mut core,
        r#"{"name":"u","schedule":"R/2026-01-15T12:00:00Z/PT1H","successCount":0}"#,
        t0 + 20,
    );
    assert_eq!(core.job("u").unwrap().success_count, 0);
    assert!(core.launchable(t0 + 20).is_empty());
}

#[test]
fn restart_never_relaunches_a_launched_slot() {
    let mut core = Core::new();
    let mut disk = Disk::default();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"e","schedule":"R/2026-01-15T12:00:00Z/PT1H"}"#,
        t0,
    );
    disk.apply(core.take_changes());
    let l = launch_all(&mut core, t0);
    disk.apply(core.take_changes());
    let mut core = disk.restore();
    core.tick(t0 + 1000);
    assert!(core.launchable(t0 + 1000).is_empty());
    assert_eq!(core.active_runs().len(), 1);
    // The master never got it: reconciliation says LOST, the retry decides.
    update(&mut core, &l[0].1, "TASK_LOST", t0 + 2000);
    let r = &core.runs_of("e")[0];
    assert_eq!((r.state, r.attempt), (RunState::Pending, 1));
}

#[test]
fn exit_status_is_read_from_the_message() {
    assert_eq!(exit_status("Command exited with status 3"), Some(3));
    assert_eq!(exit_status("Command exited with status 0"), Some(0));
    assert_eq!(exit_status("killed"), None);
}

// ---------------------------------------------------------------- proptest

#[derive(Debug, Clone)]
enum Op {
    Advance(u32),
    Launch,
    LaunchThenCrash,
    Finish(usize, bool),
    Restart,
    CrashBeforePersist(u32),
    RunNow(usize),
    Repost(usize),
    MarkSuccess(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..200_000).prop_map(Op::Advance),
        4 => Just(Op::Launch),
        1 => Just(Op::LaunchThenCrash),
        4 => (0usize..8, any::<bool>()).prop_map(|(i, s)| Op::Finish(i, s)),
        2 => Just(Op::Restart),
        1 => (0u32..120_000).prop_map(Op::CrashBeforePersist),
        1 => (0usize..JOBS.len()).prop_map(Op::RunNow),
        1 => (0usize..JOBS.len()).prop_map(Op::Repost),
        1 => (0usize..JOBS.len()).prop_map(Op::MarkSuccess),
    ]
}

const JOBS: [&str; 5] = [
    r#"{"name":"j1","schedule":"R/2026-01-15T12:00:30Z/PT1M","retries":1,"retryBackoffSeconds":5}"#,
    r#"{"name":"j2","schedule":"* * * * *","concurrencyPolicy":"ALLOW","retries":0}"#,
    r#"{"name":"j3","parents":["j1"],"retries":2,"retryBackoffSeconds":1}"#,
    r#"{"name":"j4","schedule":"R5/2026-01-15T12:00:00Z/PT2M","concurrencyPolicy":"REPLACE","epsilon":"PT30S"}"#,
    r#"{"name":"j5","parents":["j2","j4"],"softError":true,"concurrent":true}"#,
];

struct World {
    core: Core,
    disk: Disk,
    now: Millis,
    /// Tasks the master knows and that have not ended.
    master: BTreeMap<String, RunKey>,
    /// (run, attempt) already sent to the master.
    sent: BTreeSet<(RunKey, u32)>,
    /// Runs whose outcome is final.
    finished: BTreeSet<RunKey>,
}

impl World {
    fn persist(&mut self) {
        let c = self.core.take_changes();
        self.disk.apply(c);
    }

    fn check_finals(&mut self) {
        for r in self.core.all_runs() {
            if r.state.is_terminal() {
                self.finished.insert(r.key());
            }
        }
    }

    fn effects(&mut self) -> Result<(), TestCaseError> {
        // Kills: the master kills the task at once.
        for e in self.core.take_effects() {
            let Effect::Kill { task_id, .. } = e;
            if self.master.remove(&task_id).is_some() {
                update(&mut self.core, &task_id, "TASK_KILLED", self.now);
            }
        }
        self.persist();
        self.check_finals();
        Ok(())
    }

    fn launch(&mut self, crash: bool) -> Result<(), TestCaseError> {
        for k in self.core.launchable(self.now) {
            let attempt = self.core.run(&k).map(|r| r.attempt).unwrap_or(0);
            let tid = self.core.next_task_id(&k).unwrap();
            prop_assert!(self
                .core
                .mark_launched(&k, &tid, "a1", Sandbox::default(), self.now));
            // Persist before sending.
            self.persist();
            if crash {
                return self.restart();
            }
            prop_assert!(
                !self.finished.contains(&k),
                "launched {:?} after it ended",
                k
            );
            prop_assert!(
                self.sent.insert((k.clone(), attempt)),
                "{:?} attempt {} sent twice",
                k,
                attempt
            );
            let retries = self.core.job(&k.job).map(|j| j.retries).unwrap_or(0);
            prop_assert!(i64::from(attempt) <= retries);
            let job = self.core.job(&k.job).unwrap();
            if job.policy() == ConcurrencyPolicy::Forbid {
                prop_assert!(
                    !self.master.values().any(|other| other.job == k.job),
                    "two runs of FORBID job {} at once",
                    k.job
                );
            }
            self.master.insert(tid, k);
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<(), TestCaseError> {
        self.core = self.disk.restore();
        // Reconcile: tasks the master does not know are lost.
        let unknown: Vec<String> = self
            .core
            .active_runs()
            .iter()
            .filter_map(|r| r.task_id.clone())
            .filter(|t| !self.master.contains_key(t))
            .collect();
        for t in unknown {
            update(&mut self.core, &t, "TASK_LOST", self.now);
        }
        self.persist();
        self.check_finals();
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The centerpiece: ticks, launches, crashes and restarts (from what was
    /// persisted), successes and failures never start one slot twice, never
    /// start a run that already ended, never retry past `retries`, and
    /// never run two runs of a FORBID job at once.
    #[test]
    fn never_starts_a_slot_twice(ops in proptest::collection::vec(op(), 1..80)) {
        let now = ms("2026-01-15T12:00:00Z");
        let mut w = World {
            core: Core::new(),
            disk: Disk::default(),
            now,
            master: BTreeMap::new(),
            sent: BTreeSet::new(),
            finished: BTreeSet::new(),
        };
        for body in JOBS {
            put(&mut w.core, body, now);
        }
        w.persist();
        for op in ops {
            match op {
                Op::Advance(d) => {
                    w.now += i64::from(d);
                    w.core.tick(w.now);
                    w.persist();
                }
                Op::Launch => w.launch(false)?,
                Op::LaunchThenCrash => w.launch(true)?,
                Op::Finish(i, ok) => {
                    if !w.master.is_empty() {
                        let tid = w.master.keys().nth(i % w.master.len()).cloned().unwrap();
                        w.master.remove(&tid);
                        let state = if ok { "TASK_FINISHED" } else { "TASK_FAILED" };
                        update(&mut w.core, &tid, state, w.now);
                        w.persist();
                    }
                }
                Op::Restart => w.restart()?,
                Op::CrashBeforePersist(d) => {
                    w.now += i64::from(d);
                    w.core.tick(w.now);
                    // Nothing was sent, nothing persisted: lost on restart.
                    w.restart()?;
                }
                Op::RunNow(i) => {
                    let name = format!("j{}", i + 1);
                    w.core.run_now(&name, vec![], w.now).unwrap();
                    w.persist();
                }
                Op::Repost(i) => {
                    put(&mut w.core, JOBS[i], w.now);
                    w.persist();
                }
                Op::MarkSuccess(i) => {
                    let name = format!("j{}", i + 1);
                    w.core.mark_success(&name, w.now).unwrap();
                    w.persist();
                }
            }
            w.effects()?;
            w.check_finals();
            // The index of live runs matches the runs.
            let expected: BTreeSet<RunKey> = w
                .core
                .runs
                .values()
                .filter(|r| !r.state.is_terminal())
                .map(|r| r.key())
                .collect();
            prop_assert_eq!(&w.core.live, &expected);
            // Every scheduled run is a distinct slot on or before last_slot.
            for r in w.core.all_runs() {
                if r.kind == RunKind::Scheduled {
                    let last = w.core.job_state(&r.job).and_then(|s| s.last_slot);
                    prop_assert!(last.is_some_and(|l| r.scheduled <= l));
                }
            }
        }
    }
}

#[test]
fn runs_know_when_they_were_due_and_when_the_executor_said_running() {
    let mut core = Core::new();
    let t0 = ms(T0);
    put(
        &mut core,
        r#"{"name":"d","command":"true","schedule":"R/2026-01-15T13:00:00Z/PT1H","retries":1}"#,
        t0,
    );
    let t1 = ms("2026-01-15T13:00:00Z");
    // The timer woke 50 ms late: the run was still due at its slot.
    core.tick(t1 + 50);
    let l = launch_all(&mut core, t1 + 50);
    let key = l[0].0.clone();
    assert_eq!(core.run(&key).unwrap().due(), t1);
    let running = TaskUpdate {
        task_id: l[0].1.clone(),
        state: "TASK_RUNNING".into(),
        message: None,
        reason: None,
        agent_id: None,
        executor_id: None,
        container_id: None,
        timestamp: Some(t1 + 70),
    };
    assert!(core.task_update(&running, t1 + 90));
    let r = core.run(&key).unwrap();
    assert_eq!(
        (r.running, r.running_reported),
        (Some(t1 + 90), Some(t1 + 70))
    );
    // A retry is due when its backoff ends, and starts with fresh times.
    assert!(update(&mut core, &l[0].1, "TASK_FAILED", t1 + 200));
    let r = core.run(&key).unwrap();
    assert_eq!(r.due(), t1 + 200 + 10_000);
    assert_eq!((r.running, r.running_reported), (None, None));
    // A manual run is due when it was asked for.
    core.run_now("d", vec![], t1 + 300).unwrap();
    let manual = core
        .runs_of("d")
        .into_iter()
        .find(|r| r.kind == RunKind::Manual)
        .unwrap();
    assert_eq!(manual.due(), t1 + 300);
}
