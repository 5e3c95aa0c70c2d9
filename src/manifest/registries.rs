//! `[registry."HOST[:PORT]"]` tables: how debless talks to one registry (base-image pulls,
//! `build --push`, `push`). Today that is `ca`, a PEM CA file trusted for that registry only,
//! as docker's `/etc/docker/certs.d/HOST[:PORT]/ca.crt` is; none of it is a lock input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::wire::RegistryWire;

/// One registry's settings, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrySettings {
    /// The CA file, resolved against the manifest's directory.
    pub ca: PathBuf,
}

/// Validates the tables: each key is a registry as image references write it.
pub(super) fn validate(
    wire: BTreeMap<String, RegistryWire>,
    base_dir: &Path,
) -> Result<BTreeMap<String, RegistrySettings>, String> {
    let mut registries = BTreeMap::new();
    for (name, table) in wire {
        let bad_name = name.is_empty()
            || name.contains("://")
            || name.contains(['/', '\\'])
            || name.contains(char::is_whitespace)
            || name.starts_with('.');
        if bad_name {
            return Err(format!(
                "`[registry.\"{name}\"]`: name the registry as image references write it, `HOST[:PORT]` (e.g. `registry.example:5000`)"
            ));
        }
        if table.ca.trim().is_empty() {
            return Err(format!("`[registry.\"{name}\"]`: `ca` is empty"));
        }
        registries.insert(
            name,
            RegistrySettings {
                ca: base_dir.join(&table.ca),
            },
        );
    }
    Ok(registries)
}
