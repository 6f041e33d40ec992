//! The archives the CDS API delivers: zip (stored entries, ZIP64 when an entry or the
//! archive passes 4 GiB; the `zip` crate) or tgz (a GNU tar, with long-name entries and
//! base-256 sizes where the header fields are too small; the `tar` crate, in a gzip stream
//! of stored deflate blocks from `flate2`). The NetCDF members are already
//! deflate-compressed, so neither format compresses again: writing is a copy.

use sha2::Digest;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use zip::write::SimpleFileOptions;

/// The buffer of the archive file and of each member read.
const BUF: usize = 1 << 20;

/// The archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tgz,
}

impl Kind {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Tgz => "tar.gz",
        }
    }

    /// The media type.
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Zip => "application/zip",
            Kind::Tgz => "application/gzip",
        }
    }
}

/// A file to put in an archive under `name`.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub path: PathBuf,
}

/// Counts and hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    sha: sha2::Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write the archive to `out`; returns its size and SHA-256 (hex).
pub fn write(kind: Kind, members: &[Member], out: &Path) -> io::Result<(u64, String)> {
    match kind {
        Kind::Zip => {
            // The zip writer seeks back to put each entry's CRC and sizes in its local header
            // (no data descriptors, which streaming readers refuse for stored entries), so the
            // bytes are hashed once they are final: read back, mostly from the page cache.
            let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(out)?;
            let mut file = write_zip(BufWriter::with_capacity(BUF, file), members, false)?
                .into_inner()
                .map_err(|e| e.into_error())?;
            file.sync_all()?;
            file.rewind()?;
            let mut w = Hashing { inner: io::sink(), sha: sha2::Sha256::new(), count: 0 };
            io::copy(&mut BufReader::with_capacity(BUF, file), &mut w)?;
            Ok((w.count, format!("{:x}", w.sha.finalize())))
        }
        Kind::Tgz => {
            let file = File::create(out)?;
            let mut w = Hashing { inner: BufWriter::with_capacity(BUF, file), sha: sha2::Sha256::new(), count: 0 };
            write_tgz(&mut w, members)?;
            w.flush()?;
            w.inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok((w.count, format!("{:x}", w.sha.finalize())))
        }
    }
}

fn mtime(meta: &Metadata) -> u64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs())
}

/// The zip (MS-DOS) time of a Unix time; 1980-01-01 when out of its range.
fn zip_time(secs: u64) -> zip::DateTime {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let (y, m, d) = cirrus_ops::cf::Calendar::ProlepticGregorian.date_of(2_440_588 + days);
    let rem = secs % 86400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let part = |v: u64| u8::try_from(v).unwrap_or(0);
    let parts = (u16::try_from(y), u8::try_from(m), u8::try_from(d));
    match parts {
        (Ok(y), Ok(m), Ok(d)) => zip::DateTime::from_date_and_time(y, m, d, part(hh), part(mm), part(ss)),
        _ => Ok(zip::DateTime::default()),
    }
    .unwrap_or_default()
}

/// A member file, opened, with its size when opened.
struct Source<'a> {
    path: &'a Path,
    file: io::Take<File>,
    size: u64,
    mtime: u64,
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(Source { path, size: meta.len(), mtime: mtime(&meta), file: file.take(meta.len()) })
    }
}

/// `size` bytes, or an error when the file ends sooner (a record with the size written
/// before the data must not get less).
impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && !buf.is_empty() && self.file.limit() > 0 {
            return Err(io::Error::other(format!("{} changed while being archived", self.path.display())));
        }
        Ok(n)
    }
}

/// A zip of stored entries. An entry of 4 GiB or more has its sizes in ZIP64 fields (all
/// entries with `all_zip64`, for tests); the crate adds the ZIP64 offsets and end records
/// past 4 GiB of archive.
fn write_zip<W: Write + Seek>(w: W, members: &[Member], all_zip64: bool) -> io::Result<W> {
    let mut zip = zip::ZipWriter::new(w);
    for m in members {
        let src = Source::open(&m.path)?;
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip_time(src.mtime))
            .unix_permissions(0o644)
            .large_file(all_zip64 || src.size >= u64::from(u32::MAX));
        zip.start_file(m.name.as_str(), options)?;
        io::copy(&mut BufReader::with_capacity(BUF, src), &mut zip)?;
    }
    Ok(zip.finish()?)
}

