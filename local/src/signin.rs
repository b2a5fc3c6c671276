//! The local stand-in of Cognito's managed login, so the web pages sign in locally exactly as in AWS: OAuth 2.0
//! authorization code with PKCE (S256). `GET /dev/oauth2/authorize` is a sign-in form (any user, shopper or
//! artisan: the local stand-in for an account), its POST issues a one-time code to the redirect URI (this server's
//! own origin only), and `POST /dev/oauth2/token` trades code and verifier for an ID token signed like
//! `/dev/token`'s. Local only, never in AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request as AxumRequest, State};
use axum::response::{Html, IntoResponse, Redirect, Response as AxumResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use storefront::api::Role;
use storefront::domain::UserId;
use time::OffsetDateTime;

use crate::gateway::Gateway;
use crate::jwt::Claims;

/// How long an issued code may be traded.
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// The app client the local pages are configured with (`SiteConfig`'s default).
pub const LOCAL_CLIENT_ID: &str = "local";

/// A code waiting to be traded for a token.
struct Grant {
    challenge: String,
    redirect_uri: String,
    claims: Claims,
    issued: Instant,
}

/// Codes issued and not yet traded.
#[derive(Clone, Default)]
pub struct Grants(Arc<Mutex<HashMap<String, Grant>>>);

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    state: String,
}

/// The page every sign-in comes back to: the one callback URL the app client registers (template.yaml's
/// `CallbackURLs`), on the site's own origin.
pub const CALLBACK_PATH: &str = "/signin";

/// The redirect must come back to this server's sign-in page, as Cognito holds it to the registered callback URL
/// (no open redirect: parsed, its origin compared, not its spelling), and the request be a PKCE code request for
/// the local client.
fn check(query: &AuthorizeQuery, host: &str) -> Result<(), String> {
    if query.response_type != "code" || query.client_id != LOCAL_CLIENT_ID {
        return Err("only response_type=code for the local client".into());
    }
    if query.code_challenge_method != "S256" || query.code_challenge.len() < 43 {
        return Err("PKCE with S256 is required".into());
    }
    if !is_callback(&query.redirect_uri, host) {
        return Err(format!("redirect_uri must be this server's {CALLBACK_PATH}"));
    }
    Ok(())
}

/// Whether `redirect_uri` is `http(s)://<host>/signin`, parsed as a URL (so `//other`, `\other`, userinfo or a
/// longer host name cannot pass for this server).
fn is_callback(redirect_uri: &str, host: &str) -> bool {
    let Ok(own) = url::Url::parse(&format!("http://{host}/")) else { return false };
    let Ok(target) = url::Url::parse(redirect_uri) else { return false };
    matches!(target.scheme(), "http" | "https")
        && target.host() == own.host()
        && target.port_or_known_default() == own.port_or_known_default()
        && target.username().is_empty()
        && target.password().is_none()
        && target.path() == CALLBACK_PATH
        && target.query().is_none()
        && target.fragment().is_none()
}

fn host(req: &AxumRequest) -> String {
    req.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn escape(raw: &str) -> String {
    raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn refused(reason: &str) -> AxumResponse {
    (StatusCode::BAD_REQUEST, Html(format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused</title></head><body><main><h1>Sign-in refused</h1><p>{}</p></main></body></html>", escape(reason)))).into_response()
}

/// `GET /dev/oauth2/authorize`: the sign-in form.
pub async fn authorize_form(query: Result<Query<AuthorizeQuery>, QueryRejection>, req: AxumRequest) -> AxumResponse {
    // A query that is not one (a parameter missing or repeated) is refused on the same page as any other.
    let Ok(Query(query)) = query else { return refused("not a sign-in request: a parameter is missing or malformed") };
    if let Err(reason) = check(&query, &host(&req)) {
        return refused(&reason);
    }
    let hidden: String = [
        ("response_type", &query.response_type),
        ("client_id", &query.client_id),
        ("redirect_uri", &query.redirect_uri),
        ("code_challenge", &query.code_challenge),
        ("code_challenge_method", &query.code_challenge_method),
        ("state", &query.state),
    ]
    .iter()
    .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value)))
    .collect();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Storefront (local)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1d1b19}}
