//! Merchant-editable mail templates, rendered by minijinja in a sandbox: there is no loader, so
//! a template reaches no file and includes nothing; fuel bounds every render, so no loop runs
//! forever; the HTML part is auto-escaped, so a product named `<script>` arrives as text.
//!
//! A template is three parts — subject, HTML, text — for one [`Kind`] in one [`Language`]. The
//! defaults live here; a merchant's own version is stored per store
//! (`PUT /admin/templates/{kind}`), checked by [`validate`] before it is saved, and if it still
//! fails at send time [`render_or_default`] renders the default and says why.
//!
//! The context every template sees: `store` (`name`, `logo_url`, `url`, `admin_url`,
//! `temporary_domain`), `language`, and by kind `order` (`number`, `id`, `total`, `lines` with
//! `name`, `quantity`, `unit_price`, `subtotal`), `reason` (plain words), `endpoint` (`url`,
//! `reason`).

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Value, json};

use crate::mail::{Kind, Language};

/// Instructions one render may run: generous for a mail, fatal to a runaway loop.
pub const FUEL: u64 = 50_000;
/// The largest part a merchant may save.
pub const MAX_PART_BYTES: usize = 64 * 1024;

/// A template's three parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Source {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Why a template cannot be used: which part, on which line, and the engine's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part} template, line {}: {reason}", line.map_or_else(|| "?".to_owned(), |l| l.to_string()))]
pub struct TemplateError {
    pub part: &'static str,
    pub line: Option<usize>,
    pub reason: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(20);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

fn render_part(
    env: &Environment<'_>,
    part: &'static str,
    source: &str,
    context: &Value,
) -> Result<String, TemplateError> {
    let name = match part {
        "html" => "mail.html",
        "subject" => "subject.txt",
        _ => "mail.txt",
    };
    let fail = |e: minijinja::Error| TemplateError {
        part,
        line: e.line(),
        reason: match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        },
    };
    if source.len() > MAX_PART_BYTES {
        return Err(TemplateError {
            part,
            line: None,
            reason: format!("longer than {MAX_PART_BYTES} bytes"),
        });
    }
    let template = env.template_from_named_str(name, source).map_err(fail)?;
    template
        .render(minijinja::value::Serde(context))
        .map_err(fail)
}

/// Renders `source` with `context`.
pub fn render(source: &Source, context: &Value) -> Result<Rendered, TemplateError> {
    let env = environment();
    let subject = render_part(&env, "subject", &source.subject, context)?;
    Ok(Rendered {
        // A header is one line.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        html: render_part(&env, "html", &source.html, context)?,
        text: render_part(&env, "text", &source.text, context)?,
    })
}

/// Whether a merchant's template compiles and renders against a sample of its kind's context
/// (which catches unknown filters and runaway loops, not only syntax).
pub fn validate(kind: Kind, language: Language, source: &Source) -> Result<(), TemplateError> {
    if source.subject.trim().is_empty() {
        return Err(TemplateError {
            part: "subject",
            line: Some(1),
            reason: "the subject is empty".to_owned(),
        });
    }
    render(source, &sample_context(kind, language)).map(|_| ())
}

/// Renders the merchant's template if there is one and it works, else the default; the
/// second value is why the merchant's could not be used (to log).
pub fn render_or_default(
    kind: Kind,
    language: Language,
    custom: Option<&Source>,
    context: &Value,
) -> (Rendered, Option<TemplateError>) {
    let failure = match custom.map(|source| render(source, context)) {
        Some(Ok(rendered)) => return (rendered, None),
        Some(Err(error)) => Some(error),
        None => None,
    };
    let rendered = render(&default(kind, language), context)
        .expect("the default templates render every context (unit-tested)");
    (rendered, failure)
}

/// A context shaped like the real one for `kind`, to try a template against.
pub fn sample_context(kind: Kind, language: Language) -> Value {
    let mut context = json!({
        "language": language.as_str(),
        "store": {
            "name": "Loja Exemplo",
            "logo_url": "https://example.com/logo.png",
            "temporary_domain": "loja-exemplo.summit.localhost",
            "url": "https://loja-exemplo.summit.localhost",
            "admin_url": "https://loja-exemplo.summit.localhost/admin",
        },
    });
    match kind {
        Kind::Welcome => {}
        Kind::OrderReceived
        | Kind::OrderConfirmed
        | Kind::OrderCancelled
        | Kind::PaymentPending => {
            context["order"] = json!({
                "id": "0190f1a2-0000-7000-8000-0000abcdef12",
                "number": "ABCDEF12",
                "total": "R$ 159,90",
                "lines": [
                    {"name": "Café torrado 250 g", "quantity": 2, "unit_price": "R$ 24,90",
                     "subtotal": "R$ 49,80"},
                ],
            });
            context["reason"] = json!("O pagamento foi recusado.");
        }
        Kind::WebhookDisabled => {
            context["endpoint"] = json!({
                "url": "https://example.com/hooks",
                "reason": "failing since 2026-12-01T00:00:00Z (120 attempts)",
            });
        }
    }
    context
}

