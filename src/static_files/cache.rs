//! A static mount's cache of files: what a hot asset's answer needs (its bytes, the bytes of
//! its precompressed siblings, their validators and headers), kept in memory so a request
//! for it costs no system call at all instead of an open, an `fstat`, a read and a close,
//! and no path decoding.
//!
//! Freshness: an entry is trusted for `FRESH` (a second) after it was read; the next request
//! after that takes the full lookup (`resolve.rs`), which reads the file and its siblings
//! again. So a rewritten, replaced or removed file, or a sibling written next to it, is seen
//! within a second, as nginx's `open_file_cache_valid` does (60 s by default), and an answer
//! is always one version of the file: the bytes kept and the ETag worked out from the same
//! `statx`. One exception: bytes about to be read from a larger file kept open are checked
//! first, with one `statx` of the path below the root (symlinks followed, as the lookup
//! follows them) that must give the same device, inode, size, modification and change times
//! as when it was opened, so a file rewritten in place is never sent under its old headers.
//! A path that leaves the root (a symlink swapped in) names another inode, so it fails that
//! check, and the full lookup's checks after a second.
//!
//! What is kept: files (and their siblings) of at most `body::BLOCK` bytes, read whole,
//! when the page cache held all their pages; larger ones open (a descriptor of their own,
//! read per request, so a range or a `304` costs what a small file's does, and a download
//! no open). Up to `MAX_ENTRIES` request paths, `MAX_BYTES` of file bytes and `MAX_OPEN`
//! open files per mount. Only paths that name a file are kept, under the path as the
//! request spelled it; when the cache is full, entries past `FRESH` make room, and else the
//! request is answered from what was read for it, which is not kept.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use rustix::fs::{statx, AtFlags, FileType, Statx, StatxFlags};

use super::body::{self, BLOCK};
use super::encoding::{siblings, PREFERENCE};
use super::representation::{Content, Facts};
use super::resolve::Root;
use crate::compression::Codec;
use crate::sync::lock;

/// How long an entry is trusted before the full lookup runs again (see the module's header).
pub const FRESH: Duration = Duration::from_secs(1);
/// Most request paths kept per mount.
const MAX_ENTRIES: usize = 4096;
/// Most file bytes kept per mount.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Most larger files kept open per mount.
const MAX_OPEN: usize = 64;

/// The cache of one static mount.
#[derive(Debug, Default)]
pub struct FileCache {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_path: HashMap<Box<str>, Arc<Entry>>,
    /// What the entries hold: file bytes, and open files.
    held: Held,
    /// When entries past `FRESH` were last dropped (None: never).
    swept: Option<Instant>,
}

/// What entries hold, against `MAX_BYTES` and `MAX_OPEN`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    bytes: usize,
    open: usize,
}

impl Held {
    fn add(self, other: Held) -> Held {
        Held { bytes: self.bytes + other.bytes, open: self.open + other.open }
    }

    fn remove(self, other: Held) -> Held {
        Held { bytes: self.bytes - other.bytes, open: self.open - other.open }
    }

    fn fits(self) -> bool {
        self.bytes <= MAX_BYTES && self.open <= MAX_OPEN
    }
}

/// What one request path names: the file, and each precompressed sibling it has.
#[derive(Debug)]
pub struct Entry {
    filled: Instant,
    /// The file itself first, then its siblings in `PREFERENCE` order.
    variants: Vec<Variant>,
}

/// One representation of the file: its bytes (or the file, open, when larger than
/// `BLOCK`) and everything its answer says about them.
#[derive(Debug)]
pub struct Variant {
    pub facts: Facts,
    pub content: Content,
    /// Its path below the root, for the freshness check.
    relative: PathBuf,
    stamp: Stamp,
}

/// What tells one version of a file from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: (u32, u32),
    inode: u64,
    size: u64,
    modified: (i64, u32),
    changed: (i64, u32),
}

impl Stamp {
    fn of(status: &Statx) -> Option<Self> {
        (FileType::from_raw_mode(u32::from(status.stx_mode)) == FileType::RegularFile).then_some(Self {
            device: (status.stx_dev_major, status.stx_dev_minor),
            inode: status.stx_ino,
            size: status.stx_size,
            modified: (status.stx_mtime.tv_sec, status.stx_mtime.tv_nsec),
            changed: (status.stx_ctime.tv_sec, status.stx_ctime.tv_nsec),
        })
    }
}

/// What `statx` must fill for a `Stamp`.
const STAMPED: StatxFlags =
    StatxFlags::TYPE.union(StatxFlags::INO).union(StatxFlags::SIZE).union(StatxFlags::MTIME).union(StatxFlags::CTIME);

impl FileCache {
    /// The entry for `path` (the request path below the mount), if one is kept and its
    /// siblings are still trusted.
    pub fn get(&self, path: &str) -> Option<Arc<Entry>> {
        let entry = lock(&self.inner).by_path.get(path).cloned()?;
        (entry.filled.elapsed() < FRESH).then_some(entry)
    }

