//! Placement constraints with Marathon's semantics (`mesos/Constraints.scala`):
//! UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER and IS over the agent's
//! hostname or one of its attributes, checked against the app's instances
//! that are already placed; plus the GROUP_BY-aware choice of which instances
//! to kill on scale-down.

use std::collections::BTreeMap;
use std::fmt;

use paddock_proto::mesos::{Attribute, Offer, ValueType};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Unique,
    Cluster,
    GroupBy,
    Like,
    Unlike,
    MaxPer,
    Is,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "UNIQUE" => Operator::Unique,
            "CLUSTER" => Operator::Cluster,
            "GROUP_BY" => Operator::GroupBy,
            "LIKE" => Operator::Like,
            "UNLIKE" => Operator::Unlike,
            "MAX_PER" => Operator::MaxPer,
            "IS" => Operator::Is,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster => "CLUSTER",
            Operator::GroupBy => "GROUP_BY",
            Operator::Like => "LIKE",
            Operator::Unlike => "UNLIKE",
            Operator::MaxPer => "MAX_PER",
            Operator::Is => "IS",
        }
    }
}

/// Why a constraint is invalid; the texts are Marathon's validation messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("Each constraint must have either 2 or 3 fields")]
    Arity,
    #[error("Missing field and operator")]
    EmptyField,
    #[error("operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS")]
    UnknownOperator,
    #[error("UNIQUE does not accept a value")]
    UniqueWithValue,
    #[error("MAX_PER requires an integer value")]
    MaxPerValue,
    #[error("GROUP BY must define an integer value or else no value at all")]
    GroupByValue,
    #[error("LIKE and UNLIKE require a non-empty, regular expression value")]
    LikeValue,
    #[error("'{0}' is not a valid regular expression")]
    BadRegex(String),
    #[error("IS requires a value matching ^[a-zA-Z0-9_/.-]*$")]
    IsValue,
}

/// One parsed constraint. LIKE/UNLIKE keep their compiled (fully anchored)
/// regular expression.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub field: String,
    pub operator: Operator,
    pub value: Option<String>,
    regex: Option<Regex>,
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.operator == other.operator && self.value == other.value
    }
}

impl Constraint {
    /// Parses `[field, OPERATOR(, value)]`, with Marathon's validation rules.
    pub fn parse(parts: &[String]) -> Result<Constraint, ConstraintError> {
        let (field, op, value) = match parts {
            [f, o] => (f, o, None),
            [f, o, v] => (f, o, Some(v.clone())),
            _ => return Err(ConstraintError::Arity),
        };
        if field.is_empty() {
            return Err(ConstraintError::EmptyField);
        }
        let operator = Operator::parse(op).ok_or(ConstraintError::UnknownOperator)?;
        Constraint::new(field.clone(), operator, value)
    }

    pub fn new(
        field: impl Into<String>,
        operator: Operator,
        value: Option<String>,
    ) -> Result<Constraint, ConstraintError> {
        let field = field.into();
        let mut regex = None;
        match operator {
            Operator::Unique => {
                if value.is_some() {
                    return Err(ConstraintError::UniqueWithValue);
                }
            }
            Operator::Cluster => {}
            Operator::GroupBy => {
                if let Some(v) = &value {
                    if v.parse::<i64>().is_err() {
                        return Err(ConstraintError::GroupByValue);
                    }
                }
            }
            Operator::MaxPer => match &value {
                Some(v) if v.parse::<i64>().is_ok() => {}
                _ => return Err(ConstraintError::MaxPerValue),
            },
            Operator::Like | Operator::Unlike => match &value {
                Some(v) if !v.is_empty() => {
                    regex = Some(
                        Regex::new(&format!("^(?:{v})$"))
                            .map_err(|_| ConstraintError::BadRegex(v.clone()))?,
                    );
                }
                _ => return Err(ConstraintError::LikeValue),
            },
            Operator::Is => {
                let ok = value.as_deref().is_some_and(|v| {
                    v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'))
                });
                if !ok {
                    return Err(ConstraintError::IsValue);
                }
            }
        }
        Ok(Constraint {
            field,
            operator,
            value,
            regex,
        })
    }

