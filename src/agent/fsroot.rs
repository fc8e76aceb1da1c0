//! The workspace root and confined file access. The agent's file tools
//! run in lore's own process, so no OS sandbox covers them: every path
//! is resolved beneath the root, and whatever leaves it fails with an
//! error that says why.

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    #[error("{0}: absolute paths are not allowed; give a path relative to the workspace root")]
    Absolute(String),
    #[error("{0}: leaves the workspace root")]
    Escapes(String),
    #[error("{0}: is a symlink that leaves the workspace root")]
    SymlinkEscapes(String),
    #[error("{0}: .git is off limits")]
    Git(String),
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: not a regular file ({1})")]
    NotRegular(String, &'static str),
    #[error("{0}: is a directory; use list")]
    Directory(String),
    #[error("{0}: {1}")]
    Io(String, String),
}

/// The directory the agent works in: canonical, so prefix checks hold.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    pub fn new(dir: &Path) -> std::io::Result<Root> {
        let path = dir.canonicalize()?;
        if !path.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        Ok(Root { path })
    }

    /// The git top level above `dir`, else `dir` itself.
    pub fn discover(dir: &Path) -> std::io::Result<Root> {
        let start = dir.canonicalize()?;
        let top = start
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&start);
        Root::new(top)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` checked lexically: relative, no `..` out of the root, not
    /// into `.git`. Returns the normalised relative path ("" is the root).
    pub fn check(&self, rel: &str) -> Result<PathBuf, ConfineError> {
        let p = Path::new(rel);
        if p.is_absolute() {
            return Err(ConfineError::Absolute(rel.into()));
        }
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(ConfineError::Escapes(rel.into()));
                    }
                }
                Component::Normal(s) => {
                    if s == ".git" {
                        return Err(ConfineError::Git(rel.into()));
                    }
                    out.push(s);
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(ConfineError::Absolute(rel.into()))
                }
            }
        }
        Ok(out)
    }

    /// A directory beneath the root, for walking. Symlinks are resolved
    /// and must stay inside.
    pub fn dir(&self, rel: &str) -> Result<PathBuf, ConfineError> {
        let full = self.resolve(rel)?;
        if !full.is_dir() {
            return Err(ConfineError::Io(rel.into(), "not a directory".into()));
        }
        Ok(full)
    }

    /// The canonical path of `rel`, which must exist and stay inside.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ConfineError> {
        let clean = self.check(rel)?;
        let joined = self.path.join(&clean);
        let canonical = match joined.canonicalize() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling link is refused as a link, not reported missing.
                if joined.symlink_metadata().is_ok() {
                    return Err(ConfineError::SymlinkEscapes(rel.into()));
                }
                return Err(ConfineError::NotFound(rel.into()));
            }
            Err(e) => return Err(ConfineError::Io(rel.into(), e.to_string())),
        };
        if !canonical.starts_with(&self.path) {
            return Err(ConfineError::SymlinkEscapes(rel.into()));
        }
        let inside = canonical.strip_prefix(&self.path).unwrap_or(&canonical);
        if inside.components().any(|c| c.as_os_str() == ".git") {
            return Err(ConfineError::Git(rel.into()));
        }
        Ok(canonical)
    }

    /// Opens a regular file beneath the root for reading: with `openat2`
    /// and RESOLVE_BENEATH where the kernel has it (so no race between the
    /// check and the open), else after [`Root::resolve`] with O_NOFOLLOW.
    /// FIFOs, devices and sockets are refused without blocking on them.
    pub fn open(&self, rel: &str) -> Result<File, ConfineError> {
        let resolved = self.resolve(rel)?;
        let file = open_beneath(&self.path, &resolved)
            .map_err(|e| ConfineError::Io(rel.into(), e.to_string()))?;
        let meta = file
            .metadata()
            .map_err(|e| ConfineError::Io(rel.into(), e.to_string()))?;
        let ft = meta.file_type();
        use std::os::unix::fs::FileTypeExt;
        if ft.is_dir() {
            return Err(ConfineError::Directory(rel.into()));
        }
        if ft.is_fifo() {
            return Err(ConfineError::NotRegular(rel.into(), "a FIFO"));
        }
        if ft.is_socket() {
            return Err(ConfineError::NotRegular(rel.into(), "a socket"));
        }
        if ft.is_block_device() || ft.is_char_device() {
            return Err(ConfineError::NotRegular(rel.into(), "a device"));
        }
        Ok(file)
    }

    /// At most `cap` bytes of a file beneath the root, and whether there
    /// was more.
    pub fn read_capped(&self, rel: &str, cap: usize) -> Result<(Vec<u8>, bool), ConfineError> {
        let file = self.open(rel)?;
        let mut buf = Vec::new();
        file.take(cap as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ConfineError::Io(rel.into(), e.to_string()))?;
        let more = buf.len() > cap;
        buf.truncate(cap);
        Ok((buf, more))
    }

    /// The root-relative form of a path found by walking the root.
    pub fn relative(&self, full: &Path) -> String {
        full.strip_prefix(&self.path)
            .unwrap_or(full)
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(target_os = "linux")]
fn open_beneath(root: &Path, resolved: &Path) -> std::io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;

    let rel = resolved.strip_prefix(root).unwrap_or(resolved);
    let dir = File::open(root)?;
    let c = CString::new(rel.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid directory fd, a NUL-terminated path and an open_how
    // of the size passed; the returned fd is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        return Ok(unsafe { File::from_raw_fd(fd as i32) });
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        // Kernels before 5.6 (or seccomp filters) lack openat2.
        Some(libc::ENOSYS) | Some(libc::EPERM) => open_nofollow(resolved),
        Some(libc::EXDEV) => Err(std::io::Error::other("leaves the workspace root")),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_beneath(_root: &Path, resolved: &Path) -> std::io::Result<File> {
    open_nofollow(resolved)
}

fn open_nofollow(resolved: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(ws.join(".git")).unwrap();
        std::fs::write(ws.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(ws.join("src/a.rs"), "fn a() {}\n").unwrap();
        std::fs::write(dir.path().join("x"), "outside\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.join("passwd")).unwrap();
        std::os::unix::fs::symlink("src/a.rs", ws.join("inner")).unwrap();
        let root = Root::new(&ws).unwrap();
        (dir, root)
    }

    #[test]
    fn a_file_inside_the_root_is_read() {
        let (_d, root) = fixture();
        let (bytes, more) = root.read_capped("src/../src/a.rs", 100).unwrap();
        assert_eq!(bytes, b"fn a() {}\n");
        assert!(!more);
        assert_eq!(
            root.read_capped("inner", 4).unwrap(),
            (b"fn a".to_vec(), true)
        );
    }

    #[test]
    fn each_escape_gets_its_own_error_and_nothing_outside_is_read() {
        let (_d, root) = fixture();
        assert!(matches!(
            root.open("passwd"),
            Err(ConfineError::SymlinkEscapes(_))
        ));
        assert!(matches!(root.open("../x"), Err(ConfineError::Escapes(_))));
        assert!(matches!(
            root.open("../../x"),
            Err(ConfineError::Escapes(_))
        ));
        assert!(matches!(
            root.open("/etc/passwd"),
            Err(ConfineError::Absolute(_))
        ));
        assert!(matches!(
            root.open(".git/config"),
            Err(ConfineError::Git(_))
        ));
        assert!(matches!(
            root.open("src/../.git/config"),
            Err(ConfineError::Git(_))
        ));
        assert!(matches!(root.open("nope"), Err(ConfineError::NotFound(_))));
        assert!(matches!(root.open("src"), Err(ConfineError::Directory(_))));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (_d, root) = fixture();
        let fifo = root.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            root.open("pipe"),
            Err(ConfineError::NotRegular(_, "a FIFO"))
        ));
    }

    #[test]
    fn the_root_is_the_git_top_level() {
        let (_d, root) = fixture();
        let found = Root::discover(&root.path().join("src")).unwrap();
        assert_eq!(found.path(), root.path());
    }
}
