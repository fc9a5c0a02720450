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
    use crate::model::transport::NewTransport;

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
}
