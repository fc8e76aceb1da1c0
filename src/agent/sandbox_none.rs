//! Where lore has no sandbox yet (macOS, the BSDs): the probe says so, so
//! the policy fails closed (commands ask), and a command the caller wants
//! isolated does not run. Commands still get their own session.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::policy::Isolation;
pub use super::toolchain::TOOLCHAIN_VARS;

pub fn probe() -> Isolation {
    Isolation::Unavailable("no sandbox on this system yet".into())
}

/// What a confined command may touch (nothing confines it here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

impl Access {
    pub fn new(root: &Path, tmp: &Path, _env: &[(OsString, OsString)]) -> Access {
        Access {
            read: vec![root.to_path_buf(), tmp.to_path_buf()],
            write: vec![root.to_path_buf(), tmp.to_path_buf()],
        }
    }
}

pub struct Sandbox;

impl Sandbox {
    pub fn new(isolation: &Isolation, _access: &Access) -> Result<Sandbox, String> {
        if *isolation == Isolation::Isolated {
            return Err("sandbox: not available on this system; the command did not run".into());
        }
        Ok(Sandbox)
    }

    pub fn isolates(&self) -> bool {
        false
    }

    pub fn attach(self, cmd: &mut Command) -> io::Result<Report> {
        // SAFETY: setsid is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Report)
    }
}

pub struct Report;

impl Report {
    pub fn explain(self, e: io::Error) -> io::Error {
        e
    }
}
