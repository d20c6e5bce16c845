//! Resource arithmetic and the Mesos resource/attribute text syntax.
//!
//! Scalars are kept in fixed point (thousandths, as Mesos rounds them), so
//! sums and differences are exact and "used + offered ≤ total" can be checked
//! without float drift. Ranges are kept merged and sorted.

use crate::small_map::SmallMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::mesos::{Attribute, Range, Ranges, Resource, Scalar, Text, ValueType};

const MILLI: f64 = 1000.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("resource '{0}': expected NAME:VALUE")]
    MissingColon(String),
    #[error("resource '{name}': '{value}' is not a non-negative number")]
    BadScalar { name: String, value: String },
    #[error("resource '{name}': bad range list '{value}' (expected [BEGIN-END,…])")]
    BadRanges { name: String, value: String },
    #[error("resource '{0}' is given twice")]
    Duplicate(String),
    #[error("resource '{0}': reservations for roles are not supported yet")]
    Reserved(String),
    #[error("resource name is empty")]
    EmptyName,
    #[error("attribute '{0}': expected NAME:VALUE")]
    BadAttribute(String),
}

/// A merged, sorted set of inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    pub fn new(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut v: Vec<(u64, u64)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (b, e) in v {
            match out.last_mut() {
                Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((b, e)),
            }
        }
        RangeSet(out)
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|(b, e)| e - b + 1).sum()
    }

    pub fn union(&self, other: &RangeSet) -> RangeSet {
        RangeSet::new(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn contains_value(&self, v: u64) -> bool {
        self.0.iter().any(|(b, e)| *b <= v && v <= *e)
    }

    pub fn contains(&self, other: &RangeSet) -> bool {
        other
            .0
            .iter()
            .all(|(ob, oe)| self.0.iter().any(|(b, e)| b <= ob && oe <= e))
    }

    pub fn subtract(&self, other: &RangeSet) -> RangeSet {
        let mut out = Vec::new();
        for &(b, e) in &self.0 {
            let mut pieces = vec![(b, e)];
            for &(ob, oe) in &other.0 {
                let mut next = Vec::new();
                for (pb, pe) in pieces {
                    if oe < pb || ob > pe {
                        next.push((pb, pe));
                        continue;
                    }
                    if ob > pb {
                        next.push((pb, ob - 1));
                    }
                    if oe < pe {
                        next.push((oe + 1, pe));
                    }
                }
                pieces = next;
            }
            out.extend(pieces);
        }
        RangeSet::new(out)
    }

    /// The first `n` values, as a set.
    pub fn take(&self, n: u64) -> RangeSet {
        let mut left = n;
        let mut out = Vec::new();
        for &(b, e) in &self.0 {
            if left == 0 {
                break;
            }
            let len = e - b + 1;
            let take = len.min(left);
            out.push((b, b + take - 1));
            left -= take;
        }
        RangeSet(out)
    }

    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().flat_map(|(b, e)| *b..=*e)
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{b}-{e}")?;
        }
        f.write_str("]")
    }
}

/// A bag of unreserved resources: named scalars and named range sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    scalars: SmallMap<i64>,
    ranges: SmallMap<RangeSet>,
}

