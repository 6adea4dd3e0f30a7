//! Registry authentication: `WWW-Authenticate` challenges and bearer tokens from the token
//! server a registry names (Docker's token protocol, including OAuth2 refresh tokens).

use super::credentials::{Credential, Secret};
use std::time::{Duration, Instant};

/// A challenge from a 401 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// Present when the registry says which scope the refused request needed.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value into the challenges lade understands (others are
/// skipped). Handles quoted strings with escapes and several challenges in one header.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip(b", \t");
        let Some(scheme) = p.token() else { break };
        let mut params: Vec<(String, String)> = Vec::new();
        loop {
            p.skip(b" \t");
            let save = p.i;
            // A parameter is `name=value`; a bare token is the next challenge's scheme.
            let Some(name) = p.token() else { break };
            p.skip(b" \t");
            if !p.eat(b'=') {
                p.i = save;
                break;
            }
            p.skip(b" \t");
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().unwrap_or_default()
            };
            params.push((name.to_ascii_lowercase(), value));
            p.skip(b" \t");
            if !p.eat(b',') {
                break;
            }
        }
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => out.push(Challenge::Basic),
            "bearer" => {
                if let Some(realm) = get("realm") {
                    out.push(Challenge::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                    });
                }
            }
            _ => {}
        }
        if p.i >= p.s.len() {
            break;
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip(&mut self, set: &[u8]) {
        while self.peek().is_some_and(|c| set.contains(&c)) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_graphic() && !b"\",=;".contains(&c))
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> String {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    pub value: Secret,
    pub expires: Instant,
}

impl Token {
    pub fn fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Why a token request failed; the caller adds the registry and action.
#[derive(Debug)]
pub enum TokenFailure {
    /// The token server refused the credentials (401/403).
    Refused { status: u16, detail: String },
    /// Anything else: the detail says what.
    Other {
        detail: String,
        status: Option<u16>,
        retryable: bool,
    },
}

/// Asks the token server at `realm` for a token covering `scopes`.
pub async fn fetch_token(
    http: &reqwest::Client,
    realm: &reqwest::Url,
    service: Option<&str>,
    scopes: &[String],
    credential: Option<&Credential>,
) -> Result<Token, TokenFailure> {
    let request = match credential {
        // Refresh tokens are exchanged with an OAuth2 POST, as Docker does.
        Some(Credential::IdentityToken(t)) => {
            let mut form: Vec<(&str, &str)> = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", t.expose()),
                ("client_id", "lade"),
            ];
            if let Some(s) = service {
                form.push(("service", s));
            }
            let joined = scopes.join(" ");
            if !scopes.is_empty() {
                form.push(("scope", &joined));
            }
            let body = form_encode(&form);
            http.post(realm.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        }
        other => {
            let mut url = realm.clone();
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
                if let Some(Credential::Basic { username, .. }) = other {
                    q.append_pair("account", username);
                }
            }
            let rb = http.get(url);
            match other {
                Some(Credential::Basic { username, password }) => {
                    rb.basic_auth(username, Some(password.expose()))
                }
                _ => rb,
            }
        }
    };
    let resp = request.send().await.map_err(|e| TokenFailure::Other {
        detail: super::transport::error_chain(&e),
        status: None,
        retryable: true,
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let body = resp.text().await.unwrap_or_default();
        return Err(TokenFailure::Refused {
            status: status.as_u16(),
            detail: super::transport::describe_error_body(&body),
        });
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(TokenFailure::Other {
            detail: super::transport::status_detail(status, &body),
            status: Some(status.as_u16()),
            retryable: super::transport::retryable_status(status),
        });
    }
    let answer: TokenAnswer = resp.json().await.map_err(|e| TokenFailure::Other {
        detail: format!("the token server's answer is not valid JSON: {e}"),
        status: Some(status.as_u16()),
        retryable: false,
    })?;
    let value = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| TokenFailure::Other {
            detail: "the token server's answer has no token".into(),
            status: Some(status.as_u16()),
            retryable: false,
        })?;
    // The spec's default lifetime is 60 s; renew a little early so a token never expires
    // between the check and the request.
    let lifetime = answer.expires_in.unwrap_or(60).max(60);
    Ok(Token {
        value: Secret::new(value),
        expires: Instant::now() + Duration::from_secs(lifetime - 10),
    })
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").expect("static URL");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    u.query().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            }]
        );
        assert_eq!(
            parse_challenges(r#"Basic realm="Registry Realm""#),
            vec![Challenge::Basic]
        );
        assert_eq!(
            parse_challenges(
                r#"Negotiate, Basic realm="a\"b", Bearer realm=https://t/x , error="insufficient_scope""#
            ),
            vec![
                Challenge::Basic,
                Challenge::Bearer {
                    realm: "https://t/x".into(),
                    service: None,
                    scope: None
                }
            ]
        );
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("Bearer service=x").is_empty());
    }
}
