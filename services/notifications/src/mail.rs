//! What a mail says, before any template: the kinds of mail, the languages, money and
//! cancellation reasons in plain words, and the `Message-ID` that makes a duplicate
//! recognisable anywhere. Pure: no I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A language mail is written in. Anything not English reads as Portuguese: Summit's stores
/// are Brazilian by default (the same rule as checkout's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Pt,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Pt, Language::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Pt => "pt",
            Language::En => "en",
        }
    }

    /// `pt`, `pt-BR`, `en`, `en-US`…; `None` for a language notifications does not write.
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        match primary {
            "pt" => Some(Language::Pt),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// The mails notifications sends; each has a default template per language that a merchant
/// may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// StoreCreated: to the store's contact, with its temporary domain and how to reach the
    /// admin.
    Welcome,
    /// OrderPlaced: to the shopper.
    OrderReceived,
    /// OrderConfirmed: to the shopper.
    OrderConfirmed,
    /// OrderCancelled: to the shopper, with the reason in plain words.
    OrderCancelled,
    /// PaymentPendingOffline: to the shopper — taking longer, nothing to do.
    PaymentPending,
    /// To the merchant: a webhook endpoint was switched off after failing for too long.
    WebhookDisabled,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Welcome,
        Kind::OrderReceived,
        Kind::OrderConfirmed,
        Kind::OrderCancelled,
        Kind::PaymentPending,
        Kind::WebhookDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Welcome => "welcome",
            Kind::OrderReceived => "order_received",
            Kind::OrderConfirmed => "order_confirmed",
            Kind::OrderCancelled => "order_cancelled",
            Kind::PaymentPending => "payment_pending",
            Kind::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// The `Message-ID` of the mail of `kind` that event `event_id` causes for `recipient`: the
/// same on every attempt and every replay, so a receiver (or a human) can drop a duplicate.
/// The address is hashed: a header should not spell it out a second time.
pub fn message_id(event_id: Uuid, recipient: &str, kind: Kind) -> String {
    let digest = Sha256::digest(recipient.trim().to_ascii_lowercase().as_bytes());
    let short = service_kit::admin_key::hex(&digest[..8]);
    format!(
        "<{}.{}.{short}@notifications.summit>",
        kind.as_str(),
        event_id.simple()
    )
}

/// Digits after the decimal separator of an ISO 4217 currency (the common ones; 2 otherwise).
fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "CLP" | "VND" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// Minor units as a shopper reads them: `R$ 1.234,56` in Portuguese, `R$1,234.56` in English.
pub fn money(minor: i64, currency: &str, language: Language) -> String {
    let (thousands, decimal) = match language {
        Language::Pt => ('.', ','),
        Language::En => (',', '.'),
    };
    let exp = exponent(currency);
    let scale = 10u64.pow(exp);
    let abs = minor.unsigned_abs();
    let (units, cents) = (abs / scale, abs % scale);
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(thousands);
        }
        grouped.push(c);
    }
    let number = if exp == 0 {
        grouped
    } else {
        format!("{grouped}{decimal}{cents:0width$}", width = exp as usize)
    };
    let sign = if minor < 0 { "-" } else { "" };
    match (currency, language) {
        ("BRL", Language::Pt) => format!("{sign}R$ {number}"),
        ("BRL", Language::En) => format!("{sign}R${number}"),
        (other, _) => format!("{sign}{other} {number}"),
    }
}

/// Why an order was cancelled, in words a shopper understands (checkout's reason codes; an
/// unknown one gets a general sentence, never the code).
pub fn reason_in_words(reason: &str, language: Language) -> &'static str {
    match (reason, language) {
        ("out_of_stock", Language::Pt) => {
            "Um ou mais itens do pedido ficaram sem estoque. Nada foi cobrado."
        }
        ("out_of_stock", Language::En) => {
            "One or more items in your order ran out of stock. You were not charged."
        }
        ("payment_declined", Language::Pt) => {
            "O pagamento foi recusado pelo emissor do cartão. Você pode tentar com outro cartão."
        }
        ("payment_declined", Language::En) => {
            "Your card issuer declined the payment. You can try again with another card."
        }
        ("payment_failed", Language::Pt) => {
            "Não conseguimos processar o pagamento. Nada foi cobrado; tente novamente."
        }
        ("payment_failed", Language::En) => {
            "We could not process the payment. You were not charged; please try again."
        }
        ("expired", Language::Pt) => {
            "O pagamento não foi concluído a tempo e o pedido expirou. Nada foi cobrado."
        }
        ("expired", Language::En) => {
            "The payment was not completed in time, so the order expired. You were not charged."
        }
        (_, Language::Pt) => "O pedido foi cancelado. Se algo foi cobrado, será estornado.",
        (_, Language::En) => "The order was cancelled. Anything that was charged will be refunded.",
    }
}

/// The short number a shopper sees for an order: the random tail of its UUIDv7.
pub fn order_number(order_id: Uuid) -> String {
    let simple = order_id.simple().to_string();
    simple[simple.len() - 8..].to_ascii_uppercase()
}

