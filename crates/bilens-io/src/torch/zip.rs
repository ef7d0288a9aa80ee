//! The entries of a zip archive, located without decompressing or copying anything.
//!
//! `torch.save` (torch >= 1.6) writes a zip whose entries are *stored* (not compressed) and
//! aligned, precisely so that a reader can map the file and use each storage in place. This
//! reader therefore only parses the central directory (zip64 included, for checkpoints over
//! 4 GB) and each entry's local header, and returns where each entry's bytes are; a compressed
//! entry is refused rather than inflated. Every offset and size is checked against the file's
//! length with checked arithmetic.

use std::ops::Range;

/// One stored entry: its name and where its bytes are in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZipEntry {
    /// The entry's path inside the archive.
    pub name: String,
    /// The compression method (0 = stored).
    pub method: u16,
    /// Byte range of its (stored) data in the file.
    pub data: Range<usize>,
}

const EOCD: u32 = 0x0605_4b50;
const EOCD64: u32 = 0x0606_4b50;
const EOCD64_LOCATOR: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn offset(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Lists the entries of the zip archive `file`, or says what is wrong with it.
pub(crate) fn entries(file: &[u8]) -> Result<Vec<ZipEntry>, String> {
    let truncated =
        || "the archive's directory is missing or cut off (a truncated download?)".to_string();
    // The end-of-central-directory record is in the last 22 + 65535 bytes (its comment).
    let search_from = file.len().saturating_sub(22 + 0xffff);
    let eocd = (search_from..file.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(file, i) == Some(EOCD))
        .ok_or_else(truncated)?;
    let mut count = u64::from(u16_at(file, eocd + 10).ok_or_else(truncated)?);
    let mut cd_size = u64::from(u32_at(file, eocd + 12).ok_or_else(truncated)?);
    let mut cd_start = u64::from(u32_at(file, eocd + 16).ok_or_else(truncated)?);
    if count == 0xffff || cd_size == 0xffff_ffff || cd_start == 0xffff_ffff {
        let locator = eocd.checked_sub(20).ok_or_else(truncated)?;
        if u32_at(file, locator) != Some(EOCD64_LOCATOR) {
            return Err("a zip64 archive without its zip64 locator".into());
        }
        let at = u64_at(file, locator + 8)
            .and_then(offset)
            .ok_or_else(truncated)?;
        if u32_at(file, at) != Some(EOCD64) {
            return Err("the zip64 directory record is not where its locator says".into());
        }
        count = u64_at(file, at + 32).ok_or_else(truncated)?;
        cd_size = u64_at(file, at + 40).ok_or_else(truncated)?;
        cd_start = u64_at(file, at + 48).ok_or_else(truncated)?;
    }
    let (Some(start), Some(size)) = (offset(cd_start), offset(cd_size)) else {
        return Err(truncated());
    };
    let end = start.checked_add(size).ok_or_else(truncated)?;
    let directory = file.get(start..end).ok_or_else(|| {
        format!(
            "the archive's directory ({size} bytes at offset {start}) lies past the end of the \
             file ({} bytes): the file is truncated",
            file.len()
        )
    })?;
    // Each directory record is at least 46 bytes: a count beyond that is a lie, not a reason
    // to allocate.
    if count > (size / 46) as u64 {
        return Err(format!(
            "the archive claims {count} entries but its directory has room for {}",
            size / 46
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let record = start + at;
        let bad = move || format!("directory record at offset {record} is cut off");
        if u32_at(directory, at) != Some(CENTRAL) {
            return Err(format!(
                "no directory record at offset {} (the archive is damaged)",
                start + at
            ));
        }
        let method = u16_at(directory, at + 10).ok_or_else(bad)?;
        let mut compressed = u64::from(u32_at(directory, at + 20).ok_or_else(bad)?);
        let mut uncompressed = u64::from(u32_at(directory, at + 24).ok_or_else(bad)?);
        let name_len = usize::from(u16_at(directory, at + 28).ok_or_else(bad)?);
        let extra_len = usize::from(u16_at(directory, at + 30).ok_or_else(bad)?);
        let comment_len = usize::from(u16_at(directory, at + 32).ok_or_else(bad)?);
        let mut local = u64::from(u32_at(directory, at + 42).ok_or_else(bad)?);
        let name_at = at + 46;
        let name = directory.get(name_at..name_at + name_len).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = directory
            .get(name_at + name_len..name_at + name_len + extra_len)
            .ok_or_else(bad)?;
        // The zip64 extra field holds, in this order, the 64-bit values of those fields that
        // are saturated above.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).ok_or_else(bad)?;
            let len = usize::from(u16_at(extra, e + 2).ok_or_else(bad)?);
            let body = extra.get(e + 4..e + 4 + len).ok_or_else(bad)?;
            if id == 1 {
                let mut k = 0;
                for field in [&mut uncompressed, &mut compressed, &mut local] {
                    if *field == 0xffff_ffff {
                        *field = u64_at(body, k).ok_or_else(bad)?;
                        k += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at = name_at + name_len + extra_len + comment_len;

        let local = offset(local).ok_or_else(bad)?;
        if u32_at(file, local) != Some(LOCAL) {
            return Err(format!(
                "entry '{name}': no local header at offset {local} (the archive is damaged or \
                 truncated)"
            ));
        }
        let local_name = usize::from(u16_at(file, local + 26).ok_or_else(bad)?);
        let local_extra = usize::from(u16_at(file, local + 28).ok_or_else(bad)?);
        let data_start = local
            .checked_add(30 + local_name + local_extra)
            .ok_or_else(bad)?;
        let len = offset(compressed).ok_or_else(bad)?;
        let data_end = data_start.checked_add(len).ok_or_else(bad)?;
        if data_end > file.len() {
            return Err(format!(
                "entry '{name}' ends at byte {data_end}, past the end of the file ({} bytes): \
                 the file is truncated",
                file.len()
            ));
        }
        out.push(ZipEntry {
            name,
            method,
            data: data_start..data_end,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip of `files`, written the way the format says.
    pub(crate) fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let local = out.len() as u32;
            out.extend_from_slice(&LOCAL.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&local.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_start = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_start.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out
    }

    #[test]
    fn finds_stored_entries_in_place() {
        let zip = stored_zip(&[("a/data.pkl", b"hello"), ("a/data/0", b"\x01\x02")]);
        let e = entries(&zip).expect("valid");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "a/data.pkl");
        assert_eq!(&zip[e[0].data.clone()], b"hello");
        assert_eq!(&zip[e[1].data.clone()], b"\x01\x02");
        assert_eq!(e[1].method, 0);
    }

    #[test]
    fn cut_and_lying_archives_are_errors() {
        let zip = stored_zip(&[("a/data.pkl", b"hello")]);
        for cut in [0, 10, zip.len() - 30, zip.len() - 1] {
            assert!(entries(&zip[..cut]).is_err(), "cut at {cut}");
        }
        // An entry count far beyond what the directory holds.
        let mut lying = zip.clone();
        let n = lying.len();
        lying[n - 12..n - 10].copy_from_slice(&0xfffeu16.to_le_bytes());
        let m = entries(&lying).expect_err("lying count");
        assert!(m.contains("claims 65534 entries"), "{m}");
    }
}
