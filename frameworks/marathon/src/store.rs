//! Persistence in one redb file (`<data_dir>/marathon.redb`): the group tree, every version of
//! every app, recent versions of the whole tree (for group rollback), and named JSON blobs the
//! scheduler keeps (framework id, instances, deployments, health).
//!
//! The tree is stored in pieces so that a change costs what changed, not the size of the tree:
//! the current version of each app is one row (`apps`: id → version), each app version is one
//! row (`app_versions`: (id, version ms) → JSON), and the group skeleton (groups, dependencies,
//! versions, no apps) is one small row. Every write is one fsync'd transaction, done before the
//! API answers.

use crate::model::{AppDefinition, Group, PathId, Timestamp};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const APPS: TableDefinition<&str, i64> = TableDefinition::new("apps");
const APP_VERSIONS: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("app_versions");
const ROOT_VERSIONS: TableDefinition<i64, &[u8]> = TableDefinition::new("root_versions");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");

const SKELETON_KEY: &str = "skeleton";

/// How many versions of the whole tree are kept for `PUT /v2/groups/{id}` rollbacks.
pub const ROOT_VERSIONS_KEPT: usize = 100;

/// The file name under the data directory.
pub const FILE_NAME: &str = "marathon.redb";

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

/// A group without its apps; apps are referenced by id → version.
#[derive(Serialize, Deserialize)]
struct Skeleton {
    id: PathId,
    #[serde(default)]
    groups: Vec<Skeleton>,
    #[serde(default)]
    dependencies: Vec<PathId>,
    version: Timestamp,
    #[serde(default)]
    enforce_role: bool,
    /// App id → version, for this group's own apps.
    #[serde(default)]
    apps: BTreeMap<String, Timestamp>,
}

impl Skeleton {
    fn of(g: &Group) -> Skeleton {
        Skeleton {
            id: g.id.clone(),
            groups: g.groups.values().map(Skeleton::of).collect(),
            dependencies: g.dependencies.clone(),
            version: g.version,
            enforce_role: g.enforce_role,
            apps: g
                .apps
                .values()
                .map(|a| (a.id.to_string(), a.version))
                .collect(),
        }
    }
}

/// What one [`Store::save_root`] added, so that [`Store::revert`] can take it back when the
/// scheduler refuses the change.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Saved {
    new_app_versions: Vec<(String, i64)>,
    /// The tree version written, if it did not exist before.
    new_root_version: Option<i64>,
}

/// The Marathon store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Store {
    db: Database,
    /// App id → version as last written, so `save_root` writes only what changed.
    saved: Mutex<BTreeMap<String, Timestamp>>,
}

