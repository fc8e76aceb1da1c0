//! `lore eval agent`: requests over a fixture workspace, each answered by
//! a fresh agent (no session log, greedy). A question is checked against
//! its answer regex; an acting task (edit files, run commands) runs on a
//! fresh copy of the workspace and is checked by a command run on the
//! files it leaves (see [`super::act`]). Per task: success, steps, stop
//! reason, calls, edits, commands, tokens and time; in total: call
//! validity, existing paths, success, mean steps, stops, tokens per task
//! and wall time.
//!
//! The arithmetic is pure ([`score_task`], [`totals`]) so it is tested
//! on hand-made event streams; [`run`] only feeds it real turns.

use std::collections::HashSet;
use std::time::Instant;

use regex::Regex;
use serde::Serialize;
use tokio::sync::watch;

use super::act::{self, CheckRun};
use super::{ratio, Report};
use crate::agent::fsroot::Root;
use crate::agent::policy::Policy;
use crate::agent::protocol::{Event, StopReason, ToolStatus};
use crate::agent::{Agent, Config};
use crate::model::Model;

/// The tasks file beside a workspace, when `--tasks` is not given and the
/// workspace is not named `NAME-ws` (see [`default_tasks_file`]).
pub const DEFAULT_TASKS_FILE: &str = "agent-tasks.tsv";

/// The tasks file beside the workspace directory `dir_name`:
/// `NAME-tasks.tsv` for `NAME-ws` (`agent-ws`, `agent-act-ws`), else
/// [`DEFAULT_TASKS_FILE`].
pub fn default_tasks_file(dir_name: &str) -> String {
    match dir_name.strip_suffix("-ws") {
        Some(name) if !name.is_empty() => format!("{name}-tasks.tsv"),
        _ => DEFAULT_TASKS_FILE.to_string(),
    }
}

/// What makes a task a success.
#[derive(Debug, Clone)]
pub enum Goal {
    /// The answer matches `answer` (case-insensitive; `.` matches
    /// newlines too) and, when `cite` is given (a fourth field), cites
    /// with valid markers a passage whose path matches it: for facts the
    /// knowledge base holds, found with `search`.
    Answer { answer: Regex, cite: Option<Regex> },
    /// An acting task: after the turn, this command (`sh -c`, in the
    /// task's copy of the workspace) exits 0.
    Check(String),
}

/// One request of the tasks file and how it is judged.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub request: String,
    pub goal: Goal,
}

impl Task {
    /// The check command of an acting task.
    pub fn check(&self) -> Option<&str> {
        match &self.goal {
            Goal::Check(c) => Some(c),
            Goal::Answer { .. } => None,
        }
    }
}

/// What starts the third field of an acting task: `$ command`. No answer
/// regex starts so (`$` then a space matches nothing), so the two kinds
/// share one format.
pub const CHECK_PREFIX: &str = "$ ";

/// Parses a tasks file: one task per line as `id<TAB>request<TAB>answer
/// regex`, optionally `<TAB>cited path regex`, or, for an acting task,
/// `id<TAB>request<TAB>$ check command`; blank lines and lines starting
/// with `#` are skipped. Errors name `from` and the line: a wrong number
/// of fields, an empty field, an id given twice, a regex that does not
/// compile, a cited path on an acting task.
pub fn parse_tasks(text: &str, from: &str) -> Result<Vec<Task>, String> {
    let mut tasks = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = |msg: String| format!("{from}: line {}: {msg}", i + 1);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let (id, request, pattern, cite) = match fields[..] {
            [id, request, pattern] => (id, request, pattern, None),
            [id, request, pattern, cite] => (id, request, pattern, Some(cite.trim())),
            _ => {
                return Err(at(format!(
                    "expected 3 or 4 tab-separated fields (id, request, answer regex, cited path regex), found {}",
                    fields.len()
                )))
            }
        };
        let (id, request) = (id.trim(), request.trim());
        let pattern = pattern.trim_start();
        let check = pattern.strip_prefix(CHECK_PREFIX).map(str::trim);
        let pattern = pattern.trim_end();
        let third = if check.is_some() {
            "check command"
        } else {
            "answer regex"
        };
        let value = check.unwrap_or(pattern);
        for (name, value) in [("id", id), ("request", request), (third, value)] {
            if value.is_empty() {
                return Err(at(format!("the {name} is empty")));
            }
        }
        if !ids.insert(id.to_string()) {
            return Err(at(format!("task id {id:?} is given twice")));
        }
        let goal = match check {
            Some(_) if cite.is_some() => {
                return Err(at(
                    "an acting task ($ check) takes no cited path regex".into()
                ))
            }
            Some(c) => Goal::Check(c.to_string()),
            None => answer_goal(pattern, cite).map_err(at)?,
        };
        tasks.push(Task {
            id: id.to_string(),
            request: request.to_string(),
            goal,
        });
    }
    if tasks.is_empty() {
        return Err(format!(
            "{from}: no tasks (lines of id<TAB>request<TAB>answer regex)"
        ));
    }
    Ok(tasks)
}

