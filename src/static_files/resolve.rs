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
//! 2. `Root::find` joins the segments to the root, canonicalizes the result (following
//!    every symlink) and accepts it only if it still lies below the canonical root: a symlink
//!    that leaves the root gives `404`, one that stays inside is followed. A directory gives
//!    its index file when the mount has one (`static-index`), and without a final `/` a
//!    redirect to the path with one (so the index's relative links work); never a listing.
//!
//! Reading the file (and its precompressed siblings) is `body.rs` and `encoding.rs`'s.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

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
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A regular file (canonical path), and the name its type and caching are judged by:
    /// the last segment asked for, or the index file's name.
    File {
        path: PathBuf,
        name: OsString,
    },
    /// A directory with an index, asked for without the final `/`: redirect there.
    AddSlash,
    NotFound,
}

/// A static mount's directory, canonical, and its index file name.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    index: Option<OsString>,
}

impl Root {
    /// The root at `path` (canonicalized: symlinks resolved, so prefix checks compare like
    /// with like); an error if it is not a directory.
    pub fn new(path: &Path, index: Option<OsString>) -> io::Result<Self> {
        let path = path.canonicalize()?;
        if !path.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"));
        }
        Ok(Self { path, index })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `path`, canonicalized, lies below the root; the canonical path if so.
    pub fn contain(&self, path: &Path) -> Option<PathBuf> {
        let canonical = path.canonicalize().ok()?;
        canonical.starts_with(&self.path).then_some(canonical)
    }

    /// Finds what `segments` name (system calls on metadata only: see `mod.rs`).
    pub fn find(&self, segments: &Segments) -> Found {
        let mut joined = self.path.clone();
        joined.extend(&segments.names);
        let Some(canonical) = self.contain(&joined) else {
            return Found::NotFound;
        };
        let Ok(metadata) = canonical.metadata() else {
            return Found::NotFound;
        };
        if metadata.is_file() {
            return match (segments.trailing_slash, segments.names.last()) {
                (false, Some(name)) => Found::File { path: canonical, name: name.clone() },
                _ => Found::NotFound,
            };
        }
        let Some(index) = &self.index else {
            return Found::NotFound;
        };
        if !metadata.is_dir() {
            return Found::NotFound;
        }
        match self.contain(&canonical.join(index)) {
            Some(path) if path.is_file() => {
                if segments.trailing_slash {
                    Found::File { path, name: index.clone() }
                } else {
                    Found::AddSlash
                }
            }
            _ => Found::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

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

    fn find(root: &Root, rest: &str) -> Found {
        segments(rest).map_or(Found::NotFound, |found| root.find(&found))
    }

    #[test]
    fn find_table() {
        let (_top, root) = tree();
        let file =
            |relative: &str, name: &str| Found::File { path: root.path().join(relative), name: OsString::from(name) };
        assert_eq!(find(&root, "/css/app.css"), file("css/app.css", "app.css"));
        assert_eq!(find(&root, "/inside.css"), file("css/app.css", "inside.css"));
        assert_eq!(find(&root, "/"), file("index.html", "index.html"));
        assert_eq!(find(&root, ""), Found::AddSlash);
        assert_eq!(find(&root, "/docs/"), file("docs/index.html", "index.html"));
        assert_eq!(find(&root, "/docs"), Found::AddSlash);
        for refused in ["/empty/", "/empty", "/css/app.css/", "/missing", "/outside", "/up/secret.txt", "/up/"] {
            assert_eq!(find(&root, refused), Found::NotFound, "{refused}");
        }
        let no_index = Root::new(root.path(), None).expect("root");
        assert_eq!(find(&no_index, "/docs/"), Found::NotFound);
        assert_eq!(find(&no_index, "/"), Found::NotFound);
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
                Found::File { path, .. } => {
                    prop_assert!(path.starts_with(root.path()), "{rest} gave {path:?}");
                    prop_assert!(path.is_file());
                    prop_assert_ne!(std::fs::read(&path).ok(), Some(b"secret".to_vec()));
                }
                Found::AddSlash | Found::NotFound => {}
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
