//! Sending mails (alarm notices, reports with their workbook attached): over SMTP with lettre
//! (STARTTLS, TLS or plain), as `.eml` files in a directory (the demo's mail catcher), or not at
//! all when nothing is configured (recorded as not sent, never an error). Each message carries a
//! Message-ID from its outbox row (`<notice-ID@cctrack>`, `<report-mail-ID@cctrack>`), the same
//! on every attempt.

use std::path::PathBuf;
use std::pin::Pin;

use lettre::message::header::ContentType;
pub use lettre::message::Mailbox;
use lettre::message::{Attachment, MultiPart, SinglePart};
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

/// How every mail's subject begins and its body ends, notices and reports alike. The city is
/// not named here: one build serves any city, and the text above the signature names the units.
pub const SUBJECT_PREFIX: &str = "【社区矫正电子监管】";
pub const SIGNATURE: &str = "——社区矫正电子监管系统（自动发送，请勿回复）";

/// One message of an outbox.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Names the message (`notice-7`): its Message-ID and, in a mail directory, its file.
    pub key: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attachment: Option<File>,
}

/// A file attached to a mail.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl From<&Notice> for Mail {
    fn from(n: &Notice) -> Mail {
        Mail {
            key: format!("notice-{}", n.id),
            recipient: n.recipient.clone(),
            subject: n.subject.clone(),
            body: n.body.clone(),
            attachment: None,
        }
    }
}

pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, mail: &'a Mail) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>>;
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
    fn send<'a>(&'a self, _: &'a Mail) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async { Sent::NotConfigured })
    }
}

fn message(from: &str, m: &Mail) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("sender {from:?}: {e}"))?;
    let to: Mailbox = m.recipient.parse().map_err(|e| format!("recipient {:?}: {e}", m.recipient))?;
    let builder = Message::builder()
        .message_id(Some(format!("<{}@cctrack>", m.key)))
        .from(from)
        .to(to)
        .subject(m.subject.clone());
    let built = match &m.attachment {
        None => builder.header(ContentType::TEXT_PLAIN).body(m.body.clone()),
        Some(file) => {
            let kind = ContentType::parse(file.content_type).map_err(|e| format!("{}: {e}", m.key))?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(m.body.clone()))
                    .singlepart(Attachment::new(file.name.clone()).body(file.bytes.clone(), kind)),
            )
        }
    };
    built.map_err(|e| format!("{}: {e}", m.key))
}

/// Writes `KEY.eml` into a directory: a second attempt overwrites, never duplicates.
struct DirMail {
    dir: PathBuf,
}

impl Mailer for DirMail {
    fn send<'a>(&'a self, mail: &'a Mail) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async move {
            let m = match message("cctrack <cctrack@localhost>", mail) {
                Ok(m) => m,
                Err(e) => return Sent::Permanent(e),
            };
            let path = self.dir.join(format!("{}.eml", mail.key));
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
    fn send<'a>(&'a self, mail: &'a Mail) -> Pin<Box<dyn std::future::Future<Output = Sent> + Send + 'a>> {
        Box::pin(async move {
            let m = match message(&self.from, mail) {
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