fn answer_goal(pattern: &str, cite: Option<&str>) -> Result<Goal, String> {
    let answer = regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| format!("bad answer regex {pattern:?}: {}", one_line(&e)))?;
    let cite = match cite {
        Some(c) => Some(
            regex::RegexBuilder::new(c)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("bad cited path regex {c:?}: {}", one_line(&e)))?,
        ),
        None => None,
    };
    Ok(Goal::Answer { answer, cite })
}

/// A regex error on one line: its `error: ...` line, else all of it joined.
fn one_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// How one task went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskResult {
    pub id: String,
    /// Answered, and the answer matches the task's regex; for an acting
    /// task, its check passed (however the turn ended).
    pub success: bool,
    pub steps: usize,
    pub stop: StopReason,
    /// Tool calls made (`tool.completed` events).
    pub calls: usize,
    /// Calls whose status was `invalid`.
    pub invalid_calls: usize,
    /// Calls with a `path` argument, and how many of those name an
    /// existing file or directory of the workspace.
    pub path_calls: usize,
    pub existing_paths: usize,
    /// `edit` calls that changed a file.
    pub edits: usize,
    /// `shell` calls that ran (whatever their exit code, timed out too).
    pub commands: usize,
    /// Calls the policy or the user refused (`denied`, `declined`).
    pub refused: usize,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// The whole task: the turn, and the check of an acting task.
    pub seconds: f64,
    pub answer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An acting task's check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRun>,
}

