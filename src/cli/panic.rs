//! The process's panic hook. Rust's default hook prints the message and,
//! with `RUST_BACKTRACE`, a long backtrace on stderr before anything can
//! catch the panic. lore catches the panics it expects (the model loader,
//! the PDF reader) and reports them as one error line, and mistral.rs's
//! engine threads may panic after the answer is written; none of those
//! should print anything. A panic nothing catches ends `cli::main`, where
//! [`Guard`] reports it as one line.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::panic::PanicHookInfo;

use crate::error::Exit;

thread_local! {
    /// This thread's latest panic: a panic escaping `cli::main` happened
    /// on the main thread, whatever other threads did since.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// How much a panic prints as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    Quiet,
    /// `-v` or `RUST_BACKTRACE`: the message and where it happened.
    Message,
    /// `RUST_BACKTRACE=full`: a backtrace as well.
    Backtrace,
}

/// Reports a panic that unwinds out of `cli::main` (nothing else will) as
/// one error line and exits with the failure code.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let report = LAST
            .try_with(|l| l.try_borrow().ok().and_then(|b| b.clone()))
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown cause".into());
        // Never panic here (a write error would abort): ignore it.
        let _ = writeln!(std::io::stderr(), "lore: error: internal error: {report}");
        std::process::exit(Exit::Failure.code());
    }
}

/// Installs the hook; keep the returned guard alive for all of `main`.
/// The TUI wraps this hook with its own (restore the terminal, then call
/// this one), so it must stay the process's base hook.
pub fn install() -> Guard {
    let detail = detail(
        std::env::args_os().skip(1),
        std::env::var_os("RUST_BACKTRACE"),
    );
    std::panic::set_hook(Box::new(move |info| on_panic(info, detail)));
    Guard
}

fn on_panic(info: &PanicHookInfo<'_>, detail: Detail) {
    let report = describe(info);
    if detail != Detail::Quiet {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "lore: panic: {report}");
        if detail == Detail::Backtrace {
            let _ = writeln!(err, "{}", std::backtrace::Backtrace::force_capture());
        }
    }
    let _ = LAST.try_with(|l| {
        if let Ok(mut last) = l.try_borrow_mut() {
            *last = Some(report);
        }
    });
}

/// `message (at file:line, thread 'name')` on one line.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    match info.location() {
        Some(l) => format!(
            "{message} (at {}:{}, thread '{thread}')",
            l.file(),
            l.line()
        ),
        None => format!("{message} (thread '{thread}')"),
    }
}

/// The detail asked for by `-v`/`--verbose` (also inside a cluster of short
/// flags such as `-qv`) or `RUST_BACKTRACE`. The hook is installed before
/// the arguments are parsed, so they are looked at here as plain words.
fn detail(args: impl Iterator<Item = OsString>, backtrace: Option<OsString>) -> Detail {
    match backtrace.as_ref().and_then(|b| b.to_str()) {
        Some("full") => return Detail::Backtrace,
        Some("0") | None => {}
        Some(_) => return Detail::Message,
    }
    let verbose = args
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .any(|a| {
            a == "--verbose"
                || a.strip_prefix('-').is_some_and(|flags| {
                    !flags.starts_with('-')
                        && flags.contains('v')
                        && flags.chars().all(|c| c.is_ascii_alphabetic())
                })
        });
    if verbose {
        Detail::Message
    } else {
        Detail::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(args: &[&str], bt: Option<&str>) -> Detail {
        detail(args.iter().map(OsString::from), bt.map(OsString::from))
    }

    #[test]
    fn detail_follows_verbose_and_rust_backtrace() {
        assert_eq!(d(&["run", "hi"], None), Detail::Quiet);
        assert_eq!(d(&["run", "hi"], Some("0")), Detail::Quiet);
        assert_eq!(d(&["-v", "run"], None), Detail::Message);
        assert_eq!(d(&["run", "--verbose"], None), Detail::Message);
        assert_eq!(d(&["run", "-qv"], None), Detail::Message);
        assert_eq!(d(&["run", "--", "-v"], None), Detail::Quiet);
        assert_eq!(d(&["run", "--very-long"], None), Detail::Quiet);
        assert_eq!(d(&["run"], Some("1")), Detail::Message);
        assert_eq!(d(&["run"], Some("full")), Detail::Backtrace);
    }
}
