//! `lore run` end to end, with the real default model, offline.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{stderr_of, stdout_of, TestEnv};

#[test]
fn answers_a_piped_question() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["run", "--max-tokens", "16", "--temperature", "0"])
        .write_stdin("What is the capital of France?\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("Paris"), "reply: {text:?}");
    assert!(!text.contains('\x1b'), "ANSI codes on stdout: {text:?}");
    assert!(text.ends_with('\n'));
}

#[test]
fn verbose_logs_go_to_stderr_only() {
    let env = TestEnv::new();
    let run = |verbose: bool| {
        let mut cmd = env.lore();
        if verbose {
            cmd.arg("-v");
        }
        cmd.args(["run", "-n", "8", "-t", "0"])
            .write_stdin("What is the capital of France?")
            .output()
            .unwrap()
    };
    let (quiet, loud) = (run(false), run(true));
    assert!(loud.status.success(), "{}", stderr_of(&loud));
    assert_eq!(stdout_of(&quiet), stdout_of(&loud));
    let err = stderr_of(&loud);
    assert!(
        err.contains("mistralrs_core"),
        "engine log on stderr: {err}"
    );
}

#[test]
fn json_output_carries_text_usage_timings_and_device() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args([
            "run",
            "-n",
            "8",
            "-t",
            "0",
            "--format",
            "json",
            "What is the capital of France?",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert!(v["text"].as_str().unwrap().contains("Paris"), "{v}");
    assert_eq!(v["device"], "cpu");
    assert!(
        v["model"]["path"]
            .as_str()
            .unwrap()
            .ends_with("SmolLM2-135M-Instruct.Q8_0.gguf"),
        "{v}"
    );
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 5, "{v}");
    assert!((1..=8).contains(&completion), "{v}");
    for key in [
        "load_s",
        "time_to_first_token_s",
        "prompt_tokens_per_s",
        "generated_tokens_per_s",
    ] {
        assert!(v["timings"][key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert!(["stop", "length"].contains(&v["finish_reason"].as_str().unwrap()));
}

#[test]
fn jsonl_output_streams_deltas_then_end() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args([
            "run",
            "-n",
            "6",
            "-t",
            "0",
            "--format",
            "jsonl",
            "Say hello.",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let (last, deltas) = lines.split_last().unwrap();
    assert_eq!(last["type"], "end");
    assert!(!deltas.is_empty());
    let joined: String = deltas.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(joined, last["text"].as_str().unwrap());
}

#[test]
fn prompt_and_stdin_are_combined() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args([
            "run",
            "-n",
            "12",
            "-t",
            "0",
            "--format",
            "json",
            "What city is named in this text?",
        ])
        .write_stdin("Paris is lovely in spring.")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The fenced stdin adds its tokens to the prompt.
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 20, "{v}");
}

#[test]
fn empty_input_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.lore().arg("run").write_stdin("  \n").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("nothing to send"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_default_model_exits_3_with_the_fix() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .env_remove("LORE_MODEL__PATH")
        .args(["run", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("qwen2.5-coder-0.5b is not installed"), "{err}");
    assert!(
        err.contains("scripts/fetch-model.sh qwen2.5-coder-0.5b"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
}

#[test]
fn missing_explicit_model_exits_3_naming_the_path() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["run", "--model", "/nope/model.gguf", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr_of(&out).contains("/nope/model.gguf"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn corrupt_model_file_exits_3() {
    let env = TestEnv::new();
    let bad = env.write("work/bad.gguf", "not a gguf");
    let out = env
        .lore()
        .args(["run", "--model"])
        .arg(&bad)
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("bad.gguf"));
}

#[test]
fn oversized_prompt_exits_4_naming_both_sizes() {
    let env = TestEnv::new();
    let big = "lorem ipsum dolor sit amet ".repeat(3000);
    let out = env
        .lore()
        .args(["run", "-n", "4"])
        .write_stdin(big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("8192"), "{err}");
    assert!(err.contains("tokens"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn invalid_utf8_is_replaced_with_one_warning() {
    let env = TestEnv::new();
    let mut input = b"What is the capital of France? ".to_vec();
    input.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let out = env
        .lore()
        .args(["run", "-n", "4", "-t", "0"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(err.matches("not valid UTF-8").count(), 1, "{err}");
    assert!(!out.stdout.is_empty());
}

#[test]
fn bad_sampling_values_are_usage_errors() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["run", "--temperature", "5", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("temperature"));
    let out = env
        .lore()
        .args(["run", "--max-tokens", "lots", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigint_mid_generation_flushes_and_exits_130() {
    let env = TestEnv::new();
    let mut child = env
        .lore_std()
        .args([
            "run",
            "-n",
            "400",
            "-t",
            "0",
            "Count from 1 to 500, one number per line.",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    let n = stdout.read(&mut first).unwrap();
    assert!(n > 0, "no output before the interrupt");
    std::thread::sleep(Duration::from_millis(200));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut all = first[..n].to_vec();
    all.extend(rest);
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.ends_with('\n'),
        "partial reply is flushed with a final newline: {text:?}"
    );
    assert!(
        text.lines().count() < 400,
        "generation was not stopped: {text:?}"
    );
}
