//! `rayan-ctl transport …` and `rayan-ctl network detect`.

use std::net::IpAddr;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::extension::check_apply;
use super::trunk::print_deleted;
use super::{CliError, CliResult, Output};
use crate::client::{Client, encode};
use crate::model::TransportProtocol;
use crate::model::transport::{NewTransport, TlsSettings, TransportPatch};

#[derive(Subcommand)]
pub enum TransportCommand {
    /// Create a transport (rendered into pjsip.conf; a restart may be needed).
    Create {
        name: String,
        /// udp, tcp, tls, ws or wss.
        #[arg(long, value_parser = parse_protocol)]
        protocol: TransportProtocol,
        #[command(flatten)]
        fields: TransportFields,
    },
    /// List transports.
    List,
    /// Show one transport.
    Show { name: String },
    /// Change the given fields only.
    Update {
        name: String,
        #[arg(long, value_parser = parse_protocol)]
        protocol: Option<TransportProtocol>,
        #[command(flatten)]
        fields: TransportFields,
    },
    /// Delete a transport no extension or trunk uses.
    Delete { name: String },
}

#[derive(Args)]
pub struct TransportFields {
    /// The address to listen on (default 0.0.0.0).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// The port (default 5060, 5061 for tls; none for ws/wss).
    #[arg(long)]
    port: Option<u16>,
    /// The public address put into SDP for media (NAT).
    #[arg(long)]
    external_media_address: Option<String>,
    /// The public address put into SIP headers (NAT).
    #[arg(long)]
    external_signaling_address: Option<String>,
    #[arg(long)]
    external_signaling_port: Option<u16>,
    /// Networks reached without NAT, comma-separated (e.g. 192.168.0.0/16,10.0.0.0/8).
    #[arg(long, value_delimiter = ',')]
    local_net: Option<Vec<String>>,
    /// DSCP name (ef, cs3, …) or number.
    #[arg(long)]
    tos: Option<String>,
    #[arg(long)]
    cos: Option<u8>,
    #[arg(long)]
    cert_file: Option<String>,
    #[arg(long)]
    priv_key_file: Option<String>,
    #[arg(long)]
    ca_list_file: Option<String>,
    /// TLS method, e.g. tlsv1_2.
    #[arg(long)]
    method: Option<String>,
    #[arg(long)]
    verify_client: Option<bool>,
    #[arg(long)]
    verify_server: Option<bool>,
    /// Let a reload apply every option (Asterisk recreates the listener).
    #[arg(long)]
    allow_reload: Option<bool>,
}

fn parse_protocol(text: &str) -> Result<TransportProtocol, String> {
    TransportProtocol::parse(text).ok_or_else(|| "expected udp, tcp, tls, ws or wss".to_owned())
}

impl TransportFields {
    fn tls(&self) -> Option<TlsSettings> {
        let tls = TlsSettings {
            cert_file: self.cert_file.clone(),
            priv_key_file: self.priv_key_file.clone(),
            ca_list_file: self.ca_list_file.clone(),
            method: self.method.clone(),
            verify_client: self.verify_client,
            verify_server: self.verify_server,
        };
        (!tls.is_empty()).then_some(tls)
    }

    fn into_new(self, name: String, protocol: TransportProtocol) -> NewTransport {
        NewTransport {
            tls: self.tls(),
            name,
            protocol,
            bind: self.bind,
            port: self.port,
            external_media_address: self.external_media_address,
            external_signaling_address: self.external_signaling_address,
            external_signaling_port: self.external_signaling_port,
            local_net: self.local_net,
            tos: self.tos,
            cos: self.cos,
            allow_reload: self.allow_reload,
        }
    }

