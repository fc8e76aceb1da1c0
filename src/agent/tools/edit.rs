//! The `edit` tool: exact search/replace (whitespace-tolerant as a
//! fallback), or a new file, only on files read this session and unchanged
//! since, written atomically, with pre-images kept for undo.
//!
//! The checks and the write go through one open descriptor of the file's
//! directory, opened beneath the root without following symlinks, so a
//! path swapped for a symlink between the check and the rename cannot
//! redirect the write.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Context, Tool, ToolOutput, READ_MAX_BYTES};
use crate::agent::fsroot::{ConfineError, Root};
use crate::agent::protocol::{Preview, Risk};

/// Most edits one session can undo; older pre-images are dropped.
pub const UNDO_MAX: usize = 100;
/// Most diff lines `edit` shows the model (the prompt's preview has all).
const DIFF_MAX_LINES: usize = 80;

type Hash = [u8; 32];

fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// One edit, enough to take it back.
#[derive(Debug)]
struct Done {
    rel: String,
    /// `None`: the edit created the file.
    before: Option<Vec<u8>>,
    /// The content the edit left, so undo can tell whether anything
    /// touched the file since.
    after: Hash,
}

/// What the session read and changed.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The hash of each file as the model last saw it; `None` when it saw
    /// only the start of it.
    seen: HashMap<String, Option<Hash>>,
    undo: Vec<Done>,
}

impl Ledger {
    /// Records that the model saw `rel` as `bytes` (`complete`: the whole file).
    pub fn saw(&mut self, rel: &str, bytes: &[u8], complete: bool) {
        if let Some(key) = normalize(rel) {
            self.seen.insert(key, complete.then(|| hash(bytes)));
        }
    }

    /// Whether there is an edit to revert.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// The file of the last edit: what `undo` would revert.
    pub fn last_edit(&self) -> Option<&str> {
        self.undo.last().map(|d| d.rel.as_str())
    }

    /// Reverts the last edit: restores the file's bytes (atomically, mode
    /// kept) or removes the file it created. Refused when the file changed
    /// since that edit; the edit then stays on the stack.
    pub fn undo(&mut self, root: &Root) -> Result<String, String> {
        let done = self.undo.last().ok_or("nothing to undo")?;
        let rel = done.rel.clone();
        let gone = || format!("{rel} no longer exists; not reverted");
        let spot = locate(root, &rel)?;
        if !spot.missing.is_empty() {
            return Err(gone());
        }
        let dir = Dir::open(root, &spot.base).map_err(|e| format!("{rel}: {e}"))?;
        let (bytes, meta) = current(&dir, &spot)?.ok_or_else(gone)?;
        if hash(&bytes) != done.after {
            return Err(format!("{rel} changed since the last edit; not reverted"));
        }
        let message = match &done.before {
            Some(before) => {
                dir.replace(&spot.name, before, Some(meta))
                    .map_err(|e| format!("{rel}: {e}"))?;
                format!("reverted {rel}")
            }
            None => {
                dir.remove(&spot.name).map_err(|e| format!("{rel}: {e}"))?;
                format!("removed {rel}, which the last edit created")
            }
        };
        // The entry in `seen` keeps the edited content the model last saw,
        // so its next edit of the file is told the file changed.
        self.undo.pop();
        Ok(message)
    }

    /// Whether the model's view of `rel` is `bytes`, the content now.
    fn fresh(&self, rel: &str, bytes: &[u8]) -> Result<(), String> {
        match self.seen.get(rel) {
            None => Err(format!("{rel} was not read in this session; read it first")),
            Some(Some(h)) if *h == hash(bytes) => Ok(()),
            Some(_) => Err(format!("{rel} changed since it was read; read it again")),
        }
    }

    /// A successful edit: the model knows the new content (it wrote it),
    /// and the old one goes on the undo stack.
    fn record(&mut self, rel: &str, before: Option<Vec<u8>>, after: &[u8]) {
        let after = hash(after);
        self.seen.insert(rel.to_string(), Some(after));
        if self.undo.len() == UNDO_MAX {
            self.undo.remove(0);
        }
        self.undo.push(Done {
            rel: rel.to_string(),
            before,
            after,
        });
    }
}

/// `rel` as [`Root::check`] normalises it, so a read of `./src/a.rs`
/// covers an edit of `src/a.rs`; `None` for what no tool could open.
fn normalize(rel: &str) -> Option<String> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(s) => out.push(s),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.to_string_lossy().into_owned())
}

/// Where a file is or will be.
struct Spot {
    /// The normalised relative path, for messages and the ledger.
    rel: String,
    /// The deepest directory on the way that exists, canonical.
    base: PathBuf,
    /// Directories to create below `base` (only a new file has any).
    missing: Vec<OsString>,
    name: CString,
}