impl TaskResult {
    pub fn tokens(&self) -> usize {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Scores one turn from its events. `exists` says whether a path argument
/// names a file or directory inside the workspace. A turn without a
/// `turn.completed` event counts as stopped on an error.
pub fn score_task(
    task: &Task,
    events: &[Event],
    seconds: f64,
    exists: &dyn Fn(&str) -> bool,
) -> TaskResult {
    let mut r = TaskResult {
        id: task.id.clone(),
        success: false,
        steps: 0,
        stop: StopReason::Error,
        calls: 0,
        invalid_calls: 0,
        path_calls: 0,
        existing_paths: 0,
        edits: 0,
        commands: 0,
        refused: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        seconds,
        answer: String::new(),
        error: Some("the turn did not complete".into()),
        check: None,
    };
    let mut cited = false;
    for event in events {
        match event {
            Event::ToolStarted { args, .. } => {
                if let Some(path) = args.get("path") {
                    r.path_calls += 1;
                    if path.as_str().is_some_and(exists) {
                        r.existing_paths += 1;
                    }
                }
            }
            Event::ToolCompleted { status, tool, .. } => {
                r.calls += 1;
                match (tool.as_str(), status) {
                    (_, ToolStatus::Invalid) => r.invalid_calls += 1,
                    (_, ToolStatus::Denied | ToolStatus::Declined) => r.refused += 1,
                    ("edit", ToolStatus::Completed) => r.edits += 1,
                    ("shell", ToolStatus::Completed | ToolStatus::TimedOut) => r.commands += 1,
                    _ => {}
                }
            }
            Event::TurnCompleted {
                steps,
                stop,
                answer,
                usage,
                error,
                ..
            } => {
                r.steps = *steps;
                r.stop = *stop;
                r.answer = answer.clone();
                r.prompt_tokens = usage.prompt_tokens;
                r.completion_tokens = usage.completion_tokens;
                r.error = error.clone();
            }
            Event::Sources {
                citations, valid, ..
            } => {
                if let Goal::Answer { cite: Some(c), .. } = &task.goal {
                    cited = *valid && citations.iter().any(|x| c.is_match(&x.path));
                }
            }
            _ => {}
        }
    }
    r.success = match &task.goal {
        Goal::Answer { answer, cite } => {
            r.stop == StopReason::Answered
                && answer.is_match(&r.answer)
                && (cite.is_none() || cited)
        }
        // Only the files tell: see [`checked`].
        Goal::Check(_) => false,
    };
    r
}

/// An acting task's result once its check has run: the check alone
/// decides success.
pub fn checked(mut r: TaskResult, check: CheckRun) -> TaskResult {
    r.success = check.passed;
    r.check = Some(check);
    r
}

/// The totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub tasks: usize,
    pub successes: usize,
    pub success_rate: f64,
    pub calls: usize,
    pub valid_calls: usize,
    /// Calls whose status is not `invalid`, over all calls; `None` (JSON
    /// null) when there were no calls.
    pub call_validity: Option<f64>,
    pub path_calls: usize,
    pub existing_paths: usize,
    /// Path arguments naming an existing file or directory, over calls
    /// with a path argument; `None` when no call had one.
    pub existing_path_rate: Option<f64>,
    /// Tasks judged by a check command, and what their agents did.
    pub acting_tasks: usize,
    pub edits: usize,
    pub commands: usize,
    pub refused: usize,
    pub mean_steps: f64,
    pub answered: usize,
    pub loop_stops: usize,
    pub step_limit_stops: usize,
    /// Turns that ended at a call nobody could approve, or that the user
    /// declined and stopped.
    pub approval_stops: usize,
    pub error_stops: usize,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt plus completion tokens, per task.
    pub mean_tokens: f64,
    pub mean_task_s: f64,
    pub wall_s: f64,
}

/// Adds up `results`; `wall_s` is the run's wall time (model load aside).
pub fn totals(results: &[TaskResult], wall_s: f64) -> Totals {
    let n = results.len();
    let sum = |f: fn(&TaskResult) -> usize| results.iter().map(f).sum::<usize>();
    let stops = |s: StopReason| results.iter().filter(|r| r.stop == s).count();
    let calls = sum(|r| r.calls);
    let valid_calls = calls - sum(|r| r.invalid_calls);
    let path_calls = sum(|r| r.path_calls);
    let existing_paths = sum(|r| r.existing_paths);
    let successes = results.iter().filter(|r| r.success).count();
    let prompt_tokens = sum(|r| r.prompt_tokens);
    let completion_tokens = sum(|r| r.completion_tokens);
    let share = |a: usize, b: usize| (b > 0).then(|| ratio(a, b));
    let mean = |total: f64| if n == 0 { 0.0 } else { total / n as f64 };
    Totals {
        tasks: n,
        successes,
        success_rate: ratio(successes, n),
        calls,
        valid_calls,
        call_validity: share(valid_calls, calls),
        path_calls,
        existing_paths,
        existing_path_rate: share(existing_paths, path_calls),
        acting_tasks: results.iter().filter(|r| r.check.is_some()).count(),
        edits: sum(|r| r.edits),
        commands: sum(|r| r.commands),
        refused: sum(|r| r.refused),
        mean_steps: mean(sum(|r| r.steps) as f64),
        answered: stops(StopReason::Answered),
        loop_stops: stops(StopReason::LoopDetected),
        step_limit_stops: stops(StopReason::StepLimit),
        approval_stops: stops(StopReason::NeedsApproval) + stops(StopReason::Declined),
        error_stops: stops(StopReason::Error),
        prompt_tokens,
        completion_tokens,
        mean_tokens: mean((prompt_tokens + completion_tokens) as f64),
        mean_task_s: mean(results.iter().map(|r| r.seconds).sum()),
        wall_s,
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A rate that may have had nothing to divide: `n/a` then.
fn percent_of(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), percent)
}

impl Report for Totals {
    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            ("tasks".into(), self.tasks.to_string()),
            (
                "task success".into(),
                format!(
                    "{}  ({}/{})",
                    percent(self.success_rate),
                    self.successes,
                    self.tasks
                ),
            ),
            (
                "call validity".into(),
                format!(
                    "{}  ({}/{} calls not invalid)",
                    percent_of(self.call_validity),
                    self.valid_calls,
                    self.calls
                ),
            ),
            (
                "existing paths".into(),
                format!(
                    "{}  ({}/{} path arguments)",
                    percent_of(self.existing_path_rate),
                    self.existing_paths,
                    self.path_calls
                ),
            ),
            ("mean steps".into(), format!("{:.2}", self.mean_steps)),
            (
                "stops".into(),
                format!(
                    "{} answered, {} loop, {} step limit, {} approval, {} error",
                    self.answered,
                    self.loop_stops,
                    self.step_limit_stops,
                    self.approval_stops,
                    self.error_stops
                ),
            ),
            (
                "mean tokens per task".into(),
                format!(
                    "{:.0}  ({} prompt + {} completion in all)",
                    self.mean_tokens, self.prompt_tokens, self.completion_tokens
                ),
            ),
            (
                "wall time".into(),
                format!("{:.1} s  ({:.1} s per task)", self.wall_s, self.mean_task_s),
            ),
        ];
        if self.acting_tasks > 0 {
            let at = rows.len() - 2;
            rows.insert(
                at,
                (
                    "actions".into(),
                    format!(
                        "{} edits, {} commands run, {} calls refused  ({} acting tasks)",
                        self.edits, self.commands, self.refused, self.acting_tasks
                    ),
                ),
            );
        }
        rows
    }
}

