//! Descriptors Python hands us (a listening socket, an app's open file): duplicated into an
//! `OwnedFd` of our own, so the Rust side never depends on the Python object staying open;
//! and the process's limit on open descriptors (for the out-of-descriptors warning and the
//! `process_max_fds` metric).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A duplicate of `fd`, which the caller keeps open for the length of this call. A negative
/// or closed descriptor is an error, never undefined behaviour.
pub fn duplicate(fd: i32) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid descriptor {fd}")));
    }
    #[allow(unsafe_code)]
    // SAFETY: the caller keeps `fd` open for this call; we only borrow it to dup it (fcntl
    // F_DUPFD_CLOEXEC, which fails cleanly on a closed descriptor) and own the duplicate.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned()
}

/// The process's soft limit on open descriptors (`ulimit -n`), if it can be read.
pub fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which lives on this stack frame.
    #[allow(unsafe_code)]
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn a_duplicate_reads_the_same_file_and_outlives_the_original() {
        let path = std::env::temp_dir().join(format!("amphicorn-fds-{}", std::process::id()));
        let mut original =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).expect("create");
        original.write_all(b"hello").expect("write");
        let copy = duplicate(original.as_raw_fd()).expect("dup");
        drop(original);
        let mut copy = std::fs::File::from(copy);
        copy.seek(SeekFrom::Start(0)).expect("seek");
        let mut text = String::new();
        copy.read_to_string(&mut text).expect("read");
        assert_eq!(text, "hello");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_negative_descriptor_is_an_error() {
        assert!(duplicate(-1).is_err());
    }
}
