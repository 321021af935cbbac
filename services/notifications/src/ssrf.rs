//! Server-side request forgery checks for merchants' webhook URLs.
//!
//! A merchant chooses where Summit sends HTTP requests, so a URL could point inside Summit's
//! own network (the database, the broker, a cloud metadata service). The rules: `https` only,
//! and no address that is loopback, private, link-local (which holds the cloud metadata
//! address), shared (CGNAT), unspecified, multicast, broadcast or reserved — checked on every
//! address the host resolves to, *at delivery time* (DNS may change after registration), and
//! the request then goes to the address that was checked (no second lookup to rebind). With
//! `WEBHOOK_ALLOW_PRIVATE=true` (local runs and tests) `http` and private addresses are
//! allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("only https URLs are allowed")]
    NotHttps,
    #[error("URLs with credentials are not allowed")]
    Credentials,
    #[error("{host} resolves to {addr}, a {class} address")]
    Forbidden {
        host: String,
        addr: IpAddr,
        class: &'static str,
    },
    #[error("{host} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// The kind of address `ip` is, if it is one a webhook must never reach.
pub fn forbidden_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("metadata")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (18..20).contains(&b)) {
        Some("special-purpose")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if segments[0] == 0xfd00 && segments[1] == 0x0ec2 {
        // fd00:ec2::254, the cloud metadata service over IPv6.
        Some("metadata")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if segments[0] == 0x64 && segments[1] == 0xff9b {
        // NAT64: the IPv4 address in the last 32 bits decides.
        let v4 = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        forbidden_v4(v4)
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("documentation")
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        Some("reserved")
    } else {
        None
    }
}

/// A webhook URL that passed the static checks: scheme, no credentials, a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: reqwest::Url,
    pub host: String,
    pub port: u16,
}

/// Parses `raw` and applies the checks that need no DNS.
pub fn parse(raw: &str, allow_private: bool) -> Result<Target, Refused> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| Refused::Invalid)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(Refused::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    let host = url.host_str().ok_or(Refused::Invalid)?.to_owned();
    let port = url.port_or_known_default().ok_or(Refused::Invalid)?;
    Ok(Target { url, host, port })
}

/// Checks resolved addresses: the first allowed one to connect to, or why none may be used.
/// Every address must pass: a name that resolves to one public and one private address is
/// refused (the client might pick either).
pub fn check_addresses(
    host: &str,
    addrs: &[SocketAddr],
    allow_private: bool,
) -> Result<SocketAddr, Refused> {
    let first = addrs
        .first()
        .copied()
        .ok_or_else(|| Refused::Unresolvable {
            host: host.to_owned(),
            reason: "no addresses".to_owned(),
        })?;
    if !allow_private {
        for addr in addrs {
            if let Some(class) = forbidden_class(addr.ip()) {
                return Err(Refused::Forbidden {
                    host: host.to_owned(),
                    addr: addr.ip(),
                    class,
                });
            }
        }
    }
    Ok(first)
}

/// Resolves `target` now and checks every address (see [`check_addresses`]).
pub async fn resolve(target: &Target, allow_private: bool) -> Result<SocketAddr, Refused> {
    let host = target.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::net::lookup_host((host, target.port))
            .await
            .map_err(|e| Refused::Unresolvable {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    check_addresses(host, &addrs, allow_private)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<&'static str> {
        forbidden_class(ip.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_classified() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("169.254.10.10", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("198.18.0.1", "special-purpose"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fc00::1", "private (unique local)"),
            ("fd12:3456::1", "private (unique local)"),
            ("fd00:ec2::254", "metadata"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert_eq!(parse("http://example.com/h", false), Err(Refused::NotHttps));
        assert_eq!(parse("ftp://example.com/h", true), Err(Refused::NotHttps));
        assert_eq!(
            parse("https://user:pw@example.com/h", false),
            Err(Refused::Credentials)
        );
        assert_eq!(parse("not a url", false), Err(Refused::Invalid));
        let target = parse("https://example.com/h", false).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("example.com", 443));
        assert!(parse("http://127.0.0.1:9/h", true).is_ok());
    }

    #[test]
    fn every_resolved_address_must_be_allowed() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let private: SocketAddr = "10.1.2.3:443".parse().unwrap();
        assert_eq!(check_addresses("h", &[public], false), Ok(public));
        assert!(matches!(
            check_addresses("h", &[public, private], false),
            Err(Refused::Forbidden {
                class: "private",
                ..
            })
        ));
        assert_eq!(check_addresses("h", &[private], true), Ok(private));
        assert!(matches!(
            check_addresses("h", &[], true),
            Err(Refused::Unresolvable { .. })
        ));
    }

    #[tokio::test]
    async fn literal_addresses_are_checked_without_dns() {
        let target = parse("https://169.254.169.254/latest/meta-data", false).unwrap();
        assert!(matches!(
            resolve(&target, false).await,
            Err(Refused::Forbidden {
                class: "metadata",
                ..
            })
        ));
        let target = parse("https://[::1]:8443/h", false).unwrap();
        assert!(matches!(
            resolve(&target, false).await,
            Err(Refused::Forbidden {
                class: "loopback",
                ..
            })
        ));
        let target = parse("https://localhost/h", false).unwrap();
        assert!(matches!(
            resolve(&target, false).await,
            Err(Refused::Forbidden {
                class: "loopback",
                ..
            })
        ));
    }
}
