//! Docker's client configuration: `config.json` (`{"auths": {REGISTRY:
//! ENTRY}}`) or the legacy `.dockercfg` (the same map at the top level), as
//! Mesos's `--docker_config` and `Image.Docker.config` take it.
//!
//! An entry is `{"auth": base64("user:password")}`, `{"username",
//! "password"}`, or `{"registrytoken"}` (a Bearer token). A registry key may
//! be written as a URL (`https://index.docker.io/v1/`); it is matched by
//! host and port only, and Docker Hub's spellings are one registry.
//!
//! The input is untrusted (a task's secret): every error names the entry and
//! field, and never shows a credential.

use std::collections::BTreeMap;

use base64::Engine;
use paddock_images::Credentials;
use serde_json::{Map, Value};

use super::AuthError;

/// Largest config we read.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Registry → credentials, keys normalised by [`registry_key`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    auths: BTreeMap<String, Credentials>,
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("registries", &self.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The keys of an entry that carry a credential; an entry with none of them
/// (`{}`, as Docker writes beside a `credsStore`) is skipped.
const CREDENTIAL_KEYS: &[&str] = &[
    "auth",
    "username",
    "password",
    "registrytoken",
    "identitytoken",
];

impl DockerConfig {
    /// Parses a config; `what` names it in errors (`--docker-config`,
    /// `container.mesos.image.docker.config`).
    pub fn parse(bytes: &[u8], what: &str) -> Result<DockerConfig, AuthError> {
        let bad = |field: String, reason: String| AuthError::DockerConfig {
            what: what.to_string(),
            field,
            reason,
        };
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(bad(
                String::new(),
                format!(
                    "{} bytes, more than the {MAX_CONFIG_BYTES} allowed",
                    bytes.len()
                ),
            ));
        }
        let root: Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(String::new(), format!("not JSON: {e}")))?;
        let Value::Object(root) = root else {
            return Err(bad(String::new(), "must be a JSON object".into()));
        };
        let (entries, prefix): (&Map<String, Value>, &str) = match root.get("auths") {
            Some(Value::Object(auths)) => (auths, "auths"),
            Some(_) => return Err(bad("auths".into(), "must be an object".into())),
            // The legacy .dockercfg: registries at the top level.
            None => (&root, ""),
        };
        let mut auths = BTreeMap::new();
        for (registry, entry) in entries {
            let field = |f: &str| {
                let at = if prefix.is_empty() {
                    format!("[{registry:?}]")
                } else {
                    format!("{prefix}[{registry:?}]")
                };
                if f.is_empty() {
                    at
                } else {
                    format!("{at}.{f}")
                }
            };
            let Value::Object(entry) = entry else {
                if prefix.is_empty() {
                    continue; // `credsStore`, `psFormat`, … beside legacy entries
                }
                return Err(bad(field(""), "must be an object".into()));
            };
            if !CREDENTIAL_KEYS.iter().any(|k| entry.contains_key(*k)) {
                continue;
            }
            let key = registry_key(registry);
            if key.is_empty() {
                return Err(bad(field(""), "names no registry".into()));
            }
            let creds = entry_credentials(entry).map_err(|(f, reason)| bad(field(f), reason))?;
            auths.insert(key, creds);
        }
        Ok(DockerConfig { auths })
    }

    /// The credentials for `registry` (`127.0.0.1:5000`, `docker.io`).
    pub fn credentials_for(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&registry_key(registry))
    }

    /// The registries it has credentials for, normalised.
    pub fn registries(&self) -> impl Iterator<Item = &str> {
        self.auths.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.auths.is_empty()
    }
}

fn str_of<'a>(
    entry: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, (&'static str, String)> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err((key, "must be a string".into())),
    }
}

