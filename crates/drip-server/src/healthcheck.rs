//! `drip healthcheck`: one HTTP/1.0 `GET` over a plain TCP connection, for the container
//! health check of an image that has no curl. Success is a `200` answer; anything else
//! (refused, timed out, another status, not HTTP) is an error saying what happened, so
//! the process exits 1 with it.

use std::fmt;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// How long connecting, sending the request and reading the answer may each take: below
/// the 5 s Docker gives the whole check (Dockerfile, deploy/compose.yaml).
const TIMEOUT: Duration = Duration::from_secs(3);

/// The longest status line read (`HTTP/1.1 200 OK` is 15 bytes).
const MAX_STATUS_LINE: u64 = 1024;

/// Where a check is sent: `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// A name or an IP address (IPv6 without brackets).
    host: String,
    port: u16,
    /// Starts with `/`; no whitespace or control characters.
    path: String,
}

impl Target {
    /// Parses a plain-HTTP URL: `http://`, a host (`[...]` for IPv6), an optional port
    /// (80 otherwise) and an optional path (`/` otherwise); a `#fragment` is dropped.
    ///
    /// # Errors
    /// When it is not such a URL, saying which part is wrong.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => bail!("{url}: only http:// is supported, not {scheme}://"),
            None => bail!("{url}: not a URL (it does not start with http://)"),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            bail!("{url}: the path has whitespace or control characters");
        }
        if authority.contains('@') {
            bail!("{url}: credentials in the URL are not supported");
        }
        let (host, port) = split_host_port(authority).with_context(|| format!("{url}: bad host or port"))?;
        Ok(Self { host: host.to_owned(), port, path })
    }

    /// `GET /health` of a server listening on `listen`: over loopback when it listens on
    /// every address (`0.0.0.0`, `::`).
    pub(crate) fn health_of(listen: SocketAddr) -> Self {
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Self { host: ip.to_string(), port: listen.port(), path: "/health".to_owned() }
    }

    /// `host:port` as a `Host` header writes it (IPv6 in brackets).
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, u16)> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').context("an unclosed [")?;
        host.parse::<Ipv6Addr>().context("not an IPv6 address between [ and ]")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').context("text after ]")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        bail!("no host");
    }
    if !authority.starts_with('[') && host.contains(':') {
        bail!("an IPv6 address needs brackets");
    }
    let port = match port {
        None => 80,
        Some(port) => port.parse().with_context(|| format!("{port:?} is not a port"))?,
    };
    Ok((host, port))
}

/// Sends `GET` to `target` and reads the status line: `Ok` with it when it is `200`.
///
/// # Errors
/// When the server cannot be reached in time, answers another status, or does not speak
/// HTTP; the message names the URL and what happened.
pub(crate) fn check(target: &Target) -> Result<String> {
    let addresses: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("{target}: cannot resolve {}", target.host))?
        .collect();
    let mut stream = connect(&addresses).with_context(|| format!("{target}: no connection"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // HTTP/1.0: the server closes the connection after its answer.
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: drip-healthcheck\r\n\r\n",
        target.path,
        target.authority()
    )
    .with_context(|| format!("{target}: cannot send the request"))?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_STATUS_LINE))
        .read_line(&mut line)
        .with_context(|| format!("{target}: no answer within {TIMEOUT:?}"))?;
    let status = line.trim_end();
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{target}: not an HTTP answer: {status:?}");
    }
    if code != "200" {
        bail!("{target} answered {}", status.split_once(' ').map_or(status, |(_, rest)| rest));
    }
    Ok(format!("{target}: {}", status.split_once(' ').map_or(status, |(_, rest)| rest)))
}

