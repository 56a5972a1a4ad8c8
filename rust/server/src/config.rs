//! How a server listens and what it accepts.

use std::net::IpAddr;
use std::time::Duration;

/// Server settings; the defaults suit a local deployment.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to bind: loopback unless told otherwise.
    pub host: String,
    /// Port to bind; 0 picks a free one (see [`crate::Server::port`]).
    pub port: u16,
    /// Lets several processes bind the same port (`SO_REUSEPORT`), so the kernel spreads
    /// connections over them.
    pub reuse_port: bool,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// A bearer token the management routes (load, unload) require when set.
    pub token: Option<String>,
    /// The status of an overload answer (full queue): 503, or 429 for clients that back off on it.
    pub overload_status: u16,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send its request body; slower ones get 408.
    pub body_read_timeout: Duration,
    /// Threads of the HTTP runtime; 0 means one per core.
    pub threads: usize,
    /// How long `stop` waits for in-flight requests before closing their connections.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            reuse_port: false,
            max_body_bytes: 32 * 1024 * 1024,
            token: None,
            overload_status: 503,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            threads: 0,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerConfig {
    /// Whether `host` is a loopback address (or `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.overload_status, 429 | 503) {
            return Err(format!(
                "overload_status must be 503 or 429, not {}",
                self.overload_status
            ));
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes must be positive".into());
        }
        if self.token.as_deref() == Some("") {
            return Err("the token is empty; pass a secret or no token".into());
        }
        Ok(())
    }
}
