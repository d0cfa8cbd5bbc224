//! From a request path to a file under the mount's root, or to nothing: the only place a
//! static mount touches the client's path.
//!
//! Two steps, the first pure and the second on the filesystem (on the event loop, see `mod.rs`):
//!
//! 1. `segments` splits the path below the mount on `/` *before* percent-decoding, then
//!    decodes each segment. A segment is refused (the whole request is `404`) when it is
//!    empty (`//`, except a final `/`), starts with `.` (dotfiles, and so `.` and `..` in any
//!    spelling: `%2e%2e` decodes to `..` inside its segment), or holds `/` (`%2f`), `\`
//!    (raw or `%5c`) or NUL (`%00`). For example `/css/app.css` gives `["css", "app.css"]`,
//!    and `/css/..%2fsecret`, `/.env` and `/a//b` give nothing.
//! 2. `Root::find` opens the segments, joined, relative to a descriptor of the root with
//!    `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel follows every symlink
//!    and refuses any step out of the root, in the one system call that opens the file (a
//!    symlink inside is followed; one that leaves gives `404`). When it cannot say (an
//!    absolute symlink, which `RESOLVE_BENEATH` refuses even when it points inside, or a
//!    kernel before 5.6), the path is canonicalized instead and accepted only if it still
//!    lies below the canonical root, then opened without following a last symlink. Either
//!    way what is served is the descriptor that was checked. A directory gives its index
//!    file when the mount has one (`static-index`), and without a final `/` a redirect to the
//!    path with one (so the index's relative links work); never a listing. Anything that is
//!    neither a regular file nor a directory gives `404` (opened with `O_NONBLOCK`, so a
//!    FIFO cannot hang the loop).
//!
//! Reading the file is `body.rs`'s; precompressed siblings (`encoding.rs`) are looked up with
//! `Root::open`, below the root in the same way.

use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// The decoded segments of a path below a mount, and whether it ended with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    pub names: Vec<OsString>,
    pub trailing_slash: bool,
}

/// Splits `rest` (the raw path after the mount prefix: empty, or starting with `/`) into
/// decoded segments; None when any segment is hostile or hidden (see the module's header).
pub fn segments(rest: &str) -> Option<Segments> {
    if rest.is_empty() {
        return Some(Segments { names: Vec::new(), trailing_slash: false });
    }
    let inner = rest.strip_prefix('/')?;
    if inner.is_empty() {
        return Some(Segments { names: Vec::new(), trailing_slash: true });
    }
    let (inner, trailing_slash) = match inner.strip_suffix('/') {
        Some(inner) => (inner, true),
        None => (inner, false),
    };
    let names = inner.split('/').map(segment).collect::<Option<Vec<_>>>()?;
    Some(Segments { names, trailing_slash })
}

/// One raw segment, decoded; None if it is empty, hidden or could step out of its place.
fn segment(raw: &str) -> Option<OsString> {
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    let hostile = |byte: &u8| matches!(byte, b'/' | b'\\' | 0);
    if decoded.is_empty() || decoded[0] == b'.' || decoded.iter().any(hostile) {
        return None;
    }
    Some(OsString::from_vec(decoded))
}

/// What a path names under the root.
// Lives a moment on the stack, returned once per request: boxing the large variant would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Found {
    /// A regular file, open, with its metadata; its path relative to the root (the request's,
    /// or the canonical one when that had to be worked out), for its siblings; and the name
    /// its type and caching are judged by: the last segment asked for, or the index file's.
    File {
        opened: Opened,
        relative: PathBuf,
        name: OsString,
    },
    /// A directory with an index, asked for without the final `/`: redirect there.
    AddSlash,
    NotFound,
}

/// A file or directory opened below the root, and what `fstat` said of it.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub metadata: Metadata,
}

/// A static mount's directory (canonical, and open), and its index file name.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    directory: Arc<OwnedFd>,
    index: Option<OsString>,
}

/// How a lookup below the root is opened: read-only, never waiting (a FIFO), never a
/// controlling terminal.
const FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK).union(OFlags::NOCTTY).union(OFlags::CLOEXEC);

impl Root {
    /// The root at `path` (canonicalized: symlinks resolved, so prefix checks compare like
    /// with like); an error if it is not a directory.
    pub fn new(path: &Path, index: Option<OsString>) -> io::Result<Self> {
        let path = path.canonicalize()?;
        let directory = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { path, directory: Arc::new(directory), index })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root's descriptor, for lookups relative to it.
    pub fn directory(&self) -> &OwnedFd {
        &self.directory
    }

