//! The mail of a token expiry notice, and the SMTP client that sends it
//! (`lettre`, configured by `ORVANTA_SMTP_*`).
//!
//! TLS goes through rustls with the system's root certificates. A notice
//! knows a token's prefix and label, never its secret, so neither the mail
//! nor any log line can show one.

use crate::cfg::{Config, ConfigError, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orvanta_core::millis_to_rfc3339;
use orvanta_store::{NoticeKind, TokenNotice};
use std::time::Duration;

/// How long one SMTP command may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends notices through the configured SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where the owner manages tokens, named in the mail.
    base_url: String,
    /// `host:port`, for log lines.
    server: String,
}

/// Why a notice was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The owner's address cannot take mail: trying again will not help.
    #[error("the address '{0}' is not a valid email address")]
    Address(String),
    /// The message could not be built (a bug, not the server's fault).
    #[error("the message could not be built: {0}")]
    Message(String),
    /// The SMTP server refused or could not be reached.
    #[error("{0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Smtp(_))
    }
}

impl Mailer {
    /// The mailer `cfg.smtp` describes; `None` when no host is set.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, ConfigError> {
        let smtp = &cfg.smtp;
        let Some(host) = smtp.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let tls_error = |e: lettre::transport::smtp::Error| {
            ConfigError(format!("ORVANTA_SMTP_HOST '{host}': TLS cannot be set up for it: {e}"))
        };
        let builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from_text = match &smtp.from {
            Some(f) => f.trim().to_owned(),
            None => format!("Orvanta <orvanta@{host}>"),
        };
        let from: Mailbox = from_text.parse().map_err(|e| {
            ConfigError(format!(
                "ORVANTA_SMTP_FROM '{from_text}' is not a sender address ({e}); use e.g. 'Orvanta <orvanta@example.com>'"
            ))
        })?;
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            base_url: cfg.base_url(),
            server: format!("{host}:{}", smtp.port),
        }))
    }

    /// `host:port` of the SMTP server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends the mail of `notice` to its owner.
    pub async fn send(&self, notice: &TokenNotice) -> Result<(), SendError> {
        let to: Mailbox = notice.email.parse().map_err(|_| SendError::Address(notice.email.clone()))?;
        let mail = compose(notice, &self.base_url);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .map_err(|e| SendError::Message(e.to_string()))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// A notice's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// The mail of `notice`: it names the token (label and prefix), where it is
/// valid and when it expires, and says what to do.
pub fn compose(notice: &TokenNotice, base_url: &str) -> Mail {
    let label = one_line(&notice.label);
    let prefix = one_line(&notice.token_prefix);
    let named = if label.is_empty() { format!("{prefix}...") } else { format!("\"{label}\" ({prefix}...)") };
    let workspace = match &notice.workspace {
        Some(ws) => format!("workspace {ws}"),
        None => "all of your workspaces".to_owned(),
    };
    let expiry = millis_to_rfc3339(notice.expires_at);
    let (subject, what) = match notice.kind {
        NoticeKind::TokenExpiringSoon => (
            format!("Your Orvanta token {named} for {workspace} expires on {}", day(notice.expires_at)),
            format!("expires at {expiry}. From then on, every request made with it is refused."),
        ),
        NoticeKind::TokenExpired => (
            format!("Your Orvanta token {named} for {workspace} expired and was deleted"),
            format!("expired at {expiry} and has been deleted. Every request made with it is refused."),
        ),
    };
    let shown_label = if label.is_empty() { "(none)".to_owned() } else { label };
    let body = format!(
        "Hello {owner},\n\
         \n\
         your Orvanta API token\n\
         \n\
         \x20 label:      {shown_label}\n\
         \x20 prefix:     {prefix}\n\
         \x20 valid in:   {workspace}\n\
         \x20 expires at: {expiry}\n\
         \n\
         {what}\n\
         \n\
         What to do: create a new token (POST {base_url}/api/users/tokens/create\n\
         with {{\"label\": ..., \"expiration\": ...}}, the same scopes and workspace\n\
         as this one), put it wherever this one is used (scripts, CI secrets,\n\
         webhook callers), and stop using this one.\n\
         \n\
         This mail names the token by its prefix only; Orvanta never keeps nor\n\
         sends a token's secret.\n\
         \n\
         -- \n\
         Orvanta at {base_url}\n",
        owner = notice.owner,
    );
    Mail { subject, body }
}

/// `s` with control characters (line breaks) as spaces, for a header line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// The UTC day of `ms`, as `2024-05-31`.
fn day(ms: orvanta_core::Millis) -> String {
    millis_to_rfc3339(ms).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orvanta_core::{Username, WorkspaceId};
    use orvanta_store::NoticeStatus;

    fn notice(kind: NoticeKind, label: &str, workspace: Option<&str>) -> TokenNotice {
        TokenNotice {
            id: 1,
            kind,
            owner: Username::parse("alice").unwrap(),
            email: "alice@example.com".into(),
            label: label.into(),
            token_prefix: "orv_abc123".into(),
            expires_at: 1_700_000_000_000,
            workspace: workspace.map(|w| WorkspaceId::parse(w).unwrap()),
            created_at: 1_700_000_000_000,
            status: NoticeStatus::Pending,
            attempts: 0,
            last_error: None,
            sent_at: None,
        }
    }

    #[test]
    fn the_mail_names_the_token_its_workspace_its_expiry_and_what_to_do() {
        let soon = compose(&notice(NoticeKind::TokenExpiringSoon, "deploy bot", Some("demo")), "http://o.example");
        assert_eq!(
            soon.subject,
            "Your Orvanta token \"deploy bot\" (orv_abc123...) for workspace demo expires on 2023-11-14"
        );
        for needle in
            ["alice", "deploy bot", "orv_abc123", "workspace demo", "2023-11-14T22:13:20.000Z", "create a new token"]
        {
            assert!(soon.body.contains(needle), "{needle:?} is missing from {}", soon.body);
        }
        assert!(soon.body.contains("http://o.example/api/users/tokens/create"));

        let gone = compose(&notice(NoticeKind::TokenExpired, "", None), "http://o.example");
        assert_eq!(gone.subject, "Your Orvanta token orv_abc123... for all of your workspaces expired and was deleted");
        assert!(gone.body.contains("label:      (none)") && gone.body.contains("has been deleted"), "{}", gone.body);
    }

    #[test]
    fn a_label_cannot_break_the_subject_line() {
        let mail = compose(&notice(NoticeKind::TokenExpired, "a\r\nBcc: x@evil.example", None), "http://o");
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'), "{}", mail.subject);
    }

    #[test]
    fn no_host_no_mailer_and_a_bad_sender_is_refused_at_start() {
        let cfg = Config::default();
        assert!(Mailer::from_config(&cfg).unwrap().is_none());
        let mut cfg = Config::default();
        cfg.smtp.host = Some("127.0.0.1".into());
        cfg.smtp.tls = SmtpTls::None;
        let mailer = Mailer::from_config(&cfg).unwrap().expect("a mailer");
        assert_eq!(
            (mailer.server(), mailer.from.to_string().as_str()),
            ("127.0.0.1:25", "Orvanta <orvanta@127.0.0.1>")
        );
        cfg.smtp.from = Some("not an address".into());
        let e = Mailer::from_config(&cfg).err().expect("refused");
        assert!(e.0.contains("ORVANTA_SMTP_FROM"), "{e}");
        cfg.smtp.from = None;
        cfg.smtp.tls = SmtpTls::Starttls;
        cfg.smtp.host = Some("mail.example.com".into());
        assert!(Mailer::from_config(&cfg).unwrap().is_some(), "TLS parameters build from the system's roots");
    }
}
