//! A managed transport's block: one `type=transport` section.

use super::section::{verify_pjsip, write_section};
use super::{ManagedBlock, RenderError};
use crate::model::{ObjectRef, Transport};

pub fn render_transport(transport: &Transport) -> Result<ManagedBlock, RenderError> {
    let object = format!("transport {}", transport.name);
    transport
        .check()
        .map_err(|errors| RenderError::invalid_fields(&object, errors))?;
    let options = transport.options();
    let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut body = String::new();
    write_section(&mut body, &object, &transport.name, "transport", &options)?;
    verify_pjsip(&object, &body)?;
    Ok(ManagedBlock {
        id: ObjectRef::transport(&transport.name).block_id(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TransportProtocol;
    use crate::model::transport::{NewTransport, TlsSettings};
    use proptest::prelude::*;

    #[test]
    fn renders_one_section_with_nat_settings() {
        let t = NewTransport {
            name: "transport-udp".into(),
            protocol: TransportProtocol::Udp,
            bind: Some("::".parse().unwrap()),
            external_media_address: Some("203.0.113.7".into()),
            local_net: Some(vec!["192.168.0.0/16".into(), "10.0.0.0/8".into()]),
            ..Default::default()
        }
        .into_transport(chrono::Utc::now());
        let block = render_transport(&t).unwrap();
        assert_eq!(block.id, "Transport transport-udp");
        assert_eq!(
            block.body,
            "[transport-udp]\ntype=transport\nprotocol=udp\nbind=[::]:5060\nexternal_media_address=203.0.113.7\nlocal_net=192.168.0.0/16,10.0.0.0/8\n"
        );
    }

    #[test]
    fn refuses_a_stored_row_the_api_would_refuse() {
        let mut t = NewTransport {
            name: "t".into(),
            ..Default::default()
        }
        .into_transport(chrono::Utc::now());
        t.local_net = vec!["10.0.0.1/8".into()];
        assert!(render_transport(&t).is_err());
    }

    proptest! {
        /// Whatever a client sends, a transport either is refused or renders as
        /// one section Asterisk reads back as written: no extra line, section
        /// or comment.
        #[test]
        fn hostile_fields_never_reach_the_file_as_more_than_values(
            text in "\\PC{0,40}",
            nets in prop::collection::vec("\\PC{0,24}", 0..3),
            which in 0usize..6,
        ) {
            let mut t = NewTransport {
                name: "t".into(),
                protocol: if which == 5 { TransportProtocol::Tls } else { TransportProtocol::Udp },
                ..Default::default()
            }
            .into_transport(chrono::Utc::now());
            match which {
                0 => t.external_media_address = Some(text.clone()),
                1 => t.external_signaling_address = Some(text.clone()),
                2 => t.tos = Some(text.clone()),
                3 => t.local_net = nets.clone(),
                4 => t.name = text.clone(),
                _ => {
                    t.tls = TlsSettings {
                        cert_file: Some(format!("/{text}")),
                        priv_key_file: Some("/k.pem".into()),
                        method: Some(text.clone()),
                        ..Default::default()
                    }
                }
            }
            if let Ok(block) = render_transport(&t) {
                prop_assert_eq!(block.body.matches('[').count(), 1, "{}", &block.body);
                prop_assert!(!block.body.contains(';'), "{}", &block.body);
                prop_assert_eq!(
                    block.body.lines().count(),
                    t.options().len() + 2,
                    "{}",
                    &block.body
                );
            }
        }
    }
}
