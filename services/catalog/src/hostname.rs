//! Custom domains and the `host` of a resolve request: DNS hostnames, compared lowercase.

use crate::CatalogError;

/// A lowercase hostname of at least two labels, each 1–63 of letters, digits and inner
/// hyphens, at most 253 long, whose last label is not numeric (so no IP addresses).
pub fn parse_custom_domain(raw: &str, base_domain: &str) -> Result<String, CatalogError> {
    let invalid = |m: &str| CatalogError::invalid("custom_domain", m);
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.len() > 253 {
        return Err(invalid("must be a hostname of at most 253 characters"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "must have at least two labels, like shop.example.com",
        ));
    }
    for label in &labels {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(
                "each label must be 1-63 letters, digits or inner hyphens",
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("must be a name, not an IP address"));
    }
    // The platform's own subdomains are handed out by slug, never claimed as custom domains.
    if host == base_domain || host.ends_with(&format!(".{base_domain}")) {
        return Err(invalid("may not be under the platform's own domain"));
    }
    Ok(host)
}

/// The host of a `Host`-like value: lowercase, without port or trailing dot.
pub fn normalize_host(raw: &str) -> String {
    let host = raw.trim();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hostnames() {
        assert_eq!(
            parse_custom_domain("Shop.Example.COM.", "summit.localhost").unwrap(),
            "shop.example.com"
        );
        assert_eq!(
            parse_custom_domain("loja-do-ze.com.br", "summit.localhost").unwrap(),
            "loja-do-ze.com.br"
        );
    }

    #[test]
    fn refuses_non_hostnames() {
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "1.2.3.4",
            "x.summit.localhost",
            "summit.localhost",
            "http://a.com",
        ] {
            assert!(
                parse_custom_domain(bad, "summit.localhost").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn normalizes_hosts() {
        assert_eq!(
            normalize_host("Cafe.Summit.Localhost:8080"),
            "cafe.summit.localhost"
        );
        assert_eq!(normalize_host("shop.example.com."), "shop.example.com");
    }
}
