//! `lore serve`: loads the model once and serves it over HTTP until
//! SIGINT or SIGTERM.

use std::time::Duration;

use clap::Args;

use super::progress::Stderr;
use super::stdio::with_interrupt;
use crate::app::Root;
use crate::error::{AppError, Exit};
use crate::serve::{self, Config};
use crate::settings::{FlagValue, Sources};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: HOST:PORT or a port on 127.0.0.1; port 0
    /// picks a free one [setting: serve.listen]
    #[arg(long, short = 'l', value_name = "ADDR")]
    pub listen: Option<String>,
    /// Environment variable holding the API key clients must send as a
    /// bearer token (required off loopback) [setting: serve.api_key_env]
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Generation requests the engine works on at once [setting: serve.parallel]
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Requests that may wait beyond those; more get 503 [setting: serve.max_queue]
    #[arg(long, value_name = "N")]
    pub max_queue: Option<u32>,
}

impl ServeArgs {
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(l) = &self.listen {
            sources.flag("serve.listen", FlagValue::Str(l.clone()), "--listen");
        }
        if let Some(v) = &self.api_key_env {
            sources.flag(
                "serve.api_key_env",
                FlagValue::Str(v.clone()),
                "--api-key-env",
            );
        }
        if let Some(n) = self.parallel {
            sources.flag("serve.parallel", FlagValue::Int(n.into()), "--parallel");
        }
        if let Some(n) = self.max_queue {
            sources.flag("serve.max_queue", FlagValue::Int(n.into()), "--max-queue");
        }
    }
}

fn config(root: &Root) -> Result<Config, AppError> {
    let s = &root.settings.settings.serve;
    let listen = Config::parse_listen(&s.listen).map_err(AppError::usage)?;
    let api_key = match s.api_key_env.trim() {
        "" => None,
        var => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Some(k),
            _ => {
                return Err(AppError::usage(format!(
                    "serve.api_key_env names {var}, which is not set (or empty) in the environment"
                )))
            }
        },
    };
    let config = Config {
        listen,
        api_key,
        parallel: s.parallel as usize,
        max_queue: s.max_queue as usize,
        max_body: (s.max_body_kb.max(1) as usize).saturating_mul(1024),
        grace: Duration::from_secs(s.grace_s),
        verbose: root.verbose,
    };
    config.check().map_err(AppError::usage)?;
    Ok(config)
}

pub async fn run(root: &Root, _args: ServeArgs) -> anyhow::Result<()> {
    let config = config(root)?;
    if !root.settings.settings.model.endpoint.trim().is_empty() {
        return Err(AppError::usage(
            "lore serve serves a local model; --engine (model.endpoint) points lore at a server instead",
        )
        .into());
    }
    // Bound before the model loads, so a busy port fails at once.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            AppError::new(
                Exit::Failure,
                format!("cannot listen on {}: {e}", config.listen),
            )
        })?;
    let engine = with_interrupt(root.load_engine(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    serve::run(root, engine, config, listener, serve::stop_signal()).await
}
