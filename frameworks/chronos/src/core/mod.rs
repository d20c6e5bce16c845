//! The scheduler core: a pure state machine over jobs and runs. Time comes
//! in as a value (`now`, milliseconds); there is no clock, no I/O.
//!
//! # Exactly once per slot
//! Every run has an identity, job name + nominal time ([`RunKey`]). For a
//! scheduled job, `JobState::last_slot` is the newest slot already taken
//! (run or skipped); a slot at or before it is never taken again, and every
//! change is handed out by [`Core::take_changes`] to be persisted in one
//! transaction before the launch is sent or the client gets its 2xx. After a
//! restart the core is rebuilt from what was persisted ([`Core::restore`]),
//! so a slot that was started, finished or skipped is never started again.
//! A run launched but unconfirmed when the scheduler died is reconciled with
//! the master; if the master never heard of it, it counts as a failed
//! attempt and the retry policy decides.
//!
//! # Missed runs
//! When the scheduler was down (or the job's turn came late), only the
//! newest missed slot may still run, and only if it is no later than the
//! starting deadline (`startingDeadlineSeconds`, else `epsilon`, default
//! 60 s); the others, and a newest one that is too late, are recorded as
//! skipped. A new or rescheduled ISO 8601 job whose start is in the past
//! runs once at once for its newest past slot, then keeps to its grid, as
//! Chronos 3 does; a new cron job waits for its next match.
//!
//! # Concurrency
//! ALLOW starts every run. FORBID (the default, Chronos's
//! `concurrent: false`) starts a run only when no other run of the job is
//! active; a scheduled run that waits past its starting deadline is
//! skipped. REPLACE kills the active runs when a new one is queued.
//!
//! # Retries
//! A failed attempt (TASK_FAILED, KILLED, LOST, ERROR, DROPPED, GONE) is
//! retried up to `retries` times, after `retryBackoffSeconds`, multiplied
//! by `retryBackoffFactor` each time, capped at `retryBackoffMaxSeconds`.
//! Runs killed on request are not retried; runs killed for exceeding
//! `maxCompletionTime` are.
//!
//! # Dependencies
//! A dependent job runs once after every parent has succeeded since it last
//! ran (a parent's final failure counts when the parent has `softError`).
//! The per-parent success counters are persisted. Deleting a job rewires
//! its children as Chronos does: children of a deleted dependent job
//! inherit its parents; a child left with no parent by a deleted scheduled
//! job becomes a scheduled job with that schedule.

mod types;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{ConcurrencyPolicy, Job};
use crate::schedule::{format_utc, from_millis, to_millis, Schedule};
use crate::validate::epsilon_millis;

pub use types::*;

/// Runs kept per job once they are over.
pub const DEFAULT_HISTORY_LIMIT: usize = 100;
/// How long a task may stay TASK_STAGING before it is killed and retried.
pub const DEFAULT_STAGING_TIMEOUT: Millis = 60_000;
/// Of those, the newest kept in memory as well.
pub const DEFAULT_MEMORY_HISTORY: usize = 2;
/// Missed slots recorded one by one after a long downtime; older ones are
/// summed up in a note.
const MISSED_RECORD_CAP: usize = 20;

/// Why a request to the core was refused (a 400 for the API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("Job '{0}' not found")]
    UnknownJob(String),
}

struct Entry {
    job: Job,
    state: JobState,
    schedule: Option<Schedule>,
    /// The next slot after `last_slot` (cached; `None` when none is left).
    next_slot: Option<Millis>,
}

impl Entry {
    fn new(job: Job, state: JobState) -> Entry {
        let schedule = parse_stored(&job);
        let mut e = Entry {
            job,
            state,
            schedule,
            next_slot: None,
        };
        e.refresh_next();
        e
    }

    fn refresh_next(&mut self) {
        self.next_slot = match &self.schedule {
            Some(s) if !s.exhausted() => s
                .first_after(self.state.last_slot.map(from_millis))
                .map(to_millis),
            _ => None,
        };
    }

    fn deadline_millis(&self) -> Millis {
        match self.job.starting_deadline_seconds {
            Some(s) => s.saturating_mul(1000),
            None => epsilon_millis(&self.job.epsilon).unwrap_or(60_000),
        }
    }

    fn record(&self) -> JobRecord {
        JobRecord {
            job: self.job.clone(),
            state: self.state.clone(),
        }
    }
}

/// The schedule of a stored job. Stored jobs were validated, so a failure
/// here means the data changed under us; the job then simply does not run.
fn parse_stored(job: &Job) -> Option<Schedule> {
    let text = job.schedule.as_deref()?;
    // Stored starts are explicit (validation pins an empty start), so the
    // `now` given here changes nothing.
    match Schedule::parse(text, &job.schedule_time_zone, jiff::Timestamp::UNIX_EPOCH) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(job = %job.name, error = %e, "stored schedule does not parse; the job will not run");
            None
        }
    }
}

impl crate::validate::JobLookup for Core {
    fn parents_of(&self, name: &str) -> Option<&[String]> {
        self.jobs.get(name).map(|e| e.job.parent_names())
    }
}

