//! RecordIO framing (`<decimal length>\n<bytes>`), used by the streaming
//! Mesos endpoints. The decoder is a tokio-util codec so it works on any
//! byte stream and never trusts the length beyond `max_record`.

use bytes::{Buf, BufMut, BytesMut};

#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    #[error("record header is not a decimal length: {0:?}")]
    BadHeader(String),
    #[error("record of {0} bytes exceeds the limit of {1}")]
    TooLarge(usize, usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Frames one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 12);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
    out
}

/// Decodes a RecordIO stream into records.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_record: usize,
}

impl Decoder {
    pub fn new(max_record: usize) -> Self {
        Self { max_record }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(64 << 20)
    }
}

impl Decoder {
    /// Pulls one whole record out of `src`, if one is there.
    pub fn decode_buf(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RecordIoError> {
        let Some(nl) = src.iter().take(21).position(|b| *b == b'\n') else {
            if src.len() > 20 {
                let head = String::from_utf8_lossy(&src[..20]).into_owned();
                return Err(RecordIoError::BadHeader(head));
            }
            return Ok(None);
        };
        let head = &src[..nl];
        let text = std::str::from_utf8(head)
            .map_err(|_| RecordIoError::BadHeader(String::from_utf8_lossy(head).into_owned()))?;
        let len: usize = text
            .trim()
            .parse()
            .map_err(|_| RecordIoError::BadHeader(text.to_string()))?;
        if len > self.max_record {
            return Err(RecordIoError::TooLarge(len, self.max_record));
        }
        if src.len() < nl + 1 + len {
            src.reserve(nl + 1 + len - src.len());
            return Ok(None);
        }
        src.advance(nl + 1);
        Ok(Some(src.split_to(len)))
    }
}

/// Appends a framed record to `dst`.
pub fn encode_into(record: &[u8], dst: &mut BytesMut) {
    dst.put_slice(record.len().to_string().as_bytes());
    dst.put_u8(b'\n');
    dst.put_slice(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_records_across_arbitrary_chunks() {
        let mut stream = Vec::new();
        stream.extend(encode(b"{\"type\":\"HEARTBEAT\"}"));
        stream.extend(encode(b"{}"));
        let mut dec = Decoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in stream {
            buf.put_u8(b);
            while let Some(r) = dec.decode_buf(&mut buf).unwrap() {
                out.push(r.to_vec());
            }
        }
        assert_eq!(
            out,
            vec![b"{\"type\":\"HEARTBEAT\"}".to_vec(), b"{}".to_vec()]
        );
    }

    #[test]
    fn rejects_garbage_header() {
        let mut buf = BytesMut::from(&b"abc\n{}"[..]);
        assert!(Decoder::default().decode_buf(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"999999999999999999999999999"[..]);
        assert!(Decoder::default().decode_buf(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"100\n{}"[..]);
        assert!(Decoder::new(10).decode_buf(&mut buf).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_input(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut dec = Decoder::new(1000);
            for _ in 0..10 {
                match dec.decode_buf(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }

        #[test]
        fn roundtrips(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..10)) {
            let mut buf = BytesMut::new();
            for r in &records { encode_into(r, &mut buf); }
            let mut dec = Decoder::default();
            let mut out = Vec::new();
            while let Some(r) = dec.decode_buf(&mut buf).unwrap() { out.push(r.to_vec()); }
            prop_assert_eq!(out, records);
        }
    }
}
