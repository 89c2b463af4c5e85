//! What an API key may do. Three scopes, coarse on purpose (Stripe's restricted keys
//! and GitHub's fine-grained tokens show that per-resource grids go unused): a
//! storefront that only sends gets `send`, a dashboard that only reads gets `read`,
//! and only a key with `manage` changes the tenant's settings or mints keys.

use std::fmt;

/// One scope of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiScope {
    /// Messages (single, batch, cancel), campaigns, conversations and agents' replies,
    /// customers and their consent, lead searches: the work that sends or spends.
    Send,
    /// Every `GET`.
    Read,
    /// Shops, templates, bot rules, webhook endpoints and API keys: the settings.
    Manage,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [ApiScope::Send, ApiScope::Read, ApiScope::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Send => "send",
            ApiScope::Read => "read",
            ApiScope::Manage => "manage",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == raw)
    }

    /// The scope a `/v1` request needs: every `GET` reads; a write needs the scope of
    /// the resource it writes (its first path segment after `/v1`).
    pub fn required_for(method: &str, path: &str) -> Self {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            return ApiScope::Read;
        }
        let resource = path
            .trim_start_matches('/')
            .trim_start_matches("v1/")
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        match resource {
            "messages" | "campaigns" | "conversations" | "customers" | "lead-searches" => {
                ApiScope::Send
            }
            // Settings, and anything not named above: the narrowest guess is the
            // strictest scope, so a new resource is never writable by a `send` key
            // by accident.
            _ => ApiScope::Manage,
        }
    }
}

/// A set of scopes, small and `Copy` (it travels with every authenticated request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiScopes(u8);

impl ApiScopes {
    pub fn all() -> Self {
        ApiScope::ALL.into_iter().collect()
    }

    fn bit(scope: ApiScope) -> u8 {
        match scope {
            ApiScope::Send => 1,
            ApiScope::Read => 2,
            ApiScope::Manage => 4,
        }
    }

    pub fn contains(self, scope: ApiScope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every scope of `self` is in `other`.
    pub fn is_subset_of(self, other: ApiScopes) -> bool {
        self.0 & !other.0 == 0
    }

    /// In the order of [`ApiScope::ALL`].
    pub fn iter(self) -> impl Iterator<Item = ApiScope> {
        ApiScope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(ApiScope::as_str).collect()
    }

    /// Parses names; the first unknown one is the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        names
            .into_iter()
            .map(|name| ApiScope::parse(name).ok_or_else(|| name.to_owned()))
            .collect()
    }
}

impl FromIterator<ApiScope> for ApiScopes {
    fn from_iter<I: IntoIterator<Item = ApiScope>>(scopes: I) -> Self {
        ApiScopes(scopes.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ApiScope;

    #[test]
    fn reads_need_read_and_writes_their_resources_scope() {
        assert_eq!(
            ApiScope::required_for("GET", "/v1/api-keys"),
            ApiScope::Read
        );
        assert_eq!(
            ApiScope::required_for("POST", "/v1/messages/batch"),
            ApiScope::Send
        );
        assert_eq!(
            ApiScope::required_for("POST", "/v1/customers/1/consent"),
            ApiScope::Send
        );
        assert_eq!(
            ApiScope::required_for("DELETE", "/v1/api-keys/1"),
            ApiScope::Manage
        );
        assert_eq!(
            ApiScope::required_for("PATCH", "/v1/shops/1"),
            ApiScope::Manage
        );
        assert_eq!(
            ApiScope::required_for("POST", "/v1/something-new"),
            ApiScope::Manage
        );
    }

    #[test]
    fn a_set_knows_its_subsets() {
        use super::ApiScopes;
        let send_read = ApiScopes::parse(["send", "read"]).unwrap();
        assert!(send_read.is_subset_of(ApiScopes::all()));
        assert!(!ApiScopes::all().is_subset_of(send_read));
        assert_eq!(send_read.names(), ["send", "read"]);
        assert_eq!(ApiScopes::parse(["read", "root"]), Err("root".to_owned()));
    }

    #[test]
    fn scopes_read_back_as_written() {
        for scope in ApiScope::ALL {
            assert_eq!(ApiScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(ApiScope::parse("admin"), None);
    }
}