/// The template context of a mail: the facts logged with the delivery (store, order in minor
/// units, reason code, endpoint) put in `language`'s words — money formatted, the reason in
/// plain words, the store's links.
pub fn context(facts: &serde_json::Value, language: Language) -> serde_json::Value {
    use serde_json::json;
    let store = &facts["store"];
    let domain = store["custom_domain"]
        .as_str()
        .or(store["temporary_domain"].as_str())
        .unwrap_or_default();
    let url = format!("https://{domain}");
    let mut context = json!({
        "language": language.as_str(),
        "store": {
            "name": store["name"],
            "logo_url": store["logo_url"],
            "temporary_domain": store["temporary_domain"],
            "url": url,
            "admin_url": format!("{url}/admin"),
        },
    });
    if let Some(order) = facts.get("order").filter(|o| o.is_object()) {
        let currency = order["currency"].as_str().unwrap_or("BRL");
        let lines: Vec<serde_json::Value> = order["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|line| {
                let unit = line["unit_price_minor"].as_i64().unwrap_or(0);
                let quantity = line["quantity"].as_i64().unwrap_or(0);
                json!({
                    "name": line["name"],
                    "quantity": quantity,
                    "unit_price": money(unit, currency, language),
                    "subtotal": money(unit.saturating_mul(quantity), currency, language),
                })
            })
            .collect();
        let id = order["id"]
            .as_str()
            .and_then(|id| id.parse::<Uuid>().ok())
            .unwrap_or_default();
        context["order"] = json!({
            "id": id,
            "number": order_number(id),
            "total": money(order["total_minor"].as_i64().unwrap_or(0), currency, language),
            "lines": lines,
        });
    }
    if let Some(reason) = facts["reason"].as_str() {
        context["reason"] = json!(reason_in_words(reason, language));
    }
    if facts["endpoint"].is_object() {
        context["endpoint"] = facts["endpoint"].clone();
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_puts_facts_in_the_languages_words() {
        let facts = serde_json::json!({
            "store": {"name": "Café do Zé", "logo_url": null,
                      "temporary_domain": "cafe.summit.localhost", "custom_domain": null},
            "order": {"id": "0190f1a2-0000-7000-8000-0000abcdef12", "total_minor": 4980,
                      "currency": "BRL",
                      "lines": [{"name": "Café", "quantity": 2, "unit_price_minor": 2490}]},
            "reason": "out_of_stock",
        });
        let pt = context(&facts, Language::Pt);
        assert_eq!(pt["store"]["url"], "https://cafe.summit.localhost");
        assert_eq!(pt["order"]["total"], "R$ 49,80");
        assert_eq!(pt["order"]["number"], "ABCDEF12");
        assert_eq!(pt["order"]["lines"][0]["unit_price"], "R$ 24,90");
        assert_eq!(pt["reason"], reason_in_words("out_of_stock", Language::Pt));
        let en = context(&facts, Language::En);
        assert_eq!(en["order"]["total"], "R$49.80");
        assert_eq!(en["language"], "en");
        assert!(en.get("endpoint").is_none());
    }

    #[test]
    fn languages_parse_from_tags() {
        assert_eq!(Language::parse("pt-BR"), Some(Language::Pt));
        assert_eq!(Language::parse("EN_us"), Some(Language::En));
        assert_eq!(Language::parse("en"), Some(Language::En));
        assert_eq!(Language::parse("fr"), None);
        assert_eq!(Language::parse(""), None);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("welcome!"), None);
    }

    #[test]
    fn message_ids_are_stable_per_event_recipient_and_kind() {
        let event = Uuid::now_v7();
        let a = message_id(event, "ana@example.com", Kind::OrderReceived);
        assert_eq!(
            a,
            message_id(event, " ANA@example.com", Kind::OrderReceived)
        );
        assert_ne!(a, message_id(event, "bia@example.com", Kind::OrderReceived));
        assert_ne!(
            a,
            message_id(Uuid::now_v7(), "ana@example.com", Kind::OrderReceived)
        );
        assert_ne!(
            a,
            message_id(event, "ana@example.com", Kind::OrderConfirmed)
        );
        assert!(
            a.starts_with('<') && a.ends_with("@notifications.summit>"),
            "{a}"
        );
        assert!(!a.contains("ana"), "the address is not spelled out: {a}");
    }

    #[test]
    fn money_reads_as_shoppers_write_it() {
        assert_eq!(money(15_990, "BRL", Language::Pt), "R$ 159,90");
        assert_eq!(money(123_456_789, "BRL", Language::Pt), "R$ 1.234.567,89");
        assert_eq!(money(123_456_789, "BRL", Language::En), "R$1,234,567.89");
        assert_eq!(money(5, "USD", Language::En), "USD 0.05");
        assert_eq!(money(1_000, "JPY", Language::En), "JPY 1,000");
        assert_eq!(money(-250, "BRL", Language::Pt), "-R$ 2,50");
        assert_eq!(money(0, "EUR", Language::Pt), "EUR 0,00");
    }

    #[test]
    fn reasons_are_words_never_codes() {
        for code in [
            "out_of_stock",
            "payment_declined",
            "payment_failed",
            "expired",
            "???",
        ] {
            for language in Language::ALL {
                let words = reason_in_words(code, language);
                assert!(!words.contains('_'), "{words}");
                assert!(words.ends_with('.'), "{words}");
            }
        }
        assert_ne!(
            reason_in_words("out_of_stock", Language::Pt),
            reason_in_words("out_of_stock", Language::En)
        );
    }

    #[test]
    fn order_numbers_are_the_uuid_tail() {
        let id: Uuid = "0190f1a2-0000-7000-8000-0000abcdef12".parse().unwrap();
        assert_eq!(order_number(id), "ABCDEF12");
    }
}
