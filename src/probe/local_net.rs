//! Which address families the machine running the exporter can reach: an
//! exporter without an IPv6 route must not make every IPv6 address of every
//! MX host look like the domain's fault. Detected once at start-up (and on
//! each reload), and again whenever a connection fails with "network
//! unreachable"; shown on the landing page and by `check`.
//!
//! Detection opens a UDP socket and connects it to a documentation address
//! of each family (RFC 5737 `192.0.2.1`, RFC 3849 `2001:db8::1`): a UDP
//! connect only asks the kernel for a route and sends nothing.

use crate::report::AddressFamily;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where a route lookup for IPv4 asks to go (TEST-NET-1, RFC 5737).
const IPV4_PROBE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Where a route lookup for IPv6 asks to go (documentation, RFC 3849).
const IPV6_PROBE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The families the exporter's machine has a route for, shared by every
/// probe of one prober.
#[derive(Debug, Clone)]
pub struct LocalNetwork {
    /// Route per family, IPv4 then IPv6.
    routes: Arc<[AtomicBool; 2]>,
    /// Whether addresses of a family without a route are left alone
    /// without trying ([`LocalNetwork::assume`]); otherwise every address
    /// is tried and "network unreachable" tells.
    skip_unrouted: bool,
}

impl LocalNetwork {
    /// Asks the kernel, for each family, whether it has a route to the
    /// Internet.
    pub fn detect() -> LocalNetwork {
        let network = LocalNetwork {
            routes: Arc::new([AtomicBool::new(true), AtomicBool::new(true)]),
            skip_unrouted: false,
        };
        for family in AddressFamily::ALL {
            network.redetect(family);
        }
        network
    }

    /// A fixed view: a family given `false` has no route, and its
    /// addresses are reported as `local-no-ipv4-route` /
    /// `local-no-ipv6-route` without a connection being tried. For tests,
    /// which cannot take a route away from the machine.
    pub fn assume(ipv4_route: bool, ipv6_route: bool) -> LocalNetwork {
        LocalNetwork {
            routes: Arc::new([AtomicBool::new(ipv4_route), AtomicBool::new(ipv6_route)]),
            skip_unrouted: true,
        }
    }

    /// Whether the machine has a route for `family` (as last detected).
    pub fn has_route(&self, family: AddressFamily) -> bool {
        self.routes[index(family)].load(Ordering::Relaxed)
    }

    /// The families without a route, IPv4 first.
    pub fn unrouted(&self) -> Vec<AddressFamily> {
        AddressFamily::ALL
            .into_iter()
            .filter(|f| !self.has_route(*f))
            .collect()
    }

    /// Whether a connection to `address` should be left alone: only under
    /// [`LocalNetwork::assume`], for a family without a route.
    pub fn skips(&self, address: &IpAddr) -> bool {
        self.skip_unrouted && !self.has_route(AddressFamily::of(address))
    }

    /// Called when a connection to `address` failed with "network
    /// unreachable" (or no source address, or no support for the family):
    /// asks the kernel again, so the landing page and `check` say what the
    /// machine can reach now.
    pub fn connection_unreachable(&self, address: &IpAddr) {
        if !self.skip_unrouted {
            self.redetect(AddressFamily::of(address));
        }
    }

    fn redetect(&self, family: AddressFamily) {
        self.routes[index(family)].store(route_exists(family), Ordering::Relaxed);
    }
}

fn index(family: AddressFamily) -> usize {
    match family {
        AddressFamily::Ipv4 => 0,
        AddressFamily::Ipv6 => 1,
    }
}

/// Whether the kernel has a route to the documentation address of
/// `family` (a UDP connect: nothing is sent).
fn route_exists(family: AddressFamily) -> bool {
    let (local, target): (IpAddr, IpAddr) = match family {
        AddressFamily::Ipv4 => (Ipv4Addr::UNSPECIFIED.into(), IPV4_PROBE.into()),
        AddressFamily::Ipv6 => (Ipv6Addr::UNSPECIFIED.into(), IPV6_PROBE.into()),
    };
    UdpSocket::bind(SocketAddr::new(local, 0))
        .and_then(|socket| socket.connect(SocketAddr::new(target, 25)))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_view_skips_only_the_unrouted_family() {
        let network = LocalNetwork::assume(true, false);
        assert!(network.has_route(AddressFamily::Ipv4));
        assert_eq!(network.unrouted(), [AddressFamily::Ipv6]);
        assert!(network.skips(&"::1".parse().unwrap()));
        assert!(!network.skips(&"127.0.0.1".parse().unwrap()));
        // A failure does not change an assumed view.
        network.connection_unreachable(&"127.0.0.1".parse().unwrap());
        assert!(network.has_route(AddressFamily::Ipv4));
    }

    #[test]
    fn a_detected_view_never_skips_and_is_shared_by_clones() {
        let network = LocalNetwork::detect();
        let clone = network.clone();
        for address in ["127.0.0.1", "::1"] {
            assert!(!network.skips(&address.parse().unwrap()), "{address}");
        }
        clone.routes[1].store(false, Ordering::Relaxed);
        assert!(!network.has_route(AddressFamily::Ipv6));
    }
}
