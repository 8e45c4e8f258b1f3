//! Name server addresses as written in `resolver.nameservers`.

use crate::echo::capped;
use std::net::{IpAddr, SocketAddr};

/// Parses a name server as `IP` or `IP:port` (`[v6]:port` for IPv6); port 53
/// when none is given.
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{:?} is not IP or IP:port", capped(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers() {
        assert_eq!(
            parse_nameserver("127.0.0.1"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_nameserver("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_nameserver("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
    }
}
