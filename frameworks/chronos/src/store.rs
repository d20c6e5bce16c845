//! Persistence in one redb file (`<data_dir>/chronos.redb`): jobs with
//! their scheduler state (slot watermark, dependency counters), runs (the
//! slot ledger and the bounded history, keyed by job + nominal time) and a
//! few named values (the framework id). Every [`Store::apply`] is one
//! fsync'd transaction; the API and the launcher call it before answering
//! 2xx or sending a launch.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::core::{Changes, JobRecord, Run};

const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const RUNS: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("runs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The file name under the data directory.
pub const FILE_NAME: &str = "chronos.redb";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("storage error: {0}")]
    Db(String),
    #[error("stored record '{key}' is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

fn dberr<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into().to_string())
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Db(e.to_string()))
}

/// Everything the core needs to rebuild itself.
#[derive(Debug, Default)]
pub struct Loaded {
    pub jobs: Vec<JobRecord>,
    pub runs: Vec<Run>,
}

pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) `<dir>/chronos.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        let open_err = |m: String| StoreError::Open {
            path: path.clone(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| open_err(e.to_string()))?;
        let txn = db.begin_write().map_err(dberr)?;
        {
            txn.open_table(JOBS).map_err(dberr)?;
            txn.open_table(RUNS).map_err(dberr)?;
            txn.open_table(META).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        Ok(Store { db })
    }

    /// Writes one batch of changes in a single durable transaction.
    pub fn apply(&self, changes: &Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(dberr)?;
            let mut runs = txn.open_table(RUNS).map_err(dberr)?;
            for name in &changes.delete_jobs {
                jobs.remove(name.as_str()).map_err(dberr)?;
            }
            for k in &changes.delete_runs {
                runs.remove((k.job.as_str(), k.scheduled)).map_err(dberr)?;
            }
            for j in &changes.put_jobs {
                jobs.insert(j.job.name.as_str(), encode(j)?.as_slice())
                    .map_err(dberr)?;
            }
            for r in &changes.put_runs {
                runs.insert((r.job.as_str(), r.scheduled), encode(r)?.as_slice())
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// Reads every job and run.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let mut out = Loaded::default();
        let jobs = txn.open_table(JOBS).map_err(dberr)?;
        for item in jobs.iter().map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            let rec: JobRecord =
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    key: format!("jobs/{}", k.value()),
                    message: e.to_string(),
                })?;
            out.jobs.push(rec);
        }
        let runs = txn.open_table(RUNS).map_err(dberr)?;
        for item in runs.iter().map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            let (job, at) = k.value();
            let run: Run = serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                key: format!("runs/{job}/{at}"),
                message: e.to_string(),
            })?;
            out.runs.push(run);
        }
        Ok(out)
    }

    /// The stored runs of one job (its history), oldest first.
    pub fn runs_of(&self, job: &str) -> Result<Vec<Run>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let runs = txn.open_table(RUNS).map_err(dberr)?;
        let mut out = Vec::new();
        for item in runs
            .range((job, i64::MIN)..=(job, i64::MAX))
            .map_err(dberr)?
        {
            let (k, v) = item.map_err(dberr)?;
            let (_, at) = k.value();
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    key: format!("runs/{job}/{at}"),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(META).map_err(dberr)?;
        Ok(t.get(key)
            .map_err(dberr)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = txn.open_table(META).map_err(dberr)?;
            t.insert(key, value.as_bytes()).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Core;
    use crate::model::Job;

    #[test]
    fn round_trips_changes_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_768_478_400_000; // 2026-01-15T12:00:00Z
        {
            let store = Store::open(dir.path()).unwrap();
            let mut core = Core::new();
            let mut job = Job::named("a");
            job.schedule = Some("R/2026-01-15T12:00:00Z/PT1H".into());
            core.put_job(job, &[], now);
            let mut child = Job::named("b");
            child.parents = Some(vec!["a".into()]);
            core.put_job(child, &[], now);
            store.apply(&core.take_changes()).unwrap();
            store.set_meta("framework_id", "fw-1").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.jobs.len(), 2);
        assert_eq!(loaded.runs.len(), 1, "the job's first slot was queued");
        assert_eq!(loaded.runs[0].scheduled, now);
        let mut core = Core::restore(loaded.jobs, loaded.runs);
        assert_eq!(core.job_state("a").unwrap().last_slot, Some(now));
        assert_eq!(
            store.get_meta("framework_id").unwrap().as_deref(),
            Some("fw-1")
        );
        assert_eq!(store.get_meta("nothing").unwrap(), None);
        // Deletions reach the disk too.
        core.delete_job("a", now).unwrap();
        store.apply(&core.take_changes()).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.jobs.len(), 1);
        assert!(loaded.runs.is_empty());
        assert_eq!(
            loaded.jobs[0].job.schedule.as_deref(),
            Some("R/2026-01-15T12:00:00Z/PT1H")
        );
    }

    #[test]
    fn corrupt_records_are_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let txn = store.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(JOBS).unwrap();
            t.insert("bad", b"{not json".as_slice()).unwrap();
        }
        txn.commit().unwrap();
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    }
}
