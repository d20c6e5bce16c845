//! Image references, parsed like docker does (`busybox` is
//! `docker.io/library/busybox:latest`), with oci-spec's parser.

use std::net::IpAddr;

use oci_spec::distribution::Reference;

use crate::error::ImageError;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    inner: Reference,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        let trimmed = s.trim();
        let inner: Reference =
            trimmed
                .parse()
                .map_err(
                    |e: oci_spec::distribution::ParseError| ImageError::InvalidReference {
                        reference: s.to_string(),
                        reason: e.to_string(),
                    },
                )?;
        if inner.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ImageError::InvalidReference {
                reference: s.to_string(),
                reason: "repository name must be lowercase".into(),
            });
        }
        if let Some(d) = inner.digest() {
            crate::digest::sha256_hex(d).map_err(|e| ImageError::InvalidReference {
                reference: s.to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(ImageRef { inner })
    }

    /// `docker.io/library/busybox:latest`, `reg:5000/ns/img@sha256:…`.
    pub fn canonical(&self) -> String {
        self.inner.whole()
    }

    /// The registry as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The host actually contacted (`index.docker.io` for Docker Hub).
    pub fn resolved_registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }

    /// Whether the registry is reached over plain HTTP: localhost and
    /// 127.0.0.0/8 (and ::1) always, other hosts only when listed in
    /// `insecure` (as `host` or `host:port`).
    pub fn is_insecure(&self, insecure: &[String]) -> bool {
        let reg = self.resolved_registry();
        if insecure.iter().any(|i| i == reg || i == self.registry()) {
            return true;
        }
        is_loopback_host(host_of(reg))
    }
}

/// The host part of `host`, `host:port`, `[v6]:port`.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    }
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_normalization() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.canonical(), "docker.io/library/busybox:latest");
        assert_eq!(r.resolved_registry(), "index.docker.io");
        let r = ImageRef::parse("localhost:5000/busybox:1.0").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("localhost:5000", "busybox", Some("1.0"))
        );
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = ImageRef::parse(&format!("reg.example/ns/img@{d}")).unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.digest()),
            ("reg.example", "ns/img", Some(d.as_str()))
        );
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn bad_references_are_named() {
        for bad in ["", "UPPER/case", "a@sha256:short", "img@md5:0123", "a b"] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid image reference"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn plain_http_only_for_loopback_or_listed() {
        let none: Vec<String> = vec![];
        for r in [
            "localhost:5000/x",
            "127.0.0.1:5000/x",
            "127.1.2.3:80/x",
            "localhost/x",
        ] {
            assert!(ImageRef::parse(r).unwrap().is_insecure(&none), "{r}");
        }
        for r in [
            "busybox",
            "10.0.0.1:5000/x",
            "reg.example/x",
            "localhost.evil.com/x",
        ] {
            assert!(!ImageRef::parse(r).unwrap().is_insecure(&none), "{r}");
        }
        let listed = vec!["reg.example:5000".to_string()];
        assert!(ImageRef::parse("reg.example:5000/x")
            .unwrap()
            .is_insecure(&listed));
        assert!(!ImageRef::parse("reg.example:5001/x")
            .unwrap()
            .is_insecure(&listed));
    }
}