/// Finds where `rel` lives under the root, refusing what edits must not
/// touch: anything outside, `.git`, lore's own settings.
fn locate(root: &Root, rel: &str) -> Result<Spot, String> {
    let clean = root.check(rel).map_err(|e| e.to_string())?;
    let shown = clean.to_string_lossy().into_owned();
    let name = clean
        .file_name()
        .ok_or_else(|| format!("{rel}: give the path of a file"))?;
    let name = cstring(name).map_err(|e| format!("{shown}: {e}"))?;
    let mut at = clean.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut missing = Vec::new();
    let base = loop {
        match root.resolve(&at.to_string_lossy()) {
            Ok(base) => break base,
            Err(ConfineError::NotFound(_)) if at.file_name().is_some() => {
                missing.insert(0, at.file_name().unwrap_or_default().to_os_string());
                at.pop();
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    if !base.is_dir() {
        return Err(format!("{}: is not a directory", root.relative(&base)));
    }
    let mut full = base.clone();
    full.extend(&missing);
    full.push(OsStr::from_bytes(name.as_bytes()));
    guard(&shown, &clean, root, &full, lore_config_dir().as_deref())?;
    Ok(Spot {
        rel: shown,
        base,
        missing,
        name,
    })
}

/// Refuses lore's own settings: a `.lore` directory in the workspace (as
/// written, or after symlinks) and the user's lore config directory.
fn guard(
    rel: &str,
    clean: &Path,
    root: &Root,
    full: &Path,
    config: Option<&Path>,
) -> Result<(), String> {
    let inside = full.strip_prefix(root.path()).unwrap_or(full);
    let lore = |p: &Path| p.components().any(|c| c.as_os_str() == ".lore");
    if lore(clean) || lore(inside) || config.is_some_and(|c| full.starts_with(c)) {
        return Err(format!("{rel}: lore's settings are off limits to edit"));
    }
    Ok(())
}

/// `$XDG_CONFIG_HOME/lore`, else `~/.config/lore`: where lore's settings
/// live. It repeats the settings module's rule because layers below the
/// application may not read settings.
fn lore_config_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => directories::BaseDirs::new()?.home_dir().join(".config"),
    };
    let dir = base.join("lore");
    // Canonical, to compare with the canonical paths of the workspace.
    Some(dir.canonicalize().unwrap_or(dir))
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(io::Error::other)
}

/// What a replaced file keeps.
#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
}