    /// The value as Marathon's checker sees it: an absent value is "".
    fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }

    /// Whether an offer from `offer` may take one more instance, given the
    /// app's instances already placed (`placed`).
    pub fn accepts<'a>(&'a self, offer: &'a Place, placed: &[&'a Place]) -> bool {
        let offer_value = offer.field(&self.field);
        let Some(offer_value) = offer_value else {
            // Only UNLIKE matches an offer that lacks the field.
            return self.operator == Operator::Unlike;
        };
        let field = self.field.as_str();
        let placed_value = |p: &&'a Place| p.field(field);
        match self.operator {
            Operator::Like => self.regex.as_ref().is_some_and(|r| r.is_match(offer_value)),
            Operator::Unlike => self
                .regex
                .as_ref()
                .is_some_and(|r| !r.is_match(offer_value)),
            Operator::Unique => placed.iter().all(|p| placed_value(p) != Some(offer_value)),
            Operator::Cluster => {
                if self.value_str().is_empty() {
                    placed
                        .first()
                        .is_none_or(|p| placed_value(p) == Some(offer_value))
                } else {
                    offer_value == self.value_str()
                }
            }
            Operator::GroupBy => {
                let minimum = parse_group_count(self.value_str());
                let groups = group_counts(placed.iter().map(placed_value));
                let min_count = groups.values().copied().min().unwrap_or(0);
                match groups.get(&Some(offer_value)) {
                    None => true,
                    Some(count) => groups.len() >= minimum && *count == min_count,
                }
            }
            Operator::MaxPer => {
                let max = self.value_str().parse::<i64>().unwrap_or(0);
                let count = placed
                    .iter()
                    .filter(|p| placed_value(p) == Some(offer_value))
                    .count() as i64;
                count < max
            }
            Operator::Is => {
                let want = if is_mesos_scalar(self.value_str()) {
                    self.value_str()
                        .parse::<f64>()
                        .map(format_scalar)
                        .unwrap_or_else(|_| self.value_str().to_string())
                } else {
                    self.value_str().to_string()
                };
                offer_value == want
            }
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field, self.operator.as_str())?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl Serialize for Constraint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut parts = vec![self.field.clone(), self.operator.as_str().to_string()];
        if let Some(v) = &self.value {
            parts.push(v.clone());
        }
        parts.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Constraint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parts = Vec::<String>::deserialize(d)?;
        Constraint::parse(&parts).map_err(serde::de::Error::custom)
    }
}

/// `"inf"` = unbounded; a number = itself; anything else = 0.
fn parse_group_count(s: &str) -> usize {
    if s == "inf" {
        return usize::MAX;
    }
    s.parse::<i64>().map(|n| n.max(0) as usize).unwrap_or(0)
}

fn group_counts<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
) -> BTreeMap<Option<&'a str>, usize> {
    let mut groups = BTreeMap::new();
    for v in values {
        *groups.entry(v).or_insert(0) += 1;
    }
    groups
}

