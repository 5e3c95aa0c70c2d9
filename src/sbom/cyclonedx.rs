//! CycloneDX 1.6 JSON (`bom-1.6.schema.json`) for an [`Sbom`].
//!
//! One `library` component per locked package, `bom-ref` = its purl; supplier Debian; the
//! `.deb` sha256 as `SHA-256` hash; licences as `license.id` for names with an SPDX id and
//! `license.name` (the DEP-5 name) otherwise, nothing when the copyright file is not
//! machine-readable; the pool path as a `distribution` external reference (a relative IRI
//! reference, or the manifest's archive URL + pool path); the source package in
//! `debless:source-package` / `debless:source-version` properties; `dependencies` from the
//! lock. `metadata.component` is the image itself (type `container`).

use serde_json::{Value, json};

use super::copyright::Licenses;
use super::{Origin, Sbom};

/// The document as pretty JSON with a final newline (keys sorted by serde_json's map).
pub fn render(sbom: &Sbom) -> String {
    let components: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            let mut component = json!({
                "type": "library",
                "bom-ref": p.purl,
                "supplier": {"name": "Debian"},
                "publisher": "Debian",
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
            });
            match &p.origin {
                Origin::Deb { sha256, pool_path } => {
                    component["hashes"] = json!([{"alg": "SHA-256", "content": sha256}]);
                    component["externalReferences"] = json!([{
                        "type": "distribution",
                        "url": p.download_url.clone().unwrap_or_else(|| pool_path.clone()),
                        "comment": "the .deb in the Debian archive (path relative to the archive root)",
                        "hashes": [{"alg": "SHA-256", "content": sha256}],
                    }]);
                    component["properties"] = json!([
                        {"name": "debless:architecture", "value": p.arch},
                        {"name": "debless:source-package", "value": p.source_name},
                        {"name": "debless:source-version", "value": p.source_version},
                    ]);
                }
                Origin::Base { image } => {
                    component["properties"] = json!([
                        {"name": "debless:architecture", "value": p.arch},
                        {"name": "debless:provided-by-base", "value": image},
                    ]);
                }
            }
            if let Licenses::Declared(expr) = &p.licenses {
                let mut licenses: Vec<Value> = expr
                    .spdx_ids
                    .iter()
                    .map(|id| json!({"license": {"id": id}}))
                    .collect();
                licenses.extend(
                    expr.references
                        .iter()
                        .map(|(_, name)| json!({"license": {"name": name}})),
                );
                component["licenses"] = Value::Array(licenses);
            }
            component
        })
        .collect();
    let dependencies: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            let mut on: Vec<&str> = p
                .depends
                .iter()
                .flat_map(|d| sbom.packages.iter().filter(move |q| &q.name == d))
                .map(|q| q.purl.as_str())
                .collect();
            on.sort_unstable();
            on.dedup();
            json!({"ref": p.purl, "dependsOn": on})
        })
        .collect();
    let document = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", sbom.uuid),
        "version": 1,
        "metadata": {
            "timestamp": sbom.created,
            "tools": {"components": [{
                "type": "application",
                "name": "debless",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "container",
                "bom-ref": "debless-image",
                "name": sbom.name,
                "properties": [{"name": "debless:architecture", "value": sbom.arch}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    let mut text = serde_json::to_string_pretty(&document).expect("a JSON value always serializes");
    text.push('\n');
    text
}
