//! The greeting: what the client sees first, and the only place the upstream's
//! software name and version would leak. `pass` relays the upstream's greeting,
//! `rewrite` keeps its code and says only `<hostname> ESMTP`, `text` sends the
//! operator's template (validated at load: `crate::config::banner`).

use crate::config::BannerMode;
use crate::config::banner::render;
use crate::wire::Reply;

/// The greeting doorman sends. `upstream` is the upstream's greeting when a
/// session is open already (always under `pass`): its code is kept. Without
/// one (the late connect of the other modes), the code is 220.
pub fn greeting(mode: BannerMode, template: &str, hostname: &str, upstream: Option<&Reply>) -> Reply {
    let code = upstream.map_or(220, Reply::code);
    // A greeting line too long for a reply (RFC 5321 §4.5.3.1.5) is never
    // passed on: such a banner breaks real clients.
    let fits = |r: &&Reply| r.lines().iter().all(|l| l.len() + 6 <= crate::wire::limits::REPLY_LINE_MAX);
    match (mode, upstream.filter(fits)) {
        (BannerMode::Pass, Some(upstream)) => upstream.clone(),
        (BannerMode::Rewrite | BannerMode::Pass, _) => Reply::new(code, format!("{hostname} ESMTP")),
        (BannerMode::Text, _) => {
            let date = crate::date::now();
            Reply::multi(code, render(template, hostname, &date))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_and_text_hide_the_upstream() {
        let up = Reply::new(220, "backend.test ESMTP Postfix (Debian/GNU)");
        let r = greeting(BannerMode::Rewrite, "", "mx.example.test", Some(&up));
        assert_eq!(r, Reply::new(220, "mx.example.test ESMTP"));
        let r = greeting(BannerMode::Text, "{hostname} hi\nline two\n", "mx.example.test", None);
        assert_eq!(r.lines(), ["mx.example.test hi", "line two"]);
        assert_eq!(r.code(), 220);
        assert_eq!(greeting(BannerMode::Pass, "", "mx", Some(&up)), up);
        let refusing = Reply::new(554, "backend.test no service");
        assert_eq!(greeting(BannerMode::Rewrite, "", "mx", Some(&refusing)).code(), 554);
        let long = Reply::multi(220, vec!["backend.test ESMTP".into(), "x".repeat(2000)]);
        assert_eq!(greeting(BannerMode::Pass, "", "mx", Some(&long)), Reply::new(220, "mx ESMTP"), "never passed on");
    }

    /// The upstream's greeting may have lines of up to 4096 octets (doorman
    /// replaces it); any other reply keeps the 512 of RFC 5321.
    #[test]
    fn a_long_legal_banner_is_read_and_replaced() {
        use crate::wire::ReplyParser;
        let wire = format!("220-backend.test ESMTP\r\n220 {}\r\n", "Legal notice. ".repeat(200));
        let upstream = ReplyParser::parse_greeting(&mut bytes::BytesMut::from(wire.as_bytes())).unwrap().unwrap();
        assert_eq!(upstream.lines().len(), 2);
        assert!(ReplyParser::parse(&mut bytes::BytesMut::from(wire.as_bytes())).is_err());
        assert_eq!(greeting(BannerMode::Rewrite, "", "mx", Some(&upstream)).to_string(), "220 mx ESMTP");
    }
}
