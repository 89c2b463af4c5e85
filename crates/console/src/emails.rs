//! The emails the console sends, in plain text and HTML. Links are built from
//! `CONSOLE_PUBLIC_URL`, never from the request's Host header (which a sender of the
//! request controls).

use nudge_db::console::OutgoingEmail;

/// Hours a confirmation link is valid.
pub const VERIFY_LINK_HOURS: i64 = 24;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn verify_address(to: &str, public_url: &url::Url, token: &str) -> OutgoingEmail {
    let mut link = public_url
        .join("/console/verify-email")
        .unwrap_or_else(|_| public_url.clone());
    link.query_pairs_mut().append_pair("token", token);
    OutgoingEmail {
        to: to.to_owned(),
        subject: "Confirm your email for Nudge".into(),
        text_body: format!(
            "Confirm that this address is yours by opening this link:\n\n{link}\n\n\
             The link works once, for {VERIFY_LINK_HOURS} hours. If you did not sign up for \
             Nudge, ignore this email.\n"
        ),
        html_body: format!(
            "<p>Confirm that this address is yours:</p>\
             <p><a href=\"{href}\">Confirm my email</a></p>\
             <p>The link works once, for {VERIFY_LINK_HOURS} hours. If you did not sign up for \
             Nudge, ignore this email.</p>",
            href = escape(link.as_str())
        ),
    }
}

/// Sent instead of a confirmation when someone signs up with an address that already
/// has an account: the page says the same either way, so only the address's owner
/// learns that it is registered.
pub fn already_registered(to: &str, public_url: &url::Url) -> OutgoingEmail {
    let sign_in = public_url
        .join("/console/sign-in")
        .unwrap_or_else(|_| public_url.clone());
    OutgoingEmail {
        to: to.to_owned(),
        subject: "You already have a Nudge account".into(),
        text_body: format!(
            "Someone (maybe you) tried to create a Nudge account with this address, which \
             already has one. Sign in here:\n\n{sign_in}\n\nIf it was not you, nothing has changed.\n"
        ),
        html_body: format!(
            "<p>Someone (maybe you) tried to create a Nudge account with this address, which \
             already has one.</p><p><a href=\"{href}\">Sign in</a></p>\
             <p>If it was not you, nothing has changed.</p>",
            href = escape(sign_in.as_str())
        ),
    }
}

/// Days an invitation link is valid.
pub const INVITATION_DAYS: i64 = 7;

/// An invitation to join a tenant. The tenant's name and the inviter's address are
/// typed by people, so they are escaped in the HTML and the link is the only one.
pub fn invitation(
    to: &str,
    public_url: &url::Url,
    token: &str,
    tenant: &str,
    inviter: &str,
    role: &str,
) -> OutgoingEmail {
    let mut link = public_url
        .join("/console/join")
        .unwrap_or_else(|_| public_url.clone());
    link.query_pairs_mut().append_pair("token", token);
    OutgoingEmail {
        to: to.to_owned(),
        // A subject is one line, whatever the business name holds.
        subject: format!("{inviter} invited you to {tenant} on Nudge")
            .replace(char::is_control, " "),
        text_body: format!(
            "{inviter} invited you to join {tenant} on Nudge as {role}. To accept, open this              link and choose a password:

{link}

The link works once, for              {INVITATION_DAYS} days. If you did not expect this, ignore this email.
"
        ),
        html_body: format!(
            "<p>{inviter} invited you to join <strong>{tenant}</strong> on Nudge as {role}.</p>\
             <p><a href=\"{href}\">Accept the invitation</a></p>\
             <p>The link works once, for {INVITATION_DAYS} days. If you did not expect this, \
             ignore this email.</p>",
            inviter = escape(inviter),
            tenant = escape(tenant),
            role = escape(role),
            href = escape(link.as_str())
        ),
    }
}

/// Minutes a password reset code is valid.
pub const RESET_CODE_MINUTES: i64 = 15;

pub fn reset_code(to: &str, code: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: format!("{code} is your Nudge password reset code"),
        text_body: format!(
            "Your code to choose a new Nudge password is {code}.\n\n\
             It works for {RESET_CODE_MINUTES} minutes. If you did not ask for it, ignore this \
             email: your password has not changed.\n"
        ),
        html_body: format!(
            "<p>Your code to choose a new Nudge password is</p><p><strong>{code}</strong></p>\
             <p>It works for {RESET_CODE_MINUTES} minutes. If you did not ask for it, ignore \
             this email: your password has not changed.</p>"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_built_from_the_public_url_and_escaped() {
        let public = url::Url::parse("https://console.example.com").unwrap();
        let email = verify_address("jane@shop.example", &public, "abc123");
        assert!(email
            .text_body
            .contains("https://console.example.com/console/verify-email?token=abc123"));
        assert!(email
            .html_body
            .contains("href=\"https://console.example.com/console/verify-email?token=abc123\""));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }

    #[test]
    fn an_invitation_escapes_what_people_typed() {
        let public = url::Url::parse("https://console.example.com").unwrap();
        let email = invitation(
            "sam@shop.example",
            &public,
            "tok",
            "<b>Shop</b>",
            "jane@shop.example",
            "Care agent",
        );
        assert!(email.html_body.contains("&lt;b&gt;Shop&lt;/b&gt;"));
        assert!(!email.html_body.contains("<b>Shop"));
        assert!(email
            .text_body
            .contains("https://console.example.com/console/join?token=tok"));
    }
}