fn to_milli(v: f64) -> i64 {
    (v * MILLI).round() as i64
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_scalar(mut self, name: &str, value: f64) -> Self {
        self.set_scalar(name, value);
        self
    }

    pub fn with_ranges(mut self, name: &str, set: RangeSet) -> Self {
        if !set.is_empty() {
            self.ranges.insert(name.to_string(), set);
        }
        self
    }

    pub fn set_scalar(&mut self, name: &str, value: f64) {
        let m = to_milli(value);
        if m > 0 {
            self.scalars.insert(name.to_string(), m);
        } else {
            self.scalars.remove(name);
        }
    }

    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars.get(name).copied().unwrap_or(0) as f64 / MILLI
    }

    pub fn scalar_milli(&self, name: &str) -> i64 {
        self.scalars.get(name).copied().unwrap_or(0)
    }

    pub fn range_set(&self, name: &str) -> Option<&RangeSet> {
        self.ranges.get(name)
    }

    pub fn scalars(&self) -> impl Iterator<Item = (&str, f64)> {
        self.scalars
            .iter()
            .map(|(k, v)| (k.as_str(), *v as f64 / MILLI))
    }

    pub fn range_names(&self) -> impl Iterator<Item = &str> {
        self.ranges.keys().map(|k| k.as_str())
    }

    pub fn scalar_names(&self) -> impl Iterator<Item = &str> {
        self.scalars.keys().map(|k| k.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.ranges.is_empty()
    }

    /// The scalar part only (ranges from different agents do not add up).
    pub fn scalars_only(&self) -> Resources {
        Resources {
            scalars: self.scalars.clone(),
            ranges: SmallMap::default(),
        }
    }

    pub fn add(&mut self, other: &Resources) {
        for (k, v) in &other.scalars {
            *self.scalars.entry_or(k, 0) += v;
        }
        for (k, v) in &other.ranges {
            let merged = match self.ranges.get(k) {
                Some(cur) => cur.union(v),
                None => v.clone(),
            };
            self.ranges.insert(k.clone(), merged);
        }
    }

    /// Removes `other`, saturating at zero.
    pub fn subtract(&mut self, other: &Resources) {
        for (k, v) in &other.scalars {
            if let Some(cur) = self.scalars.get_mut(k) {
                *cur -= v;
                if *cur <= 0 {
                    self.scalars.remove(k);
                }
            }
        }
        for (k, v) in &other.ranges {
            if let Some(cur) = self.ranges.get(k) {
                let left = cur.subtract(v);
                if left.is_empty() {
                    self.ranges.remove(k);
                } else {
                    self.ranges.insert(k.clone(), left);
                }
            }
        }
    }

    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add(other);
        r
    }

    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.subtract(other);
        r
    }

    /// True when every part of `other` is within `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        other
            .scalars
            .iter()
            .all(|(k, v)| self.scalars.get(k).copied().unwrap_or(0) >= *v)
            && other
                .ranges
                .iter()
                .all(|(k, v)| self.ranges.get(k).is_some_and(|cur| cur.contains(v)))
    }

    /// Names of the parts of `other` that `self` cannot cover.
    pub fn shortfall(&self, other: &Resources) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &other.scalars {
            let have = self.scalars.get(k).copied().unwrap_or(0);
            if have < *v {
                out.push(format!(
                    "{k}: asked {} but only {} available",
                    *v as f64 / MILLI,
                    have as f64 / MILLI
                ));
            }
        }
        for (k, v) in &other.ranges {
            if !self.ranges.get(k).is_some_and(|cur| cur.contains(v)) {
                let have = self.ranges.get(k).cloned().unwrap_or_default();
                out.push(format!("{k}: asked {v} but only {have} available"));
            }
        }
        out
    }

    /// Converts Mesos `Resource` messages. Unknown types are an error.
    pub fn from_mesos(list: &[Resource]) -> Result<Resources, String> {
        let mut r = Resources::new();
        for res in list {
            if res.name.is_empty() {
                return Err("resource with an empty name".into());
            }
            match res.kind {
                ValueType::Scalar => {
                    let v = res.scalar.map(|s| s.value).unwrap_or(0.0);
                    if !v.is_finite() || v < 0.0 {
                        return Err(format!("resource '{}': scalar must be ≥ 0", res.name));
                    }
                    let mut one = Resources::new();
                    one.set_scalar(&res.name, v);
                    r.add(&one);
                }
                ValueType::Ranges => {
                    let set = RangeSet::new(
                        res.ranges
                            .iter()
                            .flat_map(|rs| rs.range.iter())
                            .map(|x| (x.begin, x.end)),
                    );
                    r.add(&Resources::new().with_ranges(&res.name, set));
                }
                ValueType::Set | ValueType::Text => {
                    return Err(format!(
                        "resource '{}': SET and TEXT resources are not supported",
                        res.name
                    ))
                }
            }
        }
        Ok(r)
    }

    /// The Mesos wire form, with an optional allocation role.
    pub fn to_mesos(&self, allocation_role: Option<&str>) -> Vec<Resource> {
        let alloc = allocation_role.map(|r| crate::mesos::AllocationInfo {
            role: Some(r.to_string()),
        });
        let mut out = Vec::new();
        for (k, v) in &self.scalars {
            out.push(Resource {
                name: k.clone(),
                kind: ValueType::Scalar,
                scalar: Some(Scalar {
                    value: *v as f64 / MILLI,
                }),
                role: Some("*".into()),
                allocation_info: alloc.clone(),
                ..Default::default()
            });
        }
        for (k, v) in &self.ranges {
            out.push(Resource {
                name: k.clone(),
                kind: ValueType::Ranges,
                ranges: Some(Ranges {
                    range: v
                        .ranges()
                        .iter()
                        .map(|(b, e)| Range { begin: *b, end: *e })
                        .collect(),
                }),
                role: Some("*".into()),
                allocation_info: alloc.clone(),
                ..Default::default()
            });
        }
        out
    }

    /// The flat v0 JSON form used by `/master/state`:
    /// `{"cpus":4,"mem":4096,"disk":0,"gpus":0,"ports":"[31000-32000]"}`.
    pub fn to_flat_json(&self) -> Value {
        let mut m = Map::new();
        for base in ["cpus", "disk", "gpus", "mem"] {
            m.insert(base.to_string(), Value::from(self.scalar(base)));
        }
        for (k, v) in self.scalars() {
            m.insert(k.to_string(), Value::from(v));
        }
        for (k, v) in &self.ranges {
            m.insert(k.clone(), Value::from(v.to_string()));
        }
        Value::Object(m)
    }

    /// Parses `cpus:4;mem:2048;disk:10000;ports:[31000-31099]`.
    pub fn parse(text: &str) -> Result<Resources, ParseError> {
        let mut r = Resources::new();
        let mut seen = std::collections::HashSet::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once(':')
                .ok_or_else(|| ParseError::MissingColon(part.to_string()))?;
            let mut name = name.trim();
            if let Some(open) = name.find('(') {
                let role = name[open + 1..].trim_end_matches(')');
                if role != "*" {
                    return Err(ParseError::Reserved(name.to_string()));
                }
                name = name[..open].trim();
            }
            if name.is_empty() {
                return Err(ParseError::EmptyName);
            }
            if !seen.insert(name.to_string()) {
                return Err(ParseError::Duplicate(name.to_string()));
            }
            let value = value.trim();
            if value.starts_with('[') {
                let set = parse_ranges(value).ok_or_else(|| ParseError::BadRanges {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
                r = r.with_ranges(name, set);
            } else {
                let v: f64 = value.parse().map_err(|_| ParseError::BadScalar {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
                if !v.is_finite() || v < 0.0 {
                    return Err(ParseError::BadScalar {
                        name: name.to_string(),
                        value: value.to_string(),
                    });
                }
                r.set_scalar(name, v);
            }
        }
        Ok(r)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.scalars() {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            write!(f, "{k}:{v}")?;
        }
        for (k, v) in &self.ranges {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            let inner: Vec<String> = v.ranges().iter().map(|(b, e)| format!("{b}-{e}")).collect();
            write!(f, "{k}:[{}]", inner.join(","))?;
        }
        Ok(())
    }
}

fn parse_ranges(value: &str) -> Option<RangeSet> {
    let inner = value.strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    for piece in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (b, e) = piece.split_once('-')?;
        let b: u64 = b.trim().parse().ok()?;
        let e: u64 = e.trim().parse().ok()?;
        if b > e {
            return None;
        }
        out.push((b, e));
    }
    Some(RangeSet::new(out))
}

/// Parses `rack:r1;zone:a;level:3;ports:[1-5]` into Mesos attributes. A
/// numeric value becomes SCALAR, a bracketed list RANGES, the rest TEXT.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, ParseError> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| ParseError::BadAttribute(part.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(ParseError::BadAttribute(part.to_string()));
        }
        let attr = if let Ok(v) = value.parse::<f64>() {
            Attribute {
                name: name.into(),
                kind: ValueType::Scalar,
                scalar: Some(Scalar { value: v }),
                ..Default::default()
            }
        } else if value.starts_with('[') {
            let set = parse_ranges(value).ok_or_else(|| ParseError::BadAttribute(part.into()))?;
            Attribute {
                name: name.into(),
                kind: ValueType::Ranges,
                ranges: Some(Ranges {
                    range: set
                        .ranges()
                        .iter()
                        .map(|(b, e)| Range { begin: *b, end: *e })
                        .collect(),
                }),
                ..Default::default()
            }
        } else {
            Attribute {
                name: name.into(),
                kind: ValueType::Text,
                text: Some(Text {
                    value: value.into(),
                }),
                ..Default::default()
            }
        };
        out.push(attr);
    }
    Ok(out)
}

