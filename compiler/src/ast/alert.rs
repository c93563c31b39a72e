//! Reads an `alert KIND` block: its kind, duration, severity, threshold
//! and quantile.
//!
//! Which threshold shape suits which kind is [`check`](crate::check)'s.

use super::reader::{type_error, Reader};
use super::types::{AlertDecl, Threshold, ALERT_KINDS, S};
use super::values::split_quantity;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::syntax::{Block, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn alert(&mut self, block: &Block) -> AlertDecl {
        const KEYS: &[&str] = &["for", "severity", "threshold", "quantile"];
        let kind = match &block.name {
            Some(name) => {
                if !ALERT_KINDS.contains(&name.text.as_str()) {
                    let mut d = Diagnostic::error(
                        Code::UnknownAlert,
                        name.span,
                        format!("unknown alert `{}`", name.text),
                    )
                    .label("not an alert kind");
                    d = match did_you_mean(&name.text, ALERT_KINDS.iter().copied()) {
                        Some(h) => d.help(h),
                        None => d.help(format!("the alerts are: {}", ALERT_KINDS.join(", "))),
                    };
                    self.push(d);
                }
                S::new(name.text.clone(), name.span)
            }
            None => {
                self.push(
                    Diagnostic::error(Code::MissingName, block.kind.span, "`alert` needs a kind")
                        .help(format!(
                            "write `alert KIND {{` with KIND one of: {}",
                            ALERT_KINDS.join(", ")
                        )),
                );
                S::new(String::new(), block.kind.span)
            }
        };
        let mut decl = AlertDecl {
            kind,
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "for" => decl.for_ms = cx.duration(st).map(|d| d.value),
            "severity" => decl.severity = cx.one_of(st, &["critical", "warning", "info"]),
            "threshold" => decl.threshold = cx.threshold(st),
            "quantile" => {
                if let Some(q) = cx.number(st) {
                    if !(q.value > 0.0 && q.value < 1.0) {
                        cx.push(
                            Diagnostic::error(
                                Code::OutOfRange,
                                q.span,
                                "a quantile is between 0 and 1",
                            )
                            .label("e.g. 0.99"),
                        );
                    }
                    decl.quantile = Some(q);
                }
            }
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.for_ms.is_none() {
            self.missing(block, "for", "for 5m");
        }
        decl
    }

    fn threshold(&mut self, st: &Statement) -> Option<S<Threshold>> {
        let v = self.single(st, "a threshold: `5%`, `1s` or `50/s`")?;
        let t = match v.kind {
            ValueKind::Quantity => {
                let (number, unit) = split_quantity(&v.raw);
                match unit {
                    "%" => Threshold::Fraction(number / 100.0),
                    "" => Threshold::Fraction(number),
                    _ => Threshold::Seconds(self.duration_value(v)?.value as f64 / 1000.0),
                }
            }
            ValueKind::Rate => {
                let r = self.rate_value(v)?;
                Threshold::PerSecond(r.value.0 as f64 * 1000.0 / r.value.1 as f64)
            }
            _ => {
                self.push(type_error(
                    v,
                    "threshold",
                    "a threshold: `5%`, `1s` or `50/s`",
                ));
                return None;
            }
        };
        Some(S::new(t, v.span))
    }
}
