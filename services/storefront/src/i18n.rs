//! Portuguese and English: the store's language, unless the visitor's `Accept-Language` does
//! not include it and names the other.

use axum::http::{HeaderMap, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Pt,
    En,
}

impl Lang {
    /// `pt`, `pt-BR`, … → Pt; `en…` → En; anything else: `None`.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "pt" => Some(Self::Pt),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The store's language (`pt-BR` when it says nothing), unless `Accept-Language` leaves
    /// it out and names the other one.
    pub fn negotiate(store_language: Option<&str>, headers: &HeaderMap) -> Self {
        let store = store_language.and_then(Self::parse).unwrap_or(Self::Pt);
        let accepted: Vec<Self> = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .filter(|part| !part.contains("q=0") || part.contains("q=0."))
            .filter_map(|part| Self::parse(part.split(';').next().unwrap_or_default()))
            .collect();
        if accepted.is_empty() || accepted.contains(&store) {
            store
        } else {
            accepted[0]
        }
    }

    /// The `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pt => "pt-BR",
            Self::En => "en",
        }
    }

    /// The text in this language.
    pub fn tr(self, en: &'static str, pt: &'static str) -> &'static str {
        match self {
            Self::Pt => pt,
            Self::En => en,
        }
    }

    /// An amount in minor units with its currency, as this language writes it.
    pub fn money(self, minor: i64, currency: &str) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let (major, cents) = (minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
        let symbol = match currency {
            "BRL" => "R$",
            "USD" => "US$",
            "EUR" => "€",
            other => other,
        };
        match self {
            Self::Pt => format!("{sign}{symbol} {},{cents:02}", group(major, '.')),
            Self::En => format!("{sign}{symbol} {}.{cents:02}", group(major, ',')),
        }
    }
}

fn group(n: u64, separator: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// A price typed by a visitor (`12`, `12,50`, `12.5`) in minor units.
pub fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim().replace(',', ".");
    if text.is_empty() {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && (0.0..1e13).contains(&value)).then(|| (value * 100.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_store_language_unless_the_visitor_reads_only_the_other() {
        assert_eq!(Lang::negotiate(Some("pt-BR"), &HeaderMap::new()), Lang::Pt);
        assert_eq!(Lang::negotiate(Some("en"), &HeaderMap::new()), Lang::En);
        assert_eq!(
            Lang::negotiate(Some("pt-BR"), &accept("en-US,en;q=0.9")),
            Lang::En
        );
        assert_eq!(
            Lang::negotiate(Some("pt-BR"), &accept("en-US,pt;q=0.5")),
            Lang::Pt,
            "the visitor reads the store's language too"
        );
        assert_eq!(Lang::negotiate(Some("en"), &accept("fr")), Lang::En);
        assert_eq!(Lang::negotiate(None, &accept("pt-PT")), Lang::Pt);
    }

    #[test]
    fn money_and_prices() {
        assert_eq!(Lang::Pt.money(259_000, "BRL"), "R$ 2.590,00");
        assert_eq!(Lang::En.money(2590, "BRL"), "R$ 25.90");
        assert_eq!(Lang::En.money(123_456_789, "USD"), "US$ 1,234,567.89");
        assert_eq!(parse_price("12,50"), Some(1250));
        assert_eq!(parse_price("12"), Some(1200));
        assert_eq!(parse_price(""), None);
        assert_eq!(parse_price("-1"), None);
        assert_eq!(parse_price("abc"), None);
    }
}
