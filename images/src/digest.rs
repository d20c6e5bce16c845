//! sha256 digests: parsing `sha256:<hex>` strings and hashing content as it
//! streams through a reader or writer.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::ImageError;

/// Checks that `digest` is `sha256:<64 lowercase hex>` and returns the hex.
pub fn sha256_hex(digest: &str) -> Result<&str, ImageError> {
    let bad = |reason: &str| ImageError::InvalidDigest {
        digest: digest.to_string(),
        reason: reason.to_string(),
    };
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| bad("expected <algorithm>:<hex>"))?;
    if alg != "sha256" {
        return Err(bad("only sha256 digests are supported"));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("expected 64 lowercase hex characters"));
    }
    Ok(hex)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A running sha256 and byte count.
#[derive(Default, Clone)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// `sha256:<hex>` of everything seen.
    pub fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.sha.finalize()))
    }

    /// Fails unless everything seen has `digest` (and `size`, when known).
    pub fn verify(self, digest: &str, size: Option<u64>) -> Result<(), ImageError> {
        if let Some(expected) = size {
            if expected != self.len {
                return Err(ImageError::BadSize {
                    digest: digest.to_string(),
                    expected,
                    actual: self.len,
                });
            }
        }
        let actual = self.digest();
        if actual != digest {
            return Err(ImageError::BadDigest {
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

/// Hashes what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::default(),
        }
    }

    /// Reads the rest of the stream (so the hash covers all of it) and
    /// returns the hasher.
    pub fn finish(mut self) -> io::Result<Hasher> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes what is written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::default(),
        }
    }

    pub fn into_parts(self) -> (W, Hasher) {
        (self.inner, self.hasher)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(sha256_hex(&good).unwrap(), "a".repeat(64));
        for bad in [
            "sha256:abc".to_string(),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:../{}", "a".repeat(61)),
            "nocolon".to_string(),
        ] {
            assert!(sha256_hex(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn verify_names_the_digest() {
        let mut h = Hasher::default();
        h.update(b"hello");
        let want = sha256_of(b"hello");
        h.clone().verify(&want, Some(5)).unwrap();
        let err = h.clone().verify(&sha256_of(b"other"), None).unwrap_err();
        assert!(err.to_string().contains(&sha256_of(b"other")), "{err}");
        let err = h.verify(&want, Some(6)).unwrap_err();
        assert!(
            matches!(err, ImageError::BadSize { actual: 5, .. }),
            "{err}"
        );
    }
}