const LAYOUT_TOP: &str = r#"<!doctype html>
<html lang="{{ language }}">
<body style="margin:0;padding:24px;background:#f6f6f6;font-family:Helvetica,Arial,sans-serif;color:#222">
<div style="max-width:560px;margin:0 auto;background:#fff;padding:24px;border-radius:8px">
{% if store.logo_url %}<img src="{{ store.logo_url }}" alt="{{ store.name }}" style="max-height:48px"><br>{% endif %}
<h2 style="margin:8px 0 16px">{{ store.name }}</h2>
"#;

const LAYOUT_BOTTOM: &str = r#"
<p style="margin-top:24px;color:#888;font-size:12px">{{ store.name }} · {{ store.url }}</p>
</div>
</body>
</html>
"#;

const LINES_HTML: &str = r#"<table style="width:100%;border-collapse:collapse">
{% for line in order.lines %}<tr><td>{{ line.quantity }} × {{ line.name }}</td><td style="text-align:right">{{ line.subtotal }}</td></tr>
{% endfor %}<tr><td><b>Total</b></td><td style="text-align:right"><b>{{ order.total }}</b></td></tr>
</table>"#;

const LINES_TEXT: &str = "{% for line in order.lines %}- {{ line.quantity }} × {{ line.name }}: {{ line.subtotal }}\n{% endfor %}Total: {{ order.total }}\n";