form{{display:grid;gap:.9rem}}label{{display:grid;gap:.25rem;font-weight:600}}fieldset label{{display:block;font-weight:400}}
input{{font:inherit;padding:.5rem;border:1px solid #8c857c;border-radius:6px}}
button{{font:inherit;font-weight:600;padding:.6rem 1rem;border:0;border-radius:6px;background:#8a3b12;color:#fff}}</style></head>
<body><main>
<h1>Sign in</h1>
<p>The local stand-in for the sign-in page (Cognito's managed login in AWS): any name signs in, no password.</p>
<form method="post" action="/dev/oauth2/authorize">{hidden}
  <label>User name <input name="user_id" required pattern="[A-Za-z0-9._@+\-]{{1,128}}" autocomplete="username" value="alice"></label>
  <fieldset><legend>Account</legend>
    <label><input type="radio" name="role" value="shopper" checked> Shopper</label>
    <label><input type="radio" name="role" value="artisan"> Artisan (sells here)</label>
  </fieldset>
  <label>Display name <input name="name" autocomplete="name"></label>
  <label>Email (for order confirmations) <input name="email" type="email" autocomplete="email"></label>
  <button type="submit">Sign in</button>
</form>
</main></body></html>"#
    );
    ([(http::header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    state: String,
    user_id: String,
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

fn random_code() -> String {
    let mut bytes = [0u8; 24];
    let _ = getrandom::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /dev/oauth2/authorize`: signs the user in and sends the browser back with a one-time code.
pub async fn authorize(State(gateway): State<Gateway>, req: AxumRequest) -> AxumResponse {
    let host = host(&req);
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else { return refused("too large") };
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&bytes) else { return refused("a malformed form") };
    let query = AuthorizeQuery {
        response_type: form.response_type,
        client_id: form.client_id,
        redirect_uri: form.redirect_uri,
        code_challenge: form.code_challenge,
        code_challenge_method: form.code_challenge_method,
        state: form.state,
    };
    if let Err(reason) = check(&query, &host) {
        return refused(&reason);
    }
    let Some(user) = UserId::parse(form.user_id.trim()) else {
        return refused("a user name of letters, digits and . _ @ + -");
    };
    let role = if form.role == "artisan" { Role::Artisan } else { Role::Shopper };
    let name = Some(form.name.trim().to_owned()).filter(|n| !n.is_empty());
    let mut claims = Claims::new(user.as_str(), role, name, OffsetDateTime::now_utc().unix_timestamp());
    let email = form.email.trim().to_owned();
    if !email.is_empty() {
        claims.email = Some(email);
        claims.email_verified = true;
    }
    let code = random_code();
    let mut grants = gateway.grants.lock();
    grants.retain(|_, grant| grant.issued.elapsed() < CODE_LIFETIME);
    grants.insert(
        code.clone(),
        Grant {
            challenge: query.code_challenge,
            redirect_uri: query.redirect_uri.clone(),
            claims,
            issued: Instant::now(),
        },
    );
    drop(grants);
    let separator = if query.redirect_uri.contains('?') { '&' } else { '?' };
    let state =
        serde_urlencoded::to_string([("code", code.as_str()), ("state", query.state.as_str())]).unwrap_or_default();
    Redirect::to(&format!("{}{separator}{state}", query.redirect_uri)).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

fn grant_error(error: &str) -> AxumResponse {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error }))).into_response()
}

/// `POST /dev/oauth2/token`: a code and its verifier for an ID token, once.
pub async fn token(State(gateway): State<Gateway>, body: axum::body::Bytes) -> AxumResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&body) else { return grant_error("invalid_request") };
    if form.grant_type != "authorization_code" {
        return grant_error("unsupported_grant_type");
    }
    // Single use: taken out whatever follows.
    let Some(grant) = gateway.grants.lock().remove(&form.code) else { return grant_error("invalid_grant") };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(form.code_verifier.as_bytes()));
    if grant.issued.elapsed() >= CODE_LIFETIME
        || form.client_id != LOCAL_CLIENT_ID
        || form.redirect_uri != grant.redirect_uri
        || challenge != grant.challenge
    {
        return grant_error("invalid_grant");
    }
    let token = gateway.jwt.sign(&grant.claims);
    let expires_in = grant.claims.exp - OffsetDateTime::now_utc().unix_timestamp();
    (
        [(http::header::CACHE_CONTROL, "no-store")],
        axum::Json(
            json!({ "id_token": token, "access_token": token, "token_type": "Bearer", "expires_in": expires_in }),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_servers_sign_in_page_is_a_callback() {
        let host = "127.0.0.1:3000";
        assert!(is_callback("http://127.0.0.1:3000/signin", host));
        for other in [
            "http://127.0.0.1:3000/",
            "http://127.0.0.1:3000/x",
            "http://127.0.0.1:3000//evil.example/signin",
            "http://127.0.0.1:3000/\\evil.example",
            "http://127.0.0.1:3000@evil.example/signin",
            "http://127.0.0.1:3000.evil.example/signin",
            "http://127.0.0.1:3001/signin",
            "http://user:pw@127.0.0.1:3000/signin",
            "https://evil.example/signin",
            "//evil.example/signin",
            "/signin",
            "javascript:alert(1)//127.0.0.1:3000/signin",
            "http://127.0.0.1:3000/signin?next=//evil.example",
        ] {
            assert!(!is_callback(other, host), "{other}");
        }
    }
}