/// The header of the per-task lines, for ids up to `width` wide.
pub fn task_header(width: usize) -> String {
    format!(
        "{:<width$}  {:<6}  {:>5}  {:<14}  {:>5}  {:>5}  {:>4}  {:>7}  {:>7}  ANSWER",
        "TASK", "RESULT", "STEPS", "STOP", "CALLS", "EDITS", "CMDS", "TOKENS", "SECONDS"
    )
}

/// One task as a text line: id, pass/FAIL, steps, stop, calls, edits,
/// commands, tokens, seconds and the start of the answer (or of the
/// error), after the check's verdict for an acting task.
pub fn task_line(r: &TaskResult, width: usize) -> String {
    let stop = serde_json::to_value(r.stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let said = if r.answer.is_empty() {
        r.error.clone().unwrap_or_default()
    } else {
        r.answer.clone()
    };
    let said = match &r.check {
        // With nothing said, the check's last line tells why it failed.
        Some(c) if said.is_empty() && !c.passed => {
            let last = c.output.lines().rev().find(|l| !l.trim().is_empty());
            format!("[check: {}] {}", c.verdict, last.unwrap_or_default())
        }
        Some(c) => format!("[check: {}] {said}", c.verdict),
        None => said,
    };
    let said: String = said.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = said.chars().take(70).collect();
    let more = if said.chars().count() > 70 { "…" } else { "" };
    format!(
        "{:<width$}  {:<6}  {:>5}  {:<14}  {:>5}  {:>5}  {:>4}  {:>7}  {:>7.1}  {short}{more}",
        r.id,
        if r.success { "pass" } else { "FAIL" },
        r.steps,
        stop,
        r.calls,
        r.edits,
        r.commands,
        r.tokens(),
        r.seconds
    )
}

/// What every task of a run shares.
pub struct Setup {
    pub model: Model,
    pub workspace: Root,
    /// lore's index, for `search`.
    pub search: Option<crate::tasks::grounded::Retrieval>,
    /// The agent's configuration; evaluations are greedy whatever it says.
    pub config: Config,
    /// What acting tasks may do (nobody can be asked in an evaluation);
    /// questions are always answered read-only, on the workspace itself.
    pub policy: Policy,
}

/// Runs each task in a fresh agent (no session log, temperature 0) and
/// scores it, calling `done` with each result as it finishes. Acting tasks
/// run on a fresh copy of the workspace each; the workspace itself is only
/// ever read.
pub async fn run(
    setup: &Setup,
    tasks: &[Task],
    mut done: impl FnMut(&TaskResult),
) -> Vec<TaskResult> {
    let config = Config {
        temperature: 0.0,
        ..setup.config.clone()
    };
    // Nothing cancels a task: Ctrl-C ends the whole run (see the CLI).
    let (_keep, mut cancel) = watch::channel(false);
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        let started = Instant::now();
        let r = match task.check() {
            Some(check) => run_acting(setup, &config, task, check, &mut cancel).await,
            None => {
                let ws = &setup.workspace;
                let mut agent = agent_for(setup, ws, &config);
                let events = turn(&mut agent, &task.request, &mut cancel).await;
                let exists = |p: &str| ws.resolve(p).is_ok();
                score_task(task, &events, started.elapsed().as_secs_f64(), &exists)
            }
        };
        done(&r);
        results.push(r);
    }
    results
}

