//! The archives the CDS API delivers: zip (stored entries, ZIP64 when an entry or the
//! archive passes 4 GiB) or tgz (POSIX ustar with PAX records for long names and large
//! files, in a gzip stream of stored deflate blocks). The NetCDF members are already
//! deflate-compressed, so neither format compresses again: writing is a copy.

use sha2::Digest;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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
    let file = File::create(out)?;
    let mut w = Hashing { inner: BufWriter::with_capacity(1 << 20, file), sha: sha2::Sha256::new(), count: 0 };
    match kind {
        Kind::Zip => write_zip(&mut w, members, u64::from(u32::MAX))?,
        Kind::Tgz => write_tgz(&mut w, members)?,
    }
    w.flush()?;
    w.inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((w.count, format!("{:x}", w.sha.finalize())))
}

fn mtime(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn crc_of(path: &Path) -> io::Result<(u32, u64)> {
    let mut f = File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok((h.finalize(), n));
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

/// MS-DOS date and time of a Unix time (1980 at the earliest).
fn dos_time(secs: u64) -> (u16, u16) {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let (y, m, d) = cirrus_ops::cf::Calendar::ProlepticGregorian.date_of(2_440_588 + days);
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let rem = secs % 86400;
    let time = ((rem / 3600) << 11) | ((rem % 3600 / 60) << 5) | ((rem % 60) / 2);
    let date = (u64::try_from(y - 1980).unwrap_or(0).min(127) << 9) | u64::from(m) << 5 | u64::from(d);
    (u16::try_from(time).unwrap_or(0), u16::try_from(date).unwrap_or(0))
}

fn u16le(w: &mut impl Write, v: u16) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}
fn u32le(w: &mut impl Write, v: u32) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}
fn u64le(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

/// 32-bit field value, or the ZIP64 marker.
fn field32(v: u64, limit: u64) -> u32 {
    if v >= limit {
        u32::MAX
    } else {
        u32::try_from(v).unwrap_or(u32::MAX)
    }
}

/// A zip of stored entries. Sizes and offsets at or above `limit` go to ZIP64 fields
/// (`limit` is 2^32-1 except in tests).
fn write_zip(w: &mut Hashing<impl Write>, members: &[Member], limit: u64) -> io::Result<()> {
    struct Central {
        name: String,
        crc: u32,
        size: u64,
        offset: u64,
        time: (u16, u16),
        zip64_local: bool,
    }
    let mut entries = Vec::with_capacity(members.len());
    for m in members {
        let (crc, size) = crc_of(&m.path)?;
        let offset = w.count;
        let time = dos_time(mtime(&m.path));
        let zip64 = size >= limit;
        u32le(w, 0x0403_4b50)?;
        u16le(w, if zip64 { 45 } else { 20 })?;
        u16le(w, 0x0800)?; // UTF-8 names
        u16le(w, 0)?; // stored
        u16le(w, time.0)?;
        u16le(w, time.1)?;
        u32le(w, crc)?;
        u32le(w, field32(size, limit))?;
        u32le(w, field32(size, limit))?;
        u16le(w, u16::try_from(m.name.len()).map_err(io::Error::other)?)?;
        u16le(w, if zip64 { 20 } else { 0 })?;
        w.write_all(m.name.as_bytes())?;
        if zip64 {
            u16le(w, 1)?;
            u16le(w, 16)?;
            u64le(w, size)?;
            u64le(w, size)?;
        }
        let copied = io::copy(&mut File::open(&m.path)?.take(size), w)?;
        if copied != size {
            return Err(io::Error::other(format!("{} changed while being archived", m.path.display())));
        }
        entries.push(Central { name: m.name.clone(), crc, size, offset, time, zip64_local: zip64 });
    }
    let cd_start = w.count;
    for e in &entries {
        let mut extra = Vec::new();
        if e.size >= limit {
            extra.extend_from_slice(&e.size.to_le_bytes());
            extra.extend_from_slice(&e.size.to_le_bytes());
        }
        if e.offset >= limit {
            extra.extend_from_slice(&e.offset.to_le_bytes());
        }
        let zip64 = !extra.is_empty() || e.zip64_local;
        u32le(w, 0x0201_4b50)?;
        u16le(w, (3 << 8) | if zip64 { 45 } else { 20 })?; // made by Unix
        u16le(w, if zip64 { 45 } else { 20 })?;
        u16le(w, 0x0800)?;
        u16le(w, 0)?;
        u16le(w, e.time.0)?;
        u16le(w, e.time.1)?;
        u32le(w, e.crc)?;
        u32le(w, field32(e.size, limit))?;
        u32le(w, field32(e.size, limit))?;
        u16le(w, u16::try_from(e.name.len()).map_err(io::Error::other)?)?;
        u16le(w, if extra.is_empty() { 0 } else { u16::try_from(extra.len() + 4).unwrap_or(0) })?;
        u16le(w, 0)?; // comment
        u16le(w, 0)?; // disk
        u16le(w, 0)?; // internal attributes
        u32le(w, 0o100_644 << 16)?; // regular file, rw-r--r--
        u32le(w, field32(e.offset, limit))?;
        w.write_all(e.name.as_bytes())?;
        if !extra.is_empty() {
            u16le(w, 1)?;
            u16le(w, u16::try_from(extra.len()).unwrap_or(0))?;
            w.write_all(&extra)?;
        }
    }
    let cd_size = w.count - cd_start;
    let n = entries.len() as u64;
    let zip64 = n >= 0xFFFF || cd_start >= limit || cd_size >= limit || entries.iter().any(|e| e.offset >= limit);
    if zip64 {
        let eocd64 = w.count;
        u32le(w, 0x0606_4b50)?;
        u64le(w, 44)?;
        u16le(w, (3 << 8) | 45)?;
        u16le(w, 45)?;
        u32le(w, 0)?;
        u32le(w, 0)?;
        u64le(w, n)?;
        u64le(w, n)?;
        u64le(w, cd_size)?;
        u64le(w, cd_start)?;
        u32le(w, 0x0706_4b50)?;
        u32le(w, 0)?;
        u64le(w, eocd64)?;
        u32le(w, 1)?;
    }
    let count16 = if zip64 { 0xFFFF } else { u16::try_from(n).unwrap_or(0xFFFF) };
    u32le(w, 0x0605_4b50)?;
    u16le(w, 0)?;
    u16le(w, 0)?;
    u16le(w, count16)?;
    u16le(w, count16)?;
    u32le(w, if zip64 { u32::MAX } else { field32(cd_size, limit) })?;
    u32le(w, if zip64 { u32::MAX } else { field32(cd_start, limit) })?;
    u16le(w, 0)
}

/// A gzip member of stored deflate blocks.
struct Gzip<'a, W: Write> {
    out: &'a mut W,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<'a, W: Write> Gzip<'a, W> {
    const BLOCK: usize = 65_535;

    fn new(out: &'a mut W, mtime: u32) -> io::Result<Self> {
        out.write_all(&[0x1f, 0x8b, 8, 0])?;
        out.write_all(&mtime.to_le_bytes())?;
        out.write_all(&[0, 255])?;
        Ok(Gzip { out, buf: Vec::with_capacity(Self::BLOCK), crc: crc32fast::Hasher::new(), len: 0 })
    }

    fn block(&mut self, last: bool) -> io::Result<()> {
        let n = u16::try_from(self.buf.len()).map_err(io::Error::other)?;
        self.out.write_all(&[u8::from(last)])?;
        self.out.write_all(&n.to_le_bytes())?;
        self.out.write_all(&(!n).to_le_bytes())?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.block(true)?;
        self.out.write_all(&self.crc.clone().finalize().to_le_bytes())?;
        #[allow(clippy::cast_possible_truncation)]
        self.out.write_all(&(self.len as u32).to_le_bytes())
    }
}

