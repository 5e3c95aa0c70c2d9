//! One record of a packed index, to and from a [`BinaryPackage`]: the flag word and the
//! decoding that validates every field again (see the parent module's Trust section).

use super::{FIELDS, PackedError, PackedIndex, read_u32, read_u64};
use crate::debian::package::Priority;
use crate::debian::relation;
use crate::debian::{BinaryPackage, MultiArch, Version};

/// Record `record` (in range) of `index` as a package.
pub(super) fn decode(index: &PackedIndex, record: usize) -> Result<BinaryPackage, PackedError> {
    let bad = |reason: String| PackedError::Record { record, reason };
    let text = |field| index.text(record, field);
    let need = |field| index.required(record, field);
    let fixed = index.fixed(record);
    let flags = read_u32(fixed, 48);
    let version = Version::parse(need(1)?).map_err(|err| bad(err.to_string()))?;
    let provides = match text(5)? {
        Some(field) => relation::parse_atoms(field).map_err(|err| bad(err.to_string()))?,
        None => Vec::new(),
    };
    let raw = |field| text(field).map(|value| value.map(Box::from));
    Ok(BinaryPackage {
        name: need(0)?.to_owned(),
        version,
        architecture: need(2)?.to_owned(),
        multi_arch: match flags & 0b11 {
            0 => MultiArch::No,
            1 => MultiArch::Same,
            2 => MultiArch::Foreign,
            _ => MultiArch::Allowed,
        },
        essential: flags & 1 << 2 != 0,
        important: flags & 1 << 3 != 0,
        priority: match (flags >> 4) & 0b111 {
            0 => Priority::Required,
            1 => Priority::Important,
            2 => Priority::Standard,
            3 => Priority::Optional,
            4 => Priority::Extra,
            other => return Err(bad(format!("priority code {other}"))),
        },
        source: need(3)?.to_owned(),
        source_version: text(4)?.map(str::to_owned),
        provides,
        filename: need(6)?.to_owned(),
        size: read_u64(fixed, 32),
        sha256: hex::encode(&fixed[..32]),
        installed_size: (flags & 1 << 7 != 0).then(|| read_u64(fixed, 40)),
        section: text(7)?.map(str::to_owned),
        depends: raw(8)?,
        pre_depends: raw(9)?,
        breaks: raw(10)?,
        conflicts: raw(11)?,
    })
}

/// The flag word of a record.
pub(super) fn flags_of(package: &BinaryPackage) -> u32 {
    let multi_arch = match package.multi_arch {
        MultiArch::No => 0,
        MultiArch::Same => 1,
        MultiArch::Foreign => 2,
        MultiArch::Allowed => 3,
    };
    let priority = match package.priority {
        Priority::Required => 0,
        Priority::Important => 1,
        Priority::Standard => 2,
        Priority::Optional => 3,
        Priority::Extra => 4,
    };
    multi_arch
        | u32::from(package.essential) << 2
        | u32::from(package.important) << 3
        | priority << 4
        | u32::from(package.installed_size.is_some()) << 7
}

/// The string fields of a record, in record order (see the format in the parent module).
pub(super) fn fields<'a>(
    package: &'a BinaryPackage,
    version: &'a str,
    provides: Option<&'a str>,
) -> [Option<&'a str>; FIELDS] {
    let [depends, pre_depends, breaks, conflicts] = package.raw_relations();
    [
        Some(&package.name),
        Some(version),
        Some(&package.architecture),
        Some(&package.source),
        package.source_version.as_deref(),
        provides,
        Some(&package.filename),
        package.section.as_deref(),
        depends,
        pre_depends,
        breaks,
        conflicts,
    ]
}
