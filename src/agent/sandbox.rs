//! The command sandbox (Linux): Landlock confines the file system, seccomp
//! takes away inet sockets and ptrace, `no_new_privs` and rlimits do the
//! rest. Built in the parent, applied in the child between fork and exec.
//!
//! Everything the child does is a handful of syscalls on data prepared
//! here: after `fork` in a threaded process only async-signal-safe work is
//! sound, so the `pre_exec` closure never allocates, and it fails closed:
//! when an isolated command cannot be confined, it does not run.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use landlock::{
    Access as _, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, PathBeneath, PathFd,
    RestrictSelf, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
    ABI,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::policy::Isolation;

/// Largest file a command may write: a runaway `yes > out` fills 4 GiB in
/// seconds instead of the disk in two minutes, while linkers' biggest
/// debug binaries still fit.
pub const FILE_SIZE_MAX: u64 = 4 << 30;

/// Address space per process. Compilers, the JVM (which sizes its heap
/// from this limit) and V8 (which reserves gigabytes it never touches)
/// need far more than they use, so this only stops runaway allocation,
/// not memory use; the JVM and Node still start under it.
pub const ADDRESS_SPACE_MAX: u64 = 32 << 30;

/// System directories a command may read and execute from. `/run` is left
/// out on purpose: it holds the per-user runtime directory (keyring, ssh
/// and gpg agents, the D-Bus socket) and containers' `/run/secrets`, and
/// nothing a build reads without network. `/nix` is a read-only store
/// that holds no secrets by design. `/proc` and `/dev` get only parts:
/// see [`proc_entries`] and [`DEV_READ`].
pub const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix", "/sys",
];

/// Device nodes a command may read. The rest of `/dev` (disks,
/// `/dev/mem`) would let a command running as root read every file
/// behind Landlock's back. `/dev/stdout` and `/dev/fd/N` still work: they
/// lead to the command's own pipes, which Landlock does not confine.
pub const DEV_READ: &[&str] = &["/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"];

/// Kernel memory and the kernel log, though not per process.
const PROC_HIDDEN: &[&str] = &["kcore", "kmsg", "kpagecount", "kpageflags", "kpagecgroup"];

/// The system-wide entries of `/proc` (`cpuinfo`, `meminfo`, `sys`...),
/// not the per-process directories: any process of the same user lets
/// its `environ` be read, so `/proc/<lore>/environ` or the user's shell's
/// would hand a command the very tokens its environment was scrubbed of
/// (Landlock's ptrace scoping does not cover these reads). The symlinks
/// (`self`, `mounts`, `net`) are skipped for the same reason: they lead
/// into lore's own directory. Commands thus cannot open `/proc/self/*`
/// either; `readlink /proc/self/exe` and `/proc/self/fd/N` still work.
fn proc_entries() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let per_process = name.bytes().all(|b| b.is_ascii_digit());
            let link = e.file_type().map_or(true, |t| t.is_symlink());
            !per_process && !link && !PROC_HIDDEN.contains(&name.as_ref())
        })
        .map(|e| e.path())
        .collect()
}

pub use super::toolchain::TOOLCHAIN_VARS;

/// Toolchain prefixes in `HOME` that no variable names. `.local/lib`
/// holds `pip --user` packages; the rest of `.local` is XDG data (keyrings,
/// lore's own sessions) and stays closed.
const HOME_PREFIXES: &[&str] = &["miniconda3", "anaconda3", "miniforge3", ".local/lib"];

/// Git's own configuration in `HOME`: git stops with "unknown error" when
/// it may see a config file but not read it (Landlock does not gate
/// access(2)). Not the credential stores beside them.
const HOME_FILES: &[&str] = &[
    ".gitconfig",
    ".config/git/config",
    ".config/git/ignore",
    ".config/git/attributes",
];

/// The parts of `CARGO_HOME` cargo reads to build offline.
const CARGO_PARTS: &[&str] = &["bin", "registry", "git", "config.toml", "config"];

