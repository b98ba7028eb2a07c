//! Escaping, and the frame every page shares. Every text that comes from the store or the
//! request (payloads, errors, queue and job names, ids, cursors) goes through [`esc`]
//! before it becomes HTML; nothing else turns text into markup.

use super::Ctx;
use std::fmt::Write;

/// `text` made safe inside HTML text and inside quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` made safe as one query parameter value.
pub(crate) fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The pages of the menu: (path below the base, label).
const MENU: [(&str, &str); 7] = [
    ("/", "Overview"),
    ("/queues", "Queues"),
    ("/jobs", "Jobs"),
    ("/failed", "Failed"),
    ("/batches", "Batches"),
    ("/workers", "Workers"),
    ("/schedules", "Schedules"),
];

/// A whole page: the menu with `active` marked, a note if one is given, and `body`
/// (already escaped markup).
pub(crate) fn page(ctx: &Ctx, title: &str, active: &str, body: &str) -> String {
    let base = esc(&ctx.base);
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\" data-base=\"{base}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · rakit-job</title>\
         <link rel=\"stylesheet\" href=\"{base}/assets/dashboard.css?v={css}\">\
         <script src=\"{base}/assets/dashboard.js?v={js}\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"{base}/\">rakit-job</a>",
        title = esc(title),
        css = super::assets::CSS_VERSION.as_str(),
        js = super::assets::JS_VERSION.as_str(),
    );
    if ctx.locked {
        out.push_str("</header><main>");
    } else {
        menu(ctx, active, &mut out);
    }
    if let Some(note) = &ctx.note {
        let _ = write!(out, "<p class=\"note\" role=\"status\">{}</p>", esc(note));
    }
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// The menu, the store and the sign-out button.
fn menu(ctx: &Ctx, active: &str, out: &mut String) {
    let base = esc(&ctx.base);
    out.push_str("<nav>");
    for (path, label) in MENU {
        let current = if label == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{base}{path}\"{current}>{label}</a>");
    }
    out.push_str("</nav><span class=\"store\">");
    out.push_str(&esc(&ctx.store));
    if ctx.read_only {
        out.push_str(" <b class=\"badge\">read-only</b>");
    }
    out.push_str("</span>");
    if ctx.signed_in {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{base}/logout\" class=\"inline\">{}\
             <button class=\"link\">Sign out</button></form>",
            csrf_field(ctx)
        );
    }
    out.push_str("</header><main>");
}

/// The hidden field every action form carries.
pub(crate) fn csrf_field(ctx: &Ctx) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&ctx.csrf)
    )
}

/// A one-button action form posting `fields` to `action` (a path below the base), or
/// nothing when the dashboard is read-only.
pub(crate) fn button(ctx: &Ctx, action: &str, fields: &[(&str, &str)], label: &str) -> String {
    form_button(ctx, action, fields, label, None)
}

/// A [`button`] for an action that cannot be undone: the script asks `question` first.
pub(crate) fn danger_button(
    ctx: &Ctx,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    question: &str,
) -> String {
    form_button(ctx, action, fields, label, Some(question))
}

fn form_button(
    ctx: &Ctx,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    question: Option<&str>,
) -> String {
    if ctx.read_only {
        return String::new();
    }
    let mut out = format!(
        "<form method=\"post\" action=\"{}{}\" class=\"inline\">{}",
        esc(&ctx.base),
        esc(action),
        csrf_field(ctx)
    );
    for (name, value) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(value)
        );
    }
    match question {
        Some(q) => {
            let _ = write!(out, "<button class=\"danger\" data-confirm=\"{}\">", esc(q));
        }
        None => out.push_str("<button>"),
    }
    let _ = write!(out, "{}</button></form>", esc(label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_and_attributes_is_escaped() {
        let payload = r#"</pre><script>alert('x')</script><img src=x onerror="alert(1)">"#;
        let escaped = esc(payload);
        assert!(!escaped.contains('<') && !escaped.contains('>'));
        assert!(!escaped.contains('"') && !escaped.contains('\''));
        assert_eq!(esc("a & b"), "a &amp; b");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_part("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_part("send-email_2.x~"), "send-email_2.x~");
    }
}