    /// Keeps `entry` under `path` (the request path below the mount) if there is room;
    /// whether it was kept. Either way the caller may answer from it.
    pub fn keep(&self, path: &str, entry: &Arc<Entry>) -> bool {
        let held = entry.held();
        let mut entries = lock(&self.inner);
        entries.forget(path);
        // Entries past `FRESH` go at least once a second, so that a file removed or replaced
        // meanwhile is not held open (nor its bytes kept) until the cache fills up.
        let due = entries.swept.is_none_or(|swept| swept.elapsed() >= FRESH);
        if due || entries.by_path.len() >= MAX_ENTRIES || !entries.held.add(held).fits() {
            entries.drop_stale();
        }
        if entries.by_path.len() >= MAX_ENTRIES || !entries.held.add(held).fits() {
            return false;
        }
        entries.held = entries.held.add(held);
        entries.by_path.insert(path.into(), entry.clone());
        true
    }

    /// Drops the entry of `path`, if any: the caller found the file changed.
    pub fn forget(&self, path: &str) {
        lock(&self.inner).forget(path);
    }
}

impl Entries {
    fn forget(&mut self, path: &str) {
        if let Some(old) = self.by_path.remove(path) {
            self.held = self.held.remove(old.held());
        }
    }

    fn drop_stale(&mut self) {
        self.swept = Some(Instant::now());
        let mut freed = Held::default();
        self.by_path.retain(|_, entry| {
            let fresh = entry.filled.elapsed() < FRESH;
            if !fresh {
                freed = freed.add(entry.held());
            }
            fresh
        });
        self.held = self.held.remove(freed);
    }
}

impl Entry {
    /// Reads the file at `relative` below the root (opened as `file`, asked for as `name`)
    /// and its siblings, for `FileCache::keep`; None when one of them is not worth keeping
    /// (not a regular file, or a small one not all in the page cache).
    pub fn read(
        root: &Root,
        cache_control: Option<&HeaderValue>,
        relative: &Path,
        file: &File,
        name: &OsStr,
    ) -> Option<Arc<Entry>> {
        let mut variants = vec![variant(cache_control, None, file, relative.to_owned(), name)?];
        for (coding, opened, relative) in siblings(root, relative, &PREFERENCE) {
            variants.push(variant(cache_control, Some(coding), &opened.file, relative, name)?);
        }
        Some(Arc::new(Entry { filled: Instant::now(), variants }))
    }

    /// The variant to send to a client that accepts `codings` (best first).
    pub fn choose(&self, codings: &[Codec]) -> &Variant {
        codings
            .iter()
            .find_map(|&coding| self.variants.iter().find(|variant| variant.facts.coding == Some(coding)))
            .unwrap_or(&self.variants[0])
    }

    /// Whether the file `variant` keeps open is still the one at its path (see the module's
    /// header); when not, the caller takes the full lookup.
    pub fn is_current(&self, root: &Root, variant: &Variant) -> bool {
        let status = statx(root.directory(), &variant.relative, AtFlags::empty(), STAMPED);
        status.ok().and_then(|status| Stamp::of(&status)) == Some(variant.stamp)
    }

    fn held(&self) -> Held {
        self.variants.iter().fold(Held::default(), |held, variant| match &variant.content {
            Content::Read(bytes) => held.add(Held { bytes: bytes.len(), open: 0 }),
            Content::Open(_) => held.add(Held { bytes: 0, open: 1 }),
        })
    }
}