/// The newest Landlock ABI whose file-system rights the ruleset handles.
/// V9 adds connecting to pathname UNIX sockets (`docker.sock`, the D-Bus
/// session bus), which older kernels cannot refuse; best effort below it.
const FS_ABI: ABI = ABI::V9;

/// What a confined command may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Read and execute, recursively.
    pub read: Vec<PathBuf>,
    /// Read, write, create, remove and execute, recursively.
    pub write: Vec<PathBuf>,
}

fn var<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_os_str())
        .filter(|v| !v.is_empty())
}

impl Access {
    /// The lists for a command in `root` with temporary directory `tmp`,
    /// toolchains found from `env` (the environment commands inherit).
    pub fn new(root: &Path, tmp: &Path, env: &[(OsString, OsString)]) -> Access {
        let write: Vec<PathBuf> = [root, tmp, Path::new("/dev/null")]
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
            .collect();
        let mut read: Vec<PathBuf> = Vec::new();
        let system = SYSTEM_READ.iter().chain(DEV_READ).map(PathBuf::from);
        for dir in system.chain(proc_entries()).chain(toolchain_dirs(env)) {
            if let Ok(dir) = dir.canonicalize() {
                if !read.contains(&dir) && !write.contains(&dir) {
                    read.push(dir);
                }
            }
        }
        Access { read, write }
    }
}

/// Toolchain directories from `PATH` and the variables of
/// [`TOOLCHAIN_VARS`], never `/`, `HOME` or a directory above it.
fn toolchain_dirs(env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    let home = var(env, "HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .and_then(|h| h.canonicalize().ok());
    let in_home = |p: &Path| {
        home.as_ref()
            .is_some_and(|h| p.canonicalize().is_ok_and(|p| p.starts_with(h)))
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(path) = var(env, "PATH") {
        for entry in std::env::split_paths(path).filter(|p| p.is_absolute()) {
            // A `bin` outside HOME is a prefix (`/usr/local/go/bin`) whose
            // libraries live beside it; inside HOME a parent may be a
            // dot-directory with credentials (`~/.docker`), so only the
            // known homes below count.
            if entry.file_name() == Some(OsStr::new("bin")) && !in_home(&entry) {
                dirs.extend(entry.parent().map(Path::to_path_buf));
            }
            dirs.push(entry);
        }
    }
    let located = |name: &str, default: &str| -> Option<PathBuf> {
        match var(env, name) {
            Some(v) => Some(PathBuf::from(v)),
            None if !default.is_empty() => home.as_ref().map(|h| h.join(default)),
            None => None,
        }
    };
    for (name, default) in TOOLCHAIN_VARS {
        dirs.extend(located(name, default));
    }
    if let Some(cargo) = located("CARGO_HOME", ".cargo") {
        dirs.extend(CARGO_PARTS.iter().map(|p| cargo.join(p)));
    }
    if let Some(h) = &home {
        dirs.extend(HOME_PREFIXES.iter().chain(HOME_FILES).map(|p| h.join(p)));
    }
    dirs.retain(|d| {
        let Ok(c) = d.canonicalize() else {
            return false;
        };
        // Through a symlink, a toolchain entry must not reopen what the
        // lists above keep closed.
        let special = c.starts_with("/proc") || c.starts_with("/dev");
        d.is_absolute()
            && !special
            && !home.as_ref().is_some_and(|h| h.starts_with(&c))
            && c != Path::new("/")
    });
    dirs
}

/// Probes once what the kernel offers.
pub fn probe() -> Isolation {
    static PROBED: OnceLock<Isolation> = OnceLock::new();
    PROBED.get_or_init(probe_now).clone()
}

fn probe_now() -> Isolation {
    match landlock_ready().and_then(|()| seccomp_ready()) {
        Ok(()) => Isolation::Isolated,
        Err(why) => Isolation::Unavailable(why),
    }
}

fn landlock_ready() -> Result<(), String> {
    // With no flags and no `no_new_privs`, this only reads the kernel's
    // Landlock status: lore itself is not restricted.
    let status = RestrictSelf::default()
        .no_new_privs(false)
        .apply()
        .map_err(|e| format!("landlock: {e}"))?;
    match status.landlock {
        LandlockStatus::NotImplemented => Err("landlock not supported by this kernel".into()),
        LandlockStatus::NotEnabled => {
            Err("landlock not enabled in this kernel (see the lsm= boot parameter)".into())
        }
        LandlockStatus::Available { .. } => {
            // The ruleset a command gets, minus its rules: proves the
            // create syscall works here (seccomp or a container may
            // refuse it although the ABI answers).
            base_ruleset()
                .map(drop)
                .map_err(|e| format!("landlock: {e}"))
        }
    }
}

fn seccomp_ready() -> Result<(), String> {
    // SAFETY: a query without pointers.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } < 0 {
        return Err("seccomp not supported by this kernel".into());
    }
    let action: u32 = libc::SECCOMP_RET_ERRNO;
    // SAFETY: the kernel reads one u32 from a valid pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(format!(
            "seccomp filters not supported by this kernel ({e})"
        ));
    }
    filter().map(drop)
}

