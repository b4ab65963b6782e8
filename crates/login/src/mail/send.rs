//! Handing one mail to the transport: opening its sealed body, addressing it, and telling a
//! mail server that failed from one that refused this one mail.

use lettre::address::Envelope;
use lettre::{Address, AsyncTransport};

use super::MailTransport;
use crate::entities::mail_outbox;
use latchkey_keys::MasterKey;

/// A mail opened and addressed, ready for the transport.
pub(super) struct Sendable {
    bytes: Vec<u8>,
    envelope: Envelope,
}

/// Why a send failed.
pub(super) struct SendFailure {
    pub(super) error: String,
    /// The mail server as a whole failed (no connection, a timeout, "421 service not
    /// available"), rather than refused this one mail.
    pub(super) server_down: bool,
}

/// Opens the mail and addresses it, or None (and says why) when it can never be sent.
pub(super) fn open(
    mail: &mail_outbox::Model,
    master_key: &MasterKey,
    from: &Address,
) -> Option<Sendable> {
    let Some(Ok(bytes)) = mail
        .sealed_message
        .as_deref()
        .map(|sealed| master_key.open(&mail.id, sealed))
    else {
        tracing::error!(mail = %mail.id, "mail dropped: it cannot be opened with this master key");
        return None;
    };
    let envelope = mail
        .recipient
        .parse::<Address>()
        .ok()
        .and_then(|to| Envelope::new(Some(from.clone()), vec![to]).ok());
    let Some(envelope) = envelope else {
        tracing::error!(mail = %mail.id, "mail dropped: its recipient is not an address");
        return None;
    };
    Some(Sendable { bytes, envelope })
}

/// Sends the mail `id` over SMTP, or writes it into the outbox folder.
pub(super) async fn send(
    transport: &MailTransport,
    id: &str,
    mail: &Sendable,
) -> Result<(), SendFailure> {
    let (envelope, bytes) = (&mail.envelope, &mail.bytes);
    let written = match transport {
        MailTransport::Smtp(smtp) => {
            smtp.send_raw(envelope, bytes)
                .await
                .map(|_| None)
                .map_err(|e| SendFailure {
                    error: e.to_string(),
                    // No SMTP reply code: the connection, TLS or a timeout failed.
                    server_down: e.status().is_none_or(|code| code.to_string() == "421"),
                })
        }
        MailTransport::Files(files, dir) => files
            .send_raw(envelope, bytes)
            .await
            .map(|file| Some(dir.join(format!("{file}.eml"))))
            .map_err(|e| SendFailure {
                error: e.to_string(),
                server_down: true,
            }),
    }?;
    metrics::counter!("mail_sent_total").increment(1);
    match written {
        Some(path) => {
            tracing::info!(mail = %id, path = %path.display(), "mail written to the outbox folder")
        }
        None => tracing::info!(mail = %id, "mail sent"),
    }
    Ok(())
}
