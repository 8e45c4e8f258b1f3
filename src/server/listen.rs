//! Where the server listens: `--web.listen-address` as Prometheus's own
//! exporters read it, where `:PORT` (no host) means every address.

use tokio::net::TcpListener;

/// The addresses to try, in order, for a `--web.listen-address` value:
/// `:PORT` is every address, IPv6 and IPv4 (`[::]:PORT`, dual-stack on
/// Linux), falling back to `0.0.0.0:PORT` on a machine without IPv6; any
/// other value is used as given.
pub fn candidates(address: &str) -> Vec<String> {
    match address.strip_prefix(':') {
        Some(port) => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        None => vec![address.to_string()],
    }
}

/// Binds the first of [`candidates`] that can be bound; the error is the
/// last one's.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for candidate in candidates(address) {
        match TcpListener::bind(&candidate).await {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_alone_means_every_address() {
        assert_eq!(candidates(":10461"), ["[::]:10461", "0.0.0.0:10461"]);
        assert_eq!(candidates("127.0.0.1:10461"), ["127.0.0.1:10461"]);
        assert_eq!(candidates("[::1]:10461"), ["[::1]:10461"]);
    }

    #[tokio::test]
    async fn a_given_address_is_bound_as_is() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        assert!(bind("not an address").await.is_err());
    }
}
