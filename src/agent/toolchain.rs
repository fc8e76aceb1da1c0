//! The variables that locate toolchains, shared by the sandbox (what a
//! command may read) and the shell (what its environment keeps).

/// Variables that locate toolchains, with their default under `HOME`
/// ("" for none). The commands keep these variables, so a tool finds the
/// same directory the sandbox lets it read. `CARGO_HOME` is not here: it
/// holds the crates.io token, so only its parts cargo reads are allowed.
pub const TOOLCHAIN_VARS: &[(&str, &str)] = &[
    ("RUSTUP_HOME", ".rustup"),
    ("GOROOT", ""),
    ("GOPATH", "go"),
    ("GOMODCACHE", ""),
    ("JAVA_HOME", ""),
    ("VIRTUAL_ENV", ""),
    ("CONDA_PREFIX", ""),
    ("NVM_DIR", ".nvm"),
    ("PYENV_ROOT", ".pyenv"),
    ("RBENV_ROOT", ".rbenv"),
    ("VOLTA_HOME", ".volta"),
    ("BUN_INSTALL", ".bun"),
    ("DENO_INSTALL", ".deno"),
    ("SDKMAN_DIR", ".sdkman"),
];