    /// Opens `relative` (a path below the root) if it names something below the root, with
    /// its path relative to the root; None when it does not exist or leaves the root.
    pub fn open(&self, relative: &Path) -> Option<(Opened, PathBuf)> {
        let target = if relative.as_os_str().is_empty() { Path::new(".") } else { relative };
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match openat2(&*self.directory, target, FLAGS, Mode::empty(), resolve) {
            Ok(descriptor) => Some((described(File::from(descriptor))?, relative.to_owned())),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::ACCESS | Errno::NAMETOOLONG) => None,
            // EXDEV: an absolute symlink or a step out; ENOSYS/EPERM: no openat2 here.
            Err(_) => self.open_canonical(relative),
        }
    }

    /// `open`'s slow way: canonicalize, check the result is below the root, open it without
    /// following a last symlink (swapped in after the check).
    fn open_canonical(&self, relative: &Path) -> Option<(Opened, PathBuf)> {
        let canonical = self.path.join(relative).canonicalize().ok()?;
        let inside = canonical.strip_prefix(&self.path).ok()?.to_owned();
        let file = OpenOptions::new().read(true).custom_flags(FLAGS.bits() as i32 | libc::O_NOFOLLOW).open(&canonical);
        Some((described(file.ok()?)?, inside))
    }

    /// Finds what `segments` name (system calls on metadata only: see `mod.rs`).
    pub fn find(&self, segments: &Segments) -> Found {
        let relative: PathBuf = segments.names.iter().collect();
        let Some((opened, relative)) = self.open(&relative) else {
            return Found::NotFound;
        };
        if opened.metadata.is_file() {
            return match (segments.trailing_slash, segments.names.last()) {
                (false, Some(name)) => Found::File { opened, relative, name: name.clone() },
                _ => Found::NotFound,
            };
        }
        let Some(index) = &self.index else {
            return Found::NotFound;
        };
        if !opened.metadata.is_dir() {
            return Found::NotFound;
        }
        match self.open(&relative.join(index)) {
            Some((opened, relative)) if opened.metadata.is_file() => {
                if segments.trailing_slash {
                    Found::File { opened, relative, name: index.clone() }
                } else {
                    Found::AddSlash
                }
            }
            _ => Found::NotFound,
        }
    }
}

