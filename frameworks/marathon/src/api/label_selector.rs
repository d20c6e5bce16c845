//! Marathon's label selector for `GET /v2/apps?label=…`:
//! `env==prod,tier!=fe,deployed in (us,eu),x notin (a),owner` — comma-separated terms, all of
//! which must hold. A term is `key` (exists), `key==v` (also `key=v`), `key!=v`,
//! `key in (a,b)` or `key notin (a,b)`. Keys and values are runs of letters, digits and
//! `-_./:` ; any other character can be escaped with a backslash.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Exists(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector(Vec<Term>);

/// A selector that could not be parsed, with the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid label selector '{input}': {reason} at position {position}")]
pub struct SelectorError {
    pub input: String,
    pub reason: String,
    pub position: usize,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: &str) -> SelectorError {
        SelectorError {
            input: self.input.to_string(),
            reason: reason.to_string(),
            position: self.pos,
        }
    }

    fn ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn term(&mut self) -> Result<String, SelectorError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.chars.get(self.pos + 1) {
                    Some(&e) => {
                        out.push(e);
                        self.pos += 2;
                    }
                    None => return Err(self.err("dangling escape")),
                }
            } else if c.is_alphanumeric() || "-_./:".contains(c) {
                out.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if out.is_empty() {
            Err(self.err("expected a label key or value"))
        } else {
            Ok(out)
        }
    }

    /// `in`/`notin` must be followed by a space or `(`.
    fn keyword(&mut self, word: &str) -> bool {
        let start = self.pos;
        if self.eat(word) {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '(' => return true,
                _ => self.pos = start,
            }
        }
        false
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.ws();
        if !self.eat("(") {
            return Err(self.err("expected '('"));
        }
        let mut values = Vec::new();
        loop {
            self.ws();
            values.push(self.term()?);
            self.ws();
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.err("expected ',' or ')'"));
            }
        }
    }

    fn selector(&mut self) -> Result<Term, SelectorError> {
        self.ws();
        let key = self.term()?;
        self.ws();
        if self.eat("==") || self.eat("=") {
            self.ws();
            return Ok(Term::Eq(key, self.term()?));
        }
        if self.eat("!=") {
            self.ws();
            return Ok(Term::Ne(key, self.term()?));
        }
        if self.keyword("notin") {
            return Ok(Term::NotIn(key, self.set()?));
        }
        if self.keyword("in") {
            return Ok(Term::In(key, self.set()?));
        }
        Ok(Term::Exists(key))
    }
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<LabelSelector, SelectorError> {
        let mut p = Parser {
            chars: input.chars().collect(),
            pos: 0,
            input,
        };
        let mut terms = vec![p.selector()?];
        loop {
            p.ws();
            if p.peek().is_none() {
                return Ok(LabelSelector(terms));
            }
            if !p.eat(",") {
                return Err(p.err("expected ',' between selectors"));
            }
            terms.push(p.selector()?);
        }
    }

    /// True if every term holds for these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|t| match t {
            Term::Exists(k) => labels.contains_key(k),
            Term::Eq(k, v) => labels.get(k) == Some(v),
            Term::Ne(k, v) => labels.get(k) != Some(v),
            Term::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
            Term::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_documented_example() {
        let s = LabelSelector::parse("env==prod,tier!=fe,deployed in (us,eu),x notin (a)").unwrap();
        assert!(s.matches(&labels(&[
            ("env", "prod"),
            ("tier", "be"),
            ("deployed", "eu")
        ])));
        assert!(!s.matches(&labels(&[
            ("env", "prod"),
            ("tier", "fe"),
            ("deployed", "eu")
        ])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("deployed", "asia")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("deployed", "us"), ("x", "a")])));
        assert!(s.matches(&labels(&[("env", "prod"), ("deployed", "us"), ("x", "b")])));
    }

    #[test]
    fn exists_spaces_and_escapes() {
        let s = LabelSelector::parse(" owner , a = b ").unwrap();
        assert!(s.matches(&labels(&[("owner", ""), ("a", "b")])));
        assert!(!s.matches(&labels(&[("a", "b")])));
        let s = LabelSelector::parse(r"note==hello\ world\,x").unwrap();
        assert!(s.matches(&labels(&[("note", "hello world,x")])));
        let s = LabelSelector::parse("index==1,input").unwrap();
        assert!(
            s.matches(&labels(&[("index", "1"), ("input", "")])),
            "keys starting with in are keys"
        );
    }

    #[test]
    fn errors_name_the_position() {
        let e = LabelSelector::parse("a==").unwrap_err();
        assert_eq!(e.position, 3);
        assert!(LabelSelector::parse("").is_err());
        assert!(LabelSelector::parse("a in (x").is_err());
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a,").is_err());
        assert!(LabelSelector::parse(r"a==b\").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,64}") {
            let _ = LabelSelector::parse(&s).map(|sel| sel.matches(&labels(&[("a", "b")])));
        }

        #[test]
        fn selector_like_input_never_panics(s in "[a-z=!,() \\\\]{0,40}") {
            let _ = LabelSelector::parse(&s);
        }
    }
}