/// The scheduler state machine. See the module documentation.
pub struct Core {
    jobs: BTreeMap<String, Entry>,
    runs: BTreeMap<RunKey, Run>,
    /// The runs that are not over: what ticks and launches look at.
    live: BTreeSet<RunKey>,
    by_task: HashMap<String, RunKey>,
    dirty: Dirty,
    deleted_jobs: Vec<String>,
    deleted_runs: Vec<RunKey>,
    effects: Vec<Effect>,
    /// Finished runs kept (in the store) per job.
    history_limit: usize,
    /// Finished runs kept in memory per job; older ones live only in the
    /// store, so memory does not grow with the history.
    memory_history: usize,
    /// The finished runs of each job that are in the store.
    history: HashMap<String, BTreeSet<Millis>>,
    /// Jobs whose in-memory history may need trimming after persisting.
    trim: BTreeSet<String>,
    /// A task still STAGING this long after its launch is killed (and
    /// retried); after twice as long without any answer it counts as lost.
    staging_timeout: Millis,
}

impl Default for Core {
    fn default() -> Self {
        Core::new()
    }
}

impl Core {
    pub fn new() -> Core {
        Core {
            jobs: BTreeMap::new(),
            runs: BTreeMap::new(),
            live: BTreeSet::new(),
            by_task: HashMap::new(),
            dirty: Dirty::default(),
            deleted_jobs: Vec::new(),
            deleted_runs: Vec::new(),
            effects: Vec::new(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            memory_history: DEFAULT_MEMORY_HISTORY,
            history: HashMap::new(),
            trim: BTreeSet::new(),
            staging_timeout: DEFAULT_STAGING_TIMEOUT,
        }
    }

    /// Rebuilds the core from what was persisted.
    pub fn restore(jobs: Vec<JobRecord>, runs: Vec<Run>) -> Core {
        let mut core = Core::new();
        for r in jobs {
            core.jobs
                .insert(r.job.name.clone(), Entry::new(r.job, r.state));
        }
        for run in runs {
            if let Some(t) = &run.task_id {
                if !run.state.is_terminal() {
                    core.by_task.insert(t.clone(), run.key());
                }
            }
            if !run.state.is_terminal() {
                core.live.insert(run.key());
            } else {
                core.history
                    .entry(run.job.clone())
                    .or_default()
                    .insert(run.scheduled);
                core.trim.insert(run.job.clone());
            }
            core.runs.insert(run.key(), run);
        }
        core.trim_memory();
        core
    }

    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
    }

    pub fn set_staging_timeout(&mut self, timeout: Millis) {
        self.staging_timeout = timeout.max(1);
    }

    pub fn set_memory_history(&mut self, limit: usize) {
        self.memory_history = limit.max(1);
    }

