//! Servers for the tests of `lore serve` and remote engines: started on a
//! free loopback port, waited for with a deadline, stopped on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TestEnv;

/// How long a server may take to load its model and listen.
pub const START_DEADLINE: Duration = Duration::from_secs(180);

pub struct Served {
    pub child: Child,
    pub url: String,
    /// Everything the server wrote on stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl Served {
    /// `lore serve --listen 127.0.0.1:0 ARGS` in `env`, once it listens.
    pub fn lore(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Served {
        let mut cmd = env.lore_std();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Served::spawn(cmd, |line| {
            line.split("on http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|_| line.starts_with("lore: serving "))
                .map(|addr| format!("http://{addr}"))
        })
    }

    /// Starts `cmd` and waits until `ready` finds the base URL in a line
    /// of its stderr.
    pub fn spawn(
        mut cmd: Command,
        ready: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> Served {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the server starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = ready(&line) {
                    let _ = tx.send(url);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let started = Instant::now();
        loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(200)) {
                return Served { child, url, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the server exited ({status}) before listening:\n{}",
                    log.lock().unwrap()
                );
            }
            if started.elapsed() > START_DEADLINE {
                let _ = child.kill();
                panic!(
                    "the server did not listen within {START_DEADLINE:?}:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (with a deadline) for the exit code.
    pub fn terminate(&mut self, deadline: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python venv with the OpenAI client and llama-cpp-python's server,
/// built once by scripts/test-venv.sh (which `.ci/run` calls first). The
/// tests fail, never skip, when it cannot be built.
pub fn test_venv() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/test-venv.sh");
    assert!(
        out.status.success(),
        "scripts/test-venv.sh could not build the test venv (it needs PyPI)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A free loopback port (for servers that cannot be told port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