/// The first of `addresses` that accepts a connection within the timeout.
fn connect(addresses: &[SocketAddr]) -> Result<TcpStream> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(address, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(anyhow::Error::new(e).context(format!("connecting to {address}"))),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("the host has no address")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use proptest::prelude::*;

    use super::*;

    fn target(host: &str, port: u16, path: &str) -> Target {
        Target { host: host.to_owned(), port, path: path.to_owned() }
    }

    #[test]
    fn urls_parse_into_host_port_and_path() {
        let cases = [
            ("http://127.0.0.1:4000/health", target("127.0.0.1", 4000, "/health")),
            ("HTTP://localhost/ready", target("localhost", 80, "/ready")),
            ("http://[::1]:8080/health", target("::1", 8080, "/health")),
            ("http://[::1]", target("::1", 80, "/")),
            ("http://drip:4000", target("drip", 4000, "/")),
            ("http://drip:4000?x=1", target("drip", 4000, "/?x=1")),
            ("http://drip/health?full=1#top", target("drip", 80, "/health?full=1")),
        ];
        for (url, expected) in cases {
            assert_eq!(Target::parse(url).unwrap(), expected, "{url}");
        }
    }

    #[test]
    fn what_is_not_a_plain_http_url_is_refused_with_its_reason() {
        let cases = [
            ("127.0.0.1:4000/health", "does not start with http://"),
            ("https://127.0.0.1/health", "only http://"),
            ("http:///health", "bad host or port"),
            ("http://drip:port/health", "bad host or port"),
            ("http://drip:70000/health", "bad host or port"),
            ("http://::1/health", "bad host or port"),
            ("http://[::1/health", "bad host or port"),
            ("http://[::1]x/health", "bad host or port"),
            ("http://user:pw@drip/health", "credentials"),
            ("http://drip/he alth", "whitespace"),
            ("http://drip/health\r\nX: y", "whitespace or control"),
        ];
        for (url, reason) in cases {
            let error = format!("{:#}", Target::parse(url).unwrap_err());
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    #[test]
    fn a_server_on_every_address_is_checked_over_loopback() {
        let v4 = Target::health_of("0.0.0.0:4000".parse().unwrap());
        assert_eq!(v4.to_string(), "http://127.0.0.1:4000/health");
        let v6 = Target::health_of("[::]:4001".parse().unwrap());
        assert_eq!(v6.to_string(), "http://[::1]:4001/health");
        let one = Target::health_of("10.1.2.3:80".parse().unwrap());
        assert_eq!(one.to_string(), "http://10.1.2.3:80/health");
    }

    /// A one-connection server answering `answer`; its thread returns the request head.
    fn serve_once(answer: &'static str) -> (Target, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            reader.get_mut().write_all(answer.as_bytes()).unwrap();
            head
        });
        (target("127.0.0.1", address.port(), "/health"), server)
    }

    #[test]
    fn a_200_answer_passes_and_the_request_is_http_1_0() {
        let (target, server) = serve_once("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(check(&target).unwrap(), format!("{target}: 200 OK"));
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /health HTTP/1.0\r\n"), "{head:?}");
        assert!(head.contains(&format!("Host: 127.0.0.1:{}\r\n", target.port)), "{head:?}");
    }

    #[test]
    fn another_status_fails_with_it() {
        let (target, server) = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = format!("{:#}", check(&target).unwrap_err());
        assert_eq!(error, format!("{target} answered 503 Service Unavailable"));
        server.join().unwrap();
    }

    #[test]
    fn an_answer_that_is_not_http_fails() {
        let (target, server) = serve_once("SSH-2.0-OpenSSH_9.6\r\n");
        let error = format!("{:#}", check(&target).unwrap_err());
        assert!(error.contains("not an HTTP answer"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_fails_saying_so() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = format!("{:#}", check(&target("127.0.0.1", port, "/health")).unwrap_err());
        assert!(error.contains("no connection"), "{error}");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    }

    proptest! {
        /// Whatever a check targets, its URL parses back into the same target.
        #[test]
        fn printed_targets_parse_back(
            ip in any::<IpAddr>(),
            port in any::<u16>(),
            path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){1,4}(\\?[A-Za-z0-9=&]{0,10})?",
        ) {
            let target = Target { host: ip.to_string(), port, path };
            prop_assert_eq!(Target::parse(&target.to_string()).unwrap(), target);
        }
    }
}
