//! `lore serve`: the loaded model over HTTP, for many clients at once.
//!
//! The OpenAI-compatible routes are mistral.rs's own
//! (`engine::serve`); lore adds its task endpoints (`/v1/lore/*`, same JSON
//! as the CLI's `--format json`), `/health`, `/v1/models` under lore's
//! model name, and, in front of everything, one gate ([`gate`]): request
//! log, route allow-list, API key, body limits and JSON checks, and a
//! bounded queue to the engine.

mod gate;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;

use crate::app::Root;
use crate::engine::Engine;
use crate::model::Model;

/// How the server runs, decided once from settings and flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Clients must send `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Generation requests in progress at once.
    pub parallel: usize,
    /// Generation requests waiting beyond those.
    pub max_queue: usize,
    pub max_body: usize,
    pub grace: Duration,
    /// One more line per request (the `model` asked for, the client).
    pub verbose: bool,
}

impl Config {
    /// `HOST:PORT`, or a bare port on the loopback address.
    pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
        let text = text.trim();
        if let Ok(port) = text.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(addr);
        }
        use std::net::ToSocketAddrs;
        text.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("cannot listen on {text:?}: give HOST:PORT or a port number"))
    }

    /// A non-loopback address without a key would serve the model to the
    /// whole network.
    pub fn check(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() && self.api_key.is_none() {
            return Err(format!(
                "listening on {} (not loopback) needs an API key: set one in an environment variable and pass --api-key-env VAR",
                self.listen
            ));
        }
        if self.parallel == 0 {
            return Err("serve.parallel must be at least 1".into());
        }
        Ok(())
    }
}

/// What every handler shares.
pub(crate) struct State {
    pub root: Root,
    pub model: Model,
    /// Names a request's `model` may give: the served name first, then the
    /// model's own, "default" and mistral.rs's ids.
    pub model_names: Vec<String>,
    pub started: Instant,
    pub created_unix: u64,
    pub gate: gate::Gate,
    pub config: Config,
}

/// Serves until `shutdown` resolves, then lets requests in progress
/// finish for the grace period and cancels the rest.
pub async fn run(
    root: &Root,
    engine: Engine,
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let openai = engine.openai_router(config.max_body).await?;
    let info = engine.info().clone();
    // Served under the name the user gave when it is a catalogue name
    // (`-m smollm2-135m`), else the model's own; a request may use either.
    let served = crate::app::catalogue_entry(&root.settings.settings.model.path)
        .map_or_else(|| info.name.clone(), |e| e.name.to_string());
    let mut model_names = vec![served, info.name.clone(), "default".to_string()];
    model_names.extend(engine.engine_model_ids());
    let model: Model = Arc::new(engine);
    let state = Arc::new(State {
        root: root.clone(),
        model,
        model_names,
        started: Instant::now(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        gate: gate::Gate::new(config.parallel, config.max_queue),
        config: config.clone(),
    });
    let app = Router::new()
        .route("/health", get(routes::health))
        .route("/v1/models", get(routes::models))
        .route("/v1/lore/ask", post(routes::ask))
        .route("/v1/lore/classify", post(routes::classify))
        .route("/v1/lore/search", post(routes::search))
        .route("/v1/lore/tokenize", post(routes::tokenize))
        .with_state(state.clone())
        .fallback_service(openai)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ));
    let addr = listener.local_addr()?;
    eprintln!(
        "lore: serving {} on http://{addr} (OpenAI-compatible /v1, lore's /v1/lore; {} at once, {} queued at most)",
        state.model_names[0], config.parallel, config.max_queue
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let mut stopped = stop_rx.clone();
    let grace = async move {
        let _ = stopped.wait_for(|s| *s).await;
        eprintln!(
            "lore: stopping: no new connections; {} request(s) in progress get {} s to finish",
            state.gate.in_flight(),
            config.grace.as_secs()
        );
        tokio::time::sleep(config.grace).await;
        state.gate.in_flight()
    };
    tokio::select! {
        served = server => served?,
        left = grace => {
            eprintln!("lore: stopped; {left} request(s) still in progress were cancelled");
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, key: Option<&str>) -> Config {
        Config {
            listen: Config::parse_listen(listen).unwrap(),
            api_key: key.map(str::to_string),
            parallel: 4,
            max_queue: 8,
            max_body: 1024,
            grace: Duration::from_secs(1),
            verbose: false,
        }
    }

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(
            Config::parse_listen("8765").unwrap(),
            "127.0.0.1:8765".parse().unwrap()
        );
        assert_eq!(
            Config::parse_listen("[::1]:9").unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert!(Config::parse_listen("nowhere:port").is_err());
    }

    #[test]
    fn the_network_needs_a_key() {
        assert!(config("127.0.0.1:1", None).check().is_ok());
        let open = config("0.0.0.0:1", None).check().unwrap_err();
        assert!(open.contains("needs an API key"), "{open}");
        assert!(config("0.0.0.0:1", Some("k")).check().is_ok());
    }
}