/// Handles every file-system right of ABI 1 or fails (a sandbox that
/// cannot confine writes is none), the newer rights, TCP and the scopes
/// as far as the kernel has them.
fn base_ruleset() -> Result<RulesetCreated, landlock::RulesetError> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(FS_ABI))?
        // With no rule for any port, every TCP bind and connect fails,
        // behind the socket filter, should a socket reach the command.
        .handle_access(AccessNet::from_all(ABI::V4))?
        // No signals to processes outside the sandbox, no abstract UNIX
        // sockets (X11, D-Bus) outside it.
        .scope(Scope::from_all(ABI::V6))?
        .create()
}

fn ruleset(access: &Access) -> Result<RulesetCreated, String> {
    let mut rules = base_ruleset().map_err(|e| e.to_string())?;
    for dir in &access.read {
        // A directory that vanished since the list was made only narrows.
        let Ok(fd) = PathFd::new(dir) else { continue };
        let mut rights = AccessFs::from_read(FS_ABI);
        if !dir.is_dir() {
            rights &= AccessFs::from_file(FS_ABI);
        }
        let rule = PathBeneath::new(fd, rights);
        rules = rules.add_rule(rule).map_err(|e| e.to_string())?;
    }
    for path in &access.write {
        let fd = PathFd::new(path).map_err(|e| e.to_string())?;
        let rights = if path.is_dir() {
            AccessFs::from_all(FS_ABI)
        } else {
            AccessFs::from_file(FS_ABI)
        };
        rules = rules
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|e| e.to_string())?;
    }
    Ok(rules)
}

/// Syscalls a confined command may not make at all: reading or writing
/// other processes' memory (Landlock scopes ptrace already; this is the
/// second lock), io_uring (its `IORING_OP_SOCKET` and `_CONNECT` never
/// pass the socket filter) and the kernel keyrings (the session keyring
/// is inherited and may hold credentials).
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
];

/// The x32 ABI shares x86_64's audit arch, so its syscall numbers (this
/// bit set) pass the arch check: they are listed too.
#[cfg(target_arch = "x86_64")]
const X32: libc::c_long = 0x4000_0000;

/// The seccomp program: `socket()` of any domain but `AF_UNIX` (inet,
/// packet, vsock, netlink...) and the [`DENIED`] syscalls fail with
/// EPERM; everything else is allowed.
fn filter() -> Result<BpfProgram, String> {
    let err = |e: seccompiler::BackendError| format!("seccomp: {e}");
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let not_unix = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Ne,
        libc::AF_UNIX as u64,
    )
    .map_err(err)?;
    let socket = vec![SeccompRule::new(vec![not_unix]).map_err(err)?];
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_socket, socket.clone());
    for &nr in DENIED {
        rules.insert(nr, Vec::new());
    }
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(libc::SYS_socket | X32, socket);
        // x32's own numbers for ptrace and process_vm_readv/writev.
        for nr in DENIED.iter().copied().chain([521, 539, 540]) {
            rules.insert(nr | X32, Vec::new());
        }
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;
    BpfProgram::try_from(filter).map_err(err)
}

