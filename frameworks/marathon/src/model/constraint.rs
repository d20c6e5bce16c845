//! Placement constraints as Marathon writes them: `["hostname", "UNIQUE"]`,
//! `["rack", "GROUP_BY", "3"]`. The wire form is kept as data (a list of strings) so that
//! malformed constraints reach validation with Marathon's messages instead of failing to parse;
//! [`Constraint::parse`] gives the typed form to the scheduler.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One constraint, exactly as sent: 2 or 3 strings once validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Constraint(pub Vec<String>);

/// The operators Marathon 1.10 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstraintOperator {
    Unique,
    Cluster,
    GroupBy,
    Like,
    Unlike,
    MaxPer,
    Is,
}

impl ConstraintOperator {
    /// Case-insensitive, as Marathon upper-cases the operator before matching.
    pub fn from_name(s: &str) -> Option<ConstraintOperator> {
        Some(match s.to_ascii_uppercase().as_str() {
            "UNIQUE" => ConstraintOperator::Unique,
            "CLUSTER" => ConstraintOperator::Cluster,
            "GROUP_BY" => ConstraintOperator::GroupBy,
            "LIKE" => ConstraintOperator::Like,
            "UNLIKE" => ConstraintOperator::Unlike,
            "MAX_PER" => ConstraintOperator::MaxPer,
            "IS" => ConstraintOperator::Is,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ConstraintOperator::Unique => "UNIQUE",
            ConstraintOperator::Cluster => "CLUSTER",
            ConstraintOperator::GroupBy => "GROUP_BY",
            ConstraintOperator::Like => "LIKE",
            ConstraintOperator::Unlike => "UNLIKE",
            ConstraintOperator::MaxPer => "MAX_PER",
            ConstraintOperator::Is => "IS",
        }
    }
}

impl fmt::Display for ConstraintOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A constraint in typed form. `field` is `hostname`/`@hostname`, `@region`, `@zone` or an
/// agent attribute name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedConstraint {
    pub field: String,
    pub operator: ConstraintOperator,
    pub value: Option<String>,
}

/// Marathon's messages (SchedulingValidation.scala).
pub mod messages {
    pub const WRONG_ARITY: &str = "Each constraint must have either 2 or 3 fields";
    pub const MISSING_FIELD: &str = "missing field for constraint declaration";
    pub const BAD_OPERATOR: &str =
        "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS";
    pub const UNIQUE_VALUE: &str = "UNIQUE does not accept a value";
    pub const MAX_PER_INT: &str = "MAX_PER requires an integer value";
    pub const GROUP_BY_INT: &str = "GROUP BY must define an integer value or else no value at all";
    pub const LIKE_REGEX: &str = "LIKE and UNLIKE require a non-empty, regular expression value";
    pub const BAD_REGEX: &str = "is not a valid regular expression";
    pub const IS_TEXT: &str = "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)";
}

impl Constraint {
    pub fn new(field: &str, operator: ConstraintOperator, value: Option<&str>) -> Constraint {
        let mut v = vec![field.to_string(), operator.name().to_string()];
        if let Some(x) = value {
            v.push(x.to_string());
        }
        Constraint(v)
    }

