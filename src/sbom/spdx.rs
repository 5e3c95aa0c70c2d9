//! SPDX 2.3 JSON (spdx-spec v2.3, `schemas/spdx-schema.json`) for an [`Sbom`].
//!
//! One SPDX package per locked package: purl as a `PACKAGE-MANAGER` external reference,
//! the `.deb` sha256 as checksum, supplier `Organization: Debian`, `sourceInfo` naming the
//! source package, `licenseDeclared` from the copyright file (NOASSERTION when it is not
//! machine-readable; `licenseConcluded` is always NOASSERTION: debless draws no
//! conclusions). Every `LicenseRef-` used is defined in `hasExtractedLicensingInfos`, as the
//! specification requires. Relationships: the document DESCRIBES every package; DEPENDS_ON
//! edges follow the lock.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Origin;
use super::copyright::Licenses;
use super::{Sbom, SbomPackage};

/// The tool line of `creationInfo.creators`.
fn creator() -> String {
    format!("Tool: debless-{}", env!("CARGO_PKG_VERSION"))
}

/// The SPDXID of a package: unique per (name, architecture) and limited to the idstring
/// characters (letters, digits, `.`, `-`).
pub fn spdx_id(package: &SbomPackage) -> String {
    let clean: String = format!("{}-{}", package.name, package.arch)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    match &package.origin {
        Origin::Deb { sha256, .. } => format!("SPDXRef-Package-deb-{clean}-{}", &sha256[..8]),
        Origin::Base { .. } => format!("SPDXRef-Package-base-{clean}"),
    }
}

/// The document as pretty JSON with a final newline (keys sorted by serde_json's map).
pub fn render(sbom: &Sbom) -> String {
    let mut references: BTreeMap<String, String> = BTreeMap::new();
    let packages: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            let declared = match &p.licenses {
                Licenses::Declared(expr) => {
                    for (id, name) in &expr.references {
                        references.entry(id.clone()).or_insert_with(|| name.clone());
                    }
                    expr.spdx.clone()
                }
                Licenses::Missing | Licenses::NotMachineReadable => "NOASSERTION".to_owned(),
            };
            let mut package = json!({
                "SPDXID": spdx_id(p),
                "name": p.name,
                "versionInfo": p.version,
                "supplier": "Organization: Debian",
                "downloadLocation": p.download_url.as_deref().unwrap_or("NOASSERTION"),
                "filesAnalyzed": false,
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": declared,
                "copyrightText": "NOASSERTION",
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": p.purl,
                }],
            });
            match &p.origin {
                Origin::Deb { sha256, pool_path } => {
                    package["packageFileName"] = json!(pool_path);
                    package["checksums"] =
                        json!([{"algorithm": "SHA256", "checksumValue": sha256}]);
                    package["sourceInfo"] = json!(format!(
                        "built package from: {} {}",
                        p.source_name, p.source_version
                    ));
                    package["comment"] = json!(format!(
                        "Debian binary package, architecture {}; the .deb is {pool_path} in the Debian archive; licence from /usr/share/doc/{}/copyright",
                        p.arch, p.name
                    ));
                }
                Origin::Base { image } => {
                    package["comment"] = json!(format!(
                        "Debian binary package, architecture {}, provided by the base image {image} (its package database lists it); licence from /usr/share/doc/{}/copyright",
                        p.arch, p.name
                    ));
                }
            }
            package
        })
        .collect();
    let mut relationships: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            json!({
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": spdx_id(p),
            })
        })
        .collect();
    for p in &sbom.packages {
        for dependency in &p.depends {
            for target in sbom.packages.iter().filter(|q| &q.name == dependency) {
                relationships.push(json!({
                    "spdxElementId": spdx_id(p),
                    "relationshipType": "DEPENDS_ON",
                    "relatedSpdxElement": spdx_id(target),
                }));
            }
        }
    }
    let extracted: Vec<Value> = references
        .iter()
        .map(|(id, name)| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!(
                    "The Debian copyright file of each package using this identifier names the licence `{name}` (a DEP-5 short name without an SPDX identifier); its text is in that package's /usr/share/doc/<package>/copyright."
                ),
            })
        })
        .collect();
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} ({})", sbom.name, sbom.arch),
        "documentNamespace": format!("https://spdx.org/spdxdocs/debless/{}-{}", sbom.arch, sbom.uuid),
        "creationInfo": {
            "created": sbom.created,
            "creators": [creator()],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = Value::Array(extracted);
    }
    let mut text = serde_json::to_string_pretty(&document).expect("a JSON value always serializes");
    text.push('\n');
    text
}
