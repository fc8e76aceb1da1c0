//! The real binary and the real model inside tmux: type, read the screen,
//! cancel, resize, paste. tmux is required (`.ci/run` installs it).
//!
//! Every check on the screen is a [`Tmux::wait_for`] of exactly the state
//! it checks, with a deadline: the app draws asynchronously (and slowly on
//! a loaded machine), so a screen read right after another condition held
//! may still show the frame before. Files the app writes are waited for
//! the same way, and lore's exit status and stderr are collected from the
//! shell that runs it in the pane.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestEnv;

/// A tmux server of its own, so tests never touch the user's sessions.
struct Tmux {
    socket: String,
    socket_path: Option<PathBuf>,
    env: TestEnv,
}

impl Tmux {
    fn start(args: &str, width: u16, height: u16) -> Tmux {
        Tmux::start_with(args, width, height, &[])
    }

    /// Runs `lore ARGS` in a `width`×`height` pane with `vars` set (on top
    /// of the isolated environment), its stderr and exit status going to
    /// files in the test's directory.
    fn start_with(args: &str, width: u16, height: u16, vars: &[(&str, &str)]) -> Tmux {
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
        let vars: String = vars.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        // The pane's shell records what the terminal cannot show: stderr
        // (a panic message) and the exit status.
        let command = format!(
            "env {vars}'{}' {args} 2>'{}'; echo $? >'{}'",
            lore.display(),
            env.path("stderr.txt").display(),
            env.path("status.txt").display(),
        );
        let mut tmux = Command::new("tmux");
        tmux.args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-s", "t", &command])
            .env("XDG_CONFIG_HOME", env.path("config"))
            .env("XDG_DATA_HOME", env.path("data"))
            .env("HF_HOME", env.path("hf"))
            .env("LORE_MODELS_DIR", common::models_dir())
            .env("LORE_MODEL__PATH", common::MACHINERY_MODEL)
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .env_remove("NO_COLOR")
            .current_dir(env.work());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LORE_")) {
            if k != "LORE_MODELS_DIR" && k != "LORE_MODEL__PATH" {
                tmux.env_remove(k);
            }
        }
        let status = tmux.status().expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        let mut t = Tmux {
            socket,
            socket_path: None,
            env,
        };
        let path = t.tmux(&["display-message", "-p", "#{socket_path}"]).stdout;
        let path = String::from_utf8_lossy(&path).trim().to_string();
        // Only ever a file named after this test's own server.
        if path.ends_with(&t.socket) {
            t.socket_path = Some(PathBuf::from(path));
        }
        t
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

