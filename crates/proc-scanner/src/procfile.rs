//! Reads of `/proc/<pid>/…` files (spec 10.3). Content is never trusted
//! to be UTF-8.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use crate::stat::{StatFields, parse_stat};

pub(crate) fn read_lossy(path: &Path) -> io::Result<String> {
    let bytes = read_small(path)?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// `fs::read` for kernel pseudo-files, in four system calls (open, read,
/// read to EOF, close) where `fs::read` spends eight on a 200-byte
/// `stat` or `cgroup.procs`: their size is reported as 0, so it asks for it
/// (`statx`) and then reads 32, 32, 64, 128… bytes at a time.
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    let mut chunk = [0u8; 4096];
    let mut bytes = Vec::new();
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `comm`, trimmed; `None` when the process is gone.
pub(crate) fn read_comm(pid_dir: &Path) -> Option<String> {
    try_read_comm(pid_dir).ok()
}

/// `comm` of a process or task directory, trimmed; the error tells a
/// vanished task from an unexpected failure (targeting.md 9.2).
pub(crate) fn try_read_comm(dir: &Path) -> io::Result<String> {
    read_lossy(&dir.join("comm")).map(|s| s.trim().to_owned())
}

/// Arguments joined with single spaces; empty for kernel threads or when gone.
pub(crate) fn read_cmdline(pid_dir: &Path) -> String {
    let Ok(bytes) = read_small(&pid_dir.join("cmdline")) else {
        return String::new();
    };
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes[..end]
        .split(|&b| b == 0)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Err` when unreadable (gone), `Ok(None)` when unparsable.
pub(crate) fn read_stat(pid_dir: &Path) -> io::Result<Option<StatFields>> {
    read_lossy(&pid_dir.join("stat")).map(|s| parse_stat(&s))
}

/// Thread IDs under `task/`, ascending; empty when the process is gone.
pub(crate) fn read_threads(pid_dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(pid_dir.join("task")) else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.parse().ok())
                .flatten()
        })
        .collect();
    tids.sort_unstable();
    tids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_joining() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &str); 5] = [
            (b"nginx: worker process", "nginx: worker process"),
            (b"python3\0app.py\0--port\08080\0", "python3 app.py --port 8080"),
            (b"", ""),
            (b"\0\0", ""),
            (b"a\xff\0b\0", "a\u{fffd} b"),
        ];
        for (raw, want) in cases {
            fs::write(dir.path().join("cmdline"), raw).unwrap();
            assert_eq!(read_cmdline(dir.path()), want);
        }
        assert_eq!(read_cmdline(&dir.path().join("gone")), "");
    }

    #[test]
    fn comm_is_trimmed_and_lossy() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("comm"), b" my app\xfe \n").unwrap();
        assert_eq!(read_comm(dir.path()).unwrap(), "my app\u{fffd}");
        assert_eq!(read_comm(&dir.path().join("gone")), None);
    }

    #[test]
    fn small_reads_are_complete() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(dir.path().join("big"), &big).unwrap();
        assert_eq!(read_small(&dir.path().join("big")).unwrap(), big);
        fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(read_small(&dir.path().join("empty")).unwrap().is_empty());
        let stat = read_small(Path::new("/proc/self/stat")).unwrap();
        assert!(stat.ends_with(b"\n"));
        assert!(read_small(&dir.path().join("gone")).is_err());
    }

    #[test]
    fn threads_sorted_numerically() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1000", "2", "31", "x", "+4"] {
            fs::create_dir_all(dir.path().join("task").join(name)).unwrap();
        }
        assert_eq!(read_threads(dir.path()), [2, 31, 1000]);
        assert!(read_threads(&dir.path().join("gone")).is_empty());
    }
}
