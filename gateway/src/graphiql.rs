//! GraphiQL, served whole by the gateway: the page at `GET /graphql` ([`page`], for browsers)
//! and everything it loads under `/graphiql/` ([`routes`]), so it works with no internet.
//!
//! The assets are GraphiQL 4's UMD build and React 18's production builds, vendored into
//! `gateway/assets/graphiql/` by `scripts/vendor-graphiql.sh` (versions, integrity and licenses:
//! that folder's README), plus a stylesheet and a start-up script of our own. They are embedded
//! in the binary; each is served under a name that carries a hash of its content
//! (`graphiql.<hash>.min.js`), with that hash as a strong `ETag`, `Cache-Control: public,
//! max-age=31536000, immutable`, and 304 for an `If-None-Match` that matches. A new build
//! with a changed asset gives it a new name, which the page, never cached without
//! revalidation, names.
//!
//! The page has no inline script or style of its own, so its Content-Security-Policy
//! ([`CONTENT_SECURITY_POLICY`]) lets scripts, styles, fetches and everything else come from
//! the gateway's own origin only; GraphiQL inserts `<style>` elements, hence `'unsafe-inline'`
//! for styles, and its stylesheet inlines its fonts and icons as `data:` URLs.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// Where the assets are served: `/graphiql/<name with its hash>`.
pub const ASSETS_PATH: &str = "/graphiql";

/// The page's Content-Security-Policy: nothing from outside the gateway's origin, no inline
/// script, no `eval`, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long a browser keeps an asset: a year, without asking again (its name changes with it).
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// One file embedded in the binary.
struct Asset {
    /// Its name in `gateway/assets/graphiql/`.
    file: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset {
            file: $file,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every asset, in the order the page loads them.
static ASSETS: [Asset; 6] = [
    asset!("graphiql.min.css", CSS),
    asset!("page.css", CSS),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphiql.min.js", JS),
    asset!("init.js", JS),
];

/// An asset as it is served: under a name with its hash, with that hash as its `ETag`.
struct Served {
    asset: &'static Asset,
    /// `graphiql.<hash>.min.js` for `graphiql.min.js`.
    name: String,
    etag: HeaderValue,
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = format!("{:016x}", fnv1a64(asset.body));
            let name = match asset.file.split_once('.') {
                Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
                None => format!("{}.{hash}", asset.file),
            };
            let etag = HeaderValue::from_str(&format!("\"{hash}\"")).expect("a hex ETag is a header value");
            Served { asset, name, etag }
        })
        .collect()
});

/// FNV-1a, 64 bits: names a file's content (not a defence against anyone: the files are ours).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The URL path of an asset, by its file name.
fn url_of(file: &str) -> String {
    let served = SERVED.iter().find(|served| served.asset.file == file).expect("an embedded asset");
    format!("{ASSETS_PATH}/{}", served.name)
}

static PAGE: LazyLock<String> = LazyLock::new(|| {
    let styles: String = ASSETS
        .iter()
        .filter(|asset| asset.content_type == CSS)
        .map(|asset| format!("    <link rel=\"stylesheet\" href=\"{}\">\n", url_of(asset.file)))
        .collect();
    let scripts: String = ASSETS
        .iter()
        .filter(|asset| asset.content_type == JS)
        .map(|asset| format!("    <script src=\"{}\" defer></script>\n", url_of(asset.file)))
        .collect();
    format!(
        "<!doctype html>\n\
         <html lang=\"en\">\n  \
           <head>\n    \
             <meta charset=\"utf-8\">\n    \
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n    \
             <meta name=\"robots\" content=\"noindex\">\n    \
             <title>GraphQL over RabbitMQ</title>\n    \
             <link rel=\"icon\" href=\"data:,\">\n\
         {styles}{scripts}  \
           </head>\n  \
           <body>\n    \
             <div id=\"graphiql\"><noscript>GraphiQL needs JavaScript.</noscript></div>\n  \
           </body>\n\
         </html>\n"
    )
});

/// The GraphiQL page: HTML naming the assets [`routes`] serves, with its Content-Security-Policy.
/// Revalidated on every load (`no-cache`), so a new gateway's asset names are seen at once.
pub fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

/// `GET /graphiql/{name}`: the page's assets (HEAD too, as axum answers it for GET routes).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{ASSETS_PATH}/{{name}}"), get(asset))
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(served) = SERVED.iter().find(|served| served.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            "no such asset",
        )
            .into_response();
    };
    let cache =
        [(header::ETAG, served.etag.clone()), (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE_CONTROL))];
    if headers.get_all(header::IF_NONE_MATCH).iter().any(|value| matches_etag(value, &served.etag)) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(served.asset.content_type)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        served.asset.body,
    )
        .into_response()
}

/// Whether an `If-None-Match` value names this ETag: `*`, or a list of tags compared weakly
/// (RFC 9110, 13.1.2: `W/"x"` matches `"x"`).
fn matches_etag(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    list.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_name_with_its_hash_and_the_page_names_them_all() {
        let page = PAGE.as_str();
        for served in SERVED.iter() {
            assert!(!served.asset.body.is_empty(), "{} is empty", served.asset.file);
            let hash = served.etag.to_str().unwrap_or_default().trim_matches('"');
            assert!(served.name.contains(hash), "{} carries {hash}", served.name);
            assert!(page.contains(&format!("\"{ASSETS_PATH}/{}\"", served.name)), "the page names {}", served.name);
        }
        assert!(page.contains("<title>GraphQL over RabbitMQ</title>"));
        // Each script needs the ones before it: React, ReactDOM, GraphiQL, then ours.
        let at = |file: &str| page.find(&url_of(file)).expect("named");
        assert!(at("react.production.min.js") < at("react-dom.production.min.js"));
        assert!(at("react-dom.production.min.js") < at("graphiql.min.js"));
        assert!(at("graphiql.min.js") < at("init.js"));
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_takes_lists_and_a_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let matches = |value: &'static str| matches_etag(&HeaderValue::from_static(value), &etag);
        assert!(matches("\"abc\""));
        assert!(matches("W/\"abc\""));
        assert!(matches("\"x\", \"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"abcd\""));
        assert!(!matches("abc"));
    }
}