/// `file` with its metadata; None for anything but a regular file or a directory.
fn described(file: File) -> Option<Opened> {
    let metadata = file.metadata().ok()?;
    (metadata.is_file() || metadata.is_dir()).then_some(Opened { file, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn names(rest: &str) -> Option<Vec<String>> {
        segments(rest).map(|found| found.names.iter().map(|name| name.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn segments_table() {
        let cases: [(&str, Option<&[&str]>); 20] = [
            ("", Some(&[])),
            ("/", Some(&[])),
            ("/app.css", Some(&["app.css"])),
            ("/css/app.css", Some(&["css", "app.css"])),
            ("/docs/", Some(&["docs"])),
            ("/a%20b.txt", Some(&["a b.txt"])),
            ("/..", None),
            ("/.", None),
            ("/css/../secret", None),
            ("/%2e%2e/secret", None),
            ("/%2E%2e/secret", None),
            ("/.%2e/secret", None),
            ("/css%2f..%2fsecret", None),
            ("/..%5csecret", None),
            ("/a\\b", None),
            ("/a%00.txt", None),
            ("/.env", None),
            ("/css/.git/config", None),
            ("/a//b", None),
            ("//etc/passwd", None),
        ];
        for (rest, expected) in cases {
            let expected = expected.map(|list| list.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>());
            assert_eq!(names(rest), expected, "segments of {rest:?}");
        }
        assert!(segments("/docs/").is_some_and(|found| found.trailing_slash));
        assert!(segments("/docs").is_some_and(|found| !found.trailing_slash));
    }

    /// A root with `index.html`, `css/app.css`, `docs/index.html`, `empty/`, a symlink inside
    /// (`inside.css` → `css/app.css`) and two that leave (`outside` → the parent's
    /// `secret.txt`, `up` → the parent directory).
    fn tree() -> (tempfile::TempDir, Root) {
        let top = tempfile::tempdir().expect("temporary directory");
        let root = top.path().join("root");
        std::fs::create_dir_all(root.join("css")).expect("mkdir");
        std::fs::create_dir_all(root.join("docs")).expect("mkdir");
        std::fs::create_dir_all(root.join("empty")).expect("mkdir");
        std::fs::write(root.join("index.html"), "home").expect("write");
        std::fs::write(root.join("css/app.css"), "body{}").expect("write");
        std::fs::write(root.join("docs/index.html"), "docs").expect("write");
        std::fs::write(top.path().join("secret.txt"), "secret").expect("write");
        symlink(root.join("css/app.css"), root.join("inside.css")).expect("symlink");
        symlink(top.path().join("secret.txt"), root.join("outside")).expect("symlink");
        symlink(top.path(), root.join("up")).expect("symlink");
        let root = Root::new(&root, Some("index.html".into())).expect("root");
        (top, root)
    }

    /// What `find` gave, comparable: the canonical path of a file found, and its name.
    #[derive(Debug, PartialEq, Eq)]
    enum Shape {
        File { path: PathBuf, name: OsString },
        AddSlash,
        NotFound,
    }

    fn find(root: &Root, rest: &str) -> Shape {
        match segments(rest).map_or(Found::NotFound, |found| root.find(&found)) {
            Found::File { opened, relative, name } => {
                let path = root.path().join(relative).canonicalize().expect("canonical");
                let named = std::fs::metadata(&path).expect("metadata");
                assert_eq!(opened.metadata.ino(), named.ino(), "the file opened is the one named");
                Shape::File { path, name }
            }
            Found::AddSlash => Shape::AddSlash,
            Found::NotFound => Shape::NotFound,
        }
    }

    #[test]
    fn find_table() {
        let (_top, root) = tree();
        let file =
            |relative: &str, name: &str| Shape::File { path: root.path().join(relative), name: OsString::from(name) };
        assert_eq!(find(&root, "/css/app.css"), file("css/app.css", "app.css"));
        assert_eq!(find(&root, "/inside.css"), file("css/app.css", "inside.css"));
        assert_eq!(find(&root, "/"), file("index.html", "index.html"));
        assert_eq!(find(&root, ""), Shape::AddSlash);
        assert_eq!(find(&root, "/docs/"), file("docs/index.html", "index.html"));
        assert_eq!(find(&root, "/docs"), Shape::AddSlash);
        for refused in ["/empty/", "/empty", "/css/app.css/", "/missing", "/outside", "/up/secret.txt", "/up/"] {
            assert_eq!(find(&root, refused), Shape::NotFound, "{refused}");
        }
        let no_index = Root::new(root.path(), None).expect("root");
        assert_eq!(find(&no_index, "/docs/"), Shape::NotFound);
        assert_eq!(find(&no_index, "/"), Shape::NotFound);
    }

    #[test]
    fn a_root_must_be_a_directory() {
        let (_top, root) = tree();
        assert!(Root::new(&root.path().join("index.html"), None).is_err());
        assert!(Root::new(&root.path().join("nowhere"), None).is_err());
    }

    fn hostile_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_owned()),
            Just("%2e%2e".to_owned()),
            Just("%2E.".to_owned()),
            Just(".".to_owned()),
            Just("".to_owned()),
            Just("%2f".to_owned()),
            Just("..%2f..".to_owned()),
            Just("%5c..".to_owned()),
            Just("%00".to_owned()),
            Just("up".to_owned()),
            Just("outside".to_owned()),
            Just("css".to_owned()),
            Just("docs".to_owned()),
            Just("secret.txt".to_owned()),
            Just("app.css".to_owned()),
            "[a-z.%/\\\\]{1,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the segments, what is found is a file below the root, never the secret
        /// next to it.
        #[test]
        fn nothing_outside_the_root(parts in proptest::collection::vec(hostile_segment(), 0..8), slash in any::<bool>()) {
            let (top, root) = tree_once();
            let mut rest = String::new();
            for part in &parts {
                rest.push('/');
                rest.push_str(part);
            }
            if slash {
                rest.push('/');
            }
            match find(root, &rest) {
                Shape::File { path, .. } => {
                    prop_assert!(path.starts_with(root.path()), "{rest} gave {path:?}");
                    prop_assert!(path.is_file());
                    prop_assert_ne!(std::fs::read(&path).ok(), Some(b"secret".to_vec()));
                }
                Shape::AddSlash | Shape::NotFound => {}
            }
            prop_assert!(top.path().join("secret.txt").is_file());
        }

        #[test]
        fn segments_never_panic(rest in ".{0,60}") {
            let _ = segments(&rest);
        }
    }

    /// One tree for all the property test's cases (building it per case would dominate).
    fn tree_once() -> &'static (tempfile::TempDir, Root) {
        static TREE: std::sync::OnceLock<(tempfile::TempDir, Root)> = std::sync::OnceLock::new();
        TREE.get_or_init(tree)
    }
}
