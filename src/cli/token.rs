use super::CliResult;
use crate::model::Role;
use crate::service::tokens::NewToken;
use clap::Subcommand;
use serde_json::Value;

use super::Output;
use crate::client::Client;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed only this once.
    Create {
        /// admin, operator or viewer.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub async fn run(client: &Client, out: &Output, cmd: TokenCommand) -> CliResult<()> {
    match cmd {
        TokenCommand::Create { role, name } => {
            let created = client
                .post("/api/v1/tokens", &NewToken { role, name })
                .await?;
            out.object(&created);
            if !out.json {
                eprintln!("note: the token is shown only this once");
            }
        }
        TokenCommand::List => {
            let items = super::all_items(client, "/api/v1/tokens").await?;
            out.list(
                &Value::Array(items.clone()),
                &items,
                &[
                    ("ID", "id"),
                    ("NAME", "name"),
                    ("ROLE", "role"),
                    ("PREFIX", "prefix"),
                    ("CREATED", "created_at"),
                    ("LAST USED", "last_used_at"),
                    ("REVOKED", "revoked_at"),
                ],
            );
        }
        TokenCommand::Revoke { id } => {
            client.delete(&format!("/api/v1/tokens/{id}")).await?;
            out.done(&format!("token {id} revoked"));
        }
    }
    Ok(())
}
