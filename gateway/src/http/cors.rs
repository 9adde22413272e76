//! CORS, as `API.md` ("Browsers and clients") says: the origins in `CORS_ALLOWED_ORIGINS` may
//! call the API from a browser; by default none may (same origin only).
//!
//! tower-http's [`CorsLayer`] writes the headers, but it answers every `OPTIONS` as a preflight
//! and sends its `Access-Control-*` headers whatever the origin. So [`Cors::apply`] hands it
//! only the requests of an allowed origin (and, of `OPTIONS`, only real preflights): any other
//! origin gets no `Access-Control-*` header, and its preflight meets the router, which answers
//! 405 in the GraphQL shape.
//!
//! Credentials: with a list of origins the answers allow them (`Authorization` is how a caller
//! signs in; cookies are not used), so the allowed origin is echoed, never `*`. With `*` they are
//! not allowed (browsers refuse `*` with credentials, and the contract allows `*` only without
//! them): any page may then call the API anonymously, and a bearer token works only from the
//! gateway's own origin.

use std::{fmt, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::Next,
    response::Response,
};
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::REQUEST_ID;

/// How long a browser may keep a preflight's answer, in seconds (Chromium caps it at 7200).
const MAX_AGE_SECONDS: u64 = 600;

/// The request headers a browser app may send: JSON, a bearer token, the headers Apollo Client
/// and GraphQL Yoga send to force a preflight (and Apollo's client awareness), and a request
/// id. Named one by one: `*` never stands for `Authorization` (Fetch standard).
const ALLOWED_HEADERS: [&str; 8] = [
    "content-type",
    "authorization",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-preflight",
    "apollographql-client-name",
    "apollographql-client-version",
    REQUEST_ID,
];

/// One item of `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigin {
    /// `*`: any origin, without credentials.
    Any,
    /// `scheme://host[:port]`, lower case, as a browser sends it in `Origin`.
    Origin(HeaderValue),
    /// An empty item: `CORS_ALLOWED_ORIGINS=` (as a compose file passes an unset variable) or
    /// a trailing comma. It allows nothing.
    Nothing,
}

impl fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Origin(origin) => f.write_str(origin.to_str().unwrap_or_default()),
            Self::Nothing => Ok(()),
        }
    }
}