    /// The typed constraint, or the validation message Marathon gives for this one.
    pub fn parse(&self) -> Result<ParsedConstraint, &'static str> {
        let c = &self.0;
        if c.len() < 2 || c.len() > 3 {
            return Err(messages::WRONG_ARITY);
        }
        let field = c[0].clone();
        if field.is_empty() {
            return Err(messages::MISSING_FIELD);
        }
        let operator = ConstraintOperator::from_name(&c[1]).ok_or(messages::BAD_OPERATOR)?;
        let value = c.get(2).cloned();
        let is_int = |v: &str| v.trim().parse::<i32>().is_ok();
        match operator {
            ConstraintOperator::Unique if value.is_some() => return Err(messages::UNIQUE_VALUE),
            ConstraintOperator::GroupBy if value.as_deref().is_some_and(|v| !is_int(v)) => {
                return Err(messages::GROUP_BY_INT)
            }
            ConstraintOperator::MaxPer if !value.as_deref().is_some_and(is_int) => {
                return Err(messages::MAX_PER_INT)
            }
            ConstraintOperator::Like | ConstraintOperator::Unlike => match value.as_deref() {
                None | Some("") => return Err(messages::LIKE_REGEX),
                Some(p) => {
                    if regex::Regex::new(&format!("^(?:{p})$")).is_err() {
                        return Err(messages::BAD_REGEX);
                    }
                }
            },
            ConstraintOperator::Is => {
                let v = value.as_deref().unwrap_or("");
                let ok = v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'.' | b'-'));
                if !ok {
                    return Err(messages::IS_TEXT);
                }
            }
            _ => {}
        }
        Ok(ParsedConstraint {
            field,
            operator,
            value,
        })
    }

    /// The constraint with its operator upper-cased, as Marathon stores it.
    pub fn normalized(&self) -> Constraint {
        let mut v = self.0.clone();
        if let Some(op) = v.get(1).and_then(|o| ConstraintOperator::from_name(o)) {
            v[1] = op.name().to_string();
        }
        Constraint(v)
    }
}

impl ParsedConstraint {
    /// The integer value of MAX_PER / GROUP_BY (0 when GROUP_BY has none).
    pub fn int_value(&self) -> Option<i64> {
        self.value.as_deref().and_then(|v| v.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(parts: &[&str]) -> Constraint {
        Constraint(parts.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn accepts_marathon_forms() {
        let p = c(&["hostname", "unique"]).parse().unwrap();
        assert_eq!(p.operator, ConstraintOperator::Unique);
        assert_eq!(c(&["rack", "GROUP_BY"]).parse().unwrap().int_value(), None);
        assert_eq!(
            c(&["rack", "GROUP_BY", "3"]).parse().unwrap().int_value(),
            Some(3)
        );
        assert_eq!(
            c(&["rack", "MAX_PER", "2"]).parse().unwrap().int_value(),
            Some(2)
        );
        assert!(c(&["hostname", "LIKE", "srv[0-9]+"]).parse().is_ok());
        assert!(c(&["hostname", "CLUSTER"]).parse().is_ok());
        assert!(c(&["hostname", "CLUSTER", "a"]).parse().is_ok());
        assert!(c(&["gpu", "IS", "1.5"]).parse().is_ok());
        assert_eq!(c(&["h", "unique"]).normalized(), c(&["h", "UNIQUE"]));
    }

    #[test]
    fn rejects_with_marathon_messages() {
        assert_eq!(c(&["hostname"]).parse(), Err(messages::WRONG_ARITY));
        assert_eq!(c(&["a", "B", "c", "d"]).parse(), Err(messages::WRONG_ARITY));
        assert_eq!(c(&["", "UNIQUE"]).parse(), Err(messages::MISSING_FIELD));
        assert_eq!(
            c(&["hostname", "BOGUS"]).parse(),
            Err(messages::BAD_OPERATOR)
        );
        assert_eq!(
            c(&["hostname", "UNIQUE", "x"]).parse(),
            Err(messages::UNIQUE_VALUE)
        );
        assert_eq!(
            c(&["hostname", "MAX_PER"]).parse(),
            Err(messages::MAX_PER_INT)
        );
        assert_eq!(
            c(&["hostname", "MAX_PER", "x"]).parse(),
            Err(messages::MAX_PER_INT)
        );
        assert_eq!(
            c(&["hostname", "GROUP_BY", "x"]).parse(),
            Err(messages::GROUP_BY_INT)
        );
        assert_eq!(c(&["hostname", "LIKE"]).parse(), Err(messages::LIKE_REGEX));
        assert_eq!(
            c(&["hostname", "UNLIKE", "("]).parse(),
            Err(messages::BAD_REGEX)
        );
        assert_eq!(
            c(&["hostname", "IS", "a b"]).parse(),
            Err(messages::IS_TEXT)
        );
    }
}