/// The variant of the opened `file` (the file itself, or its sibling in `coding`): read
/// whole when it is at most `BLOCK` bytes, else kept open (a descriptor of its own); None
/// when it is not a regular file, or a small one is not all in the page cache.
fn variant(
    cache_control: Option<&HeaderValue>,
    coding: Option<Codec>,
    file: &File,
    relative: PathBuf,
    name: &OsStr,
) -> Option<Variant> {
    let status = statx(file, "", AtFlags::EMPTY_PATH, STAMPED).ok()?;
    let stamp = Stamp::of(&status)?;
    let content = if stamp.size > BLOCK {
        Content::Open(Arc::new(file.try_clone().ok()?))
    } else {
        let read = if stamp.size == 0 { Bytes::new() } else { body::read_cached(file, &(0..=stamp.size - 1)) };
        if read.len() as u64 != stamp.size {
            return None;
        }
        Content::Read(read)
    };
    let (seconds, nanoseconds) = stamp.modified;
    let modified = u64::try_from(seconds).ok().map(|seconds| UNIX_EPOCH + Duration::new(seconds, nanoseconds));
    let facts = Facts::new(cache_control, coding, stamp.size, modified, name);
    Some(Variant { facts, content, relative, stamp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// A mount's root and its cache.
    struct Mount {
        root: Root,
        cache: FileCache,
    }

    fn settings(root: &Path) -> Mount {
        Mount { root: Root::new(root, None).expect("root"), cache: FileCache::default() }
    }

    fn read(variant: &Variant) -> &[u8] {
        match &variant.content {
            Content::Read(bytes) => bytes,
            Content::Open(_) => panic!("kept open, not read"),
        }
    }

    /// Reads the entry of `name` (a file in the root) and keeps it under `/name`; None when
    /// it is not read or not kept.
    fn fill(settings: &Mount, name: &str) -> Option<Arc<Entry>> {
        let file = File::open(settings.root.path().join(name)).expect("open");
        let entry = Entry::read(&settings.root, None, Path::new(name), &file, OsStr::new(name))?;
        settings.cache.keep(&format!("/{name}"), &entry).then_some(entry)
    }

    #[test]
    fn a_file_is_kept_with_its_siblings_until_it_changes() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let root = directory.path();
        std::fs::write(root.join("app.css"), b"body{}").expect("write");
        std::fs::write(root.join("app.css.gz"), b"gzip bytes").expect("write");
        let settings = settings(root);
        let entry = fill(&settings, "app.css").expect("kept");
        assert!(Arc::ptr_eq(&entry, &settings.cache.get("/app.css").expect("found")));
        assert!(settings.cache.get("/other.css").is_none());

        let plain = entry.choose(&[]);
        assert_eq!((plain.facts.coding, read(plain)), (None, &b"body{}"[..]));
        let gzip = entry.choose(&[Codec::Brotli, Codec::Gzip]);
        assert_eq!((gzip.facts.coding, read(gzip)), (Some(Codec::Gzip), &b"gzip bytes"[..]));
        assert!(entry.is_current(&settings.root, plain) && entry.is_current(&settings.root, gzip));

        // Rewritten with the same size, dated in the past (a coarse clock may give a write
        // this soon after the first the same time).
        std::fs::write(root.join("app.css"), b"body{ ").expect("rewrite");
        let file = File::options().write(true).open(root.join("app.css")).expect("open");
        file.set_modified(UNIX_EPOCH + Duration::from_secs(946_684_800)).expect("utime");
        assert!(!entry.is_current(&settings.root, plain), "rewritten");
        assert!(entry.is_current(&settings.root, gzip), "the sibling did not change");
        std::fs::remove_file(root.join("app.css.gz")).expect("remove");
        assert!(!entry.is_current(&settings.root, gzip), "removed");
    }

    #[test]
    fn a_forgotten_entry_lets_go_of_what_it_held() {
        let directory = tempfile::tempdir().expect("temporary directory");
        std::fs::write(directory.path().join("big.bin"), vec![7u8; BLOCK as usize + 1]).expect("write");
        std::fs::write(directory.path().join("small.txt"), b"small").expect("write");
        let settings = settings(directory.path());
        fill(&settings, "big.bin").expect("kept");
        fill(&settings, "small.txt").expect("kept");
        assert_eq!(lock(&settings.cache.inner).held, Held { bytes: 5, open: 1 });
        settings.cache.forget("/big.bin");
        assert!(settings.cache.get("/big.bin").is_none());
        assert_eq!(lock(&settings.cache.inner).held, Held { bytes: 5, open: 0 });
    }

    #[test]
    fn a_path_swapped_for_a_symlink_out_of_the_root_is_not_current() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let root = directory.path().join("root");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::write(root.join("a.txt"), b"inside").expect("write");
        std::fs::write(directory.path().join("secret.txt"), b"inside").expect("write");
        let settings = settings(&root);
        let entry = fill(&settings, "a.txt").expect("kept");
        std::fs::remove_file(root.join("a.txt")).expect("remove");
        std::os::unix::fs::symlink(directory.path().join("secret.txt"), root.join("a.txt")).expect("symlink");
        assert!(!entry.is_current(&settings.root, entry.choose(&[])));
    }

    #[test]
    fn larger_files_are_kept_open_up_to_the_limit() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let settings = settings(directory.path());
        for index in 0..=MAX_OPEN {
            std::fs::write(directory.path().join(format!("{index}.bin")), vec![7u8; BLOCK as usize + 1])
                .expect("write");
        }
        let entry = fill(&settings, "0.bin").expect("kept");
        assert!(matches!(entry.choose(&[]).content, Content::Open(_)));
        assert!(entry.is_current(&settings.root, entry.choose(&[])));
        for index in 1..MAX_OPEN {
            assert!(fill(&settings, &format!("{index}.bin")).is_some(), "{index} fits");
        }
        assert!(fill(&settings, &format!("{MAX_OPEN}.bin")).is_none(), "no descriptor left, nothing stale yet");
        assert_eq!(lock(&settings.cache.inner).held, Held { bytes: 0, open: MAX_OPEN });
    }

    #[test]
    fn the_cache_holds_at_most_its_bytes() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let settings = settings(directory.path());
        let count = MAX_BYTES / BLOCK as usize;
        for index in 0..=count {
            std::fs::write(directory.path().join(format!("{index}.bin")), vec![1u8; BLOCK as usize]).expect("write");
        }
        for index in 0..count {
            assert!(fill(&settings, &format!("{index}.bin")).is_some(), "{index} fits");
        }
        assert!(fill(&settings, &format!("{count}.bin")).is_none(), "full, and nothing is stale yet");
        assert!(fill(&settings, "0.bin").is_some(), "refilling an entry reuses its room");
        assert_eq!(lock(&settings.cache.inner).held, Held { bytes: MAX_BYTES, open: 0 });
    }
}