/// How a command is set up between fork and exec: always its own session,
/// `no_new_privs`, rlimits and death with lore; when isolated, no
/// capabilities, Landlock and seccomp too.
pub struct Sandbox {
    ruleset: Option<RulesetCreated>,
    filter: Option<BpfProgram>,
}

/// Where the child stopped when it could not confine itself.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Stage {
    Session = 1,
    Limits,
    DeathSignal,
    NoNewPrivs,
    Capabilities,
    Landlock,
    LandlockNotEnforced,
    Seccomp,
}

impl Stage {
    fn from_byte(b: u8) -> Option<Stage> {
        use Stage::*;
        [
            Session,
            Limits,
            DeathSignal,
            NoNewPrivs,
            Capabilities,
            Landlock,
            LandlockNotEnforced,
            Seccomp,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }

    fn describe(self) -> &'static str {
        match self {
            Stage::Session => "setsid failed",
            Stage::Limits => "setting the rlimits failed",
            Stage::DeathSignal => "lore exited before the command started",
            Stage::NoNewPrivs => "no_new_privs failed",
            Stage::Capabilities => "dropping the capabilities failed",
            Stage::Landlock => "landlock restrict_self failed",
            Stage::LandlockNotEnforced => "landlock was not enforced",
            Stage::Seccomp => "installing the seccomp filter failed",
        }
    }
}

impl Sandbox {
    /// Builds what `isolation` asks for. Isolated: the Landlock ruleset
    /// for `access` and the seccomp program, or an error, never less.
    pub fn new(isolation: &Isolation, access: &Access) -> Result<Sandbox, String> {
        if *isolation != Isolation::Isolated {
            return Ok(Sandbox {
                ruleset: None,
                filter: None,
            });
        }
        let ruleset = ruleset(access).map_err(|e| format!("landlock: {e}"))?;
        Ok(Sandbox {
            ruleset: Some(ruleset),
            filter: Some(filter()?),
        })
    }

    /// Whether the command gets Landlock and seccomp.
    pub fn isolates(&self) -> bool {
        self.filter.is_some()
    }

    /// Sets `cmd` up to apply the sandbox in the child. Keep the returned
    /// [`Report`] until `spawn` returns, to explain a failure.
    pub fn attach(self, cmd: &mut Command) -> io::Result<Report> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both are fresh descriptors owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let report = write.as_raw_fd();
        // SAFETY: a plain query.
        let parent = unsafe { libc::getpid() };
        let Sandbox {
            mut ruleset,
            filter,
        } = self;
        let isolated = filter.is_some();
        // SAFETY: the closure runs in the forked child and only makes
        // syscalls on data built above; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                confine(report, parent, isolated, &mut ruleset, filter.as_deref())
            });
        }
        Ok(Report {
            read,
            _write: write,
        })
    }
}