    /// The screen with its attributes as SGR escape sequences.
    fn screen_with_escapes(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-e", "-p", "-t", "t"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    fn resize(&self, w: u16, h: u16) {
        let out = self.tmux(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        assert!(out.status.success(), "resize-window {w}x{h} failed");
    }

    /// Pastes `bytes` as a terminal does: bracketed, since lore asks for
    /// bracketed paste mode.
    fn paste(&self, bytes: &[u8]) {
        let file = self.env.path("paste.bin");
        std::fs::write(&file, bytes).unwrap();
        let file = file.display().to_string();
        let out = self.tmux(&["load-buffer", "-b", "p", &file]);
        assert!(out.status.success(), "load-buffer failed");
        let out = self.tmux(&["paste-buffer", "-p", "-d", "-b", "p", "-t", "t"]);
        assert!(out.status.success(), "paste-buffer failed");
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
                panic!("timed out after {secs}s waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `probe` returns something; panics with the screen if not.
    fn wait_until<T>(&self, what: &str, secs: u64, probe: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = probe() {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs}s waiting for {what}; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// lore's exit status, once the pane's shell has written it.
    fn wait_exit(&self, secs: u64) -> i32 {
        let file = self.env.path("status.txt");
        self.wait_until("lore to exit", secs, || {
            std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        })
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.env.path("stderr.txt")).unwrap_or_default()
    }

    /// Ctrl+C twice on an empty input and no reply in flight: lore exits 0
    /// and said nothing about a panic.
    fn quit(&self) {
        self.keys(&["C-c"]);
        // "press Ctrl+C again to quit", as much of it as the width shows.
        self.wait_for("the quit hint", 20, |s| {
            status_line(s).contains("Ctrl+C again")
        });
        self.keys(&["C-c"]);
        let code = self.wait_exit(30);
        let err = self.stderr();
        assert_eq!(code, 0, "lore's exit status; stderr:\n{err}");
        assert_no_panic(&err);
    }

    /// The saved session's finished replies, once there are `replies` of
    /// them. A turn is saved as it starts too, its reply still empty and
    /// marked cancelled (what a crash would leave), so only replies not
    /// marked count.
    fn wait_saved_replies(&self, replies: usize, secs: u64) -> Vec<serde_json::Value> {
        let dir = self.env.path("data/lore/sessions");
        self.wait_until("the reply to be saved", secs, || {
            let files = saved_sessions(&dir);
            let [file] = files.as_slice() else {
                return None;
            };
            let session: serde_json::Value =
                serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
            let found: Vec<serde_json::Value> = session["messages"]
                .as_array()?
                .iter()
                .filter(|m| m["role"] == "assistant" && m["cancelled"] != true)
                .cloned()
                .collect();
            (found.len() >= replies).then_some(found)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        // The server leaves its socket file behind; remove it too, so test
        // runs do not pile them up in /tmp/tmux-UID.
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn saved_sessions(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.ends_with(".json") && !name.starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_panic(stderr: &str) {
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "stderr mentions {bad:?}:\n{stderr}");
    }
}

fn status_line(screen: &str) -> &str {
    screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")
}

fn unicode_width(s: &str) -> usize {
    s.chars().count()
}

/// Whether the screen is lore's layout drawn for a `w`×`h` terminal:
/// nothing past the edge, the input box's borders exactly `w` wide right
/// above the status bar on the last row. A stale frame from before a
/// resize fails this (its borders are cut short or too narrow).
fn layout_holds(screen: &str, w: u16, h: u16) -> bool {
    let (w, h) = (w as usize, h as usize);
    let lines: Vec<&str> = screen.lines().collect();
    if lines.len() != h || h < 4 || lines.iter().any(|l| unicode_width(l) > w) {
        return false;
    }
    let full = |l: &str, left: char, right: char| {
        l.starts_with(left) && l.ends_with(right) && unicode_width(l) == w
    };
    let top = lines.iter().rposition(|l| l.starts_with('┌'));
    top.is_some_and(|i| full(lines[i], '┌', '┐') && lines[i].contains("message"))
        && full(lines[h - 2], '└', '┘')
        && !lines[h - 1].trim().is_empty()
}

/// Whether `escaped` (a capture with `-e`) sets any colour, foreground or
/// background: SGR 30-37, 38, 40-47, 48, 90-97 or 100-107. Resets to the
/// default colours (39, 49) are not colours.
fn sets_colour(escaped: &str) -> bool {
    escaped.split("\x1b[").skip(1).any(|seq| {
        let Some(end) = seq.find(|c: char| !(c.is_ascii_digit() || c == ';')) else {
            return false;
        };
        if !seq[end..].starts_with('m') {
            return false;
        }
        seq[..end].split(';').any(|p| {
            matches!(
                p.parse::<u32>(),
                Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
            )
        })
    })
}

#[test]
fn asks_the_sample_knowledge_base_and_shows_speed() {
    let t = Tmux::start("chat --mode ask -t 0 -n 24", 100, 30);
    t.wait_for("the model to load", 120, |s| {
        status_line(s).contains("SmolLM2")
    });
    t.type_text("How long do I have to return an item?");
    t.keys(&["Enter"]);
    // Speed, mode and source are drawn in the frame that ends the reply.
    t.wait_for("the finished reply, its source and the mode", 240, |s| {
        let status = status_line(s);
        status.contains("tok/s")
            && status.contains("ask")
            && s.contains("You")
            && s.contains("return-policy.md")
    });
    // The conversation was saved as it went (the reply is saved before
    // that frame is drawn; waiting costs nothing and keeps it robust).
    let replies = t.wait_saved_replies(1, 30);
    let dir = t.env.path("data/lore/sessions");
    let saved = saved_sessions(&dir);
    assert_eq!(saved.len(), 1, "one session file in {}", dir.display());
    let text = std::fs::read_to_string(&saved[0]).unwrap();
    assert!(text.contains("How long do I have to return an item?"));
    // `lore ask` is the same grounded turn: at temperature 0 it gives the
    // very reply the TUI saved, citing a passage the TUI showed.
    let reply = replies.last().expect("the reply was saved").clone();
    let out = t
        .env
        .lore()
        .args(["ask", "-t", "0", "-n", "24", "-f", "json"])
        .arg("How long do I have to return an item?")
        .timeout(Duration::from_secs(300))
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
    t.quit();
}

/// The default model's setting, as `lore config show` names it.
fn default_model() -> String {
    let show = common::TestEnv::new()
        .lore_default()
        .args(["config", "show"])
        .output()
        .unwrap();
    let show = common::stdout_of(&show);
    show.lines()
        .find(|l| l.starts_with("model.path "))
        .and_then(|l| l.split('"').nth(1))
        .expect("model.path in config show")
        .to_string()
}

/// A chat turn on the default model (the other TUI tests run on
/// `common::MACHINERY_MODEL`).
#[test]
fn a_chat_turn_on_the_default_model() {
    let default = default_model();
    let t = Tmux::start_with(
        "chat -t 0 -n 16",
        100,
        30,
        &[("LORE_MODEL__PATH", default.as_str())],
    );
    // The status bar names the model and its device once it is loaded,
    // with the catalogue's context.
    t.wait_for("the default model to load", 180, |s| {
        let status = status_line(s);
        status.contains(" · ") && status.contains("/8192") && !status.contains("loading")
    });
    t.type_text("What is the capital of France? Answer in one word.");
    t.keys(&["Enter"]);
    t.wait_for("the reply and its speed", 300, |s| {
        status_line(s).contains("tok/s") && s.contains("Paris")
    });
    t.quit();
}

/// The chat against a resident `lore serve` (`--engine URL`): the status
/// bar names the server's model on the remote device, and a turn streams.
#[test]
fn a_chat_turn_against_a_remote_engine() {
    let server_env = TestEnv::new();
    let served = common::serve::Served::lore(&server_env, &[], &[]);
    let t = Tmux::start(&format!("chat -t 0 -n 8 --engine {}", served.url), 100, 30);
    t.wait_for("the remote model to connect", 60, |s| {
        status_line(s).contains("smollm2-135m · remote")
    });
    t.type_text("Say hello.");
    t.keys(&["Enter"]);
    t.wait_for("the reply and its speed", 120, |s| {
        status_line(s).contains("tok/s")
    });
    t.quit();
    assert!(
        served.log().contains("lore: POST /v1/chat/completions 200"),
        "{}",
        served.log()
    );
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
    t.wait_for("the cancel mark, generation over", 30, |s| {
        s.contains("cancelled") && !status_line(s).contains("generating")
    });

    // Usable afterwards: a command runs and its note appears.
    t.type_text("/mode ask");
    t.keys(&["Enter"]);
    t.wait_for("the mode note", 20, |s| s.contains("mode ask"));

    // Narrower and shorter, then wider: the input box and status bar keep
    // their places and nothing is drawn past the edge.
    for (w, h) in [(50u16, 16u16), (120, 40)] {
        t.resize(w, h);
        t.wait_for(&format!("the layout redrawn at {w}x{h}"), 30, |s| {
            layout_holds(s, w, h) && status_line(s).contains("ask")
        });
    }
    t.quit();
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
    // The hand-over text streams in before the turn ends: wait for the
    // frame of the finished turn, not just the text (this once read the
    // status bar while it still said "generating").
    t.wait_for("the finished hand-over", 120, |s| {
        let status = status_line(s);
        s.contains("Your ticket number is")
            && s.contains("T-2")
            && status.contains("handed over")
            && !status.contains("generating")
    });
    // Once the hint expires the status bar has room for the turn's reading.
    t.wait_for("the intent in the status bar", 30, |s| {
        status_line(s).contains("intent human")
    });
    t.quit();
    // The final ticket is written on the way out.
    let tickets: Vec<_> = std::fs::read_dir(t.env.path("data/lore/tickets"))
        .expect("tickets dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(tickets.len(), 1);
    let ticket: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tickets[0].path()).unwrap()).unwrap();
    assert_eq!(ticket["status"], "handed_over");
}

#[test]
fn a_20x5_terminal_shows_the_layout_answers_and_quits() {
    let t = Tmux::start("chat -n 8 -t 0", 20, 5);
    t.wait_for("the 20x5 layout with the model loaded", 120, |s| {
        layout_holds(s, 20, 5) && status_line(s).contains("SmolLM2")
    });
    // The colour check of the NO_COLOR row means something: by default
    // there is colour.
    assert!(sets_colour(&t.screen_with_escapes()), "{}", t.screen());
    t.type_text("hi");
    t.keys(&["Enter"]);
    t.wait_saved_replies(1, 120);
    t.wait_for("the layout after the reply", 30, |s| {
        layout_holds(s, 20, 5) && !status_line(s).contains("generating")
    });
    t.quit();
}

#[test]
fn a_resize_during_a_streamed_reply_keeps_the_layout() {
    // 24 tokens rather than 8 give the resize a wider window to land in
    // while the reply is still streaming.
    let t = Tmux::start("chat -n 24 -t 0", 90, 28);
    t.wait_for("the model to load", 120, |s| {
        layout_holds(s, 90, 28) && status_line(s).contains("SmolLM2")
    });
    t.type_text("Write a story about a dragon.");
    t.keys(&["Enter"]);
    // Straight after Enter, before the first token: the prompt alone takes
    // longer than a tmux command.
    t.resize(60, 18);
    // The new layout is drawn while the reply is still streaming. (If the
    // reply could finish first, this row would test nothing: it says so.)
    let sessions = t.env.path("data/lore/sessions");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let screen = t.screen();
        if layout_holds(&screen, 60, 18) && status_line(&screen).contains("generating") {
            break;
        }
        let finished = saved_sessions(&sessions)
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|s| s.contains("\"stats\"")));
        assert!(
            !finished && Instant::now() < deadline,
            "the reply finished before the 60x18 layout was drawn while generating:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let replies = t.wait_saved_replies(1, 120);
    assert!(
        replies[0]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{replies:?}"
    );
    t.wait_for("the finished reply in the 60x18 layout", 30, |s| {
        layout_holds(s, 60, 18) && !status_line(s).contains("generating") && s.contains("lore")
    });
    t.resize(100, 30);
    t.wait_for("the layout redrawn at 100x30", 30, |s| {
        layout_holds(s, 100, 30) && status_line(s).contains("tok/s")
    });
    t.quit();
}

#[test]
fn a_one_megabyte_paste_leaves_the_app_responsive() {
    let t = Tmux::start("chat -n 8 -t 0", 100, 30);
    t.wait_for("the model to load", 120, |s| {
        layout_holds(s, 100, 30) && status_line(s).contains("SmolLM2")
    });
    let line = "The quick brown fox jumps over the lazy dog, again and again.\n";
    let big = line.repeat((1 << 20) / line.len() + 1);
    let started = Instant::now();
    t.paste(big.as_bytes());
    t.type_text("ZZEND");
    t.wait_for("typing after the paste to show", 60, |s| {
        s.contains("again and again.") && s.contains("ZZEND")
    });
    eprintln!(
        "1 MiB paste, then typing, shown after {:.2}s",
        started.elapsed().as_secs_f64()
    );
    // Sent by mistake: one clear error naming the sizes, and the app
    // still takes input.
    t.keys(&["Enter"]);
    t.wait_for("the too-large note", 120, |s| {
        s.contains("context holds") && !status_line(s).contains("generating")
    });
    t.type_text("still here");
    t.wait_for("typing after the error", 30, |s| s.contains("still here"));
    t.keys(&["C-c"]);
    t.wait_for("the input cleared", 20, |s| s.contains("Type a message"));
    t.quit();
}

#[test]
fn invalid_utf8_in_a_paste_is_replaced_and_sent() {
    let t = Tmux::start("chat -n 8 -t 0", 100, 30);
    t.wait_for("the model to load", 120, |s| {
        layout_holds(s, 100, 30) && status_line(s).contains("SmolLM2")
    });
    t.paste(b"caf\xc3 bad \xff\xfe utf \xe2\x82 eight \xed\xa0\x80 end");
    t.type_text(" QQ");
    t.wait_for("the paste, replaced, then typing", 30, |s| {
        s.contains("caf\u{FFFD}") && s.contains("end QQ")
    });
    t.keys(&["Enter"]);
    let dir = t.env.path("data/lore/sessions");
    t.wait_saved_replies(1, 120);
    let saved = saved_sessions(&dir);
    let text = std::fs::read_to_string(&saved[0]).expect("the session is UTF-8");
    assert!(text.contains("caf\u{FFFD} bad"), "{text}");
    t.wait_for("the reply to finish", 30, |s| {
        !status_line(s).contains("generating")
    });
    t.quit();
}

#[test]
fn no_color_draws_without_colour_and_quits() {
    let t = Tmux::start_with("chat -n 8 -t 0", 80, 24, &[("NO_COLOR", "1")]);
    t.wait_for("the layout with the model loaded", 120, |s| {
        layout_holds(s, 80, 24) && status_line(s).contains("SmolLM2")
    });
    let escaped = t.screen_with_escapes();
    assert!(
        !sets_colour(&escaped),
        "colour under NO_COLOR:\n{}",
        escaped.escape_debug()
    );
    // The monochrome theme still marks the status bar (reverse video).
    assert!(escaped.contains("\x1b[7m"), "{}", escaped.escape_debug());
    t.quit();
}

#[test]
fn term_dumb_still_starts_draws_and_quits() {
    let t = Tmux::start_with("chat -n 8 -t 0", 80, 24, &[("TERM", "dumb")]);
    t.wait_for("the layout with the model loaded", 120, |s| {
        layout_holds(s, 80, 24) && status_line(s).contains("SmolLM2")
    });
    t.quit();
}

/// One agent turn in the chat on a small workspace (the pane's working
/// directory): the model reads with tools and the steps show inline as
/// `•` lines, the status bar names the workspace and counts the steps,
/// and the session is logged like `lore agent`'s.
#[test]
fn agent_mode_runs_a_turn_over_the_workspace_and_shows_its_steps() {
    let t = Tmux::start_with(
        "chat --mode agent -t 0",
        120,
        30,
        &[("LORE_AGENT__MAX_STEPS", "3")],
    );
    t.env.write(
        "work/config.toml",
        "[client]\nmax_retries = 5\ntimeout_s = 30\n",
    );
    t.env.write(
        "work/src/dates.py",
        "def parse_date(text):\n    return text.split('-')\n",
    );
    // While it loads the status bar names the model too.
    t.wait_for("the model to load in agent mode", 120, |s| {
        let status = status_line(s);
        status.contains("SmolLM2") && status.contains("agent · ") && !status.contains("loading")
    });
    t.type_text("What is max_retries in config.toml?");
    t.keys(&["Enter"]);
    // A step line, or (a model that answers at once) the finished turn.
    let screen = t.wait_for("a tool step or the answer", 240, |s| {
        let status = status_line(s);
        s.lines()
            .any(|l| l.starts_with("• ") || l.starts_with("◦ "))
            || (s.contains("▌ lore") && !status.contains("generating"))
    });
    if status_line(&screen).contains("generating") {
        assert!(
            status_line(&screen).contains("step "),
            "the step count during the turn:\n{screen}"
        );
    }
    t.wait_for("the end of the turn", 240, |s| {
        let status = status_line(s);
        !status.contains("generating") && !status.contains("step ") && s.contains("▌ lore")
    });
    let logs = t.env.path("data/lore/sessions/agent");
    let log = t.wait_until("the agent session log", 30, || {
        std::fs::read_dir(&logs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
    });
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("max_retries in config.toml"), "{text}");
    t.quit();
}

/// An agent command waits at the approval prompt for a key, on the default
/// model (SmolLM2 lists files where it is asked to run a command): the
/// prompt replaces the input with the command, the sandbox and the keys,
/// the title says lore waits, nothing runs until a key, `n` declines with
/// the outcome in the steps, Esc ends the turn, and the title comes back.
#[test]
fn an_agent_command_waits_at_the_approval_prompt() {
    let default = default_model();
    let t = Tmux::start_with(
        "chat --mode agent --agent-mode ask -t 0",
        100,
        30,
        &[
            ("LORE_MODEL__PATH", default.as_str()),
            ("LORE_AGENT__MAX_STEPS", "4"),
        ],
    );
    t.env.write("work/notes.txt", "alpha\nbeta\n");
    t.wait_for("the model to load in ask mode", 180, |s| {
        let status = status_line(s);
        status.contains("agent · ask · sandbox: ") && !status.contains("loading")
    });
    let title = || {
        let out = t.tmux(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = title();
    t.type_text("Run the command: ls");
    t.keys(&["Enter"]);
    let screen = t.wait_for("the approval prompt", 300, |s| {
        s.contains("Approve shell?") && status_line(s).contains("approval needed")
    });
    assert!(screen.contains("$ ls"), "{screen}");
    assert!(screen.contains("sandbox: "), "{screen}");
    assert!(screen.contains("n decline"), "{screen}");
    assert!(
        !screen.contains("Type a message"),
        "the prompt replaces the input:\n{screen}"
    );
    t.wait_until("the waiting title", 10, || {
        (title() == "lore: approval needed").then_some(())
    });
    // It waits for a key: nothing runs meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    let screen = t.screen();
    assert!(screen.contains("Approve shell?"), "{screen}");
    assert!(
        !screen.contains("• shell"),
        "nothing ran unasked:\n{screen}"
    );
    t.keys(&["n"]);
    t.wait_for("the declined call in the steps", 60, |s| {
        s.contains("✗ declined: shell ls")
    });
    // The model may ask again; Esc then ends the turn.
    let end = t.wait_for("the end of the turn", 300, |s| {
        if s.contains("Approve shell?") {
            t.keys(&["Escape"]);
            return false;
        }
        let status = status_line(s);
        !status.contains("generating") && !status.contains("approval") && s.contains("▌ lore")
    });
    assert!(end.contains("Type a message"), "the input is back:\n{end}");
    t.wait_until("the title put back", 10, || {
        (title() == before).then_some(())
    });
    t.quit();
}

/// Runs lore in a new session (`setsid`), which has no controlling
/// terminal, so /dev/tty cannot be opened: as under cron or a CI runner.
fn without_terminal(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut cmd = env.lore_std();
    let program = cmd.get_program().to_owned();
    // `timeout` so that a lore waiting for input it will never get fails
    // the test instead of hanging it.
    let mut setsid = Command::new("timeout");
    setsid
        .args(["120", "setsid", "--wait"])
        .arg(program)
        .args(args);
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
