//! Sealing the mail still waiting to be sent under a new master key (`keys rotate-master`).

use latchkey_core::Db;
use latchkey_keys::MasterKey;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::mail_outbox;

/// Why waiting mail could not be sealed anew.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("mail {0}: {1}")]
    Sealed(String, latchkey_keys::MasterKeyError),
}

/// Opens every waiting mail (with the new master key or the previous one) and seals it under
/// the new one. Returns how many. Sent and dropped mail keeps no body, so there is nothing to
/// do for it.
pub async fn reseal_waiting(db: &Db, master_key: &MasterKey) -> Result<usize, ResealError> {
    let waiting = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::SealedMessage.is_not_null())
        .all(db.read())
        .await?;
    let mut done = 0;
    for mail in waiting {
        let Some(sealed) = &mail.sealed_message else {
            continue;
        };
        let body = master_key
            .open(&mail.id, sealed)
            .map_err(|e| ResealError::Sealed(mail.id.clone(), e))?;
        let resealed = master_key
            .seal(&mail.id, &body)
            .map_err(|e| ResealError::Sealed(mail.id.clone(), e))?;
        // Only if it is still waiting: a mail sent meanwhile has had its body erased.
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::SealedMessage, Expr::value(resealed))
            .filter(mail_outbox::Column::Id.eq(mail.id.as_str()))
            .filter(mail_outbox::Column::SealedMessage.is_not_null())
            .exec(&*db.write().await)
            .await?;
        done += 1;
    }
    Ok(done)
}