/// The child's side of a failed confinement, for the parent.
pub struct Report {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Report {
    /// Turns a failed spawn into an error that says what the sandbox
    /// could not do; other failures pass unchanged.
    pub fn explain(self, e: io::Error) -> io::Error {
        let Report { read, _write } = self;
        drop(_write);
        let mut byte = 0u8;
        // SAFETY: reads one byte into a valid buffer; non-blocking.
        let n = unsafe { libc::read(read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        match (n, Stage::from_byte(byte)) {
            (1, Some(stage)) => io::Error::new(
                e.kind(),
                format!(
                    "sandbox: {} ({e}); the command did not run",
                    stage.describe()
                ),
            ),
            _ => e,
        }
    }
}

/// Tells the parent where the child failed and returns the error.
fn fail(report: RawFd, stage: Stage, errno: i32) -> io::Error {
    let byte = stage as u8;
    // SAFETY: writes one byte from a valid buffer to our pipe.
    unsafe { libc::write(report, (&byte as *const u8).cast(), 1) };
    io::Error::from_raw_os_error(if errno == 0 { libc::EPERM } else { errno })
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// Lowers both limits of `resource` to `value` (or the current hard
/// limit, when lower), so the command cannot raise them again.
fn limit(resource: Resource, value: u64) -> bool {
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to a local struct.
    unsafe {
        if libc::getrlimit(resource, &mut now) != 0 {
            return false;
        }
        let v = (value as libc::rlim_t).min(now.rlim_max);
        let new = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        libc::setrlimit(resource, &new) == 0
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_V3: u32 = 0x2008_0522;

/// Takes every capability from the command, for good: a command running
/// as root would otherwise reach past Landlock (`CAP_SYS_MODULE` loads a
/// module built in the workspace, `CAP_SYS_PTRACE` reads any process,
/// `CAP_SYS_BOOT` reboots). Emptying the bounding set keeps an exec as
/// root from getting them back.
unsafe fn drop_capabilities() -> bool {
    for cap in 0..64 {
        if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
            match errno() {
                // Past the last capability this kernel knows.
                libc::EINVAL => break,
                // Without CAP_SETPCAP only root has something to lose;
                // root that cannot be made harmless does not run.
                libc::EPERM if libc::geteuid() != 0 => break,
                _ => return false,
            }
        }
    }
    // Ambient capabilities would survive exec (EINVAL: a kernel before 4.3
    // has none).
    let ambient = libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL,
        0,
        0,
        0,
    );
    if ambient != 0 && errno() != libc::EINVAL {
        return false;
    }
    let header = CapHeader {
        version: CAPABILITY_V3,
        pid: 0,
    };
    let none = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    libc::syscall(libc::SYS_capset, &header as *const CapHeader, none.as_ptr()) == 0
}

/// The child's work between fork and exec. No allocation: errors are raw
/// OS errors, the stage goes to the parent as one byte.
fn confine(
    report: RawFd,
    parent: libc::pid_t,
    isolated: bool,
    ruleset: &mut Option<RulesetCreated>,
    filter: Option<&[seccompiler::sock_filter]>,
) -> io::Result<()> {
    // SAFETY: plain syscalls without pointers (or with valid local ones).
    unsafe {
        if libc::setsid() < 0 {
            return Err(fail(report, Stage::Session, errno()));
        }
        if !(limit(libc::RLIMIT_CORE, 0)
            && limit(libc::RLIMIT_FSIZE, FILE_SIZE_MAX)
            && limit(libc::RLIMIT_AS, ADDRESS_SPACE_MAX))
        {
            return Err(fail(report, Stage::Limits, errno()));
        }
        // The shell dies with lore; its process group is lore's to kill.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(fail(report, Stage::DeathSignal, errno()));
        }
        if libc::getppid() != parent {
            return Err(fail(report, Stage::DeathSignal, libc::ESRCH));
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(fail(report, Stage::NoNewPrivs, errno()));
        }
    }
    if !isolated {
        return Ok(());
    }
    // SAFETY: prctl and capset on local data.
    if !unsafe { drop_capabilities() } {
        return Err(fail(report, Stage::Capabilities, errno()));
    }
    let Some(rules) = ruleset.take() else {
        return Err(fail(report, Stage::Landlock, libc::EINVAL));
    };
    match rules.restrict_self() {
        Ok(status) if status.ruleset == RulesetStatus::NotEnforced => {
            return Err(fail(report, Stage::LandlockNotEnforced, libc::EOPNOTSUPP));
        }
        Ok(_) => {}
        Err(e) => return Err(fail(report, Stage::Landlock, os_code(&e))),
    }
    match filter.map(seccompiler::apply_filter) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(fail(report, Stage::Seccomp, os_code(&e))),
        None => Err(fail(report, Stage::Seccomp, libc::EINVAL)),
    }
}

/// The OS error beneath `e`, found without allocating.
fn os_code(e: &(dyn std::error::Error + 'static)) -> i32 {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return code;
        }
        at = err.source();
    }
    errno()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn the_read_list_never_opens_home_or_the_cargo_token() {
        let base = tempfile::tempdir().unwrap();
        let home = base.path().join("home");
        for d in [
            ".cargo/bin",
            ".cargo/registry",
            ".docker/bin",
            ".local/bin",
            ".rustup",
            "tool/bin",
        ] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(home.join(".cargo/credentials.toml"), "token").unwrap();
        let path = format!(
            "{h}/.cargo/bin:{h}/.docker/bin:{h}/.local/bin:{h}:/:relative/bin:/usr/bin",
            h = home.display()
        );
        let home_s = home.to_str().unwrap();
        let vars = env(&[("HOME", home_s), ("PATH", &path), ("JAVA_HOME", "/")]);
        let root = base.path().join("ws");
        std::fs::create_dir(&root).unwrap();
        let a = Access::new(&root, base.path(), &vars);
        let home = home.canonicalize().unwrap();
        for bad in [
            home.clone(),
            home.join(".cargo"),
            home.join(".docker"),
            home.join(".local"),
            "/".into(),
        ] {
            assert!(!a.read.contains(&bad), "{bad:?} in {:?}", a.read);
        }
        for good in [
            home.join(".cargo/bin"),
            home.join(".cargo/registry"),
            home.join(".rustup"),
            home.join(".local/bin"),
            "/usr".into(),
        ] {
            assert!(a.read.contains(&good), "{good:?} not in {:?}", a.read);
        }
        assert!(!a.read.iter().any(|p| p.ends_with("credentials.toml")));
        assert_eq!(a.write[0], root.canonicalize().unwrap());
        assert_eq!(a.write[2], Path::new("/dev/null"));
    }