impl<W: Write> Write for Gzip<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(Self::BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        self.len += n as u64;
        if self.buf.len() == Self::BLOCK {
            self.block(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    if s.len() <= digits {
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    } else {
        // base-256 (GNU) for values that do not fit
        field.fill(0);
        field[0] = 0x80;
        let bytes = v.to_be_bytes();
        let n = field.len().min(8);
        let start = field.len() - n;
        field[start..].copy_from_slice(&bytes[8 - n..]);
    }
}

fn tar_header(name: &str, size: u64, mtime: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name.as_bytes()[..n]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..271].copy_from_slice(b"cirrus");
    h[297..303].copy_from_slice(b"cirrus");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// A PAX record `"<len> key=value\n"` (len counts the whole record).
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len = format!("{len}").len() + body.len();
    }
    format!("{len}{body}")
}

fn pad(w: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = usize::try_from(size % 512).unwrap_or(0);
    if rem > 0 {
        w.write_all(&vec![0u8; 512 - rem])?;
    }
    Ok(())
}

fn write_tgz(w: &mut Hashing<impl Write>, members: &[Member]) -> io::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut gz = Gzip::new(w, u32::try_from(now).unwrap_or(0))?;
    for m in members {
        let size = std::fs::metadata(&m.path)?.len();
        let t = mtime(&m.path);
        let mut pax = String::new();
        if m.name.len() > 100 || !m.name.is_ascii() {
            pax.push_str(&pax_record("path", &m.name));
        }
        if size >= 0o77_777_777_777 {
            pax.push_str(&pax_record("size", &size.to_string()));
        }
        if !pax.is_empty() {
            let pax_name: String = format!("PaxHeaders/{}", m.name).chars().take(100).collect();
            gz.write_all(&tar_header(&pax_name, pax.len() as u64, t, b'x'))?;
            gz.write_all(pax.as_bytes())?;
            pad(&mut gz, pax.len() as u64)?;
        }
        gz.write_all(&tar_header(&m.name, size, t, b'0'))?;
        let copied = io::copy(&mut File::open(&m.path)?.take(size), &mut gz)?;
        if copied != size {
            return Err(io::Error::other(format!("{} changed while being archived", m.path.display())));
        }
        pad(&mut gz, size)?;
    }
    gz.write_all(&[0u8; 1024])?;
    gz.finish()
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

    const ZIP_CHECK: &str = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nn = {i.filename: i.file_size for i in z.infolist()}\nassert n['a.nc'] == 70000 and n['provenance.json'] == 8 and n['x' * 120 + '.nc'] == 513 and n['empty.nc'] == 0, n\nassert z.read('a.nc') == bytes([1]) * 70000\nprint('ok')";

    #[test]
    fn zip_and_zip64() {
        let dir = tempfile::tempdir().expect("tmp");
        let ms = members(dir.path());
        let out = dir.path().join("out.zip");
        let (size, sha) = write(Kind::Zip, &ms, &out).expect("zip");
        assert_eq!(size, std::fs::metadata(&out).expect("meta").len());
        assert_eq!(sha.len(), 64);
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(&bytes[..4], &[0x50, 0x4b, 3, 4]);
        assert_eq!(&bytes[bytes.len() - 22..bytes.len() - 18], &[0x50, 0x4b, 5, 6]);
        python_check(ZIP_CHECK, &out);
        // every size and offset through ZIP64 fields
        let out64 = dir.path().join("out64.zip");
        let file = File::create(&out64).expect("create");
        let mut w = Hashing { inner: BufWriter::new(file), sha: sha2::Sha256::new(), count: 0 };
        write_zip(&mut w, &ms, 0).expect("zip64");
        w.flush().expect("flush");
        drop(w);
        python_check(ZIP_CHECK, &out64);
    }

    #[test]
    fn tgz() {
        let dir = tempfile::tempdir().expect("tmp");
        let ms = members(dir.path());
        let out = dir.path().join("out.tar.gz");
        write(Kind::Tgz, &ms, &out).expect("tgz");
        let bytes = std::fs::read(&out).expect("read");
        assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8]);
        python_check(
            "import sys, tarfile\nt = tarfile.open(sys.argv[1], 'r:gz')\nn = {m.name: m.size for m in t.getmembers()}\nassert n == {'a.nc': 70000, 'provenance.json': 8, 'x' * 120 + '.nc': 513, 'empty.nc': 0}, n\nassert t.extractfile('a.nc').read() == bytes([1]) * 70000\nprint('ok')",
            &out,
        );
    }

    #[test]
    fn pax_lengths() {
        assert_eq!(pax_record("path", "abc"), "12 path=abc\n");
        let r = pax_record("path", &"y".repeat(95));
        assert_eq!(r.len(), r.split(' ').next().and_then(|n| n.parse::<usize>().ok()).expect("len"));
        let mut f = [0u8; 12];
        octal(&mut f, 0o644);
        assert_eq!(&f, b"00000000644\0");
        assert_eq!(dos_time(0), (0, 33));
    }
}
