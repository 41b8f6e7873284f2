//! [`ClientIp`]: the address a request comes from, for the limits kept per client (transfer
//! slots, and any other per-address limit a handler keeps): the connection's peer address,
//! or — only when the server is configured to sit behind a trusted reverse proxy
//! ([`HttpSettings::client_ip_header`](crate::HttpSettings::client_ip_header)) — the last
//! hop that proxy wrote into its header.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use drip_core::accounts::Origin;
use drip_core::accounts::model::ClientLabel;

use crate::state::AppState;

/// The address of the client a request comes from.
///
/// The server must serve the router with connect info (`ConnectInfo<SocketAddr>`, as
/// `drip serve` does). A router driven without it (in-process tests) sees every request
/// come from the loopback address 127.0.0.1: one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientIp(IpAddr);

/// Where requests come from when nothing says otherwise.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl ClientIp {
    /// The client of a request: the last hop of `header` when one is configured and the
    /// request carries a valid one, else the connection's peer.
    pub(crate) fn of(parts: &Parts, header: Option<&HeaderName>) -> Self {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(LOOPBACK, |info| info.0.ip());
        let forwarded = header.and_then(|name| last_hop(&parts.headers, name));
        Self(forwarded.unwrap_or(peer).to_canonical())
    }

    /// A client at `ip`.
    #[cfg(test)]
    pub(crate) fn from_ip(ip: IpAddr) -> Self {
        Self(ip)
    }

    /// The address.
    pub(crate) fn ip(self) -> IpAddr {
        self.0
    }

    /// The unit per-address limits count by: an IPv4 address, or an IPv6 /64 network (one
    /// site's addresses: a client there has billions of them to rotate through).
    pub(crate) fn network(self) -> IpAddr {
        match self.ip() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        }
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self::of(parts, state.settings().client_ip_header.as_ref()))
    }
}

/// Where a login or sign-up comes from: the client's address and how it describes itself
/// (`User-Agent`, the label of the session it opens).
#[derive(Debug, Clone)]
pub(crate) struct ClientOrigin(pub(crate) Origin);

impl FromRequestParts<AppState> for ClientOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let address = ClientIp::of(parts, state.settings().client_ip_header.as_ref()).ip();
        // A User-Agent of other than visible ASCII is read as far as it is text.
        let label = parts
            .headers
            .get(USER_AGENT)
            .map(|agent| String::from_utf8_lossy(agent.as_bytes()).into_owned())
            .and_then(|agent| ClientLabel::describe(&agent));
        Ok(Self(Origin { address: Some(address), label }))
    }
}

/// The last address in the last `name` header: the hop the trusted proxy appended (what
/// comes before it, the client may have written itself). `X-Forwarded-For: a, b` lists
/// bare addresses (an `ip:port` or `[v6]:port` is accepted too); `Forwarded: for=a;
/// proto=https, for="[v6]"` is read by its `for` parameter. `None` when the header is
/// missing or its last hop is no address.
fn last_hop(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let hop = value.rsplit(',').next()?.trim();
    let hop = hop
        .split(';')
        .find_map(|pair| pair.trim().split_once('=').filter(|(key, _)| key.eq_ignore_ascii_case("for")))
        .map_or(hop, |(_, address)| address.trim_matches('"'));
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use proptest::prelude::*;

    fn parts(headers: &[(&str, &str)], peer: Option<&str>) -> Parts {
        let mut request = Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        parts
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    static XFF: HeaderName = HeaderName::from_static("x-forwarded-for");

    #[test]
    fn the_peer_address_unless_a_proxy_header_is_configured() {
        let request = parts(&[("x-forwarded-for", "203.0.113.9")], Some("198.51.100.7:5000"));
        assert_eq!(ClientIp::of(&request, None).ip(), ip("198.51.100.7"), "the header is ignored");
        assert_eq!(ClientIp::of(&request, Some(&XFF)).ip(), ip("203.0.113.9"));
    }

    #[test]
    fn without_connect_info_requests_come_from_loopback() {
        assert_eq!(ClientIp::of(&parts(&[], None), None).ip(), ip("127.0.0.1"));
    }

    #[test]
    fn the_last_hop_counts_as_the_client_may_forge_the_others() {
        let peer = Some("10.0.0.2:1");
        for (headers, expected) in [
            (vec![("x-forwarded-for", "1.1.1.1, 203.0.113.9")], "203.0.113.9"),
            (
                vec![("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2 , 203.0.113.9 ")],
                "203.0.113.9",
            ),
            (vec![("x-forwarded-for", "203.0.113.9:4711")], "203.0.113.9"),
            (vec![("x-forwarded-for", "2001:db8::1")], "2001:db8::1"),
            (vec![("x-forwarded-for", "[2001:db8::1]:443")], "2001:db8::1"),
            (vec![("x-forwarded-for", "::ffff:203.0.113.9")], "203.0.113.9"),
            // Missing or garbage: the peer (the proxy) is the client.
            (vec![], "10.0.0.2"),
            (vec![("x-forwarded-for", "1.1.1.1, unknown")], "10.0.0.2"),
            (vec![("x-forwarded-for", "")], "10.0.0.2"),
        ] {
            let request = parts(&headers, peer);
            assert_eq!(ClientIp::of(&request, Some(&XFF)).ip(), ip(expected), "{headers:?}");
        }
    }

    #[test]
    fn forwarded_is_read_by_its_for_parameter() {
        let forwarded = HeaderName::from_static("forwarded");
        for (value, expected) in [
            ("for=1.1.1.1, for=203.0.113.9;proto=https;by=10.0.0.1", "203.0.113.9"),
            ("for=\"[2001:db8::1]:443\"", "2001:db8::1"),
            ("for=\"[2001:db8::2]\"", "2001:db8::2"),
            ("proto=https;For=203.0.113.9", "203.0.113.9"),
            ("for=_hidden", "10.0.0.2"),
        ] {
            let request = parts(&[("forwarded", value)], Some("10.0.0.2:1"));
            assert_eq!(ClientIp::of(&request, Some(&forwarded)).ip(), ip(expected), "{value}");
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64_network() {
        let client = |text: &str| ClientIp(ip(text)).network();
        assert_eq!(client("2001:db8:1:2:aaaa::1"), client("2001:db8:1:2:bbbb::9"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("203.0.113.9"), ip("203.0.113.9"));
    }

    proptest! {
        #[test]
        fn any_header_value_answers_an_address(value in "[ -~]{0,80}") {
            let request = parts(&[("x-forwarded-for", value.as_str())], Some("10.0.0.2:1"));
            let _ = ClientIp::of(&request, Some(&XFF));
        }

        #[test]
        fn a_last_hop_address_is_the_client(first in any::<IpAddr>(), last in any::<IpAddr>()) {
            let value = format!("{first}, {last}");
            let request = parts(&[("x-forwarded-for", value.as_str())], Some("10.0.0.2:1"));
            prop_assert_eq!(ClientIp::of(&request, Some(&XFF)).ip(), last.to_canonical());
        }
    }
}
