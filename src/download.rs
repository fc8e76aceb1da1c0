//! `lore models pull`: one file from a Hugging Face repository into the
//! models directory, resumable, checked against its sha256, and renamed
//! into place only when complete.
//!
//! The hub is spoken to as its own clients do: `HEAD
//! {endpoint}/{repo}/resolve/{revision}/{file}` without following the
//! redirect gives the file's sha256 (`X-Linked-Etag`) and size
//! (`X-Linked-Size`); `GET` of the same address (redirects followed, a
//! `Range` to resume) gives the bytes; `GET {endpoint}/api/models/{repo}`
//! lists the files. `HF_ENDPOINT` points it elsewhere (a mirror, or a
//! test server); `HF_TOKEN` is sent for gated repositories.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::progress::Progress;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot reach {url}: {message}")]
    Network { url: String, message: String },
    #[error("{what} was not found on the hub ({url})")]
    NotFound { what: String, url: String },
    #[error("{url} needs a token (set HF_TOKEN to one with access): HTTP {status}")]
    Denied { url: String, status: u16 },
    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{repo} holds {count} GGUF files; name one as {repo}:FILE: {names}")]
    Ambiguous {
        repo: String,
        count: usize,
        names: String,
    },
    #[error("{repo} holds no GGUF file")]
    NoGguf { repo: String },
    #[error("download of {file} stopped after {got} of {expected} bytes ({message}); run the same command again to resume")]
    Interrupted {
        file: String,
        got: u64,
        expected: u64,
        message: String,
    },
    #[error("{file} does not match its checksum: expected sha256 {expected}, got {got} (the download was removed)")]
    Checksum {
        file: String,
        expected: String,
        got: String,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    pub repo: String,
    /// None: the repository's only GGUF file.
    pub file: Option<String>,
    pub revision: String,
}

impl HubFile {
    /// `owner/repo[:file]`.
    pub fn parse(s: &str) -> Result<HubFile, DownloadError> {
        let (repo, file) = match s.split_once(':') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (s, None),
        };
        let valid_part = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || !parts.iter().all(|p| valid_part(p)) {
            return Err(DownloadError::Usage(format!(
                "'{s}' is not a Hugging Face repository: expected owner/repo or owner/repo:file.gguf"
            )));
        }
        if let Some(f) = &file {
            let ok = f.to_ascii_lowercase().ends_with(".gguf")
                && !f.contains('/')
                && !f.contains('\\')
                && valid_part(f);
            if !ok {
                return Err(DownloadError::Usage(format!(
                    "'{f}' is not a GGUF file name (expected NAME.gguf at the top of the repository)"
                )));
            }
        }
        Ok(HubFile {
            repo: repo.to_string(),
            file,
            revision: "main".into(),
        })
    }
}

/// The hub's address: `HF_ENDPOINT`, else huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// The result of [`pull`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    /// Already there and verified: nothing was downloaded.
    pub present: bool,
    pub resumed_from: u64,
}

struct Client {
    follow: ureq::Agent,
    no_follow: ureq::Agent,
    token: Option<String>,
}

