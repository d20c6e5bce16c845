//! The messages of the local process protocols (the agent to its
//! launcher, an executor to its zygote): a little-endian `u32` length,
//! then fields of one tag byte, a `u32` length and that many bytes. Both
//! ends are the paddock binary; the reader still checks every length.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A message larger than this is refused (an environment is kilobytes).
pub const MAX_MESSAGE: usize = 16 << 20;

/// The two tags of environment fields: a name, then its value.
#[derive(Debug, Clone, Copy)]
pub struct EnvTags {
    pub name: u8,
    pub value: u8,
}

/// A message being built.
#[derive(Debug, Default)]
pub struct Message {
    body: Vec<u8>,
}

impl Message {
    pub fn field(&mut self, tag: u8, bytes: &[u8]) {
        self.body.push(tag);
        self.body
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.body.extend_from_slice(bytes);
    }

    /// Each variable as a name field followed by its value field.
    pub fn env(&mut self, tags: EnvTags, env: &[(OsString, OsString)]) {
        for (k, v) in env {
            self.field(tags.name, k.as_bytes());
            self.field(tags.value, v.as_bytes());
        }
    }

    /// The message with its length prefix.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = (self.body.len() as u32).to_le_bytes().to_vec();
        out.extend(self.body);
        out
    }
}

/// Splits a message body (without its length prefix) into its fields.
pub fn fields(mut body: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return Err("truncated field header".into());
        }
        let tag = body[0];
        let len = u32::from_le_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let rest = &body[5..];
        if rest.len() < len {
            return Err(format!("field {tag} is longer than the message"));
        }
        let (bytes, next) = rest.split_at(len);
        out.push((tag, bytes));
        body = next;
    }
    Ok(out)
}

/// Pairs environment fields back up while a message is decoded: feed it
/// every field with [`EnvReader::take`], then [`EnvReader::finish`].
#[derive(Debug, Default)]
pub struct EnvReader {
    env: Vec<(OsString, OsString)>,
    name: Option<OsString>,
}

impl EnvReader {
    /// Takes the field if it is an environment field (`Ok(true)`).
    pub fn take(&mut self, tags: EnvTags, tag: u8, bytes: &[u8]) -> Result<bool, String> {
        let os = || OsString::from_vec(bytes.to_vec());
        if tag == tags.name {
            if self.name.is_some() {
                return Err("two environment names in a row".into());
            }
            self.name = Some(os());
        } else if tag == tags.value {
            let name = self
                .name
                .take()
                .ok_or("an environment value without its name")?;
            self.env.push((name, os()));
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    pub fn finish(self) -> Result<Vec<(OsString, OsString)>, String> {
        match self.name {
            Some(_) => Err("an environment name without its value".into()),
            None => Ok(self.env),
        }
    }
}

/// Reads one message body; `None` at end of file before its first byte.
pub fn read_message(r: &mut impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a message of {len} bytes is too large"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bad_ones_are_named() {
        let mut m = Message::default();
        m.field(1, b"abc");
        m.field(2, b"");
        let bytes = m.into_bytes();
        let body = read_message(&mut &bytes[..], 100).unwrap().unwrap();
        assert_eq!(
            fields(&body).unwrap(),
            vec![(1, &b"abc"[..]), (2, &b""[..])]
        );
        assert!(fields(&body[..body.len() - 3])
            .unwrap_err()
            .contains("truncated"));
        assert!(fields(&body[..6]).unwrap_err().contains("longer"));
        assert!(read_message(&mut &bytes[..], 3).is_err());
        assert!(read_message(&mut &b""[..], 3).unwrap().is_none());
        assert!(read_message(&mut &bytes[..6], 100).is_err());
    }

    #[test]
    fn environment_fields_pair_up_and_strays_are_named() {
        let tags = EnvTags { name: 7, value: 8 };
        let env: Vec<(OsString, OsString)> =
            vec![("A".into(), "1".into()), ("B".into(), "".into())];
        let mut m = Message::default();
        m.env(tags, &env);
        m.field(9, b"other");
        let bytes = m.into_bytes();
        let mut r = EnvReader::default();
        let mut others = 0;
        for (tag, b) in fields(&bytes[4..]).unwrap() {
            if !r.take(tags, tag, b).unwrap() {
                others += 1;
            }
        }
        assert_eq!(others, 1);
        assert_eq!(r.finish().unwrap(), env);
        let mut r = EnvReader::default();
        assert!(r
            .take(tags, 8, b"v")
            .unwrap_err()
            .contains("without its name"));
        let mut r = EnvReader::default();
        r.take(tags, 7, b"A").unwrap();
        assert!(r.take(tags, 7, b"B").unwrap_err().contains("in a row"));
        let mut r = EnvReader::default();
        r.take(tags, 7, b"A").unwrap();
        assert!(r.finish().unwrap_err().contains("without its value"));
    }
}
