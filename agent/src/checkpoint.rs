//! What the agent writes to disk so that a restarted agent can carry on.
//!
//! Layout under `<work_dir>/meta/`:
//! - `agent_id`: the id the master gave us (re-registration keeps it);
//! - `containers/<container_id>.json`: framework, executor, tasks, sandbox
//!   and executor pid of each live container (written before the executor
//!   starts, rewritten when it changes);
//! - `updates/<hex framework id>/<hex task id>.jsonl`: each task's
//!   status-update stream, one `{"update":…}` or `{"ack":"uuid"}` per line;
//!   an update is fsync'd before the executor is told 202, an ack is not
//!   (see `Checkpoint::append`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use paddock_proto::mesos::{
    ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskStatus,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub container_id: String,
    pub framework: FrameworkInfo,
    pub executor: ExecutorInfo,
    pub command_executor: bool,
    pub sandbox: PathBuf,
    #[serde(default)]
    pub pid: Option<u32>,
    /// The executor's start time in clock ticks (/proc/PID/stat field 22),
    /// so a recycled pid is not mistaken for it.
    #[serde(default)]
    pub pid_start: Option<u64>,
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StreamRecord {
    Update(Box<TaskStatus>),
    Ack(String),
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    root: PathBuf,
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Writes `data` to `path` atomically (temp file, fsync, rename).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl Checkpoint {
    pub fn new(work_dir: &Path) -> std::io::Result<Checkpoint> {
        let root = work_dir.join("meta");
        std::fs::create_dir_all(root.join("containers"))?;
        std::fs::create_dir_all(root.join("updates"))?;
        Ok(Checkpoint { root })
    }

    pub fn agent_id(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join("agent_id"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    pub fn set_agent_id(&self, id: &str) -> std::io::Result<()> {
        write_atomic(&self.root.join("agent_id"), id.as_bytes())
    }

    fn container_path(&self, id: &str) -> PathBuf {
        self.root
            .join("containers")
            .join(format!("{}.json", hex(id)))
    }

    /// Writes the container's record in place, without fsync. A record
    /// only matters to an agent that restarts while the executor lives on;
    /// the page cache outlives an agent crash, and a host crash takes the
    /// executors with it (recovery then finds their pids dead, or a torn
    /// record it skips). Two fsyncs a launch were ~1.7 ms on the agent's
    /// serial launch path. Status updates, which frameworks rely on, are
    /// still fsync'd.
    ///
    /// In place rather than by rename: a record is written three times in
    /// a launch, and each rename freed an inode. On ext4 without a journal
    /// the allocator skips inodes freed in the last minutes, one by one,
    /// so a burst of launches made every later file creation slower. One
    /// `pwrite` at offset 0 cannot be torn by an agent crash (a process
    /// dies between system calls, not inside one); a shorter record is
    /// padded with spaces, which JSON ignores, so no truncation (a second
    /// call) is needed.
    pub fn save_container(&self, c: &ContainerRecord) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut data = serde_json::to_vec(c).map_err(std::io::Error::other)?;
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.container_path(&c.container_id))?;
        let old = f.metadata()?.len();
        if let Ok(old) = usize::try_from(old) {
            if old > data.len() {
                data.resize(old, b' ');
            }
        }
        f.write_all_at(&data, 0)
    }

    pub fn remove_container(&self, id: &str) {
        let _ = std::fs::remove_file(self.container_path(id));
    }

    /// Every checkpointed container; unreadable records are skipped.
    pub fn containers(&self) -> Vec<ContainerRecord> {
        let Ok(entries) = std::fs::read_dir(self.root.join("containers")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            if e.path().extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(e.path()).map(|d| serde_json::from_slice::<ContainerRecord>(&d)) {
                Ok(Ok(c)) => out.push(c),
                Ok(Err(err)) => {
                    tracing::warn!(file = %e.path().display(), "unreadable container record: {err}")
                }
                Err(err) => {
                    tracing::warn!(file = %e.path().display(), "cannot read container record: {err}")
                }
            }
        }
        out
    }

    fn stream_path(&self, fw: &FrameworkId, task: &TaskId) -> PathBuf {
        self.root
            .join("updates")
            .join(hex(&fw.value))
            .join(format!("{}.jsonl", hex(&task.value)))
    }

    /// Appends one record; an update is fsync'd before this returns, an
    /// acknowledgement is not. An ack lost in a host crash only makes the
    /// recovered agent send that update again, which the at-least-once
    /// protocol allows (schedulers dedupe by uuid, as with any retry),
    /// whereas its fsync was a second disk flush per status update on the
    /// agent's serial path.
    pub fn append(
        &self,
        fw: &FrameworkId,
        task: &TaskId,
        rec: &StreamRecord,
    ) -> std::io::Result<()> {
        let path = self.stream_path(fw, task);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&line)?;
        match rec {
            StreamRecord::Update(_) => f.sync_data(),
            StreamRecord::Ack(_) => Ok(()),
        }
    }

    /// A stream's records; a torn last line (crash mid-write) is dropped.
    pub fn read_stream(&self, fw: &FrameworkId, task: &TaskId) -> Vec<StreamRecord> {
        let text = std::fs::read_to_string(self.stream_path(fw, task)).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn streams(&self) -> Vec<(FrameworkId, TaskId)> {
        let mut out = Vec::new();
        let Ok(fws) = std::fs::read_dir(self.root.join("updates")) else {
            return out;
        };
        for fw in fws.flatten() {
            let Some(fw_id) = unhex(&fw.file_name().to_string_lossy()) else {
                continue;
            };
            let Ok(tasks) = std::fs::read_dir(fw.path()) else {
                continue;
            };
            for t in tasks.flatten() {
                let name = t.file_name().to_string_lossy().into_owned();
                if let Some(task) = name.strip_suffix(".jsonl").and_then(unhex) {
                    out.push((FrameworkId::new(fw_id.clone()), TaskId::new(task)));
                }
            }
        }
        out
    }

    pub fn remove_stream(&self, fw: &FrameworkId, task: &TaskId) {
        let path = self.stream_path(fw, task);
        let _ = std::fs::remove_file(&path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::mesos::TaskState;

    #[test]
    fn ids_with_any_characters_roundtrip_through_file_names() {
        for s in ["plain", "a/b", "../x", "ünï", ""] {
            assert_eq!(unhex(&hex(s)).as_deref(), Some(s));
        }
        assert!(unhex("zz").is_none());
    }

    #[test]
    fn streams_roundtrip_and_survive_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(dir.path()).unwrap();
        let fw = FrameworkId::new("fw/1");
        let task = TaskId::new("t 1");
        let st = TaskStatus {
            task_id: task.clone(),
            state: TaskState::TaskRunning,
            uuid: Some("u1".into()),
            ..Default::default()
        };
        cp.append(&fw, &task, &StreamRecord::Update(Box::new(st.clone())))
            .unwrap();
        cp.append(&fw, &task, &StreamRecord::Ack("u1".into()))
            .unwrap();
        let path = cp.stream_path(&fw, &task);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"update\":{\"task_").unwrap();
        let recs = cp.read_stream(&fw, &task);
        assert_eq!(
            recs,
            vec![
                StreamRecord::Update(Box::new(st)),
                StreamRecord::Ack("u1".into())
            ]
        );
        assert_eq!(cp.streams(), vec![(fw.clone(), task.clone())]);
        cp.remove_stream(&fw, &task);
        assert!(cp.streams().is_empty());
    }

    #[test]
    fn a_record_rewritten_shorter_or_longer_reads_back_in_the_same_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(dir.path()).unwrap();
        let mut rec = ContainerRecord {
            container_id: "c/1".into(),
            framework: FrameworkInfo::default(),
            executor: ExecutorInfo::default(),
            command_executor: true,
            sandbox: "/a/long/sandbox/path/for/the/first/version".into(),
            pid: Some(42),
            pid_start: Some(123_456),
            tasks: vec![],
        };
        cp.save_container(&rec).unwrap();
        let path = cp.container_path("c/1");
        let inode = std::fs::metadata(&path).unwrap().ino();
        rec.sandbox = "/s".into();
        rec.pid_start = None;
        cp.save_container(&rec).unwrap();
        let read = cp.containers();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].sandbox, PathBuf::from("/s"));
        assert_eq!(read[0].pid_start, None);
        rec.sandbox = "/a/longer/sandbox/path/than/any/version/before/it".into();
        cp.save_container(&rec).unwrap();
        let read = cp.containers();
        assert_eq!(read[0].sandbox, rec.sandbox);
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "rewritten in place"
        );
        cp.remove_container("c/1");
        assert!(cp.containers().is_empty());
    }

    #[test]
    fn agent_id_persists() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(dir.path()).unwrap();
        assert_eq!(cp.agent_id(), None);
        cp.set_agent_id("M-S3").unwrap();
        assert_eq!(
            Checkpoint::new(dir.path()).unwrap().agent_id().as_deref(),
            Some("M-S3")
        );
    }
}