    fn into_patch(self, protocol: Option<TransportProtocol>) -> TransportPatch {
        TransportPatch {
            tls: self.tls(),
            protocol,
            bind: self.bind,
            port: self.port.map(Some),
            external_media_address: self.external_media_address.map(Some),
            external_signaling_address: self.external_signaling_address.map(Some),
            external_signaling_port: self.external_signaling_port.map(Some),
            local_net: self.local_net,
            tos: self.tos.map(Some),
            cos: self.cos.map(Some),
            allow_reload: self.allow_reload,
        }
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("PROTOCOL", "protocol"),
    ("BIND", "bind"),
    ("PORT", "port"),
    ("EXTERNAL MEDIA", "external_media_address"),
    ("LOCAL NET", "local_net"),
];

/// Prints a written transport; a change waiting for a restart is said, not hidden.
fn written(out: &Output, answer: &Value) -> CliResult<()> {
    out.object(answer);
    check_apply(answer)
}

pub async fn run(client: &Client, out: &Output, cmd: TransportCommand) -> CliResult<()> {
    match cmd {
        TransportCommand::Create {
            name,
            protocol,
            fields,
        } => {
            let answer = client
                .post("/api/v1/transports", &fields.into_new(name, protocol))
                .await?;
            written(out, &answer)
        }
        TransportCommand::List => {
            let items = super::all_items(client, "/api/v1/transports").await?;
            out.list(&json!({}), &items, COLUMNS);
            Ok(())
        }
        TransportCommand::Show { name } => {
            out.object(
                &client
                    .get(&format!("/api/v1/transports/{}", encode(&name)))
                    .await?,
            );
            Ok(())
        }
        TransportCommand::Update {
            name,
            protocol,
            fields,
        } => {
            let patch = fields.into_patch(protocol);
            if patch.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give at least one field",
                ));
            }
            let answer = client
                .patch(&format!("/api/v1/transports/{}", encode(&name)), &patch)
                .await?;
            written(out, &answer)
        }
        TransportCommand::Delete { name } => {
            let answer = client
                .delete(&format!("/api/v1/transports/{}", encode(&name)))
                .await?;
            print_deleted(out, &format!("transport {name}"), &answer);
            check_apply(&answer)
        }
    }
}

/// `rayan-ctl network detect`: this host's networks and the transports' binds,
/// and the `local_net` they suggest. Nothing is looked up outside.
pub async fn detect(client: &Client, out: &Output) -> CliResult<()> {
    let addresses = crate::network::interface_addresses()
        .map_err(|e| CliError::Failed(format!("cannot read this host's interfaces: {e}")))?;
    let suggestion = crate::network::suggest(&addresses);
    // The binds in use; without a reachable rayand the interfaces still tell.
    let transports = super::all_items(client, "/api/v1/transports").await.ok();
    if out.json {
        out.object(&json!({
            "interfaces": addresses,
            "transports": transports,
            "local_net": suggestion.local_net,
            "public_addresses": suggestion.public_addresses,
        }));
        return Ok(());
    }
    println!("Interfaces:");
    for a in &addresses {
        println!("  {:<10} {}/{}", a.interface, a.address, a.prefix);
    }
    match &transports {
        Some(list) if !list.is_empty() => {
            println!("Transports:");
            for t in list {
                println!(
                    "  {:<20} {:<4} {}{}",
                    t.get("name").and_then(Value::as_str).unwrap_or(""),
                    t.get("protocol").and_then(Value::as_str).unwrap_or(""),
                    t.get("bind").and_then(Value::as_str).unwrap_or(""),
                    t.get("port")
                        .and_then(Value::as_u64)
                        .map(|p| format!(":{p}"))
                        .unwrap_or_default()
                );
            }
        }
        Some(_) => println!("Transports: none managed by rayan"),
        None => println!("Transports: rayand not reachable; only the interfaces are shown"),
    }
    if suggestion.local_net.is_empty() {
        println!("Suggested local_net: none (no private network on this host)");
    } else {
        println!("Suggested local_net: {}", suggestion.local_net.join(","));
    }
    if suggestion.public_addresses.is_empty() {
        println!(
            "No public address on this host: behind NAT, set external_media_address and external_signaling_address to the router's public address."
        );
    } else {
        let public: Vec<String> = suggestion
            .public_addresses
            .iter()
            .map(ToString::to_string)
            .collect();
        println!("Public address(es) on this host: {}", public.join(", "));
    }
    if !suggestion.local_net.is_empty() {
        println!(
            "Apply with: rayan-ctl transport update NAME --local-net {}",
            suggestion.local_net.join(",")
        );
    }
    Ok(())
}