/// The attribute's value as text, for display and constraint matching.
pub fn attribute_value(a: &Attribute) -> String {
    match a.kind {
        ValueType::Scalar => a.scalar.map(|s| s.value.to_string()).unwrap_or_default(),
        ValueType::Text => a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        ValueType::Ranges => {
            let set = RangeSet::new(
                a.ranges
                    .iter()
                    .flat_map(|r| r.range.iter())
                    .map(|r| (r.begin, r.end)),
            );
            set.to_string()
        }
        ValueType::Set => a
            .set
            .as_ref()
            .map(|s| format!("{{{}}}", s.item.join(",")))
            .unwrap_or_default(),
    }
}

/// The flat v0 JSON form of attributes: `{"rack":"r1","level":3}`.
pub fn attributes_flat_json(attrs: &[Attribute]) -> Value {
    let mut m = Map::new();
    for a in attrs {
        let v = match a.kind {
            ValueType::Scalar => Value::from(a.scalar.map(|s| s.value).unwrap_or(0.0)),
            _ => Value::from(attribute_value(a)),
        };
        m.insert(a.name.clone(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_syntax() {
        let r = Resources::parse("cpus:4;mem:2048;disk:10000;ports:[31000-31099]").unwrap();
        assert_eq!(r.scalar("cpus"), 4.0);
        assert_eq!(r.scalar("mem"), 2048.0);
        assert_eq!(r.range_set("ports").unwrap().count(), 100);
        assert_eq!(
            r.to_string(),
            "cpus:4;disk:10000;mem:2048;ports:[31000-31099]"
        );
    }

    #[test]
    fn rejects_bad_syntax_with_the_offending_part() {
        assert_eq!(
            Resources::parse("cpus:four"),
            Err(ParseError::BadScalar {
                name: "cpus".into(),
                value: "four".into()
            })
        );
        assert!(matches!(
            Resources::parse("cpus"),
            Err(ParseError::MissingColon(_))
        ));
        assert!(matches!(
            Resources::parse("cpus:-1"),
            Err(ParseError::BadScalar { .. })
        ));
        assert!(matches!(
            Resources::parse("ports:[5-1]"),
            Err(ParseError::BadRanges { .. })
        ));
        assert!(matches!(
            Resources::parse("cpus:1;cpus:2"),
            Err(ParseError::Duplicate(_))
        ));
        assert!(matches!(
            Resources::parse("cpus(ads):1"),
            Err(ParseError::Reserved(_))
        ));
    }

    #[test]
    fn attributes_are_typed() {
        let a = parse_attributes("rack:r1;level:3").unwrap();
        assert_eq!(a[0].kind, ValueType::Text);
        assert_eq!(a[1].kind, ValueType::Scalar);
        assert!(parse_attributes("rack").is_err());
    }

    #[test]
    fn range_subtraction_splits() {
        let a = RangeSet::new([(1, 10)]);
        let b = RangeSet::new([(3, 4), (8, 8)]);
        assert_eq!(a.subtract(&b).ranges(), &[(1, 2), (5, 7), (9, 10)]);
        assert!(a.contains(&b));
        assert!(!b.contains(&a));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = Resources::parse(&s);
            let _ = parse_attributes(&s);
        }

        #[test]
        fn add_then_subtract_is_identity(a in 0u32..10000, b in 0u32..10000, p in 0u64..100, q in 0u64..100) {
            let x = Resources::new().with_scalar("cpus", a as f64 / 100.0).with_ranges("ports", RangeSet::new([(1000, 1000 + p)]));
            let y = Resources::new().with_scalar("cpus", b as f64 / 100.0).with_ranges("ports", RangeSet::new([(2000, 2000 + q)]));
            let sum = x.plus(&y);
            prop_assert!(sum.contains(&x) && sum.contains(&y));
            prop_assert_eq!(sum.minus(&y), x);
        }
    }
}
