//! The caller, read from where API Gateway's JWT authorizer puts the verified claims
//! (`requestContext.authorizer.jwt.claims`). The local server puts its own verified claims in the same place.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::domain::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Shopper,
    Artisan,
}

impl Role {
    /// The Cognito group that grants the role.
    pub fn group(self) -> &'static str {
        match self {
            Role::Shopper => "shoppers",
            Role::Artisan => "artisans",
        }
    }

    pub fn from_group(group: &str) -> Option<Self> {
        match group {
            "shoppers" => Some(Role::Shopper),
            "artisans" => Some(Role::Artisan),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub roles: Vec<Role>,
    /// A display name from the `name` claim, when the identity provider has one.
    pub name: Option<String>,
    /// The `email` claim, only when `email_verified` is true (order confirmations go there): an address nobody
    /// proved is never written to.
    pub email: Option<String>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

pub const GROUPS_CLAIM: &str = "cognito:groups";

/// The caller of an authorized request, or `None` when there are no (usable) claims.
pub fn caller_from_claims(req: &Request) -> Option<Caller> {
    let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref() else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    let user_id = UserId::parse(claims.get("sub")?)?;
    let roles = roles_of(claims.get(GROUPS_CLAIM).map(String::as_str));
    let name = claims.get("name").filter(|n| !n.trim().is_empty()).cloned();
    let verified = claims.get("email_verified").is_some_and(|v| v == "true");
    let email = claims.get("email").filter(|e| verified && e.contains('@')).cloned();
    Some(Caller { user_id, roles, name, email })
}

/// The role every signed-in user has without a group: anyone who signs up through the managed login is a shopper
/// (Cognito puts a self-signed-up user in no group; artisans are added to theirs by the platform).
pub const DEFAULT_ROLE: Role = Role::Shopper;

/// The caller's roles: their groups', or [`DEFAULT_ROLE`] when they are in no group the storefront knows.
pub fn roles_of(groups_claim: Option<&str>) -> Vec<Role> {
    let roles = groups_claim.map(parse_groups).unwrap_or_default();
    if roles.is_empty() { vec![DEFAULT_ROLE] } else { roles }
}

/// HTTP APIs flatten array claims to a string: `[shoppers artisans]`; a JSON array or a comma list are accepted too.
pub fn parse_groups(raw: &str) -> Vec<Role> {
    raw.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|g| g.trim_matches('"'))
        .filter_map(Role::from_group)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_in_every_shape_api_gateway_sends() {
        assert_eq!(parse_groups("[shoppers]"), vec![Role::Shopper]);
        assert_eq!(parse_groups("[shoppers artisans]"), vec![Role::Shopper, Role::Artisan]);
        assert_eq!(parse_groups("[\"artisans\",\"admins\"]"), vec![Role::Artisan]);
        assert_eq!(parse_groups(""), Vec::<Role>::new());
    }

    #[test]
    fn a_user_in_no_group_is_a_shopper_and_a_group_is_what_it_says() {
        assert_eq!(roles_of(None), vec![Role::Shopper], "signed up through the managed login, in no group");
        assert_eq!(roles_of(Some("")), vec![Role::Shopper]);
        assert_eq!(roles_of(Some("[]")), vec![Role::Shopper]);
        assert_eq!(roles_of(Some("[beta-testers]")), vec![Role::Shopper], "groups the storefront does not know");
        assert_eq!(roles_of(Some("[artisans]")), vec![Role::Artisan], "an artisan is not made a shopper too");
        assert_eq!(roles_of(Some("[shoppers artisans]")), vec![Role::Shopper, Role::Artisan]);
    }

    #[test]
    fn claims_are_taken_from_the_http_api_request_context() {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /cart", "rawPath": "/cart", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "http": {"method": "GET", "path": "/cart", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "authorizer": {"jwt": {"claims": {"sub": "alice", "cognito:groups": "[shoppers]"}, "scopes": null}},
                "requestId": "r1", "stage": "$default", "timeEpoch": 0
            }
        });
        let req = lambda_http::request::from_str(&event.to_string()).expect("valid event");
        let caller = caller_from_claims(&req).expect("claims present");
        assert_eq!(caller.user_id.as_str(), "alice");
        assert!(caller.has(Role::Shopper));
        assert!(!caller.has(Role::Artisan));
    }

    #[test]
    fn an_email_counts_only_when_the_identity_provider_verified_it() {
        let caller_with = |claims: serde_json::Value| {
            let event = serde_json::json!({
                "version": "2.0", "routeKey": "GET /cart", "rawPath": "/cart", "rawQueryString": "",
                "headers": {}, "isBase64Encoded": false,
                "requestContext": {
                    "http": {"method": "GET", "path": "/cart", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                    "authorizer": {"jwt": {"claims": claims, "scopes": null}},
                    "requestId": "r1", "stage": "$default", "timeEpoch": 0
                }
            });
            caller_from_claims(&lambda_http::request::from_str(&event.to_string()).expect("event")).expect("caller")
        };
        let base = serde_json::json!({"sub": "alice", "cognito:groups": "[shoppers]", "email": "a@example.com"});
        assert_eq!(caller_with(base.clone()).email, None, "no email_verified claim");
        let mut unverified = base.clone();
        unverified["email_verified"] = "false".into();
        assert_eq!(caller_with(unverified).email, None);
        let mut verified = base;
        verified["email_verified"] = "true".into();
        assert_eq!(caller_with(verified).email.as_deref(), Some("a@example.com"));
    }
}
