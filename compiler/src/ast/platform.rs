//! Reads the `platform` block: the domain, the Docker network and subnets,
//! trusted proxies, and the Traefik version, image and router provider.
//!
//! It checks each key's value on its own; whether the subnets overlap or
//! the image matches the version is [`check`](crate::check)'s to say.

use super::reader::{Reader, Seen};
use super::types::PlatformDecl;
use crate::syntax::Block;

impl Reader<'_> {
    pub(super) fn platform(&mut self, block: &Block) -> PlatformDecl {
        const KEYS: &[&str] = &[
            "domain",
            "network",
            "subnet",
            "edge_subnet",
            "trusted_proxies",
            "traefik",
            "traefik_image",
            "edge_routers",
            "underscore_headers",
        ];
        let mut decl = PlatformDecl {
            head: block.head_span(),
            name: self.block_name(block),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut domain = None;
        let mut network = None;
        let mut subnet = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "platform", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "domain" => domain = self.hostname(st),
                "network" => network = self.ident(st),
                "subnet" => subnet = self.cidr(st),
                "edge_subnet" => decl.edge_subnet = self.cidr(st),
                "trusted_proxies" => decl.trusted_proxies = self.list(st, Self::cidr_value),
                "traefik" => decl.traefik = self.count(st),
                "traefik_image" => decl.traefik_image = self.string(st),
                "edge_routers" => decl.edge_routers = self.one_of(st, &["file", "labels"]),
                "underscore_headers" => {
                    decl.underscore_headers = self.one_of(st, &["drop", "allow"])
                }
                _ => self.unknown_key(&st.key, "platform", KEYS),
            }
        }
        decl.domain = self.required(domain, block, "domain", "domain \"example.com\"");
        decl.network = self.required(network, block, "network", "network my-net");
        decl.subnet = self.required(subnet, block, "subnet", "subnet 172.20.0.0/16");
        decl
    }
}