/// Subject, HTML body and text body of a default, before the layout is put around them.
fn default_parts(kind: Kind, language: Language) -> (&'static str, String, String) {
    use Language::{En, Pt};
    match (kind, language) {
        (Kind::Welcome, Pt) => (
            "Bem-vindo à Summit, {{ store.name }}!",
            "<p>Sua loja está no ar em <a href=\"{{ store.url }}\">{{ store.temporary_domain }}</a>.</p>\n<p>Para administrá-la, acesse <a href=\"{{ store.admin_url }}\">{{ store.admin_url }}</a> com a chave de administração (<code>sk_…</code>) mostrada quando a loja foi criada, no cabeçalho <code>Authorization: Bearer</code>.</p>".to_owned(),
            "Sua loja está no ar em {{ store.url }}.\n\nPara administrá-la, acesse {{ store.admin_url }} com a chave de administração (sk_…) mostrada quando a loja foi criada, no cabeçalho Authorization: Bearer.\n".to_owned(),
        ),
        (Kind::Welcome, En) => (
            "Welcome to Summit, {{ store.name }}!",
            "<p>Your store is live at <a href=\"{{ store.url }}\">{{ store.temporary_domain }}</a>.</p>\n<p>To manage it, go to <a href=\"{{ store.admin_url }}\">{{ store.admin_url }}</a> with the admin key (<code>sk_…</code>) shown when the store was created, in an <code>Authorization: Bearer</code> header.</p>".to_owned(),
            "Your store is live at {{ store.url }}.\n\nTo manage it, go to {{ store.admin_url }} with the admin key (sk_…) shown when the store was created, in an Authorization: Bearer header.\n".to_owned(),
        ),
        (Kind::OrderReceived, Pt) => (
            "Recebemos seu pedido {{ order.number }}",
            format!("<p>Obrigado! Recebemos seu pedido <b>{{{{ order.number }}}}</b> e estamos confirmando o pagamento.</p>\n{LINES_HTML}"),
            format!("Obrigado! Recebemos seu pedido {{{{ order.number }}}} e estamos confirmando o pagamento.\n\n{LINES_TEXT}"),
        ),
        (Kind::OrderReceived, En) => (
            "We received your order {{ order.number }}",
            format!("<p>Thank you! We received your order <b>{{{{ order.number }}}}</b> and are confirming the payment.</p>\n{LINES_HTML}"),
            format!("Thank you! We received your order {{{{ order.number }}}} and are confirming the payment.\n\n{LINES_TEXT}"),
        ),
        (Kind::OrderConfirmed, Pt) => (
            "Pedido {{ order.number }} confirmado",
            "<p>Pagamento aprovado: seu pedido <b>{{ order.number }}</b> está confirmado.</p>\n<p>Total: {{ order.total }}</p>".to_owned(),
            "Pagamento aprovado: seu pedido {{ order.number }} está confirmado.\nTotal: {{ order.total }}\n".to_owned(),
        ),
        (Kind::OrderConfirmed, En) => (
            "Order {{ order.number }} confirmed",
            "<p>Payment approved: your order <b>{{ order.number }}</b> is confirmed.</p>\n<p>Total: {{ order.total }}</p>".to_owned(),
            "Payment approved: your order {{ order.number }} is confirmed.\nTotal: {{ order.total }}\n".to_owned(),
        ),
        (Kind::OrderCancelled, Pt) => (
            "Pedido {{ order.number }} cancelado",
            "<p>Seu pedido <b>{{ order.number }}</b> foi cancelado.</p>\n<p>{{ reason }}</p>".to_owned(),
            "Seu pedido {{ order.number }} foi cancelado.\n\n{{ reason }}\n".to_owned(),
        ),
        (Kind::OrderCancelled, En) => (
            "Order {{ order.number }} cancelled",
            "<p>Your order <b>{{ order.number }}</b> was cancelled.</p>\n<p>{{ reason }}</p>".to_owned(),
            "Your order {{ order.number }} was cancelled.\n\n{{ reason }}\n".to_owned(),
        ),
        (Kind::PaymentPending, Pt) => (
            "Seu pagamento do pedido {{ order.number }} está demorando um pouco",
            "<p>O pagamento do pedido <b>{{ order.number }}</b> está levando mais tempo que o normal para ser confirmado. Você não precisa fazer nada: avisaremos assim que ele for concluído.</p>".to_owned(),
            "O pagamento do pedido {{ order.number }} está levando mais tempo que o normal para ser confirmado. Você não precisa fazer nada: avisaremos assim que ele for concluído.\n".to_owned(),
        ),
        (Kind::PaymentPending, En) => (
            "Your payment for order {{ order.number }} is taking a little longer",
            "<p>The payment for order <b>{{ order.number }}</b> is taking longer than usual to be confirmed. There is nothing you need to do: we will let you know as soon as it completes.</p>".to_owned(),
            "The payment for order {{ order.number }} is taking longer than usual to be confirmed. There is nothing you need to do: we will let you know as soon as it completes.\n".to_owned(),
        ),
        (Kind::WebhookDisabled, Pt) => (
            "Webhook desativado: {{ endpoint.url }}",
            "<p>Desativamos o endpoint de webhook <code>{{ endpoint.url }}</code> porque as entregas falharam por tempo demais ({{ endpoint.reason }}).</p>\n<p>Corrija o endpoint e reative-o com <code>PATCH /admin/webhooks/{id}</code> <code>{\"enabled\": true}</code>; as entregas que falharam podem ser reenviadas em <code>POST /admin/deliveries/{id}/resend</code>.</p>".to_owned(),
            "Desativamos o endpoint de webhook {{ endpoint.url }} porque as entregas falharam por tempo demais ({{ endpoint.reason }}).\n\nCorrija o endpoint e reative-o com PATCH /admin/webhooks/{id} {\"enabled\": true}; as entregas que falharam podem ser reenviadas em POST /admin/deliveries/{id}/resend.\n".to_owned(),
        ),
        (Kind::WebhookDisabled, En) => (
            "Webhook disabled: {{ endpoint.url }}",
            "<p>We disabled the webhook endpoint <code>{{ endpoint.url }}</code> because deliveries to it failed for too long ({{ endpoint.reason }}).</p>\n<p>Fix the endpoint and enable it again with <code>PATCH /admin/webhooks/{id}</code> <code>{\"enabled\": true}</code>; failed deliveries can be sent again with <code>POST /admin/deliveries/{id}/resend</code>.</p>".to_owned(),
            "We disabled the webhook endpoint {{ endpoint.url }} because deliveries to it failed for too long ({{ endpoint.reason }}).\n\nFix the endpoint and enable it again with PATCH /admin/webhooks/{id} {\"enabled\": true}; failed deliveries can be sent again with POST /admin/deliveries/{id}/resend.\n".to_owned(),
        ),
    }
}