/// An open directory beneath the root.
struct Dir {
    fd: File,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_int) -> io::Result<File> {
    // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
    check(fd).map(|fd| unsafe { File::from_raw_fd(fd) })
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Dir {
    /// Opens `canonical`, a directory under the root. On Linux, with
    /// `openat2` refusing any symlink on the way, since a canonical path
    /// has none unless one was planted after it was resolved.
    fn open(root: &Root, canonical: &Path) -> io::Result<Dir> {
        let inside = canonical
            .strip_prefix(root.path())
            .map_err(|_| io::Error::other("leaves the workspace root"))?;
        #[cfg(target_os = "linux")]
        match open_dir_beneath(root.path(), inside) {
            // Kernels before 5.6 (or seccomp filters) lack openat2.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
            other => return other.map(|fd| Dir { fd }),
        }
        use std::os::unix::fs::OpenOptionsExt;
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(canonical)?;
        Ok(Dir { fd })
    }

    /// The subdirectory `name`, created first if it is missing.
    fn child(&self, name: &CStr) -> io::Result<Dir> {
        // SAFETY: a valid directory descriptor and a NUL-terminated name.
        let made = unsafe { libc::mkdirat(self.fd.as_raw_fd(), name.as_ptr(), 0o777) };
        if let Err(e) = check(made) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: as above.
        let fd = owned(unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags) })?;
        Ok(Dir { fd })
    }

    /// `name`'s own metadata (a symlink is not followed); `None` if absent.
    fn stat(&self, name: &CStr) -> io::Result<Option<libc::stat>> {
        // SAFETY: stat is plain integers; the kernel fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor, a NUL-terminated name, a stat to fill.
        let r = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match check(r) {
            Ok(_) => Ok(Some(st)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// At most `cap` bytes of the regular file `name`, and whether there
    /// was more.
    fn read(&self, name: &CStr, cap: usize) -> io::Result<(Vec<u8>, bool)> {
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        let file = owned(unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags) })?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let mut buf = Vec::new();
        file.take(cap as u64 + 1).read_to_end(&mut buf)?;
        let more = buf.len() > cap;
        buf.truncate(cap);
        Ok((buf, more))
    }

    /// Writes `bytes` as `name` atomically: a temporary file beside it,
    /// synced, then renamed over it. `keep` is the replaced file's mode
    /// and owner; `None` makes a new file, failing if one appeared.
    fn replace(&self, name: &CStr, bytes: &[u8], keep: Option<Meta>) -> io::Result<()> {
        let (tmp, mut file) = self.temp(if keep.is_some() { 0o600 } else { 0o666 })?;
        let mut write = || -> io::Result<()> {
            if let Some(m) = keep {
                // Only root may give a file away: an error here just
                // leaves the file ours, and the mode matters more.
                // SAFETY: a valid descriptor.
                unsafe { libc::fchown(file.as_raw_fd(), m.uid, m.gid) };
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(m.mode & 0o7777))?;
            }
            file.write_all(bytes)?;
            file.sync_all()?;
            match keep {
                Some(_) => self.rename(&tmp, name),
                None => self.rename_new(&tmp, name),
            }
        };
        let done = write();
        if done.is_err() {
            // SAFETY: a valid descriptor and a NUL-terminated name.
            unsafe { libc::unlinkat(self.fd.as_raw_fd(), tmp.as_ptr(), 0) };
        } else {
            // The rename is durable once the directory is; some file
            // systems cannot sync a directory, which changes nothing here.
            let _ = self.fd.sync_all();
        }
        done
    }

    fn temp(&self, mode: libc::c_uint) -> io::Result<(CString, File)> {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        loop {
            let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp = CString::new(format!(".lore-edit-{}-{n}.tmp", std::process::id()))
                .map_err(io::Error::other)?;
            // SAFETY: a valid descriptor, a NUL-terminated name and a mode.
            let fd = unsafe { libc::openat(self.fd.as_raw_fd(), tmp.as_ptr(), flags, mode) };
            match owned(fd) {
                Ok(file) => return Ok((tmp, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn rename(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: valid descriptors and NUL-terminated names.
        check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
    }

    /// Renames without replacing: a file created meanwhile wins.
    fn rename_new(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        #[cfg(target_os = "linux")]
        {
            // SAFETY: valid descriptors and NUL-terminated names.
            let r = unsafe {
                libc::renameat2(fd, from.as_ptr(), fd, to.as_ptr(), libc::RENAME_NOREPLACE)
            };
            match check(r) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
                other => return other.map(drop),
            }
        }
        // A hard link fails if the name exists, which rename cannot say.
        // SAFETY: as above.
        check(unsafe { libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) })?;
        // SAFETY: as above.
        unsafe { libc::unlinkat(fd, from.as_ptr(), 0) };
        Ok(())
    }

    fn remove(&self, name: &CStr) -> io::Result<()> {
        // SAFETY: a valid descriptor and a NUL-terminated name.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) })?;
        let _ = self.fd.sync_all();
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn open_dir_beneath(root: &Path, inside: &Path) -> io::Result<File> {
    let top = File::open(root)?;
    let rel = if inside.as_os_str().is_empty() {
        CString::new(".").map_err(io::Error::other)?
    } else {
        cstring(inside.as_os_str())?
    };
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid directory fd, a NUL-terminated path and an open_how
    // of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            top.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    owned(fd as libc::c_int)
}

/// The file at `spot` as it is now, with what a rewrite keeps; `None` when
/// there is none. Refuses what an edit must not write through.
// `mode_t` is narrower than u32 on some Unixes.
#[allow(clippy::unnecessary_cast)]
fn current(dir: &Dir, spot: &Spot) -> Result<Option<(Vec<u8>, Meta)>, String> {
    let rel = &spot.rel;
    let Some(st) = dir.stat(&spot.name).map_err(|e| format!("{rel}: {e}"))? else {
        return Ok(None);
    };
    let kind = st.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK {
        return Err(format!(
            "{rel} is a symlink; edit does not write through symlinks"
        ));
    }
    if kind != libc::S_IFREG {
        return Err(format!("{rel} is not a regular file"));
    }
    if st.st_nlink > 1 {
        return Err(format!(
            "{rel} has {} hard links; editing it would change the other names too",
            st.st_nlink
        ));
    }
    let (bytes, more) = dir
        .read(&spot.name, READ_MAX_BYTES)
        .map_err(|e| format!("{rel}: {e}"))?;
    if more {
        return Err(format!(
            "{rel} is over {} MiB, too large to edit",
            READ_MAX_BYTES >> 20
        ));
    }
    let meta = Meta {
        mode: st.st_mode as u32,
        uid: st.st_uid,
        gid: st.st_gid,
    };
    Ok(Some((bytes, meta)))
}

/// One edit, checked and computed, not yet written.
struct Plan {
    spot: Spot,
    /// The directory, when it exists already.
    dir: Option<Dir>,
    /// `None`: a new file.
    before: Option<(Vec<u8>, Meta)>,
    after: String,
    /// `old` matched only with whitespace ignored.
    tolerant: bool,
}

impl Plan {
    fn before_text(&self) -> &str {
        self.before
            .as_ref()
            .map_or("", |(b, _)| std::str::from_utf8(b).unwrap_or(""))
    }

    fn preview(&self) -> Preview {
        diff(&self.spot.rel, self.before_text(), &self.after)
    }
}

fn plan(args: &Value, cx: &Context) -> Result<Plan, String> {
    let arg = |k| args.get(k).and_then(Value::as_str);
    let (Some(rel), Some(old), Some(new)) = (arg("path"), arg("old"), arg("new")) else {
        return Err("edit needs path, old and new (old = \"\" creates a file)".into());
    };
    let ledger = cx
        .ledger
        .ok_or("edit is unavailable: this session keeps no record of reads")?;
    let spot = locate(cx.root, rel)?;
    let rel = spot.rel.clone();
    let dir = if spot.missing.is_empty() {
        Some(Dir::open(cx.root, &spot.base).map_err(|e| format!("{rel}: {e}"))?)
    } else {
        None
    };
    let found = match &dir {
        Some(d) => current(d, &spot)?,
        None => None,
    };
    let (before, after, tolerant) = match (found, old.is_empty()) {
        (Some(_), true) => {
            return Err(format!(
                "{rel} already exists; read it and pass the text to replace as old"
            ))
        }
        (None, false) => {
            return Err(format!(
                "{rel} does not exist; to create it, pass old = \"\""
            ))
        }
        (None, true) => (None, new.to_string(), false),
        (Some((bytes, meta)), false) => {
            if super::is_binary(&bytes) {
                return Err(format!(
                    "{rel} is a binary file; edit changes text files only"
                ));
            }
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| format!("{rel} is not UTF-8 text; edit changes UTF-8 text only"))?;
            ledger.borrow().fresh(&rel, &bytes)?;
            let (after, tolerant) = replace_once(text, old, new, &rel)?;
            if after == text {
                return Err(format!(
                    "old and new are the same; nothing changes in {rel}"
                ));
            }
            (Some((bytes, meta)), after, tolerant)
        }
    };
    if after.contains('\0') {
        return Err("new text contains a NUL byte; edit writes text only".into());
    }
    if after.len() > READ_MAX_BYTES {
        return Err(format!(
            "{rel} would be over {} MiB, too large to edit",
            READ_MAX_BYTES >> 20
        ));
    }
    Ok(Plan {
        spot,
        dir,
        before,
        after,
        tolerant,
    })
}

/// Writes the plan, creating missing directories of a new file.
fn apply(plan: &Plan, root: &Root) -> Result<(), String> {
    let rel = &plan.spot.rel;
    let err = |e: io::Error| format!("{rel}: {e}");
    let made;
    let dir = match &plan.dir {
        Some(d) => d,
        None => {
            let mut d = Dir::open(root, &plan.spot.base).map_err(err)?;
            for m in &plan.spot.missing {
                d = d.child(&cstring(m).map_err(err)?).map_err(err)?;
            }
            made = d;
            &made
        }
    };
    let keep = plan.before.as_ref().map(|(_, m)| *m);
    dir.replace(&plan.spot.name, plan.after.as_bytes(), keep)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => format!("{rel} already exists"),
            _ => err(e),
        })
}

/// What the search for `old` found.
enum Found {
    One(String),
    Many(usize),
    Zero,
}

/// `text` with the one place `old` matches replaced by `new`: exactly,
/// else line by line ignoring whitespace. Says whether it was the latter.
fn replace_once(text: &str, old: &str, new: &str, rel: &str) -> Result<(String, bool), String> {
    match exact(text, old, new) {
        Found::One(after) => return Ok((after, false)),
        Found::Many(n) => {
            return Err(format!(
                "old text matches {n} places in {rel}; include more context to make it unique"
            ))
        }
        Found::Zero => {}
    }
    match tolerant(text, old, new) {
        Found::One(after) => Ok((after, true)),
        Found::Many(n) => Err(format!(
            "old text matches {n} places in {rel} when whitespace is ignored; include more context to make it unique"
        )),
        Found::Zero => Err(format!(
            "old text not found in {rel} (no exact or whitespace-tolerant match); read the file again"
        )),
    }
}

fn exact(text: &str, old: &str, new: &str) -> Found {
    let mut at = Vec::new();
    let mut from = 0;
    // Overlapping matches count: `aa` in `aaa` names two places.
    while let Some(i) = text[from..].find(old) {
        let i = from + i;
        at.push(i);
        from = i + text[i..].chars().next().map_or(1, char::len_utf8);
    }
    match at.as_slice() {
        [] => Found::Zero,
        [i] => Found::One(format!("{}{new}{}", &text[..*i], &text[i + old.len()..])),
        many => Found::Many(many.len()),
    }
}

/// A line of the file: where it starts, its text, its ending.
struct Line<'a> {
    start: usize,
    body: &'a str,
    eol: &'a str,
}

