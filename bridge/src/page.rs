//! The HTML the browser sees: the sign-in page (QR code, link, countdown, live status) and the
//! error page, from the templates in `bridge/templates/`, every value HTML-escaped.

use sealgate_client::qr;

use crate::config::ClientConfig;

/// The sign-in page's template.
const SIGNIN_HTML: &str = include_str!("../templates/signin.html");
/// The error page's template.
const ERROR_HTML: &str = include_str!("../templates/error.html");
/// The page's script (served from `/assets/signin.js`: the policy allows no inline script).
pub const SIGNIN_JS: &str = include_str!("../templates/signin.js");
/// The page's style sheet (`/assets/signin.css`).
pub const SIGNIN_CSS: &str = include_str!("../templates/signin.css");

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// What the sign-in page shows.
#[derive(Debug)]
pub struct SignInPage<'a> {
    /// The website.
    pub client: &'a ClientConfig,
    /// The sign-in request URI.
    pub signin_uri: &'a str,
    /// When it expires, seconds since the epoch.
    pub expires_at: u64,
    /// Seconds left now.
    pub seconds_left: u64,
    /// This sign-in's id (its URLs are under `/signin/{id}`).
    pub id: &'a str,
}

/// The sign-in page.
pub fn signin(page: &SignInPage<'_>) -> String {
    let name = escape(&page.client.name);
    let logo = page
        .client
        .logo_uri
        .as_deref()
        .map_or(String::new(), |uri| {
            format!(r#"<img src="{}" alt="{name} logo">"#, escape(uri))
        });
    let label = format!("QR code: sign in to {}", page.client.name);
    let ttl_text = format!("{}:{:02}", page.seconds_left / 60, page.seconds_left % 60);
    SIGNIN_HTML
        .replace("{{logo}}", &logo)
        .replace("{{qr_svg}}", &qr::svg(page.signin_uri, &label))
        .replace("{{signin_uri}}", &escape(page.signin_uri))
        .replace("{{status_url}}", &format!("/signin/{}/status", page.id))
        .replace("{{cancel_url}}", &format!("/signin/{}/cancel", page.id))
        .replace("{{retry_url}}", &format!("/signin/{}/retry", page.id))
        .replace("{{expires_at}}", &page.expires_at.to_string())
        .replace("{{ttl_text}}", &ttl_text)
        .replace("{{name}}", &name)
}

/// The error page with `message`.
pub fn error(message: &str) -> String {
    ERROR_HTML.replace("{{message}}", &escape(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningAlg;

    #[test]
    fn values_are_escaped_and_every_placeholder_is_filled() {
        let client = ClientConfig {
            client_id: "site".into(),
            client_secret: None,
            client_secret_sha256: None,
            redirect_uris: vec!["https://site.example/cb".into()],
            name: "<b>Shop</b> & \"Co\"".into(),
            logo_uri: Some("/logo.svg".into()),
            id_token_signed_response_alg: SigningAlg::RS256,
        };
        let html = signin(&SignInPage {
            client: &client,
            signin_uri: "sealgate:signin?v=1&gw=x",
            expires_at: 100,
            seconds_left: 125,
            id: "abc",
        });
        assert!(!html.contains("{{"));
        assert!(!html.contains("<b>Shop"));
        assert!(html.contains("&lt;b&gt;Shop&lt;/b&gt; &amp; &quot;Co&quot;"));
        assert!(html.contains(r#"data-signin-request="sealgate:signin?v=1&amp;gw=x""#));
        assert!(html.contains("2:05"));
        assert!(html.contains("<svg "));
        assert!(!html.contains("<script>"), "no inline script");
        assert!(error("<x>").contains("&lt;x&gt;"));
    }
}
