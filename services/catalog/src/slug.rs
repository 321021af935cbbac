//! Store slugs: the store's name in URLs and its temporary subdomain, so they follow DNS label
//! rules (lowercase letters, digits, hyphens; no hyphen at either end; 3–63 long) and may not
//! shadow a name the platform uses itself.

use crate::CatalogError;

/// Names the platform keeps for itself (subdomains and path segments).
pub const RESERVED: &[&str] = &[
    "www",
    "admin",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "account",
    "accounts",
    "billing",
    "blog",
    "cdn",
    "checkout",
    "catalog",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "health",
    "help",
    "imap",
    "internal",
    "localhost",
    "login",
    "logout",
    "mail",
    "media",
    "notifications",
    "payments",
    "pop",
    "resolve",
    "root",
    "shop",
    "signup",
    "smtp",
    "static",
    "status",
    "store",
    "stores",
    "summit",
    "support",
    "system",
    "test",
    "webhooks",
];

/// A slug that satisfies every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let invalid = |m: &str| CatalogError::invalid("slug", m);
        if !(3..=63).contains(&raw.len()) {
            return Err(invalid("must be 3 to 63 characters long"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "may hold only lowercase letters, digits and hyphens",
            ));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(invalid("may not start or end with a hyphen"));
        }
        if RESERVED.contains(&raw) {
            return Err(invalid("is reserved"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Slug;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["abc", "cafe-do-ze", "loja123", &"a".repeat(63)] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_bad_slugs() {
        for bad in [
            "ab",
            "Cafe",
            "café",
            "a_b",
            "-abc",
            "abc-",
            "a b",
            "www",
            "admin",
            "api",
            "resolve",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