/// The default template of `kind` in `language`.
pub fn default(kind: Kind, language: Language) -> Source {
    let (subject, html, text) = default_parts(kind, language);
    let footer = "\n--\n{{ store.name }} · {{ store.url }}\n";
    Source {
        subject: subject.to_owned(),
        html: format!("{LAYOUT_TOP}{html}{LAYOUT_BOTTOM}"),
        text: format!("{{{{ store.name }}}}\n\n{text}{footer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_its_sample_and_names_the_store() {
        for kind in Kind::ALL {
            for language in Language::ALL {
                let source = default(kind, language);
                validate(kind, language, &source).unwrap();
                let out = render(&source, &sample_context(kind, language)).unwrap();
                assert!(out.html.contains("Loja Exemplo"), "{kind:?} {language:?}");
                assert!(out.text.contains("Loja Exemplo"), "{kind:?} {language:?}");
                assert!(out.html.contains("logo.png"), "{kind:?} {language:?}");
                assert!(!out.subject.contains('\n'));
                assert!(!out.subject.contains("{{"), "{}", out.subject);
            }
        }
    }

    #[test]
    fn languages_differ() {
        let pt = render(
            &default(Kind::OrderReceived, Language::Pt),
            &sample_context(Kind::OrderReceived, Language::Pt),
        )
        .unwrap();
        let en = render(
            &default(Kind::OrderReceived, Language::En),
            &sample_context(Kind::OrderReceived, Language::En),
        )
        .unwrap();
        assert!(pt.subject.starts_with("Recebemos"), "{}", pt.subject);
        assert!(en.subject.starts_with("We received"), "{}", en.subject);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let mut context = sample_context(Kind::OrderReceived, Language::En);
        context["order"]["lines"][0]["name"] = json!("<script>alert(1)</script>");
        let out = render(&default(Kind::OrderReceived, Language::En), &context).unwrap();
        assert!(!out.html.contains("<script>"), "{}", out.html);
        assert!(out.html.contains("&lt;script&gt;"), "{}", out.html);
        assert!(
            out.text.contains("<script>alert(1)</script>"),
            "{}",
            out.text
        );
    }

    #[test]
    fn a_broken_template_is_refused_with_its_line_and_reason() {
        let source = Source {
            subject: "Hi".into(),
            html: "<p>one</p>\n<p>two</p>\n{% for x in order.lines %}\n<p>{{ x.name }</p>".into(),
            text: "ok".into(),
        };
        let error = validate(Kind::OrderReceived, Language::En, &source).unwrap_err();
        assert_eq!(error.part, "html");
        assert_eq!(error.line, Some(4));
        assert!(error.reason.contains("syntax error"), "{error}");
        assert!(error.to_string().contains("line 4"), "{error}");
    }

    #[test]
    fn unknown_filters_are_refused_at_save() {
        let source = Source {
            subject: "Hi".into(),
            html: "ok".into(),
            text: "{{ store.name | shout }}".into(),
        };
        let error = validate(Kind::Welcome, Language::Pt, &source).unwrap_err();
        assert_eq!(error.part, "text");
        assert!(error.reason.contains("shout"), "{error}");
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let source = Source {
            subject: "Hi".into(),
            html: "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}"
                .into(),
            text: "ok".into(),
        };
        let error = validate(Kind::Welcome, Language::Pt, &source).unwrap_err();
        assert!(error.reason.contains("fuel"), "{error}");
    }

    #[test]
    fn templates_reach_no_file() {
        let source = Source {
            subject: "Hi".into(),
            html: "{% include \"/etc/passwd\" %}".into(),
            text: "ok".into(),
        };
        assert!(validate(Kind::Welcome, Language::Pt, &source).is_err());
    }

    #[test]
    fn a_template_failing_at_send_time_falls_back_to_the_default() {
        let custom = Source {
            subject: "{{ order.number }}".into(),
            html: "{{ order.total | round }}".into(),
            text: "x".into(),
        };
        let context = sample_context(Kind::OrderConfirmed, Language::Pt);
        let (rendered, failure) =
            render_or_default(Kind::OrderConfirmed, Language::Pt, Some(&custom), &context);
        assert!(failure.is_some());
        assert!(
            rendered.subject.contains("confirmado"),
            "{}",
            rendered.subject
        );
        let (rendered, failure) =
            render_or_default(Kind::OrderConfirmed, Language::Pt, None, &context);
        assert!(failure.is_none());
        assert!(rendered.subject.contains("confirmado"));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let source = Source {
            subject: "Hello\r\nBcc: victim@example.com {{ store.name }}".into(),
            html: "x".into(),
            text: "x".into(),
        };
        let out = render(&source, &sample_context(Kind::Welcome, Language::En)).unwrap();
        assert!(!out.subject.contains('\n') && !out.subject.contains('\r'));
    }
}
