//! Mesos `Secret`s for image pulls: a `VALUE` carries the bytes (base64 in
//! JSON); a `REFERENCE` names a file under the agent's `--secrets-dir`
//! (`name` is its path relative to the dir; a leading `/` is allowed, as
//! Marathon's secret sources are written) and, with `key`, one member of the
//! JSON object in it (a string, or an object taken as its JSON text).
//!
//! A reference never leaves the secrets dir: `..`, and symlinks that point
//! outside, are refused.

use std::path::{Component, Path, PathBuf};

use paddock_proto::container::{Secret, SecretType};
use serde_json::Value;

use super::docker_config::decode_base64;
use super::AuthError;

/// Largest secret we read.
pub const MAX_SECRET_BYTES: u64 = 1 << 20;

/// The secret's bytes. `field` names the secret in errors
/// (`container.mesos.image.docker.config`).
pub fn resolve(
    secret: &Secret,
    secrets_dir: Option<&Path>,
    field: &str,
) -> Result<Vec<u8>, AuthError> {
    let bad = |f: &str, reason: String| AuthError::Secret {
        field: if f.is_empty() {
            field.to_string()
        } else {
            format!("{field}.{f}")
        },
        reason,
    };
    match secret.kind {
        SecretType::Value => {
            let value = secret
                .value
                .as_ref()
                .ok_or_else(|| bad("value", "is missing for a VALUE secret".into()))?;
            decode_base64(value.data.trim())
                .ok_or_else(|| bad("value.data", "is not valid base64".into()))
        }
        SecretType::Reference => {
            let reference = secret
                .reference
                .as_ref()
                .ok_or_else(|| bad("reference", "is missing for a REFERENCE secret".into()))?;
            let name = &reference.name;
            let dir = secrets_dir.ok_or_else(|| {
                bad(
                    "reference.name",
                    format!("secret {name:?} cannot be resolved: the agent has no --secrets-dir"),
                )
            })?;
            let file = read_reference(dir, name).map_err(|r| {
                bad(
                    "reference.name",
                    format!("secret {name:?} cannot be resolved: {r}"),
                )
            })?;
            match &reference.key {
                None => Ok(file),
                Some(key) => member(&file, key).map_err(|r| {
                    bad(
                        "reference.key",
                        format!("key {key:?} of secret {name:?} cannot be resolved: {r}"),
                    )
                }),
            }
        }
        SecretType::Unknown => Err(bad("type", "must be VALUE or REFERENCE".into())),
    }
}

/// `name` as a path relative to the secrets dir, if it stays inside it.
pub fn relative_name(name: &str) -> Result<PathBuf, String> {
    let rel = Path::new(name.trim_start_matches('/'));
    if name.trim().is_empty() || rel.as_os_str().is_empty() {
        return Err("the name is empty".into());
    }
    if name.contains('\0') {
        return Err("the name contains a NUL byte".into());
    }
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("the name must be a path inside the secrets dir (no `..` or `.`)".into());
    }
    Ok(rel.to_path_buf())
}

fn read_reference(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let rel = relative_name(name)?;
    let root = dir
        .canonicalize()
        .map_err(|e| format!("the secrets dir {}: {e}", dir.display()))?;
    let path = root
        .join(&rel)
        .canonicalize()
        .map_err(|e| format!("no file {} in the secrets dir ({e})", rel.display()))?;
    if !path.starts_with(&root) {
        return Err(format!("{} leads outside the secrets dir", rel.display()));
    }
    let file =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", rel.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", rel.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", rel.display()));
    }
    let mut buf = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    if buf.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!(
            "{} is larger than {MAX_SECRET_BYTES} bytes",
            rel.display()
        ));
    }
    Ok(buf)
}

/// Member `key` of the JSON object in `file`: a string's bytes, or an
/// object's (or any other value's) JSON text.
fn member(file: &[u8], key: &str) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(file)
        .map_err(|e| format!("the secret is not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("the secret is not a JSON object")?;
    match obj.get(key) {
        None => Err("no such key".into()),
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(other) => Ok(other.to_string().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::container::{SecretReference, SecretValue};

    const FIELD: &str = "container.mesos.image.docker.config";

    fn value(data: &str) -> Secret {
        Secret {
            kind: SecretType::Value,
            value: Some(SecretValue { data: data.into() }),
            reference: None,
        }
    }

    fn reference(name: &str, key: Option<&str>) -> Secret {
        Secret {
            kind: SecretType::Reference,
            reference: Some(SecretReference {
                name: name.into(),
                key: key.map(str::to_string),
            }),
            value: None,
        }
    }

    #[test]
    fn a_value_secret_is_its_decoded_data() {
        assert_eq!(resolve(&value("aGVsbG8="), None, FIELD).unwrap(), b"hello");
        let e = resolve(&value("***"), None, FIELD).unwrap_err().to_string();
        assert!(
            e.contains("container.mesos.image.docker.config.value.data"),
            "{e}"
        );
        let e = resolve(&Secret::default(), None, FIELD)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(".type") && e.contains("VALUE or REFERENCE"),
            "{e}"
        );
    }

    #[test]
    fn a_reference_is_a_file_or_a_key_of_it_under_the_secrets_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("reg")).unwrap();
        std::fs::write(dir.path().join("reg/creds"), br#"{"auths":{}}"#).unwrap();
        std::fs::write(
            dir.path().join("multi.json"),
            br#"{"plain":"text","obj":{"auths":{}}}"#,
        )
        .unwrap();
        let d = Some(dir.path());
        assert_eq!(
            resolve(&reference("/reg/creds", None), d, FIELD).unwrap(),
            br#"{"auths":{}}"#
        );
        assert_eq!(
            resolve(&reference("reg/creds", None), d, FIELD).unwrap(),
            br#"{"auths":{}}"#
        );
        assert_eq!(
            resolve(&reference("multi.json", Some("plain")), d, FIELD).unwrap(),
            b"text"
        );
        assert_eq!(
            resolve(&reference("multi.json", Some("obj")), d, FIELD).unwrap(),
            br#"{"auths":{}}"#
        );
        let e = resolve(&reference("multi.json", Some("nope")), d, FIELD)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("reference.key") && e.contains("no such key"),
            "{e}"
        );
        let e = resolve(&reference("missing", None), d, FIELD)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("reference.name") && e.contains("\"missing\""),
            "{e}"
        );
        let e = resolve(&reference("reg/creds", None), None, FIELD)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no --secrets-dir"), "{e}");
        let e = resolve(&reference("reg", None), d, FIELD)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn a_reference_never_leaves_the_secrets_dir() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::write(outer.path().join("outside"), b"x").unwrap();
        let dir = outer.path().join("secrets");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(outer.path().join("outside"), dir.join("link")).unwrap();
        for name in ["../outside", "a/../../outside", "link", "", "/", "./x"] {
            let e = resolve(&reference(name, None), Some(&dir), FIELD);
            assert!(e.is_err(), "{name:?} resolved");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_values_and_names_never_panic(data in ".{0,64}", name in ".{0,32}", key in proptest::option::of(".{0,8}")) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("f"), br#"{"a":"b"}"#).unwrap();
                let _ = resolve(&value(&data), None, FIELD);
                let r = resolve(&reference(&name, key.as_deref()), Some(dir.path()), FIELD);
                if let Ok(bytes) = r {
                    let whole: &[u8] = br#"{"a":"b"}"#;
                    prop_assert!(bytes == whole || bytes == b"b", "{:?}", bytes);
                }
            }
        }
    }
}
