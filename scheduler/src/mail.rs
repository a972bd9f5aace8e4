//! Sending notices: over SMTP with lettre (STARTTLS, TLS or plain), as `.eml` files in a
//! directory (the demo's mail catcher), or not at all when nothing is configured (recorded as
//! not sent, never an error). Each message carries the Message-ID `<notice-ID@cctrack>`, the
//! same on every attempt.

use std::path::PathBuf;
use std::pin::Pin;

use lettre::message::header::ContentType;
pub use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracker::schedule::notices::Notice;

use crate::config::{MailConfig, SmtpConfig, SmtpSecurity};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Accepted,
    /// The server refused for now (4xx) or could not be reached: try again later.
    Transient(String),
    /// The server refused for good (5xx), or the message cannot be built.
    Permanent(String),
    /// No mail server is configured.
    NotConfigured,
}

pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, notice: &'a Notice) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>>;
}

/// The mailer `config` asks for.
pub fn mailer(config: &MailConfig) -> Result<Box<dyn Mailer>, String> {
    Ok(match config {
        MailConfig::None => Box::new(NoMail),
        MailConfig::Dir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("mail_dir: cannot create {}: {e}", dir.display()))?;
            Box::new(DirMail { dir: dir.clone() })
        }
        MailConfig::Smtp(smtp) => Box::new(SmtpMail::new(smtp)?),
    })
}

struct NoMail;

impl Mailer for NoMail {
    fn send<'a>(&'a self, _: &'a Notice) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async { Sent::NotConfigured })
    }
}

fn message(from: &str, n: &Notice) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("sender {from:?}: {e}"))?;
    let to: Mailbox = n.recipient.parse().map_err(|e| format!("recipient {:?}: {e}", n.recipient))?;
    Message::builder()
        .message_id(Some(format!("<notice-{}@cctrack>", n.id)))
        .from(from)
        .to(to)
        .subject(n.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(n.body.clone())
        .map_err(|e| format!("notice {}: {e}", n.id))
}

/// Writes `notice-ID.eml` into a directory: a second attempt overwrites, never duplicates.
struct DirMail {
    dir: PathBuf,
}

impl Mailer for DirMail {
    fn send<'a>(&'a self, n: &'a Notice) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async move {
            let m = match message("cctrack <cctrack@localhost>", n) {
                Ok(m) => m,
                Err(e) => return Sent::Permanent(e),
            };
            let path = self.dir.join(format!("notice-{}.eml", n.id));
            match tokio::fs::write(&path, m.formatted()).await {
                Ok(()) => Sent::Accepted,
                Err(e) => Sent::Transient(format!("writing {}: {e}", path.display())),
            }
        })
    }
}

struct SmtpMail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMail {
    fn new(c: &SmtpConfig) -> Result<Self, String> {
        let builder = match c.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host).map_err(|e| format!("smtp_host: {e}"))?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host).map_err(|e| format!("smtp_host: {e}"))?
            }
        };
        let mut builder = builder.port(c.port).timeout(Some(std::time::Duration::from_secs(10)));
        if let (Some(u), Some(p)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(SmtpMail { transport: builder.build(), from: c.from.clone() })
    }
}

impl Mailer for SmtpMail {
    fn send<'a>(&'a self, n: &'a Notice) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async move {
            let m = match message(&self.from, n) {
                Ok(m) => m,
                Err(e) => return Sent::Permanent(e),
            };
            match self.transport.send(m).await {
                Ok(_) => Sent::Accepted,
                Err(e) if e.is_permanent() => Sent::Permanent(e.to_string()),
                Err(e) => Sent::Transient(e.to_string()),
            }
        })
    }
}