fn write_tgz(w: impl Write, members: &[Member]) -> io::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let gz = flate2::GzBuilder::new().mtime(u32::try_from(now).unwrap_or(0)).write(w, flate2::Compression::none());
    let mut tar = tar::Builder::new(gz);
    for m in members {
        let src = Source::open(&m.path)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(src.size);
        h.set_mode(0o644);
        h.set_mtime(src.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("cirrus")?;
        h.set_groupname("cirrus")?;
        tar.append_data(&mut h, &m.name, src)?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(dir: &Path) -> Vec<Member> {
        let long = format!("{}.nc", "x".repeat(120));
        let mut out = Vec::new();
        for (name, bytes) in [
            ("a.nc", vec![1u8; 70_000]),
            ("provenance.json", b"{\"a\": 1}".to_vec()),
            (long.as_str(), vec![7u8; 513]),
            ("empty.nc", vec![]),
            ("tas_été.nc", vec![2u8; 3]),
        ] {
            let p = dir.join(format!("f{}", out.len()));
            std::fs::write(&p, bytes).expect("write");
            out.push(Member { name: name.to_string(), path: p });
        }
        out
    }

    /// Python's zipfile and tarfile, when python3 is there, as the reference readers.
    fn python_check(script: &str, archive: &Path) {
        let Ok(out) = std::process::Command::new("python3").arg("-c").arg(script).arg(archive).output() else {
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }

    fn sha256_of(path: &Path) -> String {
        format!("{:x}", sha2::Sha256::digest(std::fs::read(path).expect("read")))
    }

    const ZIP_CHECK: &str = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nn = {i.filename: i.file_size for i in z.infolist()}\nassert n == {'a.nc': 70000, 'provenance.json': 8, 'x' * 120 + '.nc': 513, 'empty.nc': 0, 'tas_été.nc': 3}, n\nassert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())\nassert z.read('a.nc') == bytes([1]) * 70000\nassert z.getinfo('a.nc').date_time[0] >= 2020\nprint('ok')";

    #[test]
    fn zip_and_zip64() {
        let dir = tempfile::tempdir().expect("tmp");
        let ms = members(dir.path());
        let out = dir.path().join("out.zip");
        let (size, sha) = write(Kind::Zip, &ms, &out).expect("zip");
        assert_eq!(size, std::fs::metadata(&out).expect("meta").len());
        assert_eq!(sha, sha256_of(&out));
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(&bytes[..4], &[0x50, 0x4b, 3, 4]);
        assert_eq!(&bytes[6..10], &[0, 0, 0, 0], "no data descriptor, stored");
        assert_eq!(&bytes[bytes.len() - 22..bytes.len() - 18], &[0x50, 0x4b, 5, 6]);
        python_check(ZIP_CHECK, &out);
        // every size through ZIP64 fields (the crate puts offsets there only past 4 GiB)
        let out64 = dir.path().join("out64.zip");
        let file = File::create(&out64).expect("create");
        write_zip(BufWriter::new(file), &ms, true).expect("zip64").flush().expect("flush");
        python_check(
            &format!("{ZIP_CHECK}\nassert all(i.extra[:2] == b'\\x01\\x00' for i in z.infolist()), 'zip64'"),
            &out64,
        );
    }

    #[test]
    fn tgz() {
        let dir = tempfile::tempdir().expect("tmp");
        let ms = members(dir.path());
        let out = dir.path().join("out.tar.gz");
        let (size, sha) = write(Kind::Tgz, &ms, &out).expect("tgz");
        assert_eq!(size, std::fs::metadata(&out).expect("meta").len());
        assert_eq!(sha, sha256_of(&out));
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8]);
        python_check(
            "import sys, tarfile\nt = tarfile.open(sys.argv[1], 'r:gz')\nn = {m.name: m.size for m in t.getmembers()}\nassert n == {'a.nc': 70000, 'provenance.json': 8, 'x' * 120 + '.nc': 513, 'empty.nc': 0, 'tas_été.nc': 3}, n\nassert t.extractfile('a.nc').read() == bytes([1]) * 70000\nassert t.getmember('a.nc').mode == 0o644 and t.getmember('a.nc').uname == 'cirrus'\nprint('ok')",
            &out,
        );
    }

    #[test]
    fn member_changed() {
        let dir = tempfile::tempdir().expect("tmp");
        let ms = members(dir.path());
        // a file that ends before its size: the size written first would be wrong
        let mut src = Source::open(&ms[0].path).expect("open");
        std::fs::write(&ms[0].path, b"short").expect("truncate");
        let err = io::copy(&mut src, &mut io::sink()).expect_err("short");
        assert!(err.to_string().contains("changed while being archived"), "{err}");
    }

    #[test]
    fn times() {
        assert_eq!(zip_time(0), zip::DateTime::default());
        // 2021-03-04 05:06:08 UTC
        let t = zip_time(1_614_834_368);
        assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()), (2021, 3, 4, 5, 6, 8));
        assert_eq!(zip_time(u64::from(u32::MAX) * 4), zip::DateTime::default());
    }

    /// A real > 4 GiB (sparse) member: ZIP64 sizes and offsets without forcing. Slow in a
    /// debug build (4 GiB through the CRC and the SHA-256): `cargo test -- --ignored`.
    #[test]
    #[ignore]
    fn zip64_past_4gib() {
        let dir = tempfile::tempdir().expect("tmp");
        let big = dir.path().join("big");
        File::create(&big).expect("create").set_len((1 << 32) + 10).expect("sparse");
        let small = dir.path().join("small");
        std::fs::write(&small, b"after").expect("write");
        let ms = [Member { name: "big.nc".into(), path: big }, Member { name: "small.nc".into(), path: small }];
        let out = dir.path().join("big.zip");
        let (size, _) = write(Kind::Zip, &ms, &out).expect("zip");
        assert!(size > 1 << 32);
        python_check(
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert [(i.filename, i.file_size) for i in z.infolist()] == [('big.nc', 2**32 + 10), ('small.nc', 5)]\nassert z.getinfo('small.nc').header_offset > 2**32 and z.read('small.nc') == b'after'\nwith z.open('big.nc') as f:\n    f.seek(2**32)\n    assert f.read() == bytes(10)\nprint('ok')",
            &out,
        );
    }
}