fn is_mesos_scalar(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Java's `DecimalFormat("0.###")` (HALF_EVEN on the exact binary value): at
/// most three decimals, no trailing zeros, no grouping.
pub fn format_scalar(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// An attribute's value as Marathon's constraint checker formats it.
pub fn attribute_string(a: &Attribute) -> String {
    match a.kind {
        ValueType::Scalar => format_scalar(a.scalar.map(|s| s.value).unwrap_or(0.0)),
        ValueType::Text => a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        ValueType::Ranges => {
            let mut ranges: Vec<(u64, u64)> = a
                .ranges
                .iter()
                .flat_map(|r| r.range.iter())
                .map(|r| (r.begin, r.end))
                .collect();
            ranges.sort_by_key(|r| r.0);
            let inner: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            format!("[{}]", inner.join(","))
        }
        ValueType::Set => {
            let mut items = a.set.as_ref().map(|s| s.item.clone()).unwrap_or_default();
            items.sort();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Where an instance runs (or an offer comes from): the agent's hostname and
/// its attributes, already formatted for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
}

impl Place {
    pub fn new(hostname: impl Into<String>) -> Place {
        Place {
            hostname: hostname.into(),
            ..Place::default()
        }
    }

    pub fn with_attribute(mut self, name: &str, value: &str) -> Place {
        self.attributes.insert(name.to_string(), value.to_string());
        self
    }

    pub fn of_offer(offer: &Offer) -> Place {
        Place {
            hostname: offer.hostname.clone(),
            attributes: offer
                .attributes
                .iter()
                .map(|a| (a.name.clone(), attribute_string(a)))
                .collect(),
            region: None,
            zone: None,
        }
    }

    /// The value a constraint over `field` reads.
    pub fn field(&self, field: &str) -> Option<&str> {
        match field {
            "hostname" | "@hostname" => Some(self.hostname.as_str()),
            "@region" => self.region.as_deref(),
            "@zone" => self.zone.as_deref(),
            other => self.attributes.get(other).map(|s| s.as_str()),
        }
    }
}

/// The first constraint that rejects the offer, if any.
pub fn first_unmet<'a>(
    constraints: &'a [Constraint],
    offer: &Place,
    placed: &[&Place],
) -> Option<&'a Constraint> {
    constraints.iter().find(|c| !c.accepts(offer, placed))
}

/// Marathon's `selectInstancesToKill`: picks up to `count` of `running` so
/// that every GROUP_BY distribution stays as even as possible. Returns
/// indices into `running`. Without GROUP_BY constraints it returns nothing
/// (the caller then applies killSelection); it may return fewer than asked.
pub fn select_to_kill(constraints: &[Constraint], running: &[&Place], count: usize) -> Vec<usize> {
    if count >= running.len() {
        return (0..running.len()).collect();
    }
    let distributions: Vec<Vec<Vec<usize>>> = constraints
        .iter()
        .filter(|c| c.operator == Operator::GroupBy)
        .map(|c| {
            let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
            for (i, p) in running.iter().enumerate() {
                groups.entry(p.field(&c.field)).or_default().push(i);
            }
            groups.into_values().collect()
        })
        .collect();
    if distributions.is_empty() {
        return Vec::new();
    }
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < count {
        let mut order: Vec<&Vec<Vec<usize>>> = distributions.iter().collect();
        order.sort_by_key(|d| std::cmp::Reverse(difference(d, &chosen)));
        let candidates = order
            .iter()
            .flat_map(|d| from_largest_groups(d, &chosen))
            .chain((0..running.len()).filter(|i| !chosen.contains(i)));
        let mut pick = None;
        for candidate in candidates {
            let mut trial = chosen.clone();
            trial.push(candidate);
            let better = distributions.iter().all(|d| {
                let after = difference(d, &trial);
                after <= 1 || difference(d, &[]) > after
            });
            if better {
                pick = Some(candidate);
                break;
            }
        }
        match pick {
            Some(i) => chosen.push(i),
            None => break,
        }
    }
    chosen
}

fn sizes_without(groups: &[Vec<usize>], without: &[usize]) -> Vec<usize> {
    groups
        .iter()
        .map(|g| g.iter().filter(|i| !without.contains(i)).count())
        .collect()
}

fn difference(groups: &[Vec<usize>], without: &[usize]) -> usize {
    let sizes = sizes_without(groups, without);
    let max = sizes.iter().copied().max().unwrap_or(0);
    let min = sizes.iter().copied().min().unwrap_or(0);
    max - min
}

/// Members of the largest groups (not yet chosen), unless the groups are even.
fn from_largest_groups(groups: &[Vec<usize>], without: &[usize]) -> Vec<usize> {
    let sizes = sizes_without(groups, without);
    let max = sizes.iter().copied().max().unwrap_or(0);
    let min = sizes.iter().copied().min().unwrap_or(0);
    if max == min {
        return Vec::new();
    }
    groups
        .iter()
        .zip(&sizes)
        .filter(|(_, s)| **s == max)
        .flat_map(|(g, _)| g.iter().copied().filter(|i| !without.contains(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::mesos::{Range, Ranges, Scalar, Set, Text};

    fn c(parts: &[&str]) -> Constraint {
        let parts: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        match Constraint::parse(&parts) {
            Ok(c) => c,
            Err(e) => panic!("{parts:?}: {e}"),
        }
    }

    fn err(parts: &[&str]) -> String {
        let parts: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        match Constraint::parse(&parts) {
            Ok(c) => panic!("{c} should be invalid"),
            Err(e) => e.to_string(),
        }
    }

    fn host(h: &str) -> Place {
        Place::new(h)
    }

    fn rack(h: &str, r: &str) -> Place {
        Place::new(h).with_attribute("rack", r)
    }

    #[test]
    fn validation_messages_are_marathons() {
        assert_eq!(
            err(&["hostname", "FOO"]),
            "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
        );
        assert_eq!(
            err(&["hostname", "UNIQUE", "x"]),
            "UNIQUE does not accept a value"
        );
        assert_eq!(
            err(&["hostname", "MAX_PER"]),
            "MAX_PER requires an integer value"
        );
        assert_eq!(
            err(&["hostname", "MAX_PER", "two"]),
            "MAX_PER requires an integer value"
        );
        assert_eq!(
            err(&["hostname", "GROUP_BY", "x"]),
            "GROUP BY must define an integer value or else no value at all"
        );
        assert_eq!(
            err(&["hostname", "LIKE"]),
            "LIKE and UNLIKE require a non-empty, regular expression value"
        );
        assert_eq!(
            err(&["hostname", "UNLIKE", ""]),
            "LIKE and UNLIKE require a non-empty, regular expression value"
        );
        assert!(err(&["hostname", "LIKE", "("]).contains("regular expression"));
        assert!(err(&["rack", "IS", "a b"]).contains("IS"));
        assert_eq!(
            err(&["hostname"]),
            "Each constraint must have either 2 or 3 fields"
        );
        assert!(Constraint::parse(&["rack".into(), "GROUP_BY".into(), "3".into()]).is_ok());
    }

    #[test]
    fn unique_rejects_a_value_already_used() {
        let k = c(&["hostname", "UNIQUE"]);
        let a = host("a");
        assert!(k.accepts(&host("a"), &[]));
        assert!(!k.accepts(&host("a"), &[&a]));
        assert!(k.accepts(&host("b"), &[&a]));
        let by_rack = c(&["rack", "UNIQUE"]);
        let r1 = rack("x", "r1");
        assert!(!by_rack.accepts(&rack("y", "r1"), &[&r1]));
        assert!(by_rack.accepts(&rack("y", "r2"), &[&r1]));
        // An offer without the attribute never matches UNIQUE.
        assert!(!by_rack.accepts(&host("z"), &[]));
    }

    #[test]
    fn cluster_with_and_without_value() {
        let fixed = c(&["rack", "CLUSTER", "r1"]);
        assert!(fixed.accepts(&rack("a", "r1"), &[]));
        assert!(!fixed.accepts(&rack("a", "r2"), &[]));
        let free = c(&["rack", "CLUSTER"]);
        let first = rack("a", "r2");
        assert!(free.accepts(&rack("b", "r9"), &[]), "first goes anywhere");
        assert!(free.accepts(&rack("b", "r2"), &[&first]));
        assert!(!free.accepts(&rack("b", "r3"), &[&first]));
        let by_host = c(&["hostname", "CLUSTER", "a"]);
        assert!(by_host.accepts(&host("a"), &[]));
        assert!(!by_host.accepts(&host("b"), &[]));
    }

    #[test]
    fn group_by_spreads_evenly() {
        let k = c(&["rack", "GROUP_BY"]);
        let (a1, a2, b1) = (rack("h1", "a"), rack("h2", "a"), rack("h3", "b"));
        // A value not seen yet is always accepted.
        assert!(k.accepts(&rack("h9", "c"), &[&a1, &a2, &b1]));
        // A seen value only if it is (one of) the smallest group(s).
        assert!(!k.accepts(&rack("h4", "a"), &[&a1, &a2, &b1]));
        assert!(k.accepts(&rack("h4", "b"), &[&a1, &a2, &b1]));
        // With N groups required, seen values are refused until N exist.
        let three = c(&["rack", "GROUP_BY", "3"]);
        assert!(!three.accepts(&rack("h4", "b"), &[&a1, &b1]));
        assert!(three.accepts(&rack("h4", "c"), &[&a1, &b1]));
        let c1 = rack("h5", "c");
        assert!(three.accepts(&rack("h4", "b"), &[&a1, &a2, &b1, &c1]));
    }

    #[test]
    fn max_per_caps_each_value() {
        let k = c(&["rack", "MAX_PER", "2"]);
        let (a1, a2) = (rack("h1", "a"), rack("h2", "a"));
        assert!(k.accepts(&rack("h3", "a"), &[&a1]));
        assert!(!k.accepts(&rack("h3", "a"), &[&a1, &a2]));
        assert!(k.accepts(&rack("h3", "b"), &[&a1, &a2]));
        let host_one = c(&["hostname", "MAX_PER", "1"]);
        let h = host("a");
        assert!(!host_one.accepts(&host("a"), &[&h]));
    }

    #[test]
    fn like_and_unlike_are_full_matches() {
        let like = c(&["rack", "LIKE", "rack-[1-3]"]);
        assert!(like.accepts(&rack("h", "rack-2"), &[]));
        assert!(
            !like.accepts(&rack("h", "rack-22"), &[]),
            "must match the whole value"
        );
        assert!(!like.accepts(&rack("h", "xrack-2"), &[]));
        assert!(!like.accepts(&host("h"), &[]), "missing attribute");
        let unlike = c(&["rack", "UNLIKE", "rack-[1-3]"]);
        assert!(!unlike.accepts(&rack("h", "rack-2"), &[]));
        assert!(unlike.accepts(&rack("h", "rack-22"), &[]));
        assert!(
            unlike.accepts(&host("h"), &[]),
            "only UNLIKE matches a missing attribute"
        );
        let host_like = c(&["hostname", "LIKE", "web.*"]);
        assert!(host_like.accepts(&host("web3"), &[]));
        assert!(!host_like.accepts(&host("db1"), &[]));
    }

    #[test]
    fn is_compares_text_and_formatted_scalars() {
        let k = c(&["rack", "IS", "r1"]);
        assert!(k.accepts(&rack("h", "r1"), &[]));
        assert!(!k.accepts(&rack("h", "r10"), &[]));
        let scalar = Attribute {
            name: "level".into(),
            kind: ValueType::Scalar,
            scalar: Some(Scalar { value: 2.0 }),
            ..Default::default()
        };
        let offer = Offer {
            hostname: "h".into(),
            attributes: vec![scalar],
            ..Default::default()
        };
        let place = Place::of_offer(&offer);
        assert_eq!(place.field("level"), Some("2"));
        assert!(c(&["level", "IS", "2.000"]).accepts(&place, &[]));
        assert!(c(&["level", "IS", "2"]).accepts(&place, &[]));
        assert!(!c(&["level", "IS", "2.1"]).accepts(&place, &[]));
    }

    #[test]
    fn attribute_formatting_follows_marathon() {
        assert_eq!(format_scalar(1.0005), "1");
        assert_eq!(format_scalar(1.1005), "1.101");
        assert_eq!(format_scalar(3.0), "3");
        assert_eq!(format_scalar(0.25), "0.25");
        assert_eq!(format_scalar(1234567.5), "1234567.5");
        let ranges = Attribute {
            name: "r".into(),
            kind: ValueType::Ranges,
            ranges: Some(Ranges {
                range: vec![Range { begin: 5, end: 6 }, Range { begin: 1, end: 2 }],
            }),
            ..Default::default()
        };
        assert_eq!(attribute_string(&ranges), "[1-2,5-6]");
        let set = Attribute {
            name: "s".into(),
            kind: ValueType::Set,
            set: Some(Set {
                item: vec!["b".into(), "a".into()],
            }),
            ..Default::default()
        };
        assert_eq!(attribute_string(&set), "{a,b}");
        let text = Attribute {
            name: "t".into(),
            kind: ValueType::Text,
            text: Some(Text { value: "x".into() }),
            ..Default::default()
        };
        assert_eq!(attribute_string(&text), "x");
    }

    #[test]
    fn constraints_round_trip_as_json_arrays() {
        let k = c(&["rack", "GROUP_BY", "2"]);
        let json = serde_json::to_string(&k).unwrap_or_default();
        assert_eq!(json, r#"["rack","GROUP_BY","2"]"#);
        let back: Constraint = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, k);
        assert!(serde_json::from_str::<Constraint>(r#"["rack","NOPE"]"#).is_err());
    }

    #[test]
    fn kill_selection_evens_out_group_by() {
        let k = vec![c(&["rack", "GROUP_BY"])];
        let places = [
            rack("h1", "a"),
            rack("h2", "a"),
            rack("h3", "a"),
            rack("h4", "b"),
        ];
        let refs: Vec<&Place> = places.iter().collect();
        let picked = select_to_kill(&k, &refs, 2);
        assert_eq!(picked.len(), 2);
        assert!(
            picked.iter().all(|i| *i < 3),
            "kills come from the big group: {picked:?}"
        );
        // Without GROUP_BY, no opinion.
        assert!(select_to_kill(&[c(&["rack", "UNIQUE"])], &refs, 1).is_empty());
        // Killing everything short-circuits.
        assert_eq!(select_to_kill(&k, &refs, 4).len(), 4);
    }

    #[test]
    fn first_unmet_names_the_constraint() {
        let ks = vec![c(&["rack", "LIKE", "r.*"]), c(&["hostname", "UNIQUE"])];
        let a = rack("h1", "r1");
        assert!(first_unmet(&ks, &rack("h2", "r1"), &[&a]).is_none());
        let unmet = first_unmet(&ks, &rack("h1", "r1"), &[&a]).map(|c| c.to_string());
        assert_eq!(unmet.as_deref(), Some("hostname:UNIQUE"));
    }
}