impl Client {
    fn new() -> Client {
        let build = |redirects| {
            ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(20))
                .timeout_read(Duration::from_secs(60))
                .redirects(redirects)
                .try_proxy_from_env(true)
                .user_agent(concat!("lore/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Client {
            follow: build(5),
            no_follow: build(0),
            token: std::env::var("HF_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
        }
    }

    fn request(&self, agent: &ureq::Agent, method: &str, url: &str) -> ureq::Request {
        let r = agent.request(method, url);
        match &self.token {
            Some(t) => r.set("Authorization", &format!("Bearer {}", t.trim())),
            None => r,
        }
    }
}

fn call(req: ureq::Request, url: &str, what: &str) -> Result<ureq::Response, DownloadError> {
    match req.call() {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(status, _)) => Err(match status {
            404 => DownloadError::NotFound {
                what: what.to_string(),
                url: url.to_string(),
            },
            401 | 403 => DownloadError::Denied {
                url: url.to_string(),
                status,
            },
            _ => DownloadError::Http {
                url: url.to_string(),
                status,
            },
        }),
        Err(ureq::Error::Transport(t)) => Err(DownloadError::Network {
            url: url.to_string(),
            message: t.to_string(),
        }),
    }
}

#[derive(serde::Deserialize)]
struct RepoInfo {
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
}

/// The GGUF file to fetch from `hub`: the one named, or the only one.
fn choose_file(client: &Client, endpoint: &str, hub: &HubFile) -> Result<String, DownloadError> {
    if let Some(f) = &hub.file {
        return Ok(f.clone());
    }
    let url = format!("{endpoint}/api/models/{}", hub.repo);
    let info: RepoInfo = call(
        client.request(&client.follow, "GET", &url),
        &url,
        &format!("repository {}", hub.repo),
    )?
    .into_json()
    .map_err(|e| DownloadError::Network {
        url: url.clone(),
        message: format!("unreadable file list: {e}"),
    })?;
    let ggufs: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|f| f.to_ascii_lowercase().ends_with(".gguf") && !f.contains('/'))
        .collect();
    match ggufs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(DownloadError::NoGguf {
            repo: hub.repo.clone(),
        }),
        many => Err(DownloadError::Ambiguous {
            repo: hub.repo.clone(),
            count: many.len(),
            names: many.join(", "),
        }),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&hasher.finalize()), n))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An etag that is a sha256 (the hub's `X-Linked-Etag` for large files).
fn sha_from_etag(etag: &str) -> Option<String> {
    let t = etag.trim().trim_start_matches("W/").trim_matches('"');
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// Downloads `hub` into `dir`. `expected_sha` (from the catalogue) wins
/// over the hub's own; with neither, the file is kept unverified and the
/// caller is told (`sha256: None`).
pub fn pull(
    hub: &HubFile,
    dir: &Path,
    expected_sha: Option<&str>,
    progress: &dyn Progress,
) -> Result<Pulled, DownloadError> {
    let endpoint = endpoint();
    let client = Client::new();
    let file = choose_file(&client, &endpoint, hub)?;
    let url = format!("{endpoint}/{}/resolve/{}/{file}", hub.repo, hub.revision);
    let what = format!("{}:{file}", hub.repo);

    let head = call(client.request(&client.no_follow, "HEAD", &url), &url, &what)?;
    let hub_sha = head
        .header("X-Linked-Etag")
        .or_else(|| head.header("ETag"))
        .and_then(sha_from_etag);
    let size = head
        .header("X-Linked-Size")
        .or_else(|| {
            (head.status() == 200)
                .then(|| head.header("Content-Length"))
                .flatten()
        })
        .and_then(|s| s.trim().parse::<u64>().ok());
    let expected = expected_sha.map(str::to_ascii_lowercase).or(hub_sha);

    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, &e))?;
    let dest = dir.join(&file);
    if dest.is_file() {
        if let Some(sha) = &expected {
            let (got, n) = sha256_file(&dest).map_err(|e| write_err(&dest, &e))?;
            if &got == sha {
                return Ok(Pulled {
                    path: dest,
                    size_bytes: n,
                    sha256: Some(got),
                    present: true,
                    resumed_from: 0,
                });
            }
        }
        return Err(DownloadError::Usage(format!(
            "{} already exists and does not match the hub's checksum; remove it first (lore models rm)",
            dest.display()
        )));
    }

    // A fixed name (not per process) so that the next run resumes it.
    let partial = dir.join(format!(".{file}.download"));
    let mut have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    if size.is_some_and(|s| have > s) {
        have = 0;
    }
    let mut req = client.request(&client.follow, "GET", &url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = call(req, &url, &what)?;
    let resumed = have > 0 && resp.status() == 206;
    if !resumed {
        have = 0;
    }
    let total = size.or_else(|| {
        resp.header("Content-Length")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|n| n + have)
    });

    let (got, sha) = receive(
        resp,
        &partial,
        resumed.then_some(have),
        total,
        &file,
        progress,
    )?;
    if let Some(e) = &expected {
        if &sha != e {
            let _ = std::fs::remove_file(&partial);
            return Err(DownloadError::Checksum {
                file,
                expected: e.clone(),
                got: sha,
            });
        }
    }
    std::fs::rename(&partial, &dest).map_err(|e| write_err(&dest, &e))?;
    Ok(Pulled {
        path: dest,
        size_bytes: got,
        sha256: expected.map(|_| sha),
        present: false,
        resumed_from: have,
    })
}

fn write_err(path: &Path, e: &dyn std::fmt::Display) -> DownloadError {
    DownloadError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Streams `resp` into `partial` (appending after `resumed_at` bytes when
/// resuming), hashing the whole file; returns its size and sha256.
fn receive(
    resp: ureq::Response,
    partial: &Path,
    resumed_at: Option<u64>,
    total: Option<u64>,
    file: &str,
    progress: &dyn Progress,
) -> Result<(u64, String), DownloadError> {
    let resumed = resumed_at.is_some();
    let have = resumed_at.unwrap_or(0);
    let mut hasher = Sha256::new();
    if resumed {
        let mut f = File::open(partial).map_err(|e| write_err(partial, &e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = f.read(&mut buf).map_err(|e| write_err(partial, &e))?;
            if k == 0 {
                break;
            }
            hasher.update(&buf[..k]);
        }
    }
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(partial)
        .map_err(|e| write_err(partial, &e))?;
    if resumed {
        progress.note(&format!("resuming {file} at {:.1} MB", have as f64 / 1e6));
    }
    progress.start_bytes(&format!("downloading {file}"), total.unwrap_or(0));
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = have;
    let interrupted = |got: u64, message: String| DownloadError::Interrupted {
        file: file.to_string(),
        got,
        expected: total.unwrap_or(0),
        message,
    };
    loop {
        let k = match reader.read(&mut buf) {
            Ok(k) => k,
            Err(e) => {
                progress.finish();
                let _ = out.flush();
                return Err(interrupted(got, e.to_string()));
            }
        };
        if k == 0 {
            break;
        }
        if let Err(e) = out.write_all(&buf[..k]) {
            progress.finish();
            return Err(write_err(partial, &e));
        }
        hasher.update(&buf[..k]);
        got += k as u64;
        progress.advance(got, total.unwrap_or(0));
    }
    progress.finish();
    out.flush().map_err(|e| write_err(partial, &e))?;
    out.sync_all().map_err(|e| write_err(partial, &e))?;
    drop(out);
    if let Some(t) = total {
        if got < t {
            return Err(interrupted(got, "the connection closed early".into()));
        }
    }
    Ok((got, hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repo_and_file() {
        let h = HubFile::parse("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:q.gguf").unwrap();
        assert_eq!(h.repo, "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF");
        assert_eq!(h.file.as_deref(), Some("q.gguf"));
        assert_eq!(HubFile::parse("a/b").unwrap().file, None);
        for bad in [
            "a",
            "a/b/c",
            "../b",
            "a/b:../x.gguf",
            "a/b:x.bin",
            "a b/c",
            "a/b:",
        ] {
            assert!(HubFile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags_that_are_sha256() {
        let sha = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32";
        assert_eq!(sha_from_etag(&format!("\"{sha}\"")).as_deref(), Some(sha));
        assert_eq!(sha_from_etag(&format!("W/\"{sha}\"")).as_deref(), Some(sha));
        assert_eq!(sha_from_etag("\"abc123\""), None);
    }
}
