//! A tiny sorted map for the handful of names a `Resources` holds.
//!
//! A `BTreeMap<String, _>` allocates a node of room for eleven entries, so
//! an empty-ish `Resources` cost ~800 bytes; the master keeps several per
//! agent, offer and task. A sorted `Vec` of the few entries is a fraction
//! of that and just as fast at this size.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmallMap<V>(Vec<(String, V)>);

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<V> SmallMap<V> {
    fn find(&self, k: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(name, _)| name.as_str().cmp(k))
    }

    pub fn get(&self, k: &str) -> Option<&V> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        match self.find(k) {
            Ok(i) => Some(&mut self.0[i].1),
            Err(_) => None,
        }
    }

    pub fn insert(&mut self, k: String, v: V) {
        match self.find(&k) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (k, v)),
        }
    }

    pub fn remove(&mut self, k: &str) {
        if let Ok(i) = self.find(k) {
            self.0.remove(i);
        }
    }

    /// The entry for `k`, inserted with `default` if absent.
    pub fn entry_or(&mut self, k: &str, default: V) -> &mut V {
        let i = match self.find(k) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (k.to_string(), default));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_sorted_and_unique() {
        let mut m = SmallMap::default();
        m.insert("mem".to_string(), 1);
        m.insert("cpus".to_string(), 2);
        m.insert("mem".to_string(), 3);
        *m.entry_or("disk", 0) += 5;
        let keys: Vec<&String> = m.keys().collect();
        assert_eq!(keys, ["cpus", "disk", "mem"]);
        assert_eq!(m.get("mem"), Some(&3));
        m.remove("cpus");
        assert_eq!(m.get("cpus"), None);
    }
}