impl Store {
    /// Opens (or creates) `<dir>/marathon.redb`, creating `dir` if needed.
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
            txn.open_table(META).map_err(dberr)?;
            txn.open_table(APPS).map_err(dberr)?;
            txn.open_table(APP_VERSIONS).map_err(dberr)?;
            txn.open_table(ROOT_VERSIONS).map_err(dberr)?;
            txn.open_table(BLOBS).map_err(dberr)?;
        }
        txn.commit().map_err(dberr)?;
        let store = Store {
            db,
            saved: Mutex::new(BTreeMap::new()),
        };
        let current = store.current_app_versions()?;
        *store.saved_lock() = current;
        Ok(store)
    }

    fn saved_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Timestamp>> {
        self.saved.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current_app_versions(&self) -> Result<BTreeMap<String, Timestamp>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(APPS).map_err(dberr)?;
        let mut out = BTreeMap::new();
        for row in t.iter().map_err(dberr)? {
            let (k, v) = row.map_err(dberr)?;
            out.insert(k.value().to_string(), Timestamp::from_millis(v.value()));
        }
        Ok(out)
    }

    /// Persists `root` as the current tree: new app versions, the current version of each app,
    /// removed apps, the skeleton, and a tree version keyed by `root.version`. One transaction.
    pub fn save_root(&self, root: &Group) -> Result<Saved, StoreError> {
        let mut record = Saved::default();
        let mut saved = self.saved_lock();
        let apps = root.transitive_apps();
        let now: BTreeMap<String, &AppDefinition> =
            apps.iter().map(|a| (a.id.to_string(), *a)).collect();
        let skeleton =
            serde_json::to_vec(&Skeleton::of(root)).map_err(|e| StoreError::Db(e.to_string()))?;
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut current = txn.open_table(APPS).map_err(dberr)?;
            let mut versions = txn.open_table(APP_VERSIONS).map_err(dberr)?;
            for (id, app) in &now {
                if saved.get(id) == Some(&app.version) {
                    continue;
                }
                let key = (id.as_str(), app.version.millis());
                if versions.get(key).map_err(dberr)?.is_none() {
                    record
                        .new_app_versions
                        .push((id.clone(), app.version.millis()));
                    let json =
                        serde_json::to_vec(app).map_err(|e| StoreError::Db(e.to_string()))?;
                    versions.insert(key, json.as_slice()).map_err(dberr)?;
                }
                current
                    .insert(id.as_str(), app.version.millis())
                    .map_err(dberr)?;
            }
            for id in saved.keys() {
                if !now.contains_key(id) {
                    current.remove(id.as_str()).map_err(dberr)?;
                }
            }
            let mut meta = txn.open_table(META).map_err(dberr)?;
            meta.insert(SKELETON_KEY, skeleton.as_slice())
                .map_err(dberr)?;
            let mut roots = txn.open_table(ROOT_VERSIONS).map_err(dberr)?;
            if roots.get(root.version.millis()).map_err(dberr)?.is_none() {
                record.new_root_version = Some(root.version.millis());
            }
            roots
                .insert(root.version.millis(), skeleton.as_slice())
                .map_err(dberr)?;
            let n = roots.len().map_err(dberr)? as usize;
            if n > ROOT_VERSIONS_KEPT {
                let old: Vec<i64> = roots
                    .iter()
                    .map_err(dberr)?
                    .take(n - ROOT_VERSIONS_KEPT)
                    .filter_map(|r| r.ok().map(|(k, _)| k.value()))
                    .collect();
                for k in old {
                    roots.remove(k).map_err(dberr)?;
                }
            }
        }
        txn.commit().map_err(dberr)?;
        *saved = now.iter().map(|(id, a)| (id.clone(), a.version)).collect();
        Ok(record)
    }

    /// Puts `previous` back as the current tree and removes what `saved` added.
    pub fn revert(&self, saved: Saved, previous: &Group) -> Result<(), StoreError> {
        let _ = self.save_root(previous)?;
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut versions = txn.open_table(APP_VERSIONS).map_err(dberr)?;
            for (id, v) in &saved.new_app_versions {
                let still_current = previous
                    .app(&PathId::parse(id))
                    .is_some_and(|a| a.version.millis() == *v);
                if !still_current {
                    versions.remove((id.as_str(), *v)).map_err(dberr)?;
                }
            }
            if let Some(v) = saved
                .new_root_version
                .filter(|v| *v != previous.version.millis())
            {
                txn.open_table(ROOT_VERSIONS)
                    .map_err(dberr)?
                    .remove(v)
                    .map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// The current tree, or `None` if nothing was ever saved.
    pub fn load_root(&self) -> Result<Option<Group>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let meta = txn.open_table(META).map_err(dberr)?;
        let Some(raw) = meta.get(SKELETON_KEY).map_err(dberr)? else {
            return Ok(None);
        };
        let skeleton: Skeleton = decode(SKELETON_KEY, raw.value())?;
        let versions = txn.open_table(APP_VERSIONS).map_err(dberr)?;
        build(&skeleton, &versions).map(Some)
    }

    /// The tree as it was at `version` (one of the last [`ROOT_VERSIONS_KEPT`]).
    pub fn root_at(&self, version: Timestamp) -> Result<Option<Group>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let roots = txn.open_table(ROOT_VERSIONS).map_err(dberr)?;
        let Some(raw) = roots.get(version.millis()).map_err(dberr)? else {
            return Ok(None);
        };
        let skeleton: Skeleton = decode("root version", raw.value())?;
        let versions = txn.open_table(APP_VERSIONS).map_err(dberr)?;
        build(&skeleton, &versions).map(Some)
    }

    /// Stored tree versions, newest first.
    pub fn root_versions(&self) -> Result<Vec<Timestamp>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let roots = txn.open_table(ROOT_VERSIONS).map_err(dberr)?;
        let mut out = Vec::new();
        for row in roots.iter().map_err(dberr)?.rev() {
            let (k, _) = row.map_err(dberr)?;
            out.push(Timestamp::from_millis(k.value()));
        }
        Ok(out)
    }

    /// Versions of one group found in the stored tree versions, newest first.
    pub fn group_versions(&self, id: &PathId) -> Result<Vec<Timestamp>, StoreError> {
        fn find<'a>(s: &'a Skeleton, id: &PathId) -> Option<&'a Skeleton> {
            if s.id == *id {
                return Some(s);
            }
            s.groups
                .iter()
                .filter(|g| id.starts_with(&g.id))
                .find_map(|g| find(g, id))
        }
        let txn = self.db.begin_read().map_err(dberr)?;
        let roots = txn.open_table(ROOT_VERSIONS).map_err(dberr)?;
        let mut out: Vec<Timestamp> = Vec::new();
        for row in roots.iter().map_err(dberr)?.rev() {
            let (_, v) = row.map_err(dberr)?;
            let skeleton: Skeleton = decode("root version", v.value())?;
            if let Some(g) = find(&skeleton, id) {
                if !out.contains(&g.version) {
                    out.push(g.version);
                }
            }
        }
        Ok(out)
    }

    /// Every stored version of an app, newest first.
    pub fn app_versions(&self, id: &PathId) -> Result<Vec<Timestamp>, StoreError> {
        let key = id.to_string();
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(APP_VERSIONS).map_err(dberr)?;
        let mut out = Vec::new();
        for row in t
            .range((key.as_str(), i64::MIN)..=(key.as_str(), i64::MAX))
            .map_err(dberr)?
            .rev()
        {
            let (k, _) = row.map_err(dberr)?;
            out.push(Timestamp::from_millis(k.value().1));
        }
        Ok(out)
    }

    /// One version of an app.
    pub fn app_version(
        &self,
        id: &PathId,
        version: Timestamp,
    ) -> Result<Option<AppDefinition>, StoreError> {
        let key = id.to_string();
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(APP_VERSIONS).map_err(dberr)?;
        match t.get((key.as_str(), version.millis())).map_err(dberr)? {
            Some(raw) => decode(&key, raw.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a named JSON blob (framework id, instances, health …) in one fsync'd transaction.
    pub fn put_blob<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_vec(value).map_err(|e| StoreError::Db(e.to_string()))?;
        self.put_blobs(&[(key, json)], &[])
    }

    /// Writes and deletes several blobs in one transaction (values are JSON bytes).
    pub fn put_blobs(&self, puts: &[(&str, Vec<u8>)], deletes: &[&str]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = txn.open_table(BLOBS).map_err(dberr)?;
            for (k, v) in puts {
                t.insert(*k, v.as_slice()).map_err(dberr)?;
            }
            for k in deletes {
                t.remove(*k).map_err(dberr)?;
            }
        }
        txn.commit().map_err(dberr)
    }

    /// Reads a named blob.
    pub fn get_blob<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(BLOBS).map_err(dberr)?;
        match t.get(key).map_err(dberr)? {
            Some(raw) => decode(key, raw.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Deletes a named blob (no error if absent).
    pub fn delete_blob(&self, key: &str) -> Result<(), StoreError> {
        self.put_blobs(&[], &[key])
    }

    /// Every blob whose key starts with `prefix`, in key order (e.g. `instance/`).
    pub fn blobs_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let txn = self.db.begin_read().map_err(dberr)?;
        let t = txn.open_table(BLOBS).map_err(dberr)?;
        let mut out = Vec::new();
        for row in t.range(prefix..).map_err(dberr)? {
            let (k, v) = row.map_err(dberr)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_string(), decode(key, v.value())?));
        }
        Ok(out)
    }
}

