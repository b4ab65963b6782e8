//! A real SMTP server for the tests, speaking just enough of RFC 5321 for lettre to deliver
//! to it over TCP; every message is kept and parsed with `mail-parser`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A received mail, decoded.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The one magic link in the mail.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the mail");
        let link: String = self.text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        assert!(link.contains("/login/verify?token="), "{link}");
        assert_eq!(
            self.text.matches("/login/verify?token=").count(),
            1,
            "exactly one link in the text part"
        );
        link
    }

    /// The token in the link.
    pub fn token(&self) -> String {
        self.link()
            .split("token=")
            .nth(1)
            .expect("token")
            .to_owned()
    }

    /// The eight-digit code beside the link.
    pub fn code(&self) -> String {
        let after = self
            .text
            .split("code in the browser where you asked: ")
            .nth(1)
            .expect("a code in the mail");
        after.chars().take(8).collect()
    }
}

pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// While false the server is "down": it answers 421 and hangs up, as a mail server that
    /// is not taking mail does. It keeps its port, so no other test can take it meanwhile.
    up: Arc<AtomicBool>,
    /// Connections turned away while down.
    refused: Arc<AtomicUsize>,
    /// How long a mail waits, once taken, for its "250 queued" (milliseconds).
    answer_after: Arc<AtomicU64>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::listen(true).await
    }

    /// A mail server that is down until [`SmtpSink::bring_up`].
    pub async fn down() -> Self {
        Self::listen(false).await
    }

    /// How many connections were turned away while down.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// From now on, mail is taken.
    pub fn bring_up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// From now on a mail is recorded as soon as it is taken, but answered only after
    /// `after`: the sender learns late that it went out.
    pub fn answer_after(&self, after: Duration) {
        let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        self.answer_after.store(millis, Ordering::SeqCst);
    }

    async fn listen(up: bool) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind smtp sink");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let up = Arc::new(AtomicBool::new(up));
        let refused = Arc::new(AtomicUsize::new(0));
        let answer_after = Arc::new(AtomicU64::new(0));
        let (store, taking, turned_away, slow) = (
            mails.clone(),
            up.clone(),
            refused.clone(),
            answer_after.clone(),
        );
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                if !taking.load(Ordering::SeqCst) {
                    let _ = socket.write_all(b"421 sink.test not taking mail\r\n").await;
                    turned_away.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let (store, slow) = (store.clone(), slow.clone());
                tokio::spawn(async move {
                    let _ = session(socket, store, slow).await;
                });
            }
        });
        Self {
            port,
            mails,
            up,
            refused,
            answer_after,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.contains(to))
            .collect()
    }

    /// Waits for the `n`th mail (1-based) to `to`.
    pub async fn nth_mail_to(&self, to: &str, n: usize, within: Duration) -> Mail {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(mail) = self.mails_to(to).get(n - 1) {
                return mail.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no mail #{n} to {to} within {within:?}: {:?}",
                self.mails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn mail_to(&self, to: &str) -> Mail {
        self.nth_mail_to(to, 1, Duration::from_secs(10)).await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
    answer_after: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            write
                .write_all(b"250-sink.test\r\n250 8BITMIME\r\n")
                .await?;
        } else if command.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(unstuffed.as_bytes());
            }
            let parsed = mail_parser::MessageParser::default()
                .parse(&data)
                .expect("a parseable mail");
            let mail = Mail {
                to: parsed
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                subject: parsed.subject().unwrap_or_default().to_owned(),
                text: parsed
                    .body_text(0)
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
                html: parsed
                    .body_html(0)
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
            };
            store.lock().expect("lock").push(mail);
            let wait = answer_after.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            write.write_all(b"250 queued\r\n").await?;
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 ok\r\n").await?;
        }
    }
}