/// One entry's credentials; the error is (field, reason).
fn entry_credentials(entry: &Map<String, Value>) -> Result<Credentials, (&'static str, String)> {
    let auth = str_of(entry, "auth")?.filter(|a| !a.trim().is_empty());
    let username = str_of(entry, "username")?.filter(|u| !u.is_empty());
    let password = str_of(entry, "password")?;
    let token = str_of(entry, "registrytoken")?.filter(|t| !t.is_empty());
    if let Some(auth) = auth {
        let raw = decode_base64(auth.trim()).ok_or(("auth", "is not valid base64".to_string()))?;
        let text = String::from_utf8(raw)
            .map_err(|_| ("auth", "is not UTF-8 once decoded".to_string()))?;
        let (user, pass) = text.split_once(':').ok_or((
            "auth",
            "must be base64 of \"username:password\"".to_string(),
        ))?;
        if user.is_empty() {
            return Err(("auth", "has an empty username".into()));
        }
        return Ok(Credentials::Basic {
            username: user.to_string(),
            password: pass.to_string(),
        });
    }
    match (username, password, token) {
        (Some(u), Some(p), _) => Ok(Credentials::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }),
        (Some(_), None, _) => Err(("password", "is missing (username without a password)".into())),
        (None, _, Some(t)) => Ok(Credentials::Bearer(t.to_string())),
        (None, Some(_), None) => Err(("username", "is missing (password without a username)".into())),
        (None, None, None) if entry.contains_key("identitytoken") => Err((
            "identitytoken",
            "identity tokens (OAuth refresh tokens) are not supported; give auth or username and password"
                .into(),
        )),
        (None, None, None) => Err((
            "auth",
            "is empty, and there is no username and password or registrytoken".into(),
        )),
    }
}