fn decode<T: DeserializeOwned>(key: &str, raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

fn build(
    s: &Skeleton,
    versions: &impl ReadableTable<(&'static str, i64), &'static [u8]>,
) -> Result<Group, StoreError> {
    let mut g = Group::empty(s.id.clone(), s.version);
    g.dependencies = s.dependencies.clone();
    g.enforce_role = s.enforce_role;
    for (id, v) in &s.apps {
        let raw = versions
            .get((id.as_str(), v.millis()))
            .map_err(dberr)?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{id}@{v}"),
                message: "app version referenced by the tree is missing".into(),
            })?;
        let app: AppDefinition = decode(id, raw.value())?;
        g.apps.insert(app.id.clone(), app);
    }
    for c in &s.groups {
        let child = build(c, versions)?;
        g.groups.insert(child.id.clone(), child);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_versions_and_blobs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let t1 = Timestamp::from_millis(1_000);
        let t2 = Timestamp::from_millis(2_000);
        let mut root = Group::empty_root(t1);
        let mut a = AppDefinition::command("/prod/a", "sleep 1");
        a.version = t1;
        root.put_app(a.clone(), t1);
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.load_root().unwrap().is_none());
            let _ = store.save_root(&root).unwrap();
            let mut a2 = AppDefinition {
                instances: 3,
                ..a.clone()
            };
            a2.version = t2;
            root.put_app(a2, t2);
            root.version = t2;
            let _ = store.save_root(&root).unwrap();
            store.put_blob("framework_id", "fw-1").unwrap();
            store
                .put_blob("instance/x", &serde_json::json!({"n": 1}))
                .unwrap();
            store
                .put_blob("instance/y", &serde_json::json!({"n": 2}))
                .unwrap();
            store.put_blob("other", &1).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let loaded = store.load_root().unwrap().unwrap();
        assert_eq!(loaded, root);
        let id = PathId::parse("/prod/a");
        assert_eq!(store.app_versions(&id).unwrap(), vec![t2, t1]);
        assert_eq!(store.app_version(&id, t1).unwrap().unwrap().instances, 1);
        assert_eq!(store.app_version(&id, t2).unwrap().unwrap().instances, 3);
        assert_eq!(store.root_versions().unwrap(), vec![t2, t1]);
        assert_eq!(
            store
                .root_at(t1)
                .unwrap()
                .unwrap()
                .app(&id)
                .unwrap()
                .instances,
            1
        );
        assert_eq!(
            store.get_blob::<String>("framework_id").unwrap().as_deref(),
            Some("fw-1")
        );
        let inst = store.blobs_with_prefix("instance/").unwrap();
        assert_eq!(
            inst.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            vec!["instance/x", "instance/y"]
        );
        store.delete_blob("instance/x").unwrap();
        assert_eq!(store.blobs_with_prefix("instance/").unwrap().len(), 1);
        assert!(store.get_blob::<String>("missing").unwrap().is_none());

        // Removing the app removes it from the current tree but keeps its history.
        let mut empty = Group::empty_root(Timestamp::from_millis(3_000));
        empty.version = Timestamp::from_millis(3_000);
        let _ = store.save_root(&empty).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_root().unwrap().unwrap().app_count(), 0);
        assert_eq!(store.app_versions(&id).unwrap().len(), 2);
    }

    #[test]
    fn revert_takes_back_a_refused_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t1 = Timestamp::from_millis(1);
        let t2 = Timestamp::from_millis(2);
        let mut a = AppDefinition::command("/a", "x");
        a.version = t1;
        let mut root = Group::empty_root(t1);
        root.put_app(a.clone(), t1);
        let _ = store.save_root(&root).unwrap();
        let mut next = root.clone();
        next.put_app(
            AppDefinition {
                instances: 9,
                version: t2,
                ..a
            },
            t2,
        );
        next.version = t2;
        let saved = store.save_root(&next).unwrap();
        store.revert(saved, &root).unwrap();
        let id = PathId::parse("/a");
        assert_eq!(store.load_root().unwrap().unwrap(), root);
        assert_eq!(store.app_versions(&id).unwrap(), vec![t1]);
        assert_eq!(store.root_versions().unwrap(), vec![t1]);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .put_blobs(&[("bad", b"{not json".to_vec())], &[])
            .unwrap();
        assert!(matches!(
            store.get_blob::<serde_json::Value>("bad"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn old_tree_versions_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..(ROOT_VERSIONS_KEPT as i64 + 5) {
            let _ = store
                .save_root(&Group::empty_root(Timestamp::from_millis(i)))
                .unwrap();
        }
        let v = store.root_versions().unwrap();
        assert_eq!(v.len(), ROOT_VERSIONS_KEPT);
        assert_eq!(v[0], Timestamp::from_millis(ROOT_VERSIONS_KEPT as i64 + 4));
    }
}
