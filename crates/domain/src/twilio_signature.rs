//! Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
//! account's auth token, over the full URL Twilio called followed by every POST
//! parameter's name and value, sorted by name. The webhook listener verifies it; the
//! provider sandbox signs its callbacks with it, as Twilio does.
//!
//! Twilio signs the URL as it was configured, with or without the scheme's default port
//! (`:443`, `:80`), and a proxy in front of us may add or drop it; so, as Twilio's own
//! libraries do, both forms are accepted. The comparison is constant-time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio sends for `url` and `params` (form parameters, in any order).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mac = mac_over(auth_token, url, params);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this URL (with or without its default port) and
/// these parameters.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(claimed) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    url_variants(url).iter().any(|candidate| {
        mac_over(auth_token, candidate, params)
            .verify_slice(&claimed)
            .is_ok()
    })
}

fn mac_over(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <HmacSha1 as Mac>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(url.as_bytes());
    // Sorted by name, then value, each pair once: what Twilio's libraries sign when a
    // name repeats.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The URL as given, plus the same URL with its scheme's default port added (when it
/// has no port) or removed (when it has the default one).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    // `host:port`, where host may be a bracketed IPv6 literal holding colons.
    let port_at = authority
        .rfind(':')
        .filter(|i| !authority[*i..].contains(']'));
    match port_at {
        None => variants.push(format!("{scheme}://{authority}:{default_port}{tail}")),
        Some(i) if &authority[i + 1..] == default_port => {
            variants.push(format!("{scheme}://{}{tail}", &authority[..i]));
        }
        Some(_) => {}
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// The example in Twilio's security documentation ("Validating Requests").
    fn docs_example() -> Vec<(String, String)> {
        params(&[
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
            ("CallSid", "CA1234567890ABCDE"),
        ])
    }

    #[test]
    fn twilios_documented_example_signs_and_verifies() {
        assert_eq!(
            sign("12345", URL, &docs_example()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            URL,
            &docs_example(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn twilios_library_test_vector_verifies() {
        // twilio-python's RequestValidator test.
        let params = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert!(verify(
            "12345",
            URL,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn any_tampering_fails() {
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        let mut changed = docs_example();
        changed[0].1 = "1235".into();
        assert!(!verify("12345", URL, &changed, good), "a changed parameter");
        let mut added = docs_example();
        added.push(("Extra".into(), "1".into()));
        assert!(!verify("12345", URL, &added, good), "an added parameter");
        assert!(
            !verify(
                "12345",
                &URL.replace("foo=1", "foo=2"),
                &docs_example(),
                good
            ),
            "a changed query"
        );
        assert!(
            !verify(
                "12345",
                "https://evil.com/myapp.php?foo=1&bar=2",
                &docs_example(),
                good
            ),
            "another host"
        );
        assert!(
            !verify("54321", URL, &docs_example(), good),
            "another token"
        );
        assert!(!verify("12345", URL, &docs_example(), ""), "no signature");
        assert!(
            !verify("12345", URL, &docs_example(), "not base64!"),
            "garbage"
        );
    }

    #[test]
    fn the_default_port_may_be_there_or_not() {
        let signed_without = sign("12345", URL, &docs_example());
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(verify("12345", with_port, &docs_example(), &signed_without));
        let signed_with = sign("12345", with_port, &docs_example());
        assert!(verify("12345", URL, &docs_example(), &signed_with));
        // Another port is another URL.
        let other = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert!(!verify("12345", other, &docs_example(), &signed_without));
        assert_eq!(
            url_variants("http://[::1]/x"),
            vec!["http://[::1]/x".to_owned(), "http://[::1]:80/x".to_owned()]
        );
        assert_eq!(
            url_variants("http://h:8080"),
            vec!["http://h:8080".to_owned()]
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut reversed = docs_example();
        reversed.reverse();
        assert_eq!(
            sign("12345", URL, &reversed),
            sign("12345", URL, &docs_example())
        );
    }
}