/// Standard base64, with or without padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// Docker Hub, however it is written.
const DOCKER_HUB: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A registry key as compared: no scheme, no path, lowercase, Docker Hub's
/// names as `docker.io`. `https://index.docker.io/v1/` → `docker.io`,
/// `http://LocalHost:5000` → `localhost:5000`.
pub fn registry_key(raw: &str) -> String {
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let s = ["https://", "http://"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let host = s.split('/').next().unwrap_or("");
    if DOCKER_HUB.contains(&host) {
        "docker.io".to_string()
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn basic(u: &str, p: &str) -> Credentials {
        Credentials::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn auths_entries_are_read_in_every_form() {
        let json = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
            "127.0.0.1:5000": {"username": "alice", "password": "s:e:c"},
            "http://Reg.Example:443/v2/": {"registrytoken": "tok"},
            "ghcr.io": {},
        }, "credsStore": "desktop"});
        let c = DockerConfig::parse(json.to_string().as_bytes(), "--docker-config").unwrap();
        assert_eq!(c.credentials_for("docker.io"), Some(&basic("hub", "pw")));
        assert_eq!(
            c.credentials_for("registry-1.docker.io"),
            Some(&basic("hub", "pw"))
        );
        assert_eq!(
            c.credentials_for("127.0.0.1:5000"),
            Some(&basic("alice", "s:e:c"))
        );
        assert_eq!(
            c.credentials_for("reg.example:443"),
            Some(&Credentials::Bearer("tok".into()))
        );
        assert_eq!(c.credentials_for("ghcr.io"), None);
        assert_eq!(c.credentials_for("127.0.0.1:5001"), None);
    }

    #[test]
    fn a_password_may_hold_colons_and_auth_may_lack_padding() {
        let auth = b64("u:a:b=").trim_end_matches('=').to_string();
        let json = format!(r#"{{"auths":{{"r:1":{{"auth":"{auth}"}}}}}}"#);
        let c = DockerConfig::parse(json.as_bytes(), "x").unwrap();
        assert_eq!(c.credentials_for("r:1"), Some(&basic("u", "a:b=")));
    }

    #[test]
    fn the_legacy_dockercfg_format_is_read() {
        let json = format!(
            r#"{{"localhost:5000":{{"auth":"{}","email":"a@b"}},"psFormat":"x"}}"#,
            b64("bob:pw")
        );
        let c = DockerConfig::parse(json.as_bytes(), "x").unwrap();
        assert_eq!(
            c.credentials_for("localhost:5000"),
            Some(&basic("bob", "pw"))
        );
        assert_eq!(c.registries().collect::<Vec<_>>(), vec!["localhost:5000"]);
    }

    #[test]
    fn bad_entries_are_named_and_never_show_the_secret() {
        let cases = [
            (r#"[1]"#.to_string(), "must be a JSON object"),
            (r#"{"auths":[]}"#.to_string(), "auths: must be an object"),
            (
                r#"{"auths":{"r":"x"}}"#.to_string(),
                r#"auths["r"]: must be an object"#,
            ),
            (
                r#"{"auths":{"r":{"auth":"%%%"}}}"#.to_string(),
                r#"auths["r"].auth: is not valid base64"#,
            ),
            (
                format!(
                    r#"{{"auths":{{"r":{{"auth":"{}"}}}}}}"#,
                    b64("nocolonsecret")
                ),
                "username:password",
            ),
            (
                r#"{"auths":{"r":{"username":"u"}}}"#.to_string(),
                r#"auths["r"].password"#,
            ),
            (
                r#"{"auths":{"r":{"password":"hunter2"}}}"#.to_string(),
                r#"auths["r"].username"#,
            ),
            (
                r#"{"auths":{"r":{"auth":5}}}"#.to_string(),
                "auth: must be a string",
            ),
            (
                r#"{"auths":{"r":{"identitytoken":"t"}}}"#.to_string(),
                "not supported",
            ),
            (
                r#"{"auths":{"":{"auth":"dTpw"}}}"#.to_string(),
                "names no registry",
            ),
            ("not json".to_string(), "not JSON"),
        ];
        for (json, want) in cases {
            let e = DockerConfig::parse(json.as_bytes(), "the-config")
                .unwrap_err()
                .to_string();
            assert!(e.contains("the-config") && e.contains(want), "{json}: {e}");
            assert!(
                !e.contains("hunter2") && !e.contains("nocolonsecret"),
                "{e}"
            );
        }
    }

    #[test]
    fn debug_shows_registries_only() {
        let json = r#"{"auths":{"r:1":{"username":"u","password":"hunter2"}}}"#;
        let c = DockerConfig::parse(json.as_bytes(), "x").unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("r:1") && !d.contains("hunter2"), "{d}");
    }

    #[test]
    fn registry_keys_are_normalised() {
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key(" HTTP://LocalHost:5000/x "), "localhost:5000");
        assert_eq!(registry_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_key("https://"), "");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = DockerConfig::parse(&bytes, "x");
            }

            #[test]
            fn arbitrary_entries_never_panic(
                key in ".{0,24}",
                auth in ".{0,40}",
                user in proptest::option::of(".{0,12}"),
                pass in proptest::option::of(".{0,12}"),
            ) {
                let mut entry = serde_json::json!({"auth": auth});
                if let Some(u) = user { entry["username"] = u.into(); }
                if let Some(p) = pass { entry["password"] = p.into(); }
                let doc = serde_json::json!({"auths": {key.clone(): entry}});
                if let Ok(c) = DockerConfig::parse(doc.to_string().as_bytes(), "x") {
                    // Whatever parsed is found again under its own key.
                    prop_assert!(c.is_empty() || c.credentials_for(&key).is_some());
                }
            }

            #[test]
            fn basic_auth_round_trips(user in "[^:\\x00]{1,16}", pass in ".{0,24}", reg in "[a-z0-9.]{1,12}(:[0-9]{1,5})?") {
                let doc = serde_json::json!({"auths": {reg.clone(): {"auth": b64(&format!("{user}:{pass}"))}}});
                let c = DockerConfig::parse(doc.to_string().as_bytes(), "x").unwrap();
                prop_assert_eq!(c.credentials_for(&reg), Some(&basic(&user, &pass)));
            }
        }
    }
}
