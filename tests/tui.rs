//! The real binary and the real model inside tmux: type, read the screen,
//! cancel, resize. tmux is required (`.ci/run` installs it).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::TestEnv;

/// A tmux server of its own, so tests never touch the user's sessions.
struct Tmux {
    socket: String,
    env: TestEnv,
}

impl Tmux {
    fn start(args: &str, width: u16, height: u16) -> Tmux {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "tmux is required for the TUI tests: install it (apt-get install tmux); .ci/run does"
        );
        let env = TestEnv::new();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("lore-test-{}-{n}", std::process::id());
        let lore = assert_cmd::cargo::cargo_bin("lore");
        let command = format!("{} {args}", lore.display());
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-s", "t", &command])
            .env("XDG_CONFIG_HOME", env.path("config"))
            .env("XDG_DATA_HOME", env.path("data"))
            .env("HF_HOME", env.path("hf"))
            .env("LORE_MODELS_DIR", common::models_dir())
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .env_remove("NO_COLOR")
            .current_dir(env.work())
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket, env }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Waits until `pred` holds for the screen; panics with the screen if not.
    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", "t"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn status_line(screen: &str) -> &str {
    screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")
}

#[test]
fn asks_the_sample_knowledge_base_and_shows_speed() {
    let t = Tmux::start("chat --mode ask -t 0 -n 24", 100, 30);
    t.wait_for("the model to load", 120, |s| {
        status_line(s).contains("SmolLM2")
    });
    t.type_text("How long do I have to return an item?");
    t.keys(&["Enter"]);
    let screen = t.wait_for("the reply to finish", 240, |s| {
        status_line(s).contains("tok/s")
    });
    assert!(screen.contains("You"), "{screen}");
    assert!(screen.contains("return"), "{screen}");
    assert!(
        screen.contains("return-policy.md"),
        "the reply lists its source:\n{screen}"
    );
    assert!(status_line(&screen).contains("ask"), "{screen}");
    // The conversation was saved as it went.
    let dir = t.env.path("data/lore/sessions");
    let saved: Vec<_> = std::fs::read_dir(&dir).expect("sessions dir").collect();
    assert_eq!(saved.len(), 1, "one session file in {}", dir.display());
    let text = std::fs::read_to_string(saved[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("How long do I have to return an item?"));
    // `lore ask` is the same grounded turn: at temperature 0 it gives the
    // very reply the TUI saved, citing a passage the TUI showed.
    let session: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reply = session["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["role"] == "assistant")
        .expect("the reply was saved")
        .clone();
    let out = t
        .env
        .lore()
        .args(["ask", "-t", "0", "-n", "24", "-f", "json"])
        .arg("How long do I have to return an item?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr_of(&out));
    let ask: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ask["answer"], reply["content"],
        "lore ask and /mode ask agree"
    );
    let shown: Vec<&str> = reply["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    for c in ask["citations"].as_array().unwrap() {
        assert!(
            shown.contains(&c["path"].as_str().unwrap()),
            "{c} in {shown:?}"
        );
    }
    // Ctrl+C twice quits and the terminal is given back.
    t.keys(&["C-c"]);
    t.wait_for("the quit hint", 10, |s| s.contains("again to quit"));
    t.keys(&["C-c"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!t.alive(), "lore exited");
}

#[test]
fn ctrl_c_cancels_a_reply_and_the_app_stays_usable_across_resizes() {
    let t = Tmux::start("chat -t 0 -n 400", 90, 28);
    t.wait_for("the model to load", 120, |s| {
        status_line(s).contains("SmolLM2")
    });
    t.type_text("Write a very long story about a dragon who learns to bake bread.");
    t.keys(&["Enter"]);
    t.wait_for("the reply to start", 120, |s| {
        status_line(s).contains("generating") && s.matches("lore").count() >= 1 && !s.contains("…")
    });
    t.keys(&["C-c"]);
    let screen = t.wait_for("the cancel mark", 20, |s| s.contains("cancelled"));
    assert!(!status_line(&screen).contains("generating"), "{screen}");

    // Usable afterwards: a command runs and its note appears.
    t.type_text("/mode ask");
    t.keys(&["Enter"]);
    t.wait_for("the mode note", 20, |s| s.contains("mode ask"));

    // Narrower and shorter, then wider: the input box and status bar keep
    // their places and nothing is drawn past the edge.
    for (w, h) in [(50u16, 16u16), (120, 40)] {
        t.tmux(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        let screen = t.wait_for("the redraw after resizing", 20, |s| {
            s.lines().count() as u16 >= h - 1 && status_line(s).contains("ask")
        });
        let lines: Vec<&str> = screen.lines().collect();
        assert!(
            lines.iter().all(|l| unicode_width(l) <= w as usize),
            "{w}x{h}:\n{screen}"
        );
        assert!(
            lines.iter().any(|l| l.contains("message")),
            "the input box is there at {w}x{h}:\n{screen}"
        );
    }
    t.keys(&["C-c", "C-c"]);
}

fn unicode_width(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn support_mode_greets_classifies_and_hands_over() {
    let t = Tmux::start("support -t 0 -n 24", 100, 30);
    t.wait_for("the greeting", 60, |s| s.contains("support assistant"));
    t.wait_for("the model to load", 120, |s| {
        status_line(s).contains("SmolLM2")
    });
    t.type_text("I want to talk to a human");
    t.keys(&["Enter"]);
    let screen = t.wait_for("the hand-over", 60, |s| {
        s.contains("Your ticket number is") && s.contains("T-2")
    });
    assert!(status_line(&screen).contains("handed over"), "{screen}");
    // Once the hint expires the status bar has room for the turn's reading.
    t.wait_for("the intent in the status bar", 20, |s| {
        status_line(s).contains("intent human")
    });
    let tickets: Vec<_> = std::fs::read_dir(t.env.path("data/lore/tickets"))
        .expect("tickets dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(tickets.len(), 1);
    let ticket: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tickets[0].path()).unwrap()).unwrap();
    assert_eq!(ticket["status"], "handed_over");
    t.keys(&["C-c", "C-c"]);
}

/// Runs lore in a new session (`setsid`), which has no controlling
/// terminal, so /dev/tty cannot be opened: as under cron or a CI runner.
fn without_terminal(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut cmd = env.lore_std();
    let program = cmd.get_program().to_owned();
    let mut setsid = Command::new("setsid");
    setsid.arg("--wait").arg(program).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => setsid.env(k, v),
            None => setsid.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        setsid.current_dir(dir);
    }
    let _ = &mut cmd;
    setsid
        .stdin(std::process::Stdio::piped())
        .output()
        .expect("setsid runs")
}

#[test]
fn chat_without_a_terminal_points_to_lore_run() {
    let env = TestEnv::new();
    let out = without_terminal(&env, &["chat"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lore run"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // `lore` alone in a pipe prints usage instead of opening the chat.
    let out = without_terminal(&env, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
}