fn lines_of(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let body = piece.strip_suffix('\n').unwrap_or(piece);
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push(Line {
            start,
            body,
            eol: &piece[body.len()..],
        });
        start += piece.len();
    }
    out
}

/// `lines` without blank lines at either end, and how many went from each.
fn trim_blank(mut lines: Vec<&str>, max: (usize, usize)) -> (Vec<&str>, usize, usize) {
    let lead = lines
        .iter()
        .take(max.0)
        .take_while(|l| l.trim().is_empty())
        .count();
    lines.drain(..lead);
    let trail = lines
        .iter()
        .rev()
        .take(max.1)
        .take_while(|l| l.trim().is_empty())
        .count();
    lines.truncate(lines.len() - trail);
    (lines, lead, trail)
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The whole lines of `text` that equal `old`'s once each is trimmed,
/// replaced by `new`. Models often get indentation wrong in both old and
/// new alike, so `new` moves by the same indentation `old` was off by.
fn tolerant(text: &str, old: &str, new: &str) -> Found {
    let (want, lead, trail) = trim_blank(old.lines().collect(), (usize::MAX, usize::MAX));
    let have = lines_of(text);
    if want.is_empty() || want.len() > have.len() {
        return Found::Zero;
    }
    let starts: Vec<usize> = (0..=have.len() - want.len())
        .filter(|&i| {
            want.iter()
                .zip(&have[i..])
                .all(|(w, h)| w.trim() == h.body.trim())
        })
        .collect();
    let i = match starts.as_slice() {
        [] => return Found::Zero,
        [i] => *i,
        many => return Found::Many(many.len()),
    };
    let (first, last) = (&have[i], &have[i + want.len() - 1]);
    let end = last.start + last.body.len() + last.eol.len();
    let (lines, _, _) = trim_blank(new.lines().collect(), (lead, trail));
    let lines = reindent(&lines, indent(want[0]), indent(first.body));
    let sep = if first.eol == "\r\n" { "\r\n" } else { "\n" };
    let mut replacement = lines.join(sep);
    if !lines.is_empty() {
        replacement.push_str(last.eol);
    }
    Found::One(format!(
        "{}{replacement}{}",
        &text[..first.start],
        &text[end..]
    ))
}

/// `lines` moved from indentation `from` to `to`, unless `new` is not in
/// `old`'s frame (its first line is indented otherwise).
fn reindent(lines: &[&str], from: &str, to: &str) -> Vec<String> {
    let first = lines.iter().find(|l| !l.trim().is_empty());
    if from == to || first.is_none_or(|l| indent(l) != from) {
        return lines.iter().map(|l| l.to_string()).collect();
    }
    lines
        .iter()
        .map(|l| match l.strip_prefix(from) {
            Some(rest) if !l.trim().is_empty() => format!("{to}{rest}"),
            _ => l.to_string(),
        })
        .collect()
}

/// The unified diff of an edit, with three lines of context.
fn diff(rel: &str, before: &str, after: &str) -> Preview {
    let d = similar::TextDiff::from_lines(before, after);
    let (mut added, mut removed) = (0, 0);
    for c in d.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let unified = d
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string();
    Preview {
        unified,
        added,
        removed,
    }
}

/// The diff for the model, cut to [`DIFF_MAX_LINES`].
fn capped(unified: &str) -> String {
    let total = unified.lines().count();
    if total <= DIFF_MAX_LINES {
        return unified.trim_end().to_string();
    }
    let head: Vec<&str> = unified.lines().take(DIFF_MAX_LINES).collect();
    format!(
        "{}\n…{} more diff lines",
        head.join("\n"),
        total - DIFF_MAX_LINES
    )
}

/// The `edit` tool.
pub struct Edit;

impl Tool for Edit {
    fn name(&self) -> &'static str {
        "edit"
    }
    fn description(&self) -> &'static str {
        "change a file you have read: replace the text old (copied exactly, found once) with new; old = \"\" creates a new file"
    }
    fn risk(&self) -> Risk {
        Risk::Write
    }
    fn parameters(&self, _paths: &[String]) -> Value {
        serde_json::json!({"path": {"type": "string", "maxLength": 200}, "old": {"type": "string"}, "new": {"type": "string"}})
    }
    fn required(&self) -> &'static [&'static str] {
        &["path", "old", "new"]
    }
    fn preview(&self, args: &Value, cx: &Context) -> Result<Option<Preview>, String> {
        plan(args, cx).map(|p| Some(p.preview()))
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        // Planned again: the file may have changed while the user decided.
        let plan = plan(args, cx)?;
        apply(&plan, cx.root)?;
        let preview = plan.preview();
        let rel = &plan.spot.rel;
        if let Some(ledger) = cx.ledger {
            let before = plan.before.as_ref().map(|(b, _)| b.clone());
            ledger
                .borrow_mut()
                .record(rel, before, plan.after.as_bytes());
        }
        let verb = if plan.before.is_some() {
            "edited"
        } else {
            "created"
        };
        let note = if plan.tolerant {
            " (old matched with whitespace ignored)"
        } else {
            ""
        };
        let counts = format!("+{} -{}", preview.added, preview.removed);
        Ok(ToolOutput {
            text: format!("{verb} {rel}: {counts}{note}\n{}", capped(&preview.unified)),
            summary: format!("edit {rel} ({counts})"),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;
    use std::os::unix::fs::PermissionsExt;

    /// A workspace `ws` inside a temporary directory, with a file outside
    /// it, and the session's ledger.
    fn fixture() -> (tempfile::TempDir, Root, RefCell<Ledger>) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::create_dir_all(ws.join(".git")).unwrap();
        std::fs::write(ws.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(ws.join("src/a.rs"), "fn a() {\n    one();\n}\n").unwrap();
        std::fs::write(dir.path().join("x"), "outside\n").unwrap();
        let root = Root::new(&ws).unwrap();
        (dir, root, RefCell::new(Ledger::default()))
    }

    fn cx<'a>(root: &'a Root, ledger: &'a RefCell<Ledger>) -> Context<'a> {
        let mut cx = Context::new(root);
        cx.ledger = Some(ledger);
        cx
    }

    /// Reads through the `read` tool, so its hook fills the ledger.
    fn read(cx: &Context, rel: &str) {
        super::super::Registry::read_only()
            .get("read")
            .unwrap()
            .run(&json!({"path": rel}), cx)
            .unwrap();
    }

    fn edit(cx: &Context, rel: &str, old: &str, new: &str) -> Result<ToolOutput, String> {
        Edit.run(&json!({"path": rel, "old": old, "new": new}), cx)
    }

    fn text(root: &Root, rel: &str) -> String {
        std::fs::read_to_string(root.path().join(rel)).unwrap()
    }

    #[test]
    fn a_unique_match_is_replaced_and_reported() {
        let (_d, root, ledger) = fixture();
        let cx = cx(&root, &ledger);
        read(&cx, "./src/a.rs");
        let out = edit(&cx, "src/a.rs", "one();", "two();\n    three();").unwrap();
        assert_eq!(
            text(&root, "src/a.rs"),
            "fn a() {\n    two();\n    three();\n}\n"
        );
        assert!(out
            .text
            .starts_with("edited src/a.rs: +2 -1\n--- a/src/a.rs\n+++ b/src/a.rs\n@@"));
        assert_eq!(out.summary, "edit src/a.rs (+2 -1)");
        // The edit's own result counts as read: a second edit goes through.
        edit(&cx, "src/a.rs", "three();", "four();").unwrap();
        assert!(text(&root, "src/a.rs").contains("four();"));
    }

    #[test]
    fn no_match_and_two_matches_are_refused_with_what_to_do() {
        let (_d, root, ledger) = fixture();
        std::fs::write(root.path().join("src/b.rs"), "x = 1\ny = 1\n").unwrap();
        let cx = cx(&root, &ledger);
        read(&cx, "src/b.rs");
        assert_eq!(
            edit(&cx, "src/b.rs", "z = 1", "z = 2").unwrap_err(),
            "old text not found in src/b.rs (no exact or whitespace-tolerant match); read the file again"
        );
        assert_eq!(
            edit(&cx, "src/b.rs", "= 1", "= 2").unwrap_err(),
            "old text matches 2 places in src/b.rs; include more context to make it unique"
        );
        assert_eq!(text(&root, "src/b.rs"), "x = 1\ny = 1\n");
    }

    #[test]
    fn whitespace_is_ignored_when_the_exact_text_is_not_found() {
        let (_d, root, ledger) = fixture();
        let body = "def f():\n    if x:\n        a = 1\n        b = 2\n    return a\n";
        std::fs::write(root.path().join("f.py"), body).unwrap();
        let cx = cx(&root, &ledger);
        read(&cx, "f.py");
        // Indentation lost and a trailing space added: whole lines match.
        let out = edit(
            &cx,
            "f.py",
            "a = 1 \nb = 2\n",
            "a = 10\nif y:\n    b = 20\n",
        )
        .unwrap();
        assert_eq!(
            text(&root, "f.py"),
            "def f():\n    if x:\n        a = 10\n        if y:\n            b = 20\n    return a\n"
        );
        assert!(out.text.contains("whitespace ignored"), "{}", out.text);
        std::fs::write(root.path().join("g.py"), "  a\nb\n    a\nb\n").unwrap();
        read(&cx, "g.py");
        assert!(edit(&cx, "g.py", "a\n  b", "c")
            .unwrap_err()
            .starts_with("old text matches 2 places in g.py when whitespace is ignored"));
        // CRLF files keep their line endings.
        std::fs::write(root.path().join("w.txt"), "one\r\n  two\r\nthree\r\n").unwrap();
        read(&cx, "w.txt");
        edit(&cx, "w.txt", "one\ntwo\n", "uno\ndos\n").unwrap();
        assert_eq!(text(&root, "w.txt"), "uno\r\ndos\r\nthree\r\n");
    }

    #[test]
    fn an_empty_old_creates_a_file_and_refuses_an_existing_one() {
        let (_d, root, ledger) = fixture();
        let cx = cx(&root, &ledger);
        let out = edit(&cx, "docs/new/n.md", "", "# N\nbody\n").unwrap();
        assert_eq!(text(&root, "docs/new/n.md"), "# N\nbody\n");
        assert!(out.text.starts_with("created docs/new/n.md: +2 -0\n"));
        // A file edit created counts as read.
        edit(&cx, "docs/new/n.md", "body", "text").unwrap();
        assert_eq!(text(&root, "docs/new/n.md"), "# N\ntext\n");
        assert_eq!(
            edit(&cx, "src/a.rs", "", "x").unwrap_err(),
            "src/a.rs already exists; read it and pass the text to replace as old"
        );
        assert_eq!(
            edit(&cx, "src/none.rs", "a", "b").unwrap_err(),
            "src/none.rs does not exist; to create it, pass old = \"\""
        );
    }

    #[test]
    fn an_unread_or_changed_file_is_refused() {
        let (_d, root, ledger) = fixture();
        let cx = cx(&root, &ledger);
        assert_eq!(
            edit(&cx, "src/a.rs", "one", "two").unwrap_err(),
            "src/a.rs was not read in this session; read it first"
        );
        read(&cx, "src/a.rs");
        std::fs::write(
            root.path().join("src/a.rs"),
            "fn a() {\n    one(); // hi\n}\n",
        )
        .unwrap();
        assert_eq!(
            edit(&cx, "src/a.rs", "one", "two").unwrap_err(),
            "src/a.rs changed since it was read; read it again"
        );
        assert!(Edit
            .preview(
                &json!({"path": "src/a.rs", "old": "one", "new": "two"}),
                &cx
            )
            .is_err());
        read(&cx, "src/a.rs");
        edit(&cx, "src/a.rs", "one", "two").unwrap();
        // Without a ledger nothing can be checked, so nothing is written.
        let bare = Context::new(&root);
        assert!(edit(&bare, "new.txt", "", "x")
            .unwrap_err()
            .contains("no record of reads"));
        assert!(!root.path().join("new.txt").exists());
    }

    #[test]
    fn git_lore_settings_and_escapes_are_refused() {
        let (d, root, ledger) = fixture();
        let cx = cx(&root, &ledger);
        read(&cx, "src/a.rs");
        for rel in [".git/config", "src/../.git/config", ".git/hooks/pre-commit"] {
            let e = edit(&cx, rel, "", "x").unwrap_err();
            assert!(e.contains(".git is off limits"), "{rel}: {e}");
        }
        assert_eq!(text(&root, ".git/config"), "[core]\n");
        let e = edit(&cx, ".lore/config.toml", "", "x").unwrap_err();
        assert_eq!(
            e,
            ".lore/config.toml: lore's settings are off limits to edit"
        );
        assert!(edit(&cx, "../x", "outside", "in")
            .unwrap_err()
            .contains("leaves the workspace root"));
        assert!(edit(&cx, "../y", "", "in")
            .unwrap_err()
            .contains("leaves the workspace root"));
        assert!(edit(&cx, "/tmp/abs", "", "x")
            .unwrap_err()
            .contains("absolute"));
        assert!(!d.path().join("y").exists());
        assert_eq!(
            std::fs::read_to_string(d.path().join("x")).unwrap(),
            "outside\n"
        );
        // The user's config directory, wherever it is.
        let config = root.path().join("cfg");
        let full = config.join("config.toml");
        assert!(guard(
            "cfg/config.toml",
            Path::new("cfg/config.toml"),
            &root,
            &full,
            Some(&config)
        )
        .is_err());
        assert!(guard(
            "src/a.rs",
            Path::new("src/a.rs"),
            &root,
            &root.path().join("src/a.rs"),
            Some(&config)
        )
        .is_ok());
    }

    #[test]
    fn hard_links_and_symlinks_are_refused_and_their_targets_untouched() {
        let (d, root, ledger) = fixture();
        let p = root.path();
        std::fs::write(p.join("h1.txt"), "same\n").unwrap();
        std::fs::hard_link(p.join("h1.txt"), p.join("h2.txt")).unwrap();
        std::os::unix::fs::symlink("src/a.rs", p.join("inner")).unwrap();
        std::os::unix::fs::symlink(d.path().join("x"), p.join("outer")).unwrap();
        let cx = cx(&root, &ledger);
        read(&cx, "h1.txt");
        read(&cx, "inner");
        assert_eq!(
            edit(&cx, "h1.txt", "same", "diff").unwrap_err(),
            "h1.txt has 2 hard links; editing it would change the other names too"
        );
        assert_eq!(
            edit(&cx, "inner", "one", "two").unwrap_err(),
            "inner is a symlink; edit does not write through symlinks"
        );
        assert!(edit(&cx, "outer", "outside", "in")
            .unwrap_err()
            .contains("symlink"));
        assert!(edit(&cx, "outer", "", "in")
            .unwrap_err()
            .contains("is a symlink"));
        assert_eq!(text(&root, "h2.txt"), "same\n");
        assert_eq!(text(&root, "src/a.rs"), "fn a() {\n    one();\n}\n");
        assert_eq!(
            std::fs::read_to_string(d.path().join("x")).unwrap(),
            "outside\n"
        );
        // A directory symlink leading out is no way out either.
        std::os::unix::fs::symlink(d.path(), p.join("up")).unwrap();
        assert!(edit(&cx, "up/z.txt", "", "x")
            .unwrap_err()
            .contains("leaves the workspace root"));
        assert!(!d.path().join("z.txt").exists());
    }

    #[test]
    fn the_mode_is_kept_and_binaries_are_refused() {
        let (_d, root, ledger) = fixture();
        let script = root.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cx = cx(&root, &ledger);
        read(&cx, "run.sh");
        edit(&cx, "run.sh", "hi", "there").unwrap();
        assert_eq!(text(&root, "run.sh"), "#!/bin/sh\necho there\n");
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.to_string_lossy().contains("lore-edit")),
            "{names:?}"
        );
        std::fs::write(root.path().join("b.bin"), b"ab\0cd").unwrap();
        ledger.borrow_mut().saw("b.bin", b"ab\0cd", true);
        assert_eq!(
            edit(&cx, "b.bin", "ab", "xy").unwrap_err(),
            "b.bin is a binary file; edit changes text files only"
        );
    }

    #[test]
    fn undo_reverts_the_last_edit_unless_the_file_changed() {
        let (_d, root, ledger) = fixture();
        let script = root.path().join("src/a.rs");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
        let cx = cx(&root, &ledger);
        assert!(!ledger.borrow().can_undo());
        assert_eq!(
            ledger.borrow_mut().undo(&root).unwrap_err(),
            "nothing to undo"
        );
        read(&cx, "src/a.rs");
        edit(&cx, "src/a.rs", "one", "two").unwrap();
        edit(&cx, "made.txt", "", "new\n").unwrap();
        assert_eq!(ledger.borrow().last_edit(), Some("made.txt"));
        assert_eq!(
            ledger.borrow_mut().undo(&root).unwrap(),
            "removed made.txt, which the last edit created"
        );
        assert!(!root.path().join("made.txt").exists());
        assert_eq!(
            ledger.borrow_mut().undo(&root).unwrap(),
            "reverted src/a.rs"
        );
        assert_eq!(text(&root, "src/a.rs"), "fn a() {\n    one();\n}\n");
        let mode = std::fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o750);
        assert!(!ledger.borrow().can_undo());
        // The model saw the edited text, so it must read the file again.
        assert!(edit(&cx, "src/a.rs", "one", "two")
            .unwrap_err()
            .contains("changed since it was read"));
        read(&cx, "src/a.rs");
        edit(&cx, "src/a.rs", "one", "two").unwrap();
        std::fs::write(&script, "changed by hand\n").unwrap();
        assert_eq!(
            ledger.borrow_mut().undo(&root).unwrap_err(),
            "src/a.rs changed since the last edit; not reverted"
        );
        assert_eq!(text(&root, "src/a.rs"), "changed by hand\n");
        assert!(ledger.borrow().can_undo());
    }

    #[test]
    fn the_preview_shows_the_diff_and_writes_nothing() {
        let (_d, root, ledger) = fixture();
        let cx = cx(&root, &ledger);
        read(&cx, "src/a.rs");
        let args =
            json!({"path": "src/a.rs", "old": "    one();\n", "new": "    two();\n    three();\n"});
        let p = Edit.preview(&args, &cx).unwrap().unwrap();
        assert_eq!((p.added, p.removed), (2, 1));
        assert_eq!(
            p.unified,
            "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,3 +1,4 @@\n fn a() {\n-    one();\n+    two();\n+    three();\n }\n"
        );
        assert_eq!(text(&root, "src/a.rs"), "fn a() {\n    one();\n}\n");
        let new = Edit
            .preview(&json!({"path": "d/n.txt", "old": "", "new": "a\nb\n"}), &cx)
            .unwrap()
            .unwrap();
        assert_eq!((new.added, new.removed), (2, 0));
        assert!(new
            .unified
            .starts_with("--- a/d/n.txt\n+++ b/d/n.txt\n@@ -0,0 +1,2 @@\n"));
        assert!(!root.path().join("d").exists());
        assert!(!ledger.borrow().can_undo());
    }
}