/// clap's parser of one origin: `*`, or `scheme://host[:port]` with nothing after it (an
/// `Origin` header never has a path, so `http://localhost:5173/` would never match).
pub fn parse_origin(text: &str) -> Result<CorsOrigin, String> {
    let text = text.trim();
    match text {
        "*" => return Ok(CorsOrigin::Any),
        "" => return Ok(CorsOrigin::Nothing),
        _ => {}
    }
    let explain = |why: &str| {
        format!(
            "{text:?} is not an origin ({why}): write scheme://host[:port], e.g. https://app.example.com or http://localhost:5173"
        )
    };
    let (scheme, authority) = text.split_once("://").ok_or_else(|| explain("no scheme://"))?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(explain("the scheme is not a URL scheme"));
    }
    if authority.contains(['/', '?', '#']) {
        return Err(explain("an origin has no path, query or fragment, not even a trailing /"));
    }
    if authority.contains('@') {
        return Err(explain("an origin has no user name or password"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = if let Some(ipv6) = host.strip_prefix('[') {
        ipv6.strip_suffix(']').is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    };
    if !host_ok {
        return Err(explain("the host is not a host name or an IP address"));
    }
    if port.is_some_and(|port| port.parse::<u16>().is_err()) {
        return Err(explain("the port is not a number from 0 to 65535"));
    }
    // What was checked is ASCII, which every header value may hold.
    HeaderValue::from_str(&text.to_ascii_lowercase()).map(CorsOrigin::Origin).map_err(|_| explain("not ASCII"))
}

/// The CORS rules of a gateway with `CORS_ALLOWED_ORIGINS` set.
pub struct Cors {
    layer: CorsLayer,
    /// Empty for `*`.
    origins: Vec<HeaderValue>,
}

impl Cors {
    /// The rules for these origins; `None` when there are none (same origin only). `*` with
    /// other origins is refused: it would allow every origin, without credentials, which is
    /// not what listing origins asks for.
    pub fn new(origins: &[CorsOrigin]) -> anyhow::Result<Option<Arc<Self>>> {
        let origins: Vec<&CorsOrigin> = origins.iter().filter(|origin| **origin != CorsOrigin::Nothing).collect();
        if origins.is_empty() {
            return Ok(None);
        }
        let any = origins.contains(&&CorsOrigin::Any);
        anyhow::ensure!(
            !any || origins.len() == 1,
            "CORS_ALLOWED_ORIGINS is either * alone (any origin, without credentials) or a list of \
             origins, not both: {}",
            origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        let layer = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers([HeaderName::from_static(REQUEST_ID)])
            .max_age(Duration::from_secs(MAX_AGE_SECONDS));
        let origins: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|origin| match origin {
                CorsOrigin::Origin(origin) => Some(origin.clone()),
                CorsOrigin::Any | CorsOrigin::Nothing => None,
            })
            .collect();
        let layer = if any {
            layer.allow_origin(AllowOrigin::any())
        } else {
            layer.allow_origin(AllowOrigin::list(origins.clone())).allow_credentials(true)
        };
        Ok(Some(Arc::new(Self { layer, origins })))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.origins.is_empty() || self.origins.contains(origin)
    }

    /// The middleware: the requests of an allowed origin through tower-http's CORS (which
    /// answers their preflights itself), every other request straight on.
    pub async fn apply(State(cors): State<Arc<Self>>, request: Request, next: Next) -> Response {
        let headers = request.headers();
        let allowed = headers.get(header::ORIGIN).is_some_and(|origin| cors.allows(origin));
        // A preflight is an OPTIONS that names the method it asks for (Fetch standard).
        let not_a_preflight =
            request.method() == Method::OPTIONS && !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if !allowed || not_a_preflight {
            let mut response = next.run(request).await;
            if !cors.origins.is_empty() {
                // The answer to the same URL differs by Origin: a shared cache must know.
                response.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
            }
            return response;
        }
        match cors.layer.clone().layer(next).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_read_lower_case_and_anything_else_is_refused_with_why() {
        assert_eq!(
            parse_origin(" HTTP://LocalHost:5173 "),
            Ok(CorsOrigin::Origin(HeaderValue::from_static("http://localhost:5173")))
        );
        assert_eq!(parse_origin("*"), Ok(CorsOrigin::Any));
        for origin in ["https://app.example.com", "http://[::1]:8080", "capacitor://localhost", "http://10.0.0.1"] {
            assert!(parse_origin(origin).is_ok(), "{origin}");
        }
        for (origin, why) in [
            ("localhost:5173", "no scheme"),
            ("http://localhost:5173/", "no path"),
            ("https://example.com/app", "no path"),
            ("http://", "host"),
            ("http://exa mple.com", "host"),
            ("http://example.com:99999", "port"),
            ("http://user@example.com", "user name"),
            ("null", "no scheme"),
        ] {
            let error = parse_origin(origin).unwrap_err();
            assert!(error.contains(why) && error.contains("scheme://host[:port]"), "{origin}: {error}");
        }
    }

    #[test]
    fn a_star_among_origins_is_refused_and_no_origin_is_no_cors() {
        let list = [CorsOrigin::Any, parse_origin("http://localhost:5173").unwrap()];
        let error = Cors::new(&list).err().unwrap().to_string();
        assert!(error.contains("* alone"), "{error}");
        assert!(Cors::new(&[]).unwrap().is_none());
        assert_eq!(parse_origin(" "), Ok(CorsOrigin::Nothing));
        assert!(Cors::new(&[CorsOrigin::Nothing]).unwrap().is_none(), "CORS_ALLOWED_ORIGINS= is no CORS");
        assert!(Cors::new(&list[..1]).unwrap().is_some());
    }
}