    // ---------------------------------------------------------------- reads

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.get(name).map(|e| &e.job)
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values().map(|e| &e.job)
    }

    /// Every job by name (for validation).
    pub fn job_map(&self) -> BTreeMap<String, Job> {
        self.jobs
            .iter()
            .map(|(k, e)| (k.clone(), e.job.clone()))
            .collect()
    }

    pub fn job_state(&self, name: &str) -> Option<&JobState> {
        self.jobs.get(name).map(|e| &e.state)
    }

    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.jobs.get(name).and_then(|e| e.schedule.as_ref())
    }

    /// The next scheduled slot of a job that may still run.
    pub fn next_slot(&self, name: &str) -> Option<Millis> {
        let e = self.jobs.get(name)?;
        if e.job.disabled {
            return None;
        }
        e.next_slot
    }

    /// The runs of a job in memory, oldest first: the live ones and the
    /// newest finished ones (the full history is in the store).
    pub fn runs_of(&self, name: &str) -> Vec<&Run> {
        self.runs
            .range(key(name, Millis::MIN)..=key(name, Millis::MAX))
            .map(|(_, r)| r)
            .collect()
    }

    pub fn run(&self, key: &RunKey) -> Option<&Run> {
        self.runs.get(key)
    }

    pub fn all_runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.values()
    }

    /// Runs with a task that has not ended (for reconciliation).
    pub fn active_runs(&self) -> Vec<&Run> {
        self.live_runs().filter(|r| r.state.is_active()).collect()
    }

    /// Runs that are not over.
    pub fn live_runs(&self) -> impl Iterator<Item = &Run> {
        self.live.iter().filter_map(|k| self.runs.get(k))
    }

    pub fn children_of(&self, name: &str) -> Vec<String> {
        self.jobs
            .values()
            .filter(|e| e.job.parent_names().iter().any(|p| p == name))
            .map(|e| e.job.name.clone())
            .collect()
    }

    /// The earliest time at which [`Core::tick`] has something to do.
    pub fn next_wake(&self, now: Millis) -> Option<Millis> {
        let mut wake: Option<Millis> = None;
        let mut consider = |t: Millis| wake = Some(wake.map_or(t, |w: Millis| w.min(t)));
        for e in self.jobs.values() {
            if e.job.disabled {
                continue;
            }
            if let Some(t) = e.next_slot {
                consider(t);
            }
        }
        for r in self.live_runs() {
            match r.state {
                RunState::Pending => {
                    if let Some(t) = r.not_before {
                        if t > now {
                            consider(t);
                        }
                    }
                    if r.kind == RunKind::Scheduled && r.attempt == 0 {
                        if let Some(e) = self.jobs.get(&r.job) {
                            consider(start_deadline(r, e).saturating_add(1));
                        }
                    }
                }
                RunState::Staging if r.kill.is_none() || r.kill == Some(KillCause::Timeout) => {
                    if let Some(start) = r.started {
                        let factor = if r.kill.is_none() { 1 } else { 2 };
                        consider(start.saturating_add(self.staging_timeout * factor));
                    }
                    if let (Some(e), Some(start), None) = (self.jobs.get(&r.job), r.started, r.kill)
                    {
                        if e.job.max_completion_time > 0 {
                            consider(
                                start
                                    .saturating_add(e.job.max_completion_time.saturating_mul(1000)),
                            );
                        }
                    }
                }
                RunState::Running if r.kill.is_none() => {
                    if let (Some(e), Some(start)) = (self.jobs.get(&r.job), r.started) {
                        if e.job.max_completion_time > 0 {
                            consider(
                                start
                                    .saturating_add(e.job.max_completion_time.saturating_mul(1000)),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        wake
    }

    // ------------------------------------------------------------- outputs

    /// What changed since the last call, to persist in one transaction.
    pub fn take_changes(&mut self) -> Changes {
        let dirty = std::mem::take(&mut self.dirty);
        let mut changes = Changes {
            delete_jobs: std::mem::take(&mut self.deleted_jobs),
            delete_runs: std::mem::take(&mut self.deleted_runs),
            ..Changes::default()
        };
        for name in dirty.jobs {
            if let Some(e) = self.jobs.get(&name) {
                changes.put_jobs.push(e.record());
            }
        }
        for k in dirty.runs {
            if let Some(r) = self.runs.get(&k) {
                changes.put_runs.push(r.clone());
            }
        }
        changes.delete_jobs.retain(|n| !self.jobs.contains_key(n));
        changes.delete_runs.retain(|k| !self.runs.contains_key(k));
        // What is persisted may now leave memory.
        self.trim_memory();
        changes
    }

    /// Keeps at most `memory_history` finished runs per job in memory (the
    /// newest); the rest stay in the store only. Runs not yet handed out by
    /// `take_changes` are kept.
    fn trim_memory(&mut self) {
        for name in std::mem::take(&mut self.trim) {
            let done: Vec<RunKey> = self
                .runs_of(&name)
                .iter()
                .filter(|r| r.state.is_terminal())
                .map(|r| r.key())
                .collect();
            if done.len() <= self.memory_history {
                continue;
            }
            for k in &done[..done.len() - self.memory_history] {
                if self.dirty.runs.contains(k) {
                    self.trim.insert(name.clone());
                    continue;
                }
                self.runs.remove(k);
            }
        }
    }

    /// Kills (and other effects) asked for since the last call. Send them
    /// after persisting the changes.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    // ----------------------------------------------------------- mutations

    fn touch_job(&mut self, name: &str) {
        self.dirty.jobs.insert(name.to_string());
    }

    fn touch_run(&mut self, k: &RunKey) {
        self.dirty.runs.insert(k.clone());
        self.sync_live(k);
    }

    /// Keeps `live` in step with a run's state.
    fn sync_live(&mut self, k: &RunKey) {
        match self.runs.get(k) {
            Some(r) if !r.state.is_terminal() => {
                self.live.insert(k.clone());
            }
            _ => {
                self.live.remove(k);
            }
        }
    }

    /// Creates or replaces a validated job. `counters_given` lists the
    /// server counters the client sent; the others keep their stored value.
    pub fn put_job(&mut self, mut job: Job, counters_given: &[&str], now: Millis) {
        let name = job.name.clone();
        let old = self.jobs.remove(&name);
        let mut state = JobState::default();
        let mut changed_schedule = true;
        if let Some(old) = &old {
            for c in crate::model::SERVER_COUNTERS {
                if counters_given.contains(&c) {
                    continue;
                }
                match c {
                    "successCount" => job.success_count = old.job.success_count,
                    "errorCount" => job.error_count = old.job.error_count,
                    "errorsSinceLastSuccess" => {
                        job.errors_since_last_success = old.job.errors_since_last_success
                    }
                    "lastSuccess" => job.last_success = old.job.last_success.clone(),
                    _ => job.last_error = old.job.last_error.clone(),
                }
            }
            state.last_slot = old.state.last_slot;
            state.parent_successes = old
                .state
                .parent_successes
                .iter()
                .filter(|(p, _)| job.parent_names().contains(p))
                .map(|(p, n)| (p.clone(), *n))
                .collect();
            changed_schedule = old.job.schedule != job.schedule
                || old.job.schedule_time_zone != job.schedule_time_zone;
        }
        let mut entry = Entry::new(job, state);
        if let Some(schedule) = entry.schedule.clone() {
            let now_ts = from_millis(now);
            let re_enabled = old.as_ref().is_some_and(|o| o.job.disabled) && !entry.job.disabled;
            if changed_schedule
                && !schedule.is_cron()
                && !entry.job.disabled
                && !schedule.exhausted()
            {
                // Chronos 3: a start in the past runs once at once.
                let newest = schedule.last_between(entry.state.last_slot.map(from_millis), now_ts);
                if let Some(slot) = newest {
                    entry.state.last_slot = Some(to_millis(slot));
                    self.jobs.insert(name.clone(), entry);
                    self.take_slot(&name, to_millis(slot), now);
                    self.touch_job(&name);
                    self.after_put(&name, now);
                    return;
                }
            } else if (changed_schedule && schedule.is_cron()) || re_enabled || entry.job.disabled {
                // Cron waits for its next match; a job switched back on does
                // not count the slots it was off as missed.
                let newest = schedule.last_between(entry.state.last_slot.map(from_millis), now_ts);
                if let Some(slot) = newest {
                    entry.state.last_slot = Some(to_millis(slot));
                }
                if entry.state.last_slot.is_none() && schedule.is_cron() {
                    entry.state.last_slot = Some(now);
                }
            }
            entry.refresh_next();
        }
        self.jobs.insert(name.clone(), entry);
        self.touch_job(&name);
        self.after_put(&name, now);
    }

    fn after_put(&mut self, name: &str, now: Millis) {
        // A disabled job's waiting runs are dropped, as in Chronos.
        if self.jobs.get(name).is_some_and(|e| e.job.disabled) {
            let waiting: Vec<RunKey> = self
                .runs_of(name)
                .iter()
                .filter(|r| r.state == RunState::Pending)
                .map(|r| r.key())
                .collect();
            for k in waiting {
                if let Some(run) = self.runs.get_mut(&k) {
                    run.state = RunState::Skipped;
                    run.ended = Some(now);
                    run.message = Some("not run: the job was disabled".into());
                }
                self.touch_run(&k);
            }
            self.prune_history(name);
        }
        // A dependent job whose parents were all satisfied may run now
        // (after a rewiring, or when a parent was dropped).
        if self.jobs.get(name).is_some_and(|e| e.job.is_dependent()) {
            self.check_trigger(name, now);
        }
    }

    /// Deletes a job: kills its active runs, forgets its runs, and rewires
    /// its children as Chronos does.
    pub fn delete_job(&mut self, name: &str, now: Millis) -> Result<(), CoreError> {
        let Some(gone) = self.jobs.remove(name) else {
            return Err(CoreError::UnknownJob(name.to_string()));
        };
        self.deleted_jobs.push(name.to_string());
        for k in self
            .runs_of(name)
            .iter()
            .map(|r| r.key())
            .collect::<Vec<_>>()
        {
            self.live.remove(&k);
            if let Some(run) = self.runs.remove(&k) {
                if run.state.is_active() {
                    if let Some(t) = &run.task_id {
                        self.effects.push(Effect::Kill {
                            task_id: t.clone(),
                            agent_id: run.agent_id.clone(),
                        });
                        self.by_task.remove(t);
                    }
                }
            }
            self.dirty.runs.remove(&k);
            self.deleted_runs.push(k);
        }
        // Finished runs that only the store still has.
        for t in self.history.remove(name).unwrap_or_default() {
            self.deleted_runs.push(key(name, t));
        }
        for child in self.children_of(name) {
            let Some(e) = self.jobs.get_mut(&child) else {
                continue;
            };
            let mut parents: Vec<String> = e
                .job
                .parent_names()
                .iter()
                .filter(|p| *p != name)
                .cloned()
                .collect();
            for p in gone.job.parent_names() {
                if !parents.contains(p) && p != &child {
                    parents.push(p.clone());
                }
            }
            e.state.parent_successes.remove(name);
            if parents.is_empty() {
                // The child of a deleted scheduled job takes its schedule.
                e.job.parents = None;
                e.job.schedule = gone.job.schedule.clone();
                e.job.schedule_time_zone = gone.job.schedule_time_zone.clone();
                e.state.last_slot = gone.state.last_slot;
                e.state.parent_successes.clear();
                e.schedule = parse_stored(&e.job);
                e.refresh_next();
            } else {
                e.job.parents = Some(parents);
            }
            self.touch_job(&child);
            self.check_trigger(&child, now);
        }
        Ok(())
    }

    /// `PUT /job/{name}`: a run now. Returns false when it was dropped
    /// because a manual run of the job is already waiting.
    pub fn run_now(
        &mut self,
        name: &str,
        arguments: Vec<String>,
        now: Millis,
    ) -> Result<bool, CoreError> {
        let Some(e) = self.jobs.get(name) else {
            return Err(CoreError::UnknownJob(name.to_string()));
        };
        let disabled = e.job.disabled;
        let waiting = self
            .runs_of(name)
            .iter()
            .any(|r| r.kind == RunKind::Manual && r.state == RunState::Pending);
        if waiting {
            return Ok(false);
        }
        let k = self.unique_key(name, now);
        let mut run = new_run(&k, RunKind::Manual, arguments, now);
        if disabled {
            run.state = RunState::Skipped;
            run.ended = Some(now);
            run.message = Some("not run: the job is disabled".into());
            self.insert_run(run);
            self.prune_history(name);
            return Ok(true);
        }
        self.insert_run(run);
        self.apply_replace(name, &k);
        Ok(true)
    }

    /// `PUT /job/success/{name}`: counts a success and triggers children.
    pub fn mark_success(&mut self, name: &str, now: Millis) -> Result<(), CoreError> {
        let Some(e) = self.jobs.get_mut(name) else {
            return Err(CoreError::UnknownJob(name.to_string()));
        };
        e.job.success_count += 1;
        e.job.errors_since_last_success = 0;
        e.job.last_success = format_utc(now);
        self.touch_job(name);
        self.parent_done(name, now);
        Ok(())
    }

    /// `DELETE /task/kill/{name}`: kills the job's active runs and cancels
    /// the waiting ones.
    pub fn kill_tasks(&mut self, name: &str, now: Millis) -> Result<usize, CoreError> {
        if !self.jobs.contains_key(name) {
            return Err(CoreError::UnknownJob(name.to_string()));
        }
        let keys: Vec<RunKey> = self.runs_of(name).iter().map(|r| r.key()).collect();
        let mut n = 0;
        for k in keys {
            let Some(run) = self.runs.get_mut(&k) else {
                continue;
            };
            match run.state {
                RunState::Pending => {
                    run.state = RunState::Killed;
                    run.kill = Some(KillCause::User);
                    run.ended = Some(now);
                    run.message = Some("cancelled by a task kill before it started".into());
                    n += 1;
                    self.touch_run(&k);
                }
                RunState::Staging | RunState::Running => {
                    run.kill = Some(KillCause::User);
                    if let Some(t) = &run.task_id {
                        self.effects.push(Effect::Kill {
                            task_id: t.clone(),
                            agent_id: run.agent_id.clone(),
                        });
                    }
                    n += 1;
                    self.touch_run(&k);
                }
                _ => {}
            }
        }
        self.prune_history(name);
        Ok(n)
    }

    /// Advances time: takes the schedule slots that came due, applies the
    /// missed-run policy, skips FORBID runs that waited past their deadline
    /// and asks to kill runs past `maxCompletionTime`.
    pub fn tick(&mut self, now: Millis) {
        let due: Vec<String> = self
            .jobs
            .values()
            .filter(|e| !e.job.disabled && e.next_slot.is_some_and(|t| t <= now))
            .map(|e| e.job.name.clone())
            .collect();
        for name in due {
            self.take_due_slots(&name, now);
        }
        // FORBID runs that waited too long; runs over their time limit.
        let mut skip = Vec::new();
        let mut kill = Vec::new();
        let mut stuck = Vec::new();
        let mut lost = Vec::new();
        for r in self.live_runs() {
            let Some(e) = self.jobs.get(&r.job) else {
                continue;
            };
            if let (RunState::Staging, Some(start)) = (r.state, r.started) {
                match r.kill {
                    None if now >= start.saturating_add(self.staging_timeout) => {
                        stuck.push(r.key());
                        continue;
                    }
                    Some(KillCause::Timeout)
                        if now >= start.saturating_add(2 * self.staging_timeout) =>
                    {
                        lost.push(r.key());
                        continue;
                    }
                    _ => {}
                }
            }
            match r.state {
                RunState::Pending
                    if r.kind == RunKind::Scheduled
                        && r.attempt == 0
                        && now > start_deadline(r, e) =>
                {
                    skip.push(r.key());
                }
                RunState::Staging | RunState::Running
                    if r.kill.is_none() && e.job.max_completion_time > 0 =>
                {
                    if let Some(start) = r.started {
                        if now
                            >= start.saturating_add(e.job.max_completion_time.saturating_mul(1000))
                        {
                            kill.push(r.key());
                        }
                    }
                }
                _ => {}
            }
        }
        for k in skip {
            if let Some(run) = self.runs.get_mut(&k) {
                run.state = RunState::Skipped;
                run.ended = Some(now);
                run.message = Some(
                    "skipped: it could not start before its starting deadline (another run was active or no offer fitted)"
                        .into(),
                );
                self.touch_run(&k);
                self.prune_history(&k.job);
            }
        }
        for k in stuck {
            if let Some(run) = self.runs.get_mut(&k) {
                run.kill = Some(KillCause::Timeout);
                run.message = Some(format!(
                    "killed: still TASK_STAGING {:.0} s after its launch",
                    self.staging_timeout as f64 / 1000.0
                ));
                if let Some(t) = &run.task_id {
                    self.effects.push(Effect::Kill {
                        task_id: t.clone(),
                        agent_id: run.agent_id.clone(),
                    });
                }
                self.touch_run(&k);
            }
        }
        for k in lost {
            // Killed, and still no answer: the task never started. Count
            // the attempt as lost so the retry policy can act.
            if let Some(run) = self.runs.get_mut(&k) {
                run.task_state = Some("TASK_LOST".into());
                run.message = Some("no status update after the kill of a task stuck in TASK_STAGING; counted as lost".into());
                if let Some(t) = run.task_id.clone() {
                    self.by_task.remove(&t);
                }
            }
            self.touch_run(&k);
            self.attempt_failed(&k, now);
            self.sync_live(&k);
        }
        for k in kill {
            if let Some(run) = self.runs.get_mut(&k) {
                run.kill = Some(KillCause::Timeout);
                run.message = Some("killed: it ran longer than maxCompletionTime".into());
                if let Some(t) = &run.task_id {
                    self.effects.push(Effect::Kill {
                        task_id: t.clone(),
                        agent_id: run.agent_id.clone(),
                    });
                }
                self.touch_run(&k);
            }
        }
    }

    fn take_due_slots(&mut self, name: &str, now: Millis) {
        let Some(e) = self.jobs.get(name) else {
            return;
        };
        let Some(schedule) = e.schedule.clone() else {
            return;
        };
        let deadline = e.deadline_millis();
        let after = e.state.last_slot.map(from_millis);
        let (slots, truncated) =
            schedule.slots_between(after, from_millis(now), MISSED_RECORD_CAP + 1);
        let Some((&newest, older)) = slots.split_last() else {
            if let Some(e) = self.jobs.get_mut(name) {
                e.refresh_next();
            }
            return;
        };
        for (i, slot) in older.iter().enumerate() {
            let note = if i == 0 && truncated {
                "skipped: missed while the scheduler was not running (older missed slots are not listed)"
            } else {
                "skipped: missed while the scheduler was not running"
            };
            self.skip_slot(name, to_millis(*slot), now, note.to_string());
        }
        let newest = to_millis(newest);
        if let Some(e) = self.jobs.get_mut(name) {
            e.state.last_slot = Some(newest);
            e.refresh_next();
        }
        self.touch_job(name);
        if now - newest <= deadline {
            self.take_slot(name, newest, now);
        } else {
            self.skip_slot(
                name,
                newest,
                now,
                format!(
                    "skipped: {:.1} s late, beyond the starting deadline of {:.1} s",
                    (now - newest) as f64 / 1000.0,
                    deadline as f64 / 1000.0
                ),
            );
        }
    }

    /// Queues the run of a slot (the slot is already at or before
    /// `last_slot`) and counts down an `Rn` schedule.
    fn take_slot(&mut self, name: &str, slot: Millis, now: Millis) {
        let k = key(name, slot);
        if self.key_taken(&k) {
            return;
        }
        if let Some(e) = self.jobs.get_mut(name) {
            let counted = e.schedule.as_ref().and_then(|s| {
                s.repeat()
                    .map(|left| s.with_repeat(Some(left.saturating_sub(1))))
            });
            if let Some(s2) = counted {
                e.job.schedule = Some(s2.render(s2.repeat()));
                e.schedule = Some(s2);
            }
            e.refresh_next();
        }
        self.touch_job(name);
        self.insert_run(new_run(&k, RunKind::Scheduled, Vec::new(), now));
        self.apply_replace(name, &k);
    }

    fn skip_slot(&mut self, name: &str, slot: Millis, now: Millis, note: String) {
        let k = key(name, slot);
        if self.key_taken(&k) {
            return;
        }
        let mut run = new_run(&k, RunKind::Scheduled, Vec::new(), now);
        run.state = RunState::Skipped;
        run.ended = Some(now);
        run.message = Some(note);
        self.insert_run(run);
        self.prune_history(name);
    }

    /// REPLACE: a new run kills the active ones.
    fn apply_replace(&mut self, name: &str, new: &RunKey) {
        if self.jobs.get(name).map(|e| e.job.policy()) != Some(ConcurrencyPolicy::Replace) {
            return;
        }
        let keys: Vec<RunKey> = self
            .runs_of(name)
            .iter()
            .filter(|r| r.state.is_active() && r.kill.is_none() && &r.key() != new)
            .map(|r| r.key())
            .collect();
        for k in keys {
            if let Some(run) = self.runs.get_mut(&k) {
                run.kill = Some(KillCause::Replaced);
                run.message = Some(format!(
                    "killed: replaced by the run of {}",
                    format_utc(new.scheduled)
                ));
                if let Some(t) = &run.task_id {
                    self.effects.push(Effect::Kill {
                        task_id: t.clone(),
                        agent_id: run.agent_id.clone(),
                    });
                }
                self.touch_run(&k);
            }
        }
    }

    fn insert_run(&mut self, run: Run) {
        let k = run.key();
        self.runs.insert(k.clone(), run);
        self.touch_run(&k);
    }

    /// A key for a manual or dependency run: `now`, moved forward by a
    /// millisecond while it is taken or is one of the job's slots.
    fn unique_key(&self, name: &str, now: Millis) -> RunKey {
        let mut t = now;
        let schedule = self.jobs.get(name).and_then(|e| e.schedule.as_ref());
        loop {
            let is_slot = schedule
                .and_then(|s| s.first_after(Some(from_millis(t - 1))))
                .is_some_and(|s| to_millis(s) == t);
            if !is_slot && !self.key_taken(&key(name, t)) {
                return key(name, t);
            }
            t += 1;
        }
    }

    /// Runs that may be launched now, best first: high priority, then by
    /// nominal time. FORBID lets a job have one active run at a time.
    pub fn launchable(&self, now: Millis) -> Vec<RunKey> {
        let mut out: Vec<(bool, Millis, RunKey)> = Vec::new();
        let mut active_jobs: HashMap<&str, usize> = HashMap::new();
        for r in self.live_runs() {
            if r.state.is_active() {
                *active_jobs.entry(r.job.as_str()).or_default() += 1;
            }
        }
        let mut forbid_taken: HashMap<&str, bool> = HashMap::new();
        for r in self.live_runs() {
            if r.state != RunState::Pending || r.not_before.is_some_and(|t| t > now) {
                continue;
            }
            let Some(e) = self.jobs.get(&r.job) else {
                continue;
            };
            if e.job.disabled {
                continue;
            }
            if e.job.policy() == ConcurrencyPolicy::Forbid {
                if active_jobs.get(r.job.as_str()).copied().unwrap_or(0) > 0 {
                    continue;
                }
                // Only the oldest waiting run of the job.
                if forbid_taken.insert(r.job.as_str(), true).is_some() {
                    continue;
                }
            }
            out.push((!e.job.high_priority, r.scheduled, r.key()));
        }
        out.sort();
        out.into_iter().map(|(_, _, k)| k).collect()
    }

    /// The task id the next attempt of a run will use.
    pub fn next_task_id(&self, k: &RunKey) -> Option<String> {
        let r = self.runs.get(k)?;
        Some(task_id(k, r.attempt, &r.arguments))
    }

    /// Records that the run's current attempt is being launched as
    /// `task_id` on `agent_id`. Persist the changes, then send the launch.
    pub fn mark_launched(
        &mut self,
        k: &RunKey,
        task_id: &str,
        agent_id: &str,
        sandbox: Sandbox,
        now: Millis,
    ) -> bool {
        let Some(run) = self.runs.get_mut(k) else {
            return false;
        };
        if run.state != RunState::Pending {
            return false;
        }
        run.state = RunState::Staging;
        run.task_id = Some(task_id.to_string());
        run.agent_id = Some(agent_id.to_string());
        run.sandbox = sandbox;
        run.started = Some(now);
        run.running = None;
        run.running_reported = None;
        run.not_before = None;
        run.task_state = Some("TASK_STAGING".into());
        self.by_task.insert(task_id.to_string(), k.clone());
        self.touch_run(k);
        true
    }

    /// Applies a task status update. Returns false for a task the core does
    /// not know (acknowledge it anyway).
    pub fn task_update(&mut self, u: &TaskUpdate, now: Millis) -> bool {
        let Some(k) = self.by_task.get(&u.task_id).cloned() else {
            return false;
        };
        let Some(run) = self.runs.get_mut(&k) else {
            self.by_task.remove(&u.task_id);
            return false;
        };
        if run.task_id.as_deref() != Some(u.task_id.as_str()) || !run.state.is_active() {
            return false;
        }
        run.task_state = Some(u.state.clone());
        if u.message.is_some() {
            run.message = u.message.clone();
        }
        if u.reason.is_some() {
            run.reason = u.reason.clone();
        }
        if let Some(a) = &u.agent_id {
            run.agent_id = Some(a.clone());
        }
        if let Some(x) = &u.executor_id {
            run.sandbox.executor_id = Some(x.clone());
        }
        if let Some(c) = &u.container_id {
            run.sandbox.container_id = Some(c.clone());
        }
        if let Some(code) = u.message.as_deref().and_then(exit_status) {
            run.exit_status = Some(code);
        }
        self.dirty.runs.insert(k.clone());
        match u.state.as_str() {
            "TASK_STAGING" | "TASK_STARTING" => {}
            "TASK_RUNNING" => {
                run.state = RunState::Running;
                if run.running.is_none() {
                    run.running = Some(now);
                    run.running_reported = u.timestamp;
                }
            }
            // Partitioned or being killed: wait for the real end.
            "TASK_UNREACHABLE" | "TASK_KILLING" => {}
            "TASK_FINISHED" => {
                run.state = RunState::Succeeded;
                run.ended = Some(now);
                self.by_task.remove(&u.task_id);
                let name = k.job.clone();
                if let Some(e) = self.jobs.get_mut(&name) {
                    e.job.success_count += 1;
                    e.job.errors_since_last_success = 0;
                    e.job.last_success = format_utc(now);
                    self.touch_job(&name);
                }
                self.prune_history(&name);
                self.parent_done(&name, now);
            }
            _ => {
                // TASK_FAILED, KILLED, LOST, ERROR, DROPPED, GONE, UNKNOWN…
                self.by_task.remove(&u.task_id);
                self.attempt_failed(&k, now);
            }
        }
        self.sync_live(&k);
        true
    }

    fn attempt_failed(&mut self, k: &RunKey, now: Millis) {
        let Some(e) = self.jobs.get(&k.job) else {
            return;
        };
        let retries = u32::try_from(e.job.retries).unwrap_or(0);
        let soft = e.job.soft_error;
        // A job disabled while this attempt ran gets no more attempts: a
        // retry would wait for ever, as nothing of a disabled job launches.
        let disabled = e.job.disabled;
        let Some(run) = self.runs.get_mut(k) else {
            return;
        };
        let retryable = matches!(run.kill, None | Some(KillCause::Timeout));
        if retryable && run.attempt < retries && !disabled {
            let backoff = e.job.backoff_millis(run.attempt + 1);
            run.attempts.push(Attempt {
                attempt: run.attempt,
                task_id: run.task_id.clone().unwrap_or_default(),
                agent_id: run.agent_id.clone(),
                started: run.started,
                ended: Some(now),
                task_state: run.task_state.clone(),
                message: run.message.clone(),
            });
            run.attempt += 1;
            run.state = RunState::Pending;
            run.not_before = Some(now.saturating_add(backoff));
            run.task_id = None;
            run.started = None;
            run.running = None;
            run.running_reported = None;
            run.kill = None;
            run.exit_status = None;
            self.touch_run(k);
            return;
        }
        run.state = if run.kill.is_some_and(|c| c != KillCause::Timeout) {
            RunState::Killed
        } else {
            RunState::Failed
        };
        run.ended = Some(now);
        self.touch_run(k);
        let name = k.job.clone();
        if let Some(e) = self.jobs.get_mut(&name) {
            e.job.error_count += 1;
            e.job.errors_since_last_success += 1;
            e.job.last_error = format_utc(now);
            self.touch_job(&name);
        }
        self.prune_history(&name);
        if soft {
            self.parent_done(&name, now);
        }
    }

    /// A parent succeeded (or failed softly): count it for each child and
    /// queue the children whose parents are all done.
    fn parent_done(&mut self, parent: &str, now: Millis) {
        for child in self.children_of(parent) {
            if let Some(e) = self.jobs.get_mut(&child) {
                *e.state
                    .parent_successes
                    .entry(parent.to_string())
                    .or_default() += 1;
                self.touch_job(&child);
            }
            self.check_trigger(&child, now);
        }
    }

    fn check_trigger(&mut self, child: &str, now: Millis) {
        let Some(e) = self.jobs.get(child) else {
            return;
        };
        if e.job.disabled || !e.job.is_dependent() {
            return;
        }
        let all = e
            .job
            .parent_names()
            .iter()
            .all(|p| e.state.parent_successes.get(p).copied().unwrap_or(0) > 0);
        if !all {
            return;
        }
        if let Some(e) = self.jobs.get_mut(child) {
            e.state.parent_successes.clear();
        }
        self.touch_job(child);
        let k = self.unique_key(child, now);
        self.insert_run(new_run(&k, RunKind::Dependency, Vec::new(), now));
        self.apply_replace(child, &k);
    }

    /// Records the job's finished runs in its history and deletes the
    /// oldest beyond the history limit.
    fn prune_history(&mut self, name: &str) {
        let done: Vec<Millis> = self
            .runs_of(name)
            .iter()
            .filter(|r| r.state.is_terminal())
            .map(|r| r.scheduled)
            .collect();
        let history = self.history.entry(name.to_string()).or_default();
        history.extend(done);
        let mut drop = Vec::new();
        while history.len() > self.history_limit {
            if let Some(t) = history.pop_first() {
                drop.push(key(name, t));
            }
        }
        for k in drop {
            self.runs.remove(&k);
            self.live.remove(&k);
            self.dirty.runs.remove(&k);
            self.deleted_runs.push(k);
        }
        self.trim.insert(name.to_string());
    }

    /// Whether a run with this key exists, in memory or in the store.
    fn key_taken(&self, k: &RunKey) -> bool {
        self.runs.contains_key(k)
            || self
                .history
                .get(&k.job)
                .is_some_and(|h| h.contains(&k.scheduled))
    }
}

/// The latest a scheduled run may start: its starting deadline, counted
/// from its slot or, for a run queued later than its slot (a past start on
/// a new job), from when it was queued.
fn start_deadline(r: &Run, e: &Entry) -> Millis {
    r.scheduled
        .max(r.queued)
        .saturating_add(e.deadline_millis())
}

fn key(job: &str, scheduled: Millis) -> RunKey {
    RunKey {
        job: job.to_string(),
        scheduled,
    }
}

fn new_run(k: &RunKey, kind: RunKind, arguments: Vec<String>, now: Millis) -> Run {
    Run {
        job: k.job.clone(),
        scheduled: k.scheduled,
        kind,
        state: RunState::Pending,
        attempt: 0,
        arguments,
        queued: now,
        not_before: None,
        task_id: None,
        agent_id: None,
        sandbox: Sandbox::default(),
        started: None,
        running: None,
        running_reported: None,
        ended: None,
        task_state: None,
        message: None,
        reason: None,
        exit_status: None,
        kill: None,
        attempts: Vec::new(),
    }
}