fn agent_for(setup: &Setup, root: &Root, config: &Config) -> Agent {
    let agent = Agent::new(setup.model.clone(), root.clone(), config.clone());
    match &setup.search {
        Some(r) => agent.with_search(r.clone()),
        None => agent,
    }
}

async fn turn(agent: &mut Agent, request: &str, cancel: &mut watch::Receiver<bool>) -> Vec<Event> {
    let mut events = Vec::new();
    agent.turn(request, cancel, &mut |e| events.push(e)).await;
    events
}

/// One acting task: a fresh copy of the workspace, an agent under the
/// run's policy, then the check on the files the turn left there.
async fn run_acting(
    setup: &Setup,
    config: &Config,
    task: &Task,
    check: &str,
    cancel: &mut watch::Receiver<bool>,
) -> TaskResult {
    let started = Instant::now();
    let failed = |e: String| {
        let mut r = score_task(task, &[], started.elapsed().as_secs_f64(), &|_| false);
        r.error = Some(e);
        r
    };
    let scratch = match act::Scratch::copy(setup.workspace.path()) {
        Ok(s) => s,
        Err(e) => return failed(format!("cannot copy the workspace: {e}")),
    };
    let root = match Root::new(scratch.path()) {
        Ok(r) => r,
        Err(e) => return failed(format!("{}: {e}", scratch.path().display())),
    };
    let mut agent = agent_for(setup, &root, config);
    if let Err(e) = agent.set_policy(setup.policy.clone()) {
        return failed(e);
    }
    let events = turn(&mut agent, &task.request, cancel).await;
    // The session's command environment goes before the check runs.
    drop(agent);
    let check = act::run_check(&setup.policy.isolation, scratch.path(), check);
    let exists = |p: &str| root.resolve(p).is_ok();
    let r = score_task(task, &events, started.elapsed().as_secs_f64(), &exists);
    checked(r, check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::{Risk, TurnUsage};
    use serde_json::json;

    fn task(pattern: &str) -> Task {
        parse_tasks(&format!("t\tWhat is it?\t{pattern}\n"), "tasks.tsv")
            .unwrap()
            .remove(0)
    }

    fn started(id: &str, args: serde_json::Value) -> Event {
        Event::ToolStarted {
            call_id: id.into(),
            tool: "read".into(),
            args,
            risk: Risk::Read,
        }
    }

    fn completed(id: &str, status: ToolStatus) -> Event {
        Event::ToolCompleted {
            call_id: id.into(),
            tool: "read".into(),
            status,
            wall_ms: 1,
            summary: String::new(),
            output: String::new(),
        }
    }

    fn end(stop: StopReason, steps: usize, answer: &str) -> Event {
        Event::TurnCompleted {
            turn: 1,
            steps,
            stop,
            answer: answer.into(),
            usage: TurnUsage {
                prompt_tokens: 100,
                completion_tokens: 10,
            },
            error: None,
        }
    }

    #[test]
    fn the_tasks_file_skips_comments_and_compiles_case_insensitive_regexes() {
        let text = "# id\trequest\tanswer\n\nport\tWhich port?\t8443\r\nregion\tWhich region?\teu-WEST-2\n";
        let tasks = parse_tasks(text, "t.tsv").unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].id, "port");
        assert_eq!(tasks[0].request, "Which port?");
        assert!(answer(&tasks[0]).is_match("It listens on 8443."));
        assert!(answer(&tasks[1]).is_match("Eu-West-2"));
        assert!(answer(&task("tuesday.*thursday")).is_match("Tuesday\nand Thursday"));
        assert!(tasks.iter().all(|t| t.check().is_none()));
    }

    fn answer(t: &Task) -> &Regex {
        match &t.goal {
            Goal::Answer { answer, .. } => answer,
            Goal::Check(c) => panic!("an acting task: {c}"),
        }
    }

    #[test]
    fn a_third_field_starting_with_a_dollar_and_a_space_is_a_check_command() {
        let text = "fix\tFix the test.\t$ python3 -m unittest -q && grep -q 'x = 1' a.py \r\nq\tWhich?\t$\n";
        let tasks = parse_tasks(text, "t").unwrap();
        assert_eq!(
            tasks[0].check(),
            Some("python3 -m unittest -q && grep -q 'x = 1' a.py")
        );
        // A bare `$` is still an answer regex (the end of the text).
        assert!(tasks[1].check().is_none());
        let err = |text: &str| parse_tasks(text, "t.tsv").unwrap_err();
        assert_eq!(
            err("a\tq\t$  \n"),
            "t.tsv: line 1: the check command is empty"
        );
        assert_eq!(
            err("a\tq\t$ true\tcite\n"),
            "t.tsv: line 1: an acting task ($ check) takes no cited path regex"
        );
    }

    #[test]
    fn the_default_tasks_file_follows_the_workspace_name() {
        assert_eq!(default_tasks_file("agent-ws"), "agent-tasks.tsv");
        assert_eq!(default_tasks_file("agent-act-ws"), "agent-act-tasks.tsv");
        assert_eq!(default_tasks_file("ws"), DEFAULT_TASKS_FILE);
        assert_eq!(default_tasks_file("-ws"), DEFAULT_TASKS_FILE);
        assert_eq!(default_tasks_file("shop"), DEFAULT_TASKS_FILE);
    }

    fn acted(id: &str, tool: &str, status: ToolStatus) -> Event {
        Event::ToolCompleted {
            call_id: id.into(),
            tool: tool.into(),
            status,
            wall_ms: 1,
            summary: String::new(),
            output: String::new(),
        }
    }

    fn check_run(passed: bool) -> CheckRun {
        CheckRun {
            passed,
            verdict: if passed { "exit 0" } else { "exit 1" }.into(),
            output: String::new(),
            seconds: 0.5,
        }
    }

    #[test]
    fn an_acting_task_is_judged_by_its_check_and_counts_what_it_did() {
        let t = task("$ test -f done");
        let events = [
            acted("c1", "edit", ToolStatus::Completed),
            acted("c2", "edit", ToolStatus::Failed),
            acted("c3", "shell", ToolStatus::Completed),
            acted("c4", "shell", ToolStatus::TimedOut),
            acted("c5", "shell", ToolStatus::Denied),
            acted("c6", "edit", ToolStatus::Declined),
            end(StopReason::StepLimit, 6, ""),
        ];
        let r = score_task(&t, &events, 2.0, &|_| true);
        assert!(!r.success, "unchecked");
        assert_eq!((r.edits, r.commands, r.refused, r.calls), (1, 2, 2, 6));
        // The files decide, not how the turn ended.
        let pass = checked(r.clone(), check_run(true));
        assert!(pass.success && pass.check.is_some());
        // Whatever the answer says, a failing check fails.
        let said = score_task(&t, &[end(StopReason::Answered, 2, "done")], 1.0, &|_| true);
        assert!(!checked(said, check_run(false)).success);
        let s = totals(&[pass, checked(r, check_run(false))], 3.0);
        assert_eq!(
            (s.acting_tasks, s.successes, s.edits, s.commands, s.refused),
            (2, 1, 2, 4, 4)
        );
        let rows = s.rows();
        let actions = rows.iter().find(|(k, _)| k == "actions").unwrap();
        assert_eq!(
            actions.1,
            "2 edits, 4 commands run, 4 calls refused  (2 acting tasks)"
        );
        let line = task_line(
            &checked(score_task(&t, &events, 2.0, &|_| true), check_run(false)),
            4,
        );
        assert!(
            line.contains("  FAIL  ") && line.ends_with("[check: exit 1]"),
            "{line}"
        );
        let mut why = check_run(false);
        why.output = "Traceback:\nAssertionError: 30\n\n".into();
        let line = task_line(&checked(score_task(&t, &events, 2.0, &|_| true), why), 4);
        assert!(
            line.ends_with("[check: exit 1] AssertionError: 30"),
            "{line}"
        );
    }

    #[test]
    fn a_knowledge_base_task_needs_a_valid_citation_of_its_path() {
        let t = parse_tasks("kb\tfee?\t3\\.95\trefunds\n", "t")
            .unwrap()
            .remove(0);
        let cite = |path: &str, valid: bool| Event::Sources {
            citations: vec![crate::grounding::Citation {
                n: 1,
                via: crate::grounding::Via::Marker,
                path: path.into(),
                lines: (1, 2),
                heading: String::new(),
                snippet: String::new(),
            }],
            valid,
            supported: true,
        };
        let done = Event::TurnCompleted {
            turn: 1,
            steps: 2,
            stop: StopReason::Answered,
            answer: "€3.95 [1]".into(),
            usage: TurnUsage::default(),
            error: None,
        };
        let score = |events: &[Event]| score_task(&t, events, 1.0, &|_| true).success;
        assert!(score(&[cite("billing/refunds.md", true), done.clone()]));
        assert!(!score(&[cite("billing/refunds.md", false), done.clone()]));
        assert!(!score(&[
            cite("billing/payment-methods.md", true),
            done.clone()
        ]));
        assert!(!score(&[done]));
    }

    #[test]
    fn tasks_file_errors_name_the_line() {
        let err = |text: &str| parse_tasks(text, "t.tsv").unwrap_err();
        assert_eq!(
            err("# c\nok\tq\ta\nbroken line\n"),
            "t.tsv: line 3: expected 3 or 4 tab-separated fields (id, request, answer regex, cited path regex), found 1"
        );
        assert_eq!(
            err("a\tq\tx\tcite\textra\n"),
            "t.tsv: line 1: expected 3 or 4 tab-separated fields (id, request, answer regex, cited path regex), found 5"
        );
        assert!(err("a\tq\tx\t(\n").contains("bad cited path regex"));
        assert_eq!(err("a\t \tx\n"), "t.tsv: line 1: the request is empty");
        assert_eq!(
            err("a\tq\tx\na\tq2\ty\n"),
            "t.tsv: line 2: task id \"a\" is given twice"
        );
        let bad = err("a\tq\t(unclosed\n");
        assert!(
            bad.starts_with("t.tsv: line 1: bad answer regex \"(unclosed\": "),
            "{bad}"
        );
        assert!(!bad.contains('\n'), "one line: {bad}");
        assert_eq!(
            err("# only a comment\n"),
            "t.tsv: no tasks (lines of id<TAB>request<TAB>answer regex)"
        );
    }

    #[test]
    fn a_task_succeeds_only_when_answered_with_a_matching_answer() {
        let t = task(r"\b5\b");
        let none = |_: &str| false;
        let ok = score_task(&t, &[end(StopReason::Answered, 1, "It is 5.")], 1.0, &none);
        assert!(ok.success);
        let wrong = score_task(&t, &[end(StopReason::Answered, 1, "It is 50.")], 1.0, &none);
        assert!(!wrong.success);
        let limit = score_task(&t, &[end(StopReason::StepLimit, 8, "")], 1.0, &none);
        assert!(!limit.success);
        assert_eq!(limit.stop, StopReason::StepLimit);
        let cut = score_task(&t, &[], 1.0, &none);
        assert_eq!(cut.stop, StopReason::Error);
        assert!(cut.error.is_some());
    }

    #[test]
    fn calls_paths_and_tokens_are_counted_per_task() {
        let t = task("x");
        let exists = |p: &str| p == "config/app.toml" || p == "src";
        let events = [
            Event::TurnStarted { turn: 1 },
            started("c1", json!({"path": "config/app.toml"})),
            completed("c1", ToolStatus::Completed),
            started("c2", json!({"path": "no/such.toml"})),
            completed("c2", ToolStatus::Failed),
            started("c3", json!({"pattern": "x"})),
            completed("c3", ToolStatus::Invalid),
            started("c4", json!({"path": "src", "depth": 1})),
            completed("c4", ToolStatus::Repeated),
            end(StopReason::Answered, 5, "x"),
        ];
        let r = score_task(&t, &events, 2.5, &exists);
        assert_eq!((r.calls, r.invalid_calls), (4, 1));
        assert_eq!((r.path_calls, r.existing_paths), (3, 2));
        assert_eq!((r.steps, r.tokens()), (5, 110));
        assert!(r.success);
    }

    #[test]
    fn totals_are_rates_over_calls_paths_and_tasks() {
        let t = task("yes");
        let exists = |p: &str| p == "a";
        let one = score_task(
            &t,
            &[
                started("c1", json!({"path": "a"})),
                completed("c1", ToolStatus::Completed),
                started("c2", json!({"path": "b"})),
                completed("c2", ToolStatus::Invalid),
                end(StopReason::Answered, 3, "yes"),
            ],
            1.0,
            &exists,
        );
        let two = score_task(&t, &[end(StopReason::LoopDetected, 4, "")], 3.0, &exists);
        let three = score_task(&t, &[end(StopReason::StepLimit, 2, "")], 2.0, &exists);
        let s = totals(&[one, two, three], 7.0);
        assert_eq!((s.tasks, s.successes), (3, 1));
        assert!((s.success_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((s.calls, s.valid_calls), (2, 1));
        assert_eq!(s.call_validity, Some(0.5));
        assert_eq!((s.path_calls, s.existing_paths), (2, 1));
        assert_eq!(s.existing_path_rate, Some(0.5));
        assert!((s.mean_steps - 3.0).abs() < 1e-12);
        assert_eq!((s.answered, s.loop_stops, s.step_limit_stops), (1, 1, 1));
        assert!((s.mean_tokens - 110.0).abs() < 1e-12);
        assert!((s.mean_task_s - 2.0).abs() < 1e-12);
        assert_eq!(s.wall_s, 7.0);
    }

    #[test]
    fn totals_of_nothing_are_zero_without_dividing_by_it() {
        let s = totals(&[], 0.0);
        assert_eq!(s.tasks, 0);
        assert_eq!(
            (s.success_rate, s.mean_steps, s.mean_tokens),
            (0.0, 0.0, 0.0)
        );
        // Rates over nothing are not rates.
        assert_eq!((s.call_validity, s.existing_path_rate), (None, None));
        let rows = s.rows();
        assert!(rows
            .iter()
            .any(|(k, v)| k == "call validity" && v.starts_with("n/a")));
    }

    #[test]
    fn a_task_line_is_one_line_with_the_start_of_the_answer() {
        let t = task("five");
        let r = score_task(
            &t,
            &[end(StopReason::Answered, 2, "five\nfrom config/app.toml")],
            1.25,
            &|_| false,
        );
        let line = task_line(&r, 4);
        assert_eq!(
            line,
            "t     pass        2  answered            0      0     0      110      1.2  five from config/app.toml"
        );
        assert_eq!(task_header(4).split_whitespace().next(), Some("TASK"));
    }

    #[tokio::test]
    async fn run_gives_each_task_a_fresh_agent_and_reports_as_it_goes() {
        use crate::model::scripted::ScriptedModel;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.toml"), "max_retries = 5\n").unwrap();
        let model = ScriptedModel::new(4000)
            .reply(r#"{"tool": "read", "path": "app.toml"}"#)
            .reply(r#"{"tool": "answer", "text": "5, in app.toml"}"#)
            .reply(r#"{"tool": "answer", "text": "no idea"}"#);
        let setup = Setup {
            search: None,
            model: std::sync::Arc::new(model),
            workspace: Root::new(dir.path()).unwrap(),
            config: Config {
                temperature: 0.7,
                ..Config::for_model_file(0)
            },
            policy: Policy::read_only(),
        };
        let tasks =
            parse_tasks("a\tmax_retries?\t\\b5\\b\nb\tmax_retries?\t\\b5\\b\n", "t").unwrap();
        let mut seen = Vec::new();
        let results = run(&setup, &tasks, |r| seen.push(r.id.clone())).await;
        assert_eq!(seen, ["a", "b"]);
        assert!(results[0].success && !results[1].success);
        assert_eq!((results[0].calls, results[0].existing_paths), (1, 1));
        assert_eq!(results[1].steps, 1, "the second task starts afresh");
        assert!(results.iter().all(|r| r.stop == StopReason::Answered));
    }
}