    #[test]
    fn a_bin_outside_home_brings_its_prefix() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(base.path().join("go/bin")).unwrap();
        let path = base.path().join("go/bin");
        let vars = env(&[("PATH", path.to_str().unwrap())]);
        let a = Access::new(Path::new("/tmp"), Path::new("/tmp"), &vars);
        assert!(a
            .read
            .contains(&base.path().join("go").canonicalize().unwrap()));
    }

    #[test]
    fn the_filter_compiles_and_the_probe_says_why_not() {
        assert!(!filter().unwrap().is_empty());
        match probe() {
            Isolation::Isolated => {}
            Isolation::Unavailable(why) => {
                eprintln!("skipped: {why}");
                assert!(probe().label().contains(&why));
            }
            Isolation::Disabled => panic!("the probe never disables"),
        }
    }

    /// A child that cannot install its seccomp filter (here: a program the
    /// kernel rejects) never execs: the spawn fails and says so.
    #[test]
    fn a_confinement_that_fails_never_runs_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let access = Access::new(dir.path(), dir.path(), &[]);
        let mut sandbox = match probe() {
            Isolation::Isolated => Sandbox::new(&Isolation::Isolated, &access).unwrap(),
            Isolation::Unavailable(why) => {
                eprintln!("skipped landlock: {why}");
                Sandbox::new(&Isolation::Disabled, &access).unwrap()
            }
            Isolation::Disabled => unreachable!(),
        };
        // An instruction code the BPF verifier does not know.
        sandbox.filter = Some(vec![seccompiler::sock_filter {
            code: 0xffff,
            jt: 0,
            jf: 0,
            k: 0,
        }]);
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(format!("touch '{}'", marker.display()));
        let report = sandbox.attach(&mut cmd).unwrap();
        let err = cmd
            .spawn()
            .map(|mut c| c.wait())
            .map_err(|e| report.explain(e));
        let err = err.expect_err("the command must not start");
        let msg = err.to_string();
        // Without Landlock the child stops one stage earlier, as closed.
        let stage = if probe() == Isolation::Isolated {
            "seccomp"
        } else {
            "landlock"
        };
        assert!(msg.contains(stage) && msg.contains("did not run"), "{msg}");
        assert!(!marker.exists());
    }
}
